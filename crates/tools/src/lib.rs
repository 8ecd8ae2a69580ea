//! # autoencoders-tools — what the course's maintainers and teachers run
//!
//! Nothing here is compiled into a notebook's kernel: the notebooks load
//! the course crate, `autoencoders`, alone.
//!
//! | module / binary | what |
//! |---|---|
//! | [`engine`] | executes a notebook with evcxr in process, cell by cell (the notebook tests, `grade`; feature `engine`, on by default) |
//! | [`student`] | the student version of an exercise solution (`make-exercises`) |
//! | `course-bench` | the benchmark: full-budget training, side by side with Keras, single ops |
//! | `grade` | grades filled-in exercise notebooks |
//! | `make-exercises` | writes `exercises/*.ipynb` from `exercises/solutions/` |

#[cfg(feature = "engine")]
pub mod engine;
pub mod student;

use std::path::PathBuf;

/// The repository's root folder (the course crate's).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// The benchmark examples' first argument, `ROUNDS` (a whole number of at
/// least 1; `default` when absent); anything else ends the program with a
/// message naming `example`, the value and what to give instead.
pub fn rounds_arg(example: &str, default: usize) -> usize {
    match std::env::args().nth(1) {
        None => default,
        Some(s) => match s.parse() {
            Ok(r) if r >= 1 => r,
            _ => {
                eprintln!("{example}: ROUNDS must be a whole number of at least 1, such as {default} (got {s:?})");
                std::process::exit(2);
            }
        },
    }
}
