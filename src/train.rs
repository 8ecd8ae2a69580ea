//! Keras-like training: [`fit`] runs epochs of shuffled mini-batches, logs one
//! line per epoch and returns a [`History`]; [`predict`] and [`evaluate`] run
//! in batches. [`Trainer`] is the loop body on its own, for the lesson that
//! writes the loop by hand.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::model::Model;
use crate::optim::{Optimizer, OptimizerState};
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

/// Settings of [`fit`].
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Epochs asked for (quick mode caps them, see [`crate::mode`]).
    pub epochs: usize,
    pub batch_size: usize,
    /// Shuffle the training set at each epoch.
    pub shuffle: bool,
    pub optimizer: Optimizer,
    pub loss: Loss,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Print one line per epoch.
    pub verbose: bool,
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
    pub fn quiet(mut self) -> Self {
        self.verbose = false;
        self
    }
}

/// What [`fit`] measured, epoch by epoch.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Mean training loss of each epoch (over its batches, weighted by size).
    pub loss: Vec<f32>,
    /// Validation loss after each epoch (empty without validation data).
    pub val_loss: Vec<f32>,
    /// Wall-clock seconds of each epoch (training and validation).
    pub seconds: Vec<f32>,
    /// The loss function's Keras name.
    pub loss_name: String,
}

impl History {
    /// The last validation loss, if there was validation data.
    pub fn last_val_loss(&self) -> Option<f32> {
        self.val_loss.last().copied()
    }

    /// The last training loss.
    pub fn last_loss(&self) -> Option<f32> {
        self.loss.last().copied()
    }

    /// Median seconds per epoch.
    pub fn median_epoch_seconds(&self) -> Option<f32> {
        let mut s = self.seconds.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_by(|a, b| a.total_cmp(b));
        Some(s[s.len() / 2])
    }

    /// Loss curves (training and validation) as an SVG chart.
    pub fn plot(&self) -> Result<crate::plot::Svg> {
        crate::plot::loss_curves(self)
    }

    /// Shows the loss curves in a notebook.
    pub fn evcxr_display(&self) {
        match self.plot() {
            Ok(svg) => svg.evcxr_display(),
            Err(e) => println!("{e}"),
        }
    }
}

/// One optimisation step at a time: the body of [`fit`]'s loop.
pub struct Trainer {
    opt: OptimizerState,
    loss: Loss,
}

impl Trainer {
    /// A trainer for `model`'s weights.
    pub fn new(model: &impl Model, optimizer: Optimizer, loss: Loss) -> Result<Self> {
        Ok(Trainer {
            opt: optimizer.build(model.vars())?,
            loss,
        })
    }

    /// Forward, loss, backward, update; returns the batch's loss tensor
    /// (a scalar, still on the device: read it only when you need it).
    pub fn step(&mut self, model: &impl Model, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
        let pred = model.forward(xs)?;
        let loss = self.loss.compute(&pred, ys)?;
        self.opt.backward_step(&loss)?;
        Ok(loss)
    }
}

fn model_device(model: &impl Model) -> Device {
    model.device()
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
        return Err(Error::invalid("fit: batch_size is 0; use at least 1 (the lessons use 128)"));
    }
    if cfg.epochs == 0 {
        return Err(Error::invalid("fit: epochs is 0; ask for at least 1"));
    }
    if let Some((vx, vy)) = validation {
        check_pair("fit validation data", vx, vy)?;
    }
    let mode = crate::mode::mode();
    let epochs = mode.epochs(cfg.epochs);
    if epochs < cfg.epochs && cfg.verbose {
        println!("quick mode: {epochs} of {} epochs", cfg.epochs);
    }
    let dev = model_device(model);
    let xs = xs.to_device(&dev)?;
    let ys = ys.to_device(&dev)?;
    let validation = match validation {
        Some((vx, vy)) => Some((vx.to_device(&dev)?, vy.to_device(&dev)?)),
        None => None,
    };
    if model.vars().is_empty() {
        return Err(Error::invalid(
            "fit: this model owns no trainable weights (an encoder or decoder on its own shares them with its autoencoder: train the autoencoder)",
        ));
    }
    let mut trainer = Trainer::new(model, cfg.optimizer, cfg.loss)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut history = History {
        loss_name: cfg.loss.name().to_string(),
        ..Default::default()
    };
    let steps = n.div_ceil(cfg.batch_size);
    for epoch in 0..epochs {
        let start = Instant::now();
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        let order_t = Tensor::from_slice(&order, n, &dev)?;
        let mut total = Tensor::zeros((), DType::F32, &dev)?;
        for step in 0..steps {
            let from = step * cfg.batch_size;
            let len = cfg.batch_size.min(n - from);
            let idx = order_t.narrow(0, from, len)?;
            let xb = xs.index_select(&idx, 0)?;
            let yb = ys.index_select(&idx, 0)?;
            let loss = trainer.step(model, &xb, &yb)?;
            total = (total + (loss.detach().to_dtype(DType::F32)? * len as f64)?)?;
        }
        let loss = total.to_scalar::<f32>()? / n as f32;
        if !loss.is_finite() {
            return Err(Error::invalid(format!(
                "fit: the training loss became {loss} at epoch {}; lower the learning rate ({})",
                epoch + 1,
                cfg.optimizer.lr()
            )));
        }
        history.loss.push(loss);
        let mut line = format!("Epoch {}/{epochs} - loss: {loss:.4}", epoch + 1);
        if let Some((vx, vy)) = &validation {
            let v = evaluate(model, vx, vy, cfg.loss, cfg.batch_size.max(256))?;
            history.val_loss.push(v);
            line.push_str(&format!(" - val_loss: {v:.4}"));
        }
        let secs = start.elapsed().as_secs_f32();
        history.seconds.push(secs);
        if cfg.verbose {
            println!("{line} - {secs:.1}s");
        }
    }
    Ok(history)
}

/// The model's outputs for `xs`, computed `batch_size` rows at a time and
/// returned on the CPU.
pub fn predict(model: &impl Model, xs: &Tensor, batch_size: usize) -> Result<Tensor> {
    if batch_size == 0 {
        return Err(Error::invalid("predict: batch_size is 0; use at least 1"));
    }
    let n = xs.dim(0)?;
    let dev = model_device(model);
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

/// The mean loss of the model on `(xs, ys)`, in batches.
pub fn evaluate(model: &impl Model, xs: &Tensor, ys: &Tensor, loss: Loss, batch_size: usize) -> Result<f32> {
    let n = check_pair("evaluate", xs, ys)?;
    if batch_size == 0 {
        return Err(Error::invalid("evaluate: batch_size is 0; use at least 1"));
    }
    let dev = model_device(model);
    let mut total = Tensor::zeros((), DType::F32, &dev)?;
    for from in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - from);
        let xb = xs.narrow(0, from, len)?.to_device(&dev)?;
        let yb = ys.narrow(0, from, len)?.to_device(&dev)?;
        let l = loss.compute(&model.forward(&xb)?, &yb)?;
        total = (total + (l.to_dtype(DType::F32)? * len as f64)?)?;
    }
    Ok(total.to_scalar::<f32>()? / n as f32)
}

