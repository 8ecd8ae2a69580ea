//! What `fit` prints: a line per epoch and, within an epoch, Keras-style
//! progress: `  120/469 [=====>..............] - loss: 0.0213 - 12s - ETA 34s`.
//!
//! Where the progress line is redrawn depends on where the output goes:
//! - a terminal: one line rewritten in place (a carriage return) at most
//!   twice a second, replaced by the epoch's summary line;
//! - Jupyter through the course's kernel (kernel/relay.py, which sets
//!   `AUTOENCODERS_JUPYTER_RELAY=1`): the fit's lines are marked for one
//!   Jupyter display that the relay redraws, the live line below the finished
//!   ones, also twice a second. evcxr alone passes a cell's output on one whole
//!   line at a time and Jupyter cannot rewrite a finished line, hence the relay;
//! - anywhere else (a pipe, a kernel without the relay): a full progress line
//!   every ten seconds.
//!
//! Without progress (quiet, `no_progress()`, quick mode) the epoch lines are
//! plain lines everywhere.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the line is redrawn in place, at most.
const IN_PLACE_EVERY: Duration = Duration::from_millis(500);
/// How often a full progress line is printed where lines cannot be redrawn.
const LINE_EVERY: Duration = Duration::from_secs(10);
/// Characters of the bar between the brackets.
const WIDTH: usize = 20;
/// The start of a line marked for the relay (an APC escape sequence, which
/// terminals do not show); kernel/relay.py reads the same mark.
const MARK: &str = "\x1b_autoencoders;";
/// The end of the mark.
const MARK_END: &str = "\x1b\\";

/// Where the fit's lines go.
#[derive(Debug, Clone, PartialEq)]
enum Shown {
    /// Plain lines, no progress within an epoch.
    Plain,
    /// A terminal: one line redrawn in place.
    Terminal,
    /// Marked lines for the relay's Jupyter display with this id.
    Relay(String),
    /// A full progress line now and then.
    Lines,
}

/// The output of one `fit`: its lines and each epoch's progress.
pub(crate) struct Progress {
    shown: Shown,
    steps: usize,
    started: Instant,
    last: Option<Instant>,
    /// Characters of the in-place line on a terminal, or 1 while the relay's
    /// display shows a live line (0: none shown).
    on_screen: usize,
}

impl Progress {
    /// The output of a fit; with `progress`, progress within each epoch
    /// where stdout leads (see the module's docs).
    pub(crate) fn new(progress: bool) -> Self {
        static FITS: AtomicUsize = AtomicUsize::new(0);
        let shown = if !progress {
            Shown::Plain
        } else if std::io::stdout().is_terminal() {
            Shown::Terminal
        } else if crate::runtime::settings().jupyter_relay {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = FITS.fetch_add(1, Ordering::Relaxed);
            Shown::Relay(format!("autoencoders-fit-{}-{nanos}-{n}", std::process::id()))
        } else {
            Shown::Lines
        };
        Progress {
            shown,
            steps: 0,
            started: Instant::now(),
            last: None,
            on_screen: 0,
        }
    }

    /// Starts an epoch of `steps` batches.
    pub(crate) fn epoch(&mut self, steps: usize) {
        self.steps = steps;
        self.started = Instant::now();
        self.last = None;
    }

    /// True when an update is due after batch `done`.
    pub(crate) fn due(&self, done: usize) -> bool {
        let every = match self.shown {
            Shown::Plain => return false,
            Shown::Lines => LINE_EVERY,
            Shown::Terminal | Shown::Relay(_) => IN_PLACE_EVERY,
        };
        done < self.steps && self.last.is_none_or(|t| t.elapsed() >= every) && self.started.elapsed() >= every
    }

    /// Shows `done` of the epoch's batches and the mean loss so far.
    pub(crate) fn show(&mut self, done: usize, loss: f32) {
        let text = line(done, self.steps, loss, self.started.elapsed().as_secs_f32());
        match &self.shown {
            Shown::Plain => return,
            Shown::Terminal => {
                // Padded to the longest line shown, so no characters of a
                // longer one stay behind.
                print!("\r{text:<width$}", width = self.on_screen);
                self.on_screen = self.on_screen.max(text.chars().count());
            }
            Shown::Relay(id) => {
                println!("{}", marked("live", id, &format!("  {text}")));
                self.on_screen = 1;
            }
            Shown::Lines => println!("  {text}"),
        }
        let _ = std::io::stdout().flush();
        self.last = Some(Instant::now());
    }

