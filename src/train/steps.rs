//! The step numbers of a hand-written training loop.

/// The steps of a hand-written training loop, `1..=n`: write
/// `for step in training_steps(20_000) { … }`. In quick mode it yields at
/// most 100 steps per epoch quick mode allows (and says so once), as `fit`
/// caps its epochs.
///
/// Introduced in `notebooks/08_training_loop_by_hand.ipynb`.
pub fn training_steps(n: usize) -> impl Iterator<Item = usize> {
    let mode = crate::runtime::mode();
    let run = mode.steps(n);
    if run < n {
        println!("quick mode: {run} of {n} steps");
    }
    1..=run
}
