//! The settings of [`super::fit`].

use super::checkpoint::Checkpoints;
use super::loss::Loss;
use crate::optim::Optimizer;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of [`super::fit`].
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Epochs asked for (quick mode caps them, see [`crate::runtime::mode`]).
    pub epochs: usize,
    pub batch_size: usize,
    /// Shuffle the training set at each epoch.
    pub shuffle: bool,
    pub optimizer: Optimizer,
    pub loss: Loss,
    /// Seed of the shuffling and of the training-only layers' noise.
    pub seed: u64,
    /// Print one line per epoch.
    pub verbose: bool,
    /// Within an epoch, show progress (batches done, loss so far, time,
    /// ETA): redrawn in place in a terminal and in Jupyter through the
    /// course's kernel (kernel/relay.py), elsewhere a line every ten
    /// seconds.
    /// Only when `verbose`, and never in quick mode (`cargo test`), where
    /// each epoch stays one line.
    pub progress: bool,
    /// Stop after the batch during which training has taken this long
    /// (`None`: run every epoch). The model keeps the weights of that batch;
    /// [`super::History::stopped`] says where it stopped.
    pub time_budget: Option<Duration>,
    /// Save the weights, the optimiser's state and the history into a
    /// folder every few epochs, and resume from there (see
    /// [`super::checkpoint`]).
    pub checkpoints: Option<Checkpoints>,
}

impl Default for TrainConfig {
    /// 5 epochs of 128 images, shuffled, Adam, MSE: the classic lesson's.
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch_size: 128,
            shuffle: true,
            optimizer: Optimizer::adam(),
            loss: Loss::Mse,
            seed: 0,
            verbose: true,
            progress: true,
            time_budget: None,
            checkpoints: None,
        }
    }
}

impl TrainConfig {
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// No output at all.
    pub fn quiet(mut self) -> Self {
        self.verbose = false;
        self
    }
    /// One line per epoch, no progress line within it.
    pub fn no_progress(mut self) -> Self {
        self.progress = false;
        self
    }
    /// Stop cleanly after the batch that uses up `budget` of training time,
    /// e.g. `Duration::from_secs(120)`: a lesson that must end before the
    /// class does.
    pub fn with_time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = Some(budget);
        self
    }
    /// Save a checkpoint into `dir` after every `every_epochs` epochs (and
    /// after the last), and resume from the one there when the same `fit`
    /// runs again: the cell of a stopped training, run again, trains on.
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>, every_epochs: usize) -> Self {
        self.checkpoints = Some(Checkpoints {
            dir: dir.into(),
            every: every_epochs,
        });
        self
    }
}
