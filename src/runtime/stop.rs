//! Jupyter's stop button. The course's kernel (`kernel/relay.py`) gives each
//! kernel a private folder (`AUTOENCODERS_STOP_DIR`) and writes in it:
//!
//! - `execution`: the number of the cell now running (one per execution);
//! - `stop`: that number, when the stop button is pressed while the cell
//!   runs a loop of this crate that listens (see below).
//!
//! A long loop of the crate (`fit`, `predict`, `evaluate`, t-SNE, a
//! hand-written loop's `training_steps`) writes `listening`
//! while it runs, so that the relay knows a stop will be honoured, and polls
//! [`stop_requested`], reading the folder at most every 30 ms. When it sees
//! the stop it renames `stop` to `taken`, so the relay knows it was
//! honoured; the stop then stands for the rest of that cell: `fit` returns
//! with the weights of its last batch and its `History` marked as stopped,
//! the other loops return [`crate::Error::Stopped`]. When nothing listens,
//! or the stop is not honoured within a few seconds, or the button is
//! pressed again, the relay lets evcxr end the process as it always does.
//!
//! Without the relay (plain evcxr, the tests, a terminal) there is no folder
//! and [`stop_requested`] is a comparison.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the folder is read, at most.
const EVERY: Duration = Duration::from_millis(30);

/// Listening loops now running in this copy of the crate.
static LISTENERS: AtomicUsize = AtomicUsize::new(0);
/// A stop of the current cell was seen (and taken).
static STOPPED: AtomicBool = AtomicBool::new(false);
/// When the folder was last read, and the cell it was read for.
static LAST: Mutex<Option<(Instant, String)>> = Mutex::new(None);

fn dir() -> Option<&'static Path> {
    super::settings().stop_dir.as_deref()
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A listening loop, from creation to drop: `listening` holds the cell's
/// execution number while at least one runs.
pub(crate) struct Listening(Option<PathBuf>);

impl Listening {
    pub(crate) fn start() -> Self {
        let Some(dir) = dir() else { return Listening(None) };
        let execution = read(dir, "execution").unwrap_or_default();
        if LISTENERS.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = crate::io::write_atomic(dir.join("listening"), execution.as_bytes());
        }
        Listening(Some(dir.to_path_buf()))
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            if LISTENERS.fetch_sub(1, Ordering::SeqCst) == 1 {
                let _ = std::fs::remove_file(dir.join("listening"));
            }
        }
    }
}

/// True once the stop button was pressed during the current cell, while a
/// loop of the crate listened: a hand-written loop can poll it between
/// steps. Reads the kernel's folder at most every 30 ms; false at once
/// without the course's kernel.
pub fn stop_requested() -> bool {
    let Some(dir) = dir() else { return false };
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, _)) = last.as_ref() {
        if at.elapsed() < EVERY {
            return STOPPED.load(Ordering::SeqCst);
        }
    }
    let execution = read(dir, "execution").unwrap_or_default();
    if last.as_ref().is_some_and(|(_, e)| *e != execution) {
        // A new cell: an earlier cell's stop does not stand for it.
        STOPPED.store(false, Ordering::SeqCst);
    }
    *last = Some((Instant::now(), execution.clone()));
    if !STOPPED.load(Ordering::SeqCst) && read(dir, "stop").is_some_and(|s| s == execution) {
        let _ = std::fs::rename(dir.join("stop"), dir.join("taken"));
        STOPPED.store(true, Ordering::SeqCst);
    }
    STOPPED.load(Ordering::SeqCst)
}

/// The error of a loop the stop button stopped: `what`, stopped `when`
/// ("after 12 of 40 batches").
pub(crate) fn stopped(what: &str, when: &str) -> crate::Error {
    crate::Error::Stopped(format!(
        "{what}: stopped by the stop button {when}; the models and their training are intact"
    ))
}