    /// Prints one of the fit's lines (an epoch's summary, a notice): on a
    /// terminal over the in-place line, for the relay into the display, where
    /// it replaces the live line.
    pub(crate) fn say(&mut self, text: &str) {
        match &self.shown {
            Shown::Relay(id) => println!("{}", marked("line", id, text)),
            _ if self.on_screen > 0 => println!("\r{}\r{text}", " ".repeat(self.on_screen)),
            _ => println!("{text}"),
        }
        self.on_screen = 0;
        let _ = std::io::stdout().flush();
    }
}

impl Drop for Progress {
    /// A fit that ends with an error mid-epoch leaves no progress line behind:
    /// the relay's display drops its live line, a terminal ends the line so the
    /// error starts on its own.
    fn drop(&mut self) {
        if self.on_screen == 0 {
            return;
        }
        match &self.shown {
            Shown::Relay(id) => println!("{}", marked("end", id, "")),
            _ => println!(),
        }
        let _ = std::io::stdout().flush();
    }
}

/// A line marked for the relay: `kind` is `live` (redrawn), `line`
/// (finished) or `end` (no live line any more); newlines in `text` become spaces, since the relay reads a
/// line at a time.
fn marked(kind: &str, id: &str, text: &str) -> String {
    format!("{MARK}{kind};{id}{MARK_END}{}", text.replace(['\n', '\r'], " "))
}

/// The progress line's text.
pub(crate) fn line(done: usize, steps: usize, loss: f32, elapsed: f32) -> String {
    let filled = (WIDTH * done) / steps.max(1);
    let bar: String = (0..WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => '.',
        })
        .collect();
    let eta = elapsed / done.max(1) as f32 * (steps - done.min(steps)) as f32;
    let width = steps.to_string().len();
    format!("{done:>width$}/{steps} [{bar}] - loss: {loss:.4} - {elapsed:.0}s - ETA {eta:.0}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(shown: Shown, steps: usize) -> Progress {
        let mut p = Progress::new(false);
        p.shown = shown;
        p.epoch(steps);
        p
    }

    #[test]
    fn the_line_shows_batches_bar_loss_time_and_eta() {
        let l = line(120, 469, 0.02134, 12.0);
        assert!(l.starts_with("120/469 [=====>"), "{l}");
        assert!(
            l.contains("loss: 0.0213") && l.contains("12s") && l.contains("ETA 35s"),
            "{l}"
        );
        assert!(line(0, 10, 0.5, 0.0).starts_with(" 0/10 [>"));
        assert!(
            line(10, 10, 0.5, 3.0).contains("[====================] ") && line(10, 10, 0.5, 3.0).contains("ETA 0s")
        );
    }

    #[test]
    fn updates_are_due_twice_a_second_where_redrawn_every_ten_seconds_elsewhere_never_when_plain() {
        for shown in [Shown::Terminal, Shown::Relay("d".into()), Shown::Lines, Shown::Plain] {
            let mut p = with(shown.clone(), 100);
            assert!(!p.due(1), "{shown:?}: nothing in the epoch's first half second");
            p.started -= Duration::from_millis(600);
            assert_eq!(
                p.due(1),
                matches!(shown, Shown::Terminal | Shown::Relay(_)),
                "{shown:?}"
            );
            p.started -= Duration::from_secs(10);
            assert_eq!(p.due(1), shown != Shown::Plain, "{shown:?}");
            assert!(!p.due(100), "{shown:?}: the last batch leaves the line to the summary");
        }
    }

    #[test]
    fn relay_lines_carry_the_mark_the_relay_reads_and_stay_one_line() {
        let l = marked("live", "fit-1", "  3/9 [..]\nsecond");
        assert_eq!(l, "\x1b_autoencoders;live;fit-1\x1b\\  3/9 [..] second");
        let relay =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/kernel/relay.py")).expect("kernel/relay.py");
        assert!(
            relay.contains(r#"MARK = "\x1b_autoencoders;""#) && relay.contains(r#"END = "\x1b\\""#),
            "the relay's mark differs from {MARK:?} … {MARK_END:?}"
        );
    }

    #[test]
    fn a_summary_clears_the_terminal_line_once() {
        let mut p = with(Shown::Terminal, 100);
        p.show(1, 0.1);
        assert!(p.on_screen > 40);
        p.say("Epoch 1/1 - loss: 0.1000");
        assert_eq!(p.on_screen, 0, "the next summary needs no clearing");
        let mut relay = with(Shown::Relay("d".into()), 100);
        relay.show(1, 0.1);
        assert_eq!(relay.on_screen, 1, "a live line for the drop to end if fit fails");
        relay.say("Epoch 1/1 - loss: 0.1000");
        assert_eq!(relay.on_screen, 0, "the finished line replaced it");
    }
}
