//! The features of [`super::fit`] around its loop, each a [`Hook`] the loop
//! calls at fixed points (Keras' callbacks, burn's learner events): the
//! output ([`Log`]: the progress line and a line per epoch), the divergence
//! guard ([`Guard`]), the time budget ([`TimeBudget`]) and checkpoints
//! ([`super::checkpoint::CheckpointHook`]) and the stop button
//! ([`StopButton`]). A hook may stop training after a
//! batch ([`Flow::Stop`]); the loop then finishes that epoch's bookkeeping,
//! keeps the weights of that batch and says where it stopped.

use super::progress::Progress;
use super::{History, TrainConfig, Trainer};
use crate::error::{Error, Result};
use crate::nn::Model;
use candle_core::{DType, Tensor, Var};
use std::time::{Duration, Instant};

/// What a hook tells the loop after a batch.
pub(crate) enum Flow {
    Go,
    /// Stop after this batch, for this reason ("the time budget of 60.0 s
    /// was used up").
    Stop(String),
}

/// What the loop hands the hooks before the first epoch.
pub(crate) struct Begin<'a> {
    pub model: &'a dyn Model,
    pub trainer: &'a mut Trainer,
    pub history: &'a mut History,
    /// Epochs already done (a resumed training); hooks may raise it.
    pub first_epoch: &'a mut usize,
    pub epochs: usize,
    /// Lines for the log.
    pub notes: &'a mut Vec<String>,
}

/// The loop's state after a batch.
pub(crate) struct BatchEnd<'a> {
    pub epoch: usize,
    /// Batches done in this epoch (1-based).
    pub done: usize,
    pub steps: usize,
    /// This batch's loss, a scalar on the model's device.
    pub loss: &'a Tensor,
    /// The sum of the epoch's batch losses, each times its batch's size.
    pub loss_sum: &'a Tensor,
    pub seen: usize,
    /// The fit's very last batch.
    pub last: bool,
}

/// The loop's state once an epoch is recorded in the history.
pub(crate) struct EpochEnd<'a> {
    pub model: &'a dyn Model,
    pub trainer: &'a Trainer,
    pub history: &'a History,
    pub epoch: usize,
    pub epochs: usize,
    pub done: usize,
    pub steps: usize,
}

/// A feature of `fit` called by its loop; every method does nothing unless
/// the hook needs it.
pub(crate) trait Hook {
    fn begin(&mut self, _at: &mut Begin) -> Result<()> {
        Ok(())
    }
    fn epoch_begin(&mut self, _epoch: usize, _steps: usize) -> Result<()> {
        Ok(())
    }
    fn batch_end(&mut self, _at: &BatchEnd) -> Result<Flow> {
        Ok(Flow::Go)
    }
    /// The epoch's mean loss and terms, before they are recorded.
    fn epoch_means(&mut self, _epoch: usize, _means: &[(String, f32)]) -> Result<()> {
        Ok(())
    }
    fn epoch_end(&mut self, _at: &EpochEnd) -> Result<()> {
        Ok(())
    }
    /// A line for the log (the loop's notes, the reason training stopped).
    fn note(&mut self, _text: &str) {}
    /// What running the same fit again would do, for the stop notice.
    fn resume_hint(&self) -> Option<String> {
        None
    }
}

/// The output: Keras' progress line within an epoch and a line per epoch.
pub(crate) struct Log {
    progress: Progress,
    verbose: bool,
}

impl Log {
    pub(crate) fn new(cfg: &TrainConfig) -> Self {
        let quick = crate::runtime::mode().is_quick();
        Log {
            progress: Progress::new(cfg.verbose && cfg.progress && !quick),
            verbose: cfg.verbose,
        }
    }
}

impl Hook for Log {
    fn epoch_begin(&mut self, _epoch: usize, steps: usize) -> Result<()> {
        self.progress.epoch(steps);
        Ok(())
    }

    fn batch_end(&mut self, at: &BatchEnd) -> Result<Flow> {
        if self.progress.due(at.done) {
            self.progress
                .show(at.done, at.loss_sum.to_scalar::<f32>()? / at.seen as f32);
        }
        Ok(Flow::Go)
    }

    fn epoch_end(&mut self, at: &EpochEnd) -> Result<()> {
        if self.verbose {
            self.progress.say(&epoch_line(at));
        }
        Ok(())
    }

    fn note(&mut self, text: &str) {
        if self.verbose {
            self.progress.say(text);
        }
    }
}

