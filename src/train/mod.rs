//! Keras-like training: [`fit`] runs epochs of shuffled mini-batches, logs
//! one line per epoch and returns a [`History`]; [`predict`] and
//! [`evaluate`] run in batches. [`Trainer`] is the loop body on its own, for
//! the lesson that writes the loop by hand. All of them take any
//! [`Model`]; the loss is the [`Loss`] plus whatever terms the model's
//! layers add (a VAE's KL term, an activity penalty).
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

pub mod checkpoint;
mod config;
mod history;
pub mod loss;
mod pretrained;
mod progress;
mod steps;

pub use config::TrainConfig;
pub use history::History;
pub use loss::{binary_cross_entropy, kl_divergence, mse, mse_value, psnr, Loss, LossFn};
pub use pretrained::{pretrained, pretrained_in, pretrained_names, save_pretrained, weights_dir};
pub use steps::training_steps;

use crate::error::{Error, Result};
use crate::nn::{Model, Pass};
use crate::optim::{Optimizer, OptimizerState};
use candle_core::{DType, Device, Tensor, Var};
use progress::Progress;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

/// One optimisation step at a time: the body of [`fit`]'s loop.
pub struct Trainer {
    opt: OptimizerState,
    loss: Loss,
    seed: u64,
    steps: u64,
    terms: Vec<(String, Tensor)>,
}

impl Trainer {
    /// A trainer for `model`'s weights.
    pub fn new(model: &impl Model, optimizer: Optimizer, loss: Loss) -> Result<Self> {
        Ok(Trainer {
            opt: optimizer.build(model.vars())?,
            loss,
            seed: 0,
            steps: 0,
            terms: Vec::new(),
        })
    }

    /// The same trainer with the training-only layers' noise drawn from `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Forward (training), loss plus the layers' extra terms, backward,
    /// update; returns the batch's total loss (a scalar still on the device:
    /// read it only when you need it).
    pub fn step(&mut self, model: &impl Model, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
        self.steps += 1;
        let mut pass = Pass::training(self.seed.wrapping_mul(0x9e37_79b9).wrapping_add(self.steps));
        let pred = model.forward_pass(xs, &mut pass)?;
        let mut total = self.loss.compute(&pred, ys)?;
        for (_, term) in pass.terms() {
            total = (total + term)?;
        }
        self.opt.backward_step(&total)?;
        self.terms = pass.terms().to_vec();
        Ok(total)
    }

    /// The extra loss terms of the last step, by name (scalars on the device).
    pub fn last_terms(&self) -> &[(String, Tensor)] {
        &self.terms
    }
}

/// Copies of the weights (trained and state), to put back if training
/// diverges.
fn snapshot(vars: &[Var]) -> Result<Vec<Tensor>> {
    vars.iter().map(|v| Ok(v.as_tensor().copy()?)).collect()
}

