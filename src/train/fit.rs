//! [`fit`]: the loop over epochs and batches, and the hooks it calls
//! (see [`super::hooks`]).

use super::checkpoint::CheckpointHook;
use super::hooks::{BatchEnd, Begin, EpochEnd, Flow, Guard, Hook, Log, StopButton, TimeBudget};
use super::{check_pair, mean_loss, History, TrainConfig, Trainer};
use crate::data::{batch_spans, BatchOrder};
use crate::error::{Error, Result};
use crate::nn::Model;
use candle_core::{DType, Tensor};
use std::time::Instant;

/// Trains `model` to map `xs` to `ys` (for an autoencoder, `ys` is `xs`, or
/// the clean images when `xs` is noisy), Keras style: epochs of shuffled
/// batches, a line per epoch, a [`History`] back.
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
    let n = check_fit(model, xs, ys, validation, cfg)?;
    let epochs = crate::runtime::mode().epochs(cfg.epochs);
    if epochs < cfg.epochs && cfg.verbose {
        println!("quick mode: {epochs} of {} epochs", cfg.epochs);
    }
    let dev = model.device();
    let data = FitData {
        xs: xs.to_device(&dev)?,
        ys: ys.to_device(&dev)?,
        validation: match validation {
            Some((vx, vy)) => Some((vx.to_device(&dev)?, vy.to_device(&dev)?)),
            None => None,
        },
    };
    let mut hooks: Vec<Box<dyn Hook>> = vec![Box::new(Guard::new(model, cfg.optimizer.lr())), Box::new(Log::new(cfg))];
    if let Some(ck) = &cfg.checkpoints {
        hooks.push(Box::new(CheckpointHook::new(
            ck,
            cfg,
            &data.xs,
            &data.ys,
            data.validation.as_ref(),
        )?));
    }
    if let Some(budget) = cfg.time_budget {
        hooks.push(Box::new(TimeBudget::new(budget)));
    }
    hooks.push(Box::new(StopButton::new()));
    let mut run = Run {
        model,
        cfg,
        trainer: Trainer::new(model, cfg.optimizer, cfg.loss)?.with_seed(cfg.seed),
        order: BatchOrder::new(n, cfg.shuffle, cfg.seed),
        history: History {
            loss_name: cfg.loss.name().to_string(),
            ..Default::default()
        },
        data,
        n,
        epochs,
        steps: n.div_ceil(cfg.batch_size),
    };
    run.train(&mut hooks)?;
    Ok(run.history)
}

/// The arguments of `fit`, checked before any work; returns the number of
/// samples.
fn check_fit(
    model: &dyn Model,
    xs: &Tensor,
    ys: &Tensor,
    validation: Option<(&Tensor, &Tensor)>,
    cfg: &TrainConfig,
) -> Result<usize> {
    let n = check_pair("fit", xs, ys)?;
    if cfg.batch_size == 0 {
        return Err(Error::out_of_range(
            "fit: batch_size is 0; use at least 1 (the lessons use 128)",
        ));
    }
    if cfg.epochs == 0 {
        return Err(Error::out_of_range("fit: epochs is 0; ask for at least 1"));
    }
    if let Some((vx, vy)) = validation {
        check_pair("fit validation data", vx, vy)?;
    }
    if model.vars().is_empty() {
        return Err(Error::invalid(
            "fit: this model has no trainable weights; add a layer with weights (dense, conv2d, …)",
        ));
    }
    if cfg.checkpoints.as_ref().is_some_and(|ck| ck.every == 0) {
        return Err(Error::out_of_range(
            "fit: checkpoints every 0 epochs; save every 1 or more (with_checkpoints(dir, 1))",
        ));
    }
    Ok(n)
}

/// The training data on the model's device.
pub(crate) struct FitData {
    pub xs: Tensor,
    pub ys: Tensor,
    pub validation: Option<(Tensor, Tensor)>,
}

/// One `fit` under way.
struct Run<'a> {
    model: &'a dyn Model,
    cfg: &'a TrainConfig,
    trainer: Trainer,
    order: BatchOrder,
    history: History,
    data: FitData,
    n: usize,
    epochs: usize,
    steps: usize,
}

/// Running sums of the epoch's batch losses and terms, each times its
/// batch's size, kept on the device until the epoch ends.
#[derive(Default)]
struct Sums(Vec<(String, Tensor)>);