/// `Epoch 3/10 - loss: 0.0213 - val_loss: 0.0209 - 4.1s`, with the batches
/// that ran when the epoch stopped early and the layers' terms.
fn epoch_line(at: &EpochEnd) -> String {
    let h = at.history;
    let mut line = format!("Epoch {}/{}", at.epoch + 1, at.epochs);
    if at.done < at.steps {
        line.push_str(&format!(" (batches 1-{} of {})", at.done, at.steps));
    }
    line.push_str(&format!(" - loss: {:.4}", h.loss.last().copied().unwrap_or(f32::NAN)));
    for (name, values) in &h.terms {
        line.push_str(&format!(" - {name}: {:.4}", values.last().copied().unwrap_or(f32::NAN)));
    }
    if let Some(v) = h.val_loss.last() {
        line.push_str(&format!(" - val_loss: {v:.4}"));
    }
    line.push_str(&format!(" - {:.1}s", h.seconds.last().copied().unwrap_or(0.0)));
    line
}

/// Stops a training whose loss or weights stop being finite numbers, and
/// puts back the weights of the start of that epoch.
pub(crate) struct Guard {
    vars: Vec<Var>,
    saved: Vec<Tensor>,
    lr: f64,
    /// On the CPU each batch's loss is checked (reading it costs nothing); on
    /// a GPU once per epoch, to keep the device busy.
    each_batch: bool,
}

impl Guard {
    pub(crate) fn new(model: &dyn Model, lr: f64) -> Self {
        let vars = model
            .named_params()
            .into_iter()
            .chain(model.named_state())
            .map(|(_, v)| v)
            .collect();
        Guard {
            vars,
            saved: Vec::new(),
            lr,
            each_batch: model.device().is_cpu(),
        }
    }

    fn diverged(&self, what: String) -> Result<Error> {
        for (v, t) in self.vars.iter().zip(&self.saved) {
            v.set(t)?;
        }
        Ok(Error::Diverged {
            what,
            lr: self.lr,
            suggest: self.lr / 10.0,
        })
    }
}

/// True when every weight is a finite number (`0 · w` is 0 exactly then,
/// NaN for an infinite or NaN `w`).
fn all_finite(vars: &[Var]) -> Result<bool> {
    for v in vars {
        let zero = v.as_tensor().affine(0.0, 0.0)?.sum_all()?.to_dtype(DType::F32)?;
        if zero.to_scalar::<f32>()? != 0.0 {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Hook for Guard {
    fn epoch_begin(&mut self, _epoch: usize, _steps: usize) -> Result<()> {
        self.saved = self
            .vars
            .iter()
            .map(|v| Ok(v.as_tensor().copy()?))
            .collect::<Result<_>>()?;
        Ok(())
    }

    fn batch_end(&mut self, at: &BatchEnd) -> Result<Flow> {
        if self.each_batch {
            let value = at.loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if !value.is_finite() {
                let what = format!(
                    "the training loss became {value} at epoch {}, batch {} of {}",
                    at.epoch + 1,
                    at.done,
                    at.steps
                );
                return Err(self.diverged(what)?);
            }
        }
        Ok(Flow::Go)
    }

    fn epoch_means(&mut self, epoch: usize, means: &[(String, f32)]) -> Result<()> {
        let loss = means.first().map_or(f32::NAN, |m| m.1);
        if !loss.is_finite() {
            let what = format!("the training loss became {loss} during epoch {}", epoch + 1);
            return Err(self.diverged(what)?);
        }
        // A step can make weights non-finite while every loss stays finite
        // (the last step of the epoch, or a relu that maps NaN to 0).
        if !all_finite(&self.vars)? {
            let what = format!(
                "some weights became NaN or infinite during epoch {} (the loss stayed finite: a relu turns NaN into 0)",
                epoch + 1
            );
            return Err(self.diverged(what)?);
        }
        Ok(())
    }
}

/// Stops training after the batch during which it has run for `budget`
/// (never after the fit's last batch: then it ended anyway).
pub(crate) struct TimeBudget {
    budget: Duration,
    started: Instant,
}

impl TimeBudget {
    pub(crate) fn new(budget: Duration) -> Self {
        TimeBudget {
            budget,
            started: Instant::now(),
        }
    }
}

impl Hook for TimeBudget {
    fn begin(&mut self, _at: &mut Begin) -> Result<()> {
        self.started = Instant::now();
        Ok(())
    }

    fn batch_end(&mut self, at: &BatchEnd) -> Result<Flow> {
        if self.started.elapsed() >= self.budget && !at.last {
            return Ok(Flow::Stop(format!(
                "the time budget of {:.1} s was used up",
                self.budget.as_secs_f32()
            )));
        }
        Ok(Flow::Go)
    }
}

/// Jupyter's stop button (through the course's kernel, see
/// [`crate::runtime::stop`]): stops training after the batch during which it
/// was pressed.
pub(crate) struct StopButton {
    _listening: crate::runtime::stop::Listening,
}

impl StopButton {
    pub(crate) fn new() -> Self {
        StopButton {
            _listening: crate::runtime::stop::Listening::start(),
        }
    }
}

impl Hook for StopButton {
    fn batch_end(&mut self, _at: &BatchEnd) -> Result<Flow> {
        if crate::runtime::stop_requested() {
            return Ok(Flow::Stop("the stop button was pressed".to_string()));
        }
        Ok(Flow::Go)
    }
}
