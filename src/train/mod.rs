//! Keras-like training: [`fit`] runs epochs of shuffled mini-batches, logs
//! one line per epoch and returns a [`History`]; [`predict`] and
//! [`evaluate`] run in batches. [`Trainer`] is the loop body on its own, and
//! [`training_steps`] counts the steps of a loop written by hand. All of
//! them take any [`Model`]; the loss is the [`Loss`] plus whatever terms the
//! model's layers add (a VAE's KL term, an activity penalty).
//!
//! | file | what |
//! |---|---|
//! | `fit.rs` | `fit`: the loop over epochs and batches |
//! | `hooks.rs` | what the loop calls: the output, the divergence guard, the time budget |
//! | `checkpoint.rs` | checkpoints: save every few epochs, resume (a hook too) |
//! | `trainer.rs` | one step: forward, loss, backward, update |
//! | `progress.rs` | the progress line, in a terminal or through the course's kernel |
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

pub mod checkpoint;
mod config;
mod fit;
mod history;
mod hooks;
pub mod loss;
mod pretrained;
mod progress;
mod steps;
mod trainer;

pub use config::TrainConfig;
pub use history::History;
pub use loss::{binary_cross_entropy, kl_divergence, mse, mse_value, psnr, Loss, LossFn};
pub use pretrained::{pretrained, pretrained_in, pretrained_names, save_pretrained, weights_dir};
pub use steps::{training_steps, TrainingSteps};

pub use fit::fit;
pub use trainer::Trainer;

use crate::error::{Error, Result};
use crate::nn::{Model, Pass};
use candle_core::{DType, Device, Tensor};

pub(crate) fn check_pair(what: &str, xs: &Tensor, ys: &Tensor) -> Result<usize> {
    let n = xs.dim(0)?;
    if ys.dim(0)? != n {
        return Err(Error::disagree(format!(
            "{what}: {n} inputs but {} targets; give one target per input",
            ys.dim(0)?
        )));
    }
    if n == 0 {
        return Err(Error::empty(format!("{what}: no samples given")));
    }
    Ok(n)
}

/// The model's outputs for `xs` (inference), computed `batch_size` rows at a
/// time and returned on the CPU.
pub fn predict(model: &(impl Model + ?Sized), xs: &Tensor, batch_size: usize) -> Result<Tensor> {
    if batch_size == 0 {
        return Err(Error::out_of_range("predict: batch_size is 0; use at least 1"));
    }
    let n = xs.dim(0)?;
    let dev = model.device();
    let _listening = crate::runtime::stop::Listening::start();
    let batches = n.div_ceil(batch_size);
    let mut outs = Vec::with_capacity(batches);
    for from in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - from);
        let xb = xs.narrow(0, from, len)?.to_device(&dev)?;
        outs.push(model.forward(&xb)?.to_device(&Device::Cpu)?);
        if crate::runtime::stop_requested() {
            let when = format!("after {} of {batches} batches", outs.len());
            return Err(crate::runtime::stop::stopped("predict", &when));
        }
    }
    if outs.is_empty() {
        return Err(Error::empty("predict: no samples given"));
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// The mean loss of the model on `(xs, ys)` (inference), in batches, with
/// the terms its layers add.
pub fn evaluate(model: &(impl Model + ?Sized), xs: &Tensor, ys: &Tensor, loss: Loss, batch_size: usize) -> Result<f32> {
    let _listening = crate::runtime::stop::Listening::start();
    mean_loss(model, xs, ys, loss, batch_size, true)
}

/// [`evaluate`]'s loop; `stoppable`: the stop button ends it (not when `fit`
/// validates an epoch it keeps).
pub(crate) fn mean_loss(
    model: &(impl Model + ?Sized),
    xs: &Tensor,
    ys: &Tensor,
    loss: Loss,
    batch_size: usize,
    stoppable: bool,
) -> Result<f32> {
    let n = check_pair("evaluate", xs, ys)?;
    if batch_size == 0 {
        return Err(Error::out_of_range("evaluate: batch_size is 0; use at least 1"));
    }
    let dev = model.device();
    let mut total = Tensor::zeros((), DType::F32, &dev)?;
    for from in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - from);
        let xb = xs.narrow(0, from, len)?.to_device(&dev)?;
        let yb = ys.narrow(0, from, len)?.to_device(&dev)?;
        let mut pass = Pass::inference();
        let pred = model.forward_pass(&xb, &mut pass)?;
        let mut l = loss.compute(&pred, &yb)?;
        for (_, term) in pass.terms() {
            l = (l + term)?;
        }
        total = (total + (l.to_dtype(DType::F32)? * len as f64)?)?;
        if stoppable && crate::runtime::stop_requested() {
            let when = format!("after {} of {} batches", from / batch_size + 1, n.div_ceil(batch_size));
            return Err(crate::runtime::stop::stopped("evaluate", &when));
        }
    }
    Ok(total.to_scalar::<f32>()? / n as f32)
}