impl Sums {
    fn add(&mut self, name: &str, value: &Tensor, weight: usize) -> Result<()> {
        let v = (value.detach().to_dtype(DType::F32)? * weight as f64)?;
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, s)) => *s = (&*s + v)?,
            None => self.0.push((name.to_string(), v)),
        }
        Ok(())
    }

    /// One read-back per epoch: the means over `seen` samples.
    fn means(&self, seen: usize) -> Result<Vec<(String, f32)>> {
        self.0
            .iter()
            .map(|(name, sum)| Ok((name.clone(), sum.to_scalar::<f32>()? / seen as f32)))
            .collect()
    }
}

impl Run<'_> {
    fn train(&mut self, hooks: &mut [Box<dyn Hook>]) -> Result<()> {
        let (mut first_epoch, mut notes) = (0, Vec::new());
        for hook in hooks.iter_mut() {
            hook.begin(&mut Begin {
                model: self.model,
                trainer: &mut self.trainer,
                history: &mut self.history,
                first_epoch: &mut first_epoch,
                epochs: self.epochs,
                notes: &mut notes,
            })?;
        }
        note(hooks, &notes);
        self.order.skip(first_epoch);
        for epoch in first_epoch..self.epochs {
            if let Some((why, done)) = self.epoch(epoch, hooks)? {
                let resume = hooks.iter().find_map(|h| h.resume_hint());
                let notice = format!(
                    "{why} in epoch {} of {}, after batch {done} of {}: training stopped there, and the model keeps \
                     the weights of that batch{}",
                    epoch + 1,
                    self.epochs,
                    self.steps,
                    resume.unwrap_or_else(|| " (call fit again to train on)".to_string())
                );
                note(hooks, std::slice::from_ref(&notice));
                self.history.stopped = Some(notice);
                break;
            }
        }
        Ok(())
    }

    /// One epoch; returns why and after which batch a hook stopped it.
    fn epoch(&mut self, epoch: usize, hooks: &mut [Box<dyn Hook>]) -> Result<Option<(String, usize)>> {
        let start = Instant::now();
        for hook in hooks.iter_mut() {
            hook.epoch_begin(epoch, self.steps)?;
        }
        let dev = self.model.device();
        let order = Tensor::from_slice(self.order.next_pass(), self.n, &dev)?;
        let (mut sums, mut seen, mut stop, mut done) = (Sums::default(), 0, None, 0);
        for (step, (from, len)) in batch_spans(self.n, self.cfg.batch_size).enumerate() {
            let idx = order.narrow(0, from, len)?;
            let (xb, yb) = (self.data.xs.index_select(&idx, 0)?, self.data.ys.index_select(&idx, 0)?);
            let loss = self.trainer.step(self.model, &xb, &yb)?;
            sums.add("loss", &loss, len)?;
            for (name, term) in self.trainer.last_terms() {
                sums.add(name, term, len)?;
            }
            (seen, done) = (seen + len, step + 1);
            let at = BatchEnd {
                epoch,
                done,
                steps: self.steps,
                loss: &loss,
                loss_sum: &sums.0[0].1,
                seen,
                last: epoch + 1 == self.epochs && done == self.steps,
            };
            for hook in hooks.iter_mut() {
                if let Flow::Stop(why) = hook.batch_end(&at)? {
                    stop.get_or_insert(why);
                }
            }
            if stop.is_some() {
                break;
            }
        }
        let means = sums.means(seen)?;
        for hook in hooks.iter_mut() {
            hook.epoch_means(epoch, &means)?;
        }
        self.record(&means, start)?;
        let at = EpochEnd {
            model: self.model,
            trainer: &self.trainer,
            history: &self.history,
            epoch,
            epochs: self.epochs,
            done,
            steps: self.steps,
        };
        for hook in hooks.iter_mut() {
            hook.epoch_end(&at)?;
        }
        Ok(stop.map(|why| (why, done)))
    }

    /// The epoch's means, its validation loss and its time, into the history.
    fn record(&mut self, means: &[(String, f32)], start: Instant) -> Result<()> {
        self.history.loss.push(means[0].1);
        for (name, value) in &means[1..] {
            match self.history.terms.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(*value),
                None => self.history.terms.push((name.clone(), vec![*value])),
            }
        }
        if let Some((vx, vy)) = &self.data.validation {
            let v = mean_loss(self.model, vx, vy, self.cfg.loss, self.cfg.batch_size.max(256), false)?;
            self.history.val_loss.push(v);
        }
        self.history.seconds.push(start.elapsed().as_secs_f32());
        Ok(())
    }
}

fn note(hooks: &mut [Box<dyn Hook>], notes: &[String]) {
    for text in notes {
        for hook in hooks.iter_mut() {
            hook.note(text);
        }
    }
}
