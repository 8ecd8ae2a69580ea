//! Writes the student exercise notebooks from the solutions: every
//! `exercises/solutions/NAME.ipynb` becomes `exercises/NAME.ipynb` with its
//! solution regions replaced by `todo!("hint")`.
//!
//! ```text
//! cargo run -p autoencoders-tools --bin make-exercises
//! ```
//! `tests/exercises.rs` fails when a committed student notebook differs from
//! what this writes.

use autoencoders::io::write_atomic;
use autoencoders_tools::student::student_version;

/// make-exercises takes no arguments.
#[derive(clap::Parser)]
#[command(
    name = "make-exercises",
    about = "Writes exercises/NAME.ipynb (the student notebooks) from exercises/solutions/NAME.ipynb"
)]
struct Args {}

fn main() {
    let _ = <Args as clap::Parser>::parse();
    let root = autoencoders_tools::repo_root().join("exercises");
    let mut n = 0;
    let entries = match std::fs::read_dir(root.join("solutions")) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("make-exercises: cannot read {}: {e}", root.join("solutions").display());
            std::process::exit(1);
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .collect();
    paths.sort();
    for path in paths {
        let result = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| student_version(&text))
            .and_then(|student| {
                let out = root.join(path.file_name().unwrap_or_default());
                write_atomic(&out, student.as_bytes())
                    .map_err(|e| e.to_string())
                    .map(|_| out)
            });
        match result {
            Ok(out) => {
                println!("make-exercises: {} -> {}", path.display(), out.display());
                n += 1;
            }
            Err(e) => {
                eprintln!("make-exercises: {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    println!("make-exercises: {n} student notebook(s) written");
}
