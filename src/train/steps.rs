//! The step numbers of a hand-written training loop.

use crate::runtime::stop::Listening;

/// The steps of a hand-written training loop, `1..=n`: write
/// `for step in training_steps(20_000) { … }`. The loop ends early, after the
/// step during which Jupyter's stop button was pressed (through the course's
/// kernel), keeping everything the loop made; it says so. In quick mode it
/// yields at most 100 steps per epoch quick mode allows (and says so once),
/// as `fit` caps its epochs.
///
/// Introduced in `notebooks/08_training_loop_by_hand.ipynb`.
pub fn training_steps(n: usize) -> TrainingSteps {
    let run = crate::runtime::mode().steps(n);
    if run < n {
        println!("quick mode: {run} of {n} steps");
    }
    TrainingSteps {
        next: 1,
        last: run,
        _listening: Listening::start(),
    }
}

/// The iterator [`training_steps`] gives.
pub struct TrainingSteps {
    next: usize,
    last: usize,
    _listening: Listening,
}

impl Iterator for TrainingSteps {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.next > self.last {
            return None;
        }
        if self.next > 1 && crate::runtime::stop_requested() {
            println!(
                "stopped by the stop button after step {} of {}: the weights and everything the loop kept are as that step left them",
                self.next - 1,
                self.last
            );
            self.last = 0;
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }
}
