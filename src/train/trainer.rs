//! One optimisation step at a time: the body of `fit`'s loop, and of a
//! hand-written loop that wants the crate's losses and the layers' terms.

use super::Loss;
use crate::error::Result;
use crate::nn::{Model, Pass};
use crate::optim::{Optimizer, OptimizerState};
use candle_core::Tensor;

/// One optimisation step at a time: the body of [`super::fit`]'s loop.
pub struct Trainer {
    pub(crate) opt: OptimizerState,
    loss: Loss,
    seed: u64,
    pub(crate) steps: u64,
    terms: Vec<(String, Tensor)>,
}

impl Trainer {
    /// A trainer for `model`'s weights.
    pub fn new(model: &(impl Model + ?Sized), optimizer: Optimizer, loss: Loss) -> Result<Self> {
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
    pub fn step(&mut self, model: &(impl Model + ?Sized), xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
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
