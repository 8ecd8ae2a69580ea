//! The process's main thread joins the kernels' thread pool as worker 0
//! (`adopt_main_thread`), and no other thread counts as the main thread.
//! Without a test harness, `main` runs on the main thread itself.

use autoencoders_kernels as cpu_ops;
use rayon::prelude::*;

fn main() {
    assert!(
        cpu_ops::on_main_thread(),
        "the process's first thread is not seen as the main thread"
    );
    let other = std::thread::spawn(|| (cpu_ops::on_main_thread(), cpu_ops::adopt_main_thread()))
        .join()
        .unwrap();
    assert_eq!(other, (false, false), "a spawned thread was taken for the main thread");
    assert!(
        cpu_ops::adopt_main_thread(),
        "the pool had started: nothing else may use rayon before this"
    );
    assert_eq!(
        rayon::current_thread_index(),
        Some(0),
        "the main thread is not the pool's worker 0"
    );
    // The pool now splits work between this thread and the others.
    let threads = rayon::current_num_threads();
    let sum: u64 = (0..1_000_000u64).map(|i| i % 7).sum();
    let par: u64 = (0..1_000_000u64).into_par_iter().map(|i| i % 7).sum();
    assert_eq!(sum, par);
    assert!(!cpu_ops::adopt_main_thread(), "the pool was built twice");
    println!("main_thread: the main thread is worker 0 of {threads}");
}
