//! `fit`'s progress within an epoch, Keras-style:
//! `  120/469 [=====>..............] - loss: 0.0213 - 12s - ETA 34s`.
//!
//! In a terminal the line is rewritten in place (a carriage return) at most
//! twice a second and replaced by the epoch's summary line. evcxr passes a
//! notebook cell's output on to Jupyter one whole line at a time, so an
//! in-place line would only appear with the summary: there (and wherever
//! stdout is not a terminal) a full progress line is printed every ten
//! seconds instead, which Jupyter shows as it comes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is rewritten in place, at most.
const IN_PLACE_EVERY: Duration = Duration::from_millis(500);
/// How often a full progress line is printed where lines cannot be rewritten.
const LINE_EVERY: Duration = Duration::from_secs(10);
/// Characters of the bar between the brackets.
const WIDTH: usize = 20;

/// The progress of one epoch.
pub(crate) struct Progress {
    steps: usize,
    started: Instant,
    last: Option<Instant>,
    /// Rewrite one line (a terminal) or print a line at a time.
    in_place: bool,
    /// Characters of the in-place line on screen (0: none shown).
    shown: usize,
}

impl Progress {
    /// Progress of an epoch of `steps` batches, started now; in place when
    /// stdout is a terminal.
    pub(crate) fn new(steps: usize) -> Self {
        Progress {
            steps,
            started: Instant::now(),
            last: None,
            in_place: std::io::stdout().is_terminal(),
            shown: 0,
        }
    }

    /// True when an update is due after batch `done`.
    pub(crate) fn due(&self, done: usize) -> bool {
        let every = if self.in_place { IN_PLACE_EVERY } else { LINE_EVERY };
        done < self.steps && self.last.is_none_or(|t| t.elapsed() >= every) && self.started.elapsed() >= every
    }

    /// Shows `done` of the epoch's batches and the mean loss so far.
    pub(crate) fn show(&mut self, done: usize, loss: f32) {
        let elapsed = self.started.elapsed().as_secs_f32();
        let text = line(done, self.steps, loss, elapsed);
        if self.in_place {
            print!("\r{text}");
            self.shown = self.shown.max(text.chars().count());
        } else {
            println!("  {text}");
        }
        let _ = std::io::stdout().flush();
        self.last = Some(Instant::now());
    }

    /// What to print before the epoch's summary line: when an in-place line
    /// is on screen, a carriage return, blanks over it and another carriage
    /// return, so that the summary replaces it.
    pub(crate) fn end(&self) -> String {
        if self.shown == 0 {
            return String::new();
        }
        format!("\r{}\r", " ".repeat(self.shown))
    }
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
    fn a_fresh_epoch_is_not_due_at_once_and_the_end_replaces_only_an_in_place_line() {
        let mut p = Progress::new(100);
        p.in_place = true;
        assert!(!p.due(1), "no line in the first half second");
        assert_eq!(p.end(), "");
        p.show(1, 0.1);
        let end = p.end();
        assert!(
            end.starts_with('\r') && end.ends_with('\r') && end.trim().is_empty() && end.len() > 40,
            "{end:?}"
        );
        assert!(!p.due(100), "the last batch leaves the line to the epoch's summary");
        let mut lines = Progress::new(100);
        lines.in_place = false;
        lines.show(1, 0.1);
        assert_eq!(lines.end(), "", "full lines need no clearing");
    }
}