/// True when every weight is a finite number (`0 · w` is 0 exactly then,
/// NaN for an infinite or NaN `w`).
fn all_finite(vars: &[Var]) -> Result<bool> {
    for v in vars {
        if v.as_tensor()
            .affine(0.0, 0.0)?
            .sum_all()?
            .to_dtype(DType::F32)?
            .to_scalar::<f32>()?
            != 0.0
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn restore(vars: &[Var], saved: &[Tensor]) -> Result<()> {
    for (v, t) in vars.iter().zip(saved) {
        v.set(t)?;
    }
    Ok(())
}

fn check_pair(what: &str, xs: &Tensor, ys: &Tensor) -> Result<usize> {
    let n = xs.dim(0)?;
    if ys.dim(0)? != n {
        return Err(Error::invalid(format!(
            "{what}: {n} inputs but {} targets; give one target per input",
            ys.dim(0)?
        )));
    }
    if n == 0 {
        return Err(Error::invalid(format!("{what}: no samples given")));
    }
    Ok(n)
}

/// Adds `value · weight` to the running sum of the term `name`.
fn accumulate(sums: &mut Vec<(String, Tensor)>, name: &str, value: &Tensor, weight: f64) -> Result<()> {
    let v = (value.detach().to_dtype(DType::F32)? * weight)?;
    match sums.iter_mut().find(|(n, _)| n == name) {
        Some((_, s)) => *s = (&*s + v)?,
        None => sums.push((name.to_string(), v)),
    }
    Ok(())
}

/// Trains `model` to map `xs` to `ys` (for an autoencoder, `ys` is `xs`, or
/// the clean images when `xs` is noisy).
///
/// # Shapes
/// `xs`, `ys`: `(N, …)` with one row per sample; `validation`: `(M, …)` pairs.
/// The data moves to the model's device once, not once per batch.
pub fn fit(
    model: &impl Model,
    xs: &Tensor,
    ys: &Tensor,
    validation: Option<(&Tensor, &Tensor)>,
    cfg: &TrainConfig,
) -> Result<History> {
    let n = check_pair("fit", xs, ys)?;
    if cfg.batch_size == 0 {
        return Err(Error::invalid(
            "fit: batch_size is 0; use at least 1 (the lessons use 128)",
        ));
    }
    if cfg.epochs == 0 {
        return Err(Error::invalid("fit: epochs is 0; ask for at least 1"));
    }
    if let Some((vx, vy)) = validation {
        check_pair("fit validation data", vx, vy)?;
    }
    if model.vars().is_empty() {
        return Err(Error::invalid(
            "fit: this model has no trainable weights; add a layer with weights (dense, conv2d, …)",
        ));
    }
    let epochs = crate::runtime::mode().epochs(cfg.epochs);
    if epochs < cfg.epochs && cfg.verbose {
        println!("quick mode: {epochs} of {} epochs", cfg.epochs);
    }
    let dev = model.device();
    let (xs, ys) = (xs.to_device(&dev)?, ys.to_device(&dev)?);
    let validation = match validation {
        Some((vx, vy)) => Some((vx.to_device(&dev)?, vy.to_device(&dev)?)),
        None => None,
    };
    let mut trainer = Trainer::new(model, cfg.optimizer, cfg.loss)?.with_seed(cfg.seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut history = History {
        loss_name: cfg.loss.name().to_string(),
        ..Default::default()
    };
    let steps = n.div_ceil(cfg.batch_size);
    let all_vars: Vec<Var> = model
        .named_params()
        .into_iter()
        .chain(model.named_state())
        .map(|(_, v)| v)
        .collect();
    // On the CPU each batch's loss is checked as it comes (reading it costs
    // nothing); on a GPU once per epoch, to keep the device busy.
    let check_each = dev.is_cpu();
    let diverged = |what: String| Error::Diverged {
        what,
        lr: cfg.optimizer.lr(),
        suggest: cfg.optimizer.lr() / 10.0,
    };
    let (mut first_epoch, mut last_saved) = (0, None);
    let checkpoints = match &cfg.checkpoints {
        Some(ck) => Some((ck, checkpoint::DataKey::new(&xs, &ys, validation.as_ref())?)),
        None => None,
    };
    let mut progress = Progress::new(cfg.verbose && cfg.progress && !crate::runtime::mode().is_quick());
    if let Some((ck, data_key)) = &checkpoints {
        if ck.every == 0 {
            return Err(Error::invalid(
                "fit: checkpoints every 0 epochs; save every 1 or more (with_checkpoints(dir, 1))",
            ));
        }
        trainer.opt.check_saveable()?;
        if let Some(resumed) = checkpoint::resume(ck, model, &mut trainer, cfg, data_key, epochs)? {
            first_epoch = resumed.epochs_done.min(epochs);
            last_saved = Some(resumed.epochs_done);
            history = resumed.history;
            for _ in 0..first_epoch {
                if cfg.shuffle {
                    order.shuffle(&mut rng);
                }
            }
            if cfg.verbose {
                progress.say(&format!(
                    "resumed from the checkpoint in {}: {} of {epochs} epochs done{}",
                    ck.dir.display(),
                    resumed.epochs_done,
                    if first_epoch == epochs {
                        ", nothing left to train"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    let training_started = Instant::now();
    for epoch in first_epoch..epochs {
        let start = Instant::now();
        progress.epoch(steps);
        let (mut seen, mut stopped_after) = (0usize, None);
        let saved = snapshot(&all_vars)?;
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        let order_t = Tensor::from_slice(&order, n, &dev)?;
        let mut sums: Vec<(String, Tensor)> = Vec::new();
        for step in 0..steps {
            let from = step * cfg.batch_size;
            let len = cfg.batch_size.min(n - from);
            let idx = order_t.narrow(0, from, len)?;
            let (xb, yb) = (xs.index_select(&idx, 0)?, ys.index_select(&idx, 0)?);
            let loss = trainer.step(model, &xb, &yb)?;
            if check_each {
                let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
                if !value.is_finite() {
                    restore(&all_vars, &saved)?;
                    return Err(diverged(format!(
                        "the training loss became {value} at epoch {}, batch {} of {steps}",
                        epoch + 1,
                        step + 1
                    )));
                }
            }
            accumulate(&mut sums, "loss", &loss, len as f64)?;
            for (name, term) in trainer.last_terms() {
                accumulate(&mut sums, name, term, len as f64)?;
            }
            seen += len;
            if progress.due(step + 1) {
                progress.show(step + 1, sums[0].1.to_scalar::<f32>()? / seen as f32);
            }
            let last_batch = epoch + 1 == epochs && step + 1 == steps;
            if cfg.time_budget.is_some_and(|b| training_started.elapsed() >= b) && !last_batch {
                stopped_after = Some(step + 1);
                break;
            }
        }
        // One read-back per epoch: the sums stay on the device until here.
        let mut means = Vec::with_capacity(sums.len());
        for (name, sum) in &sums {
            means.push((name.clone(), sum.to_scalar::<f32>()? / seen as f32));
        }
        let loss = means[0].1;
        if !loss.is_finite() {
            restore(&all_vars, &saved)?;
            return Err(diverged(format!(
                "the training loss became {loss} during epoch {}",
                epoch + 1
            )));
        }
        // A step can make weights non-finite while every loss stays finite
        // (the last step of the epoch, or a relu that maps NaN to 0).
        if !all_finite(&all_vars)? {
            restore(&all_vars, &saved)?;
            return Err(diverged(format!(
                "some weights became NaN or infinite during epoch {} (the loss stayed finite: a relu turns NaN into 0)",
                epoch + 1
            )));
        }
        history.loss.push(loss);
        let mut line = format!("Epoch {}/{epochs}", epoch + 1);
        if let Some(done) = stopped_after {
            line.push_str(&format!(" (batches 1-{done} of {steps})"));
        }
        line.push_str(&format!(" - loss: {loss:.4}"));
        for (name, value) in &means[1..] {
            match history.terms.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(*value),
                None => history.terms.push((name.clone(), vec![*value])),
            }
            line.push_str(&format!(" - {name}: {value:.4}"));
        }
        if let Some((vx, vy)) = &validation {
            let v = evaluate(model, vx, vy, cfg.loss, cfg.batch_size.max(256))?;
            history.val_loss.push(v);
            line.push_str(&format!(" - val_loss: {v:.4}"));
        }
        let secs = start.elapsed().as_secs_f32();
        history.seconds.push(secs);
        if cfg.verbose {
            progress.say(&format!("{line} - {secs:.1}s"));
        }
        let complete = stopped_after.is_none_or(|done| done == steps);
        let due = |ck: &checkpoint::Checkpoints| complete && ((epoch + 1) % ck.every == 0 || epoch + 1 == epochs);
        if let Some((ck, data_key)) = checkpoints.as_ref().filter(|(ck, _)| due(ck)) {
            checkpoint::save(ck, model, &trainer, cfg, data_key, epoch + 1, &history)?;
            last_saved = Some(epoch + 1);
        }
        if let (Some(done), Some(budget)) = (stopped_after, cfg.time_budget) {
            let resume = match (&cfg.checkpoints, last_saved) {
                (Some(ck), Some(done)) => format!(
                    "; running this fit again resumes from the checkpoint in {} ({done} epochs done)",
                    ck.dir.display()
                ),
                (Some(ck), None) => format!(
                    "; no epoch was complete, so {} holds no checkpoint yet and running this fit again starts over",
                    ck.dir.display()
                ),
                (None, _) => " (call fit again to train on)".to_string(),
            };
            let why = format!(
                "the time budget of {:.1} s was used up in epoch {} of {epochs}, after batch {done} of {steps}: \
                 training stopped there, and the model keeps the weights of that batch{resume}",
                budget.as_secs_f32(),
                epoch + 1
            );
            if cfg.verbose {
                progress.say(&why);
            }
            history.stopped = Some(why);
            break;
        }
    }
    Ok(history)
}

/// The model's outputs for `xs` (inference), computed `batch_size` rows at a
/// time and returned on the CPU.
pub fn predict(model: &impl Model, xs: &Tensor, batch_size: usize) -> Result<Tensor> {
    if batch_size == 0 {
        return Err(Error::invalid("predict: batch_size is 0; use at least 1"));
    }
    let n = xs.dim(0)?;
    let dev = model.device();
    let mut outs = Vec::with_capacity(n.div_ceil(batch_size));
    for from in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - from);
        let xb = xs.narrow(0, from, len)?.to_device(&dev)?;
        outs.push(model.forward(&xb)?.to_device(&Device::Cpu)?);
    }
    if outs.is_empty() {
        return Err(Error::invalid("predict: no samples given"));
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// The mean loss of the model on `(xs, ys)` (inference), in batches, with
/// the terms its layers add.
pub fn evaluate(model: &impl Model, xs: &Tensor, ys: &Tensor, loss: Loss, batch_size: usize) -> Result<f32> {
    let n = check_pair("evaluate", xs, ys)?;
    if batch_size == 0 {
        return Err(Error::invalid("evaluate: batch_size is 0; use at least 1"));
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
    }
    Ok(total.to_scalar::<f32>()? / n as f32)
}
