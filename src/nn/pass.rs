//! What a forward pass knows of the step it belongs to.

use crate::error::Result;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal, Uniform};

/// One forward pass: training or inference, a seeded random stream for the
/// layers that draw noise (dropout, gaussian noise, a VAE's sampling), and
/// the extra loss terms layers add (an activity penalty, a KL term), which
/// `train::fit` adds to the loss and reports in its `History`.
pub struct Pass {
    training: bool,
    rng: rand::rngs::StdRng,
    terms: Vec<(String, Tensor)>,
}

impl Pass {
    /// Inference: training-only layers pass their input through.
    pub fn inference() -> Self {
        Pass {
            training: false,
            rng: rand::rngs::StdRng::seed_from_u64(0),
            terms: Vec::new(),
        }
    }

    /// A training step whose random draws come from `seed`.
    pub fn training(seed: u64) -> Self {
        Pass {
            training: true,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            terms: Vec::new(),
        }
    }

    /// True while training.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Adds a scalar loss term named `name` (terms of one name add up).
    pub fn add_loss(&mut self, name: &str, term: Tensor) -> Result<()> {
        match self.terms.iter_mut().find(|(n, _)| n == name) {
            Some((_, t)) => *t = (&*t + term)?,
            None => self.terms.push((name.to_string(), term)),
        }
        Ok(())
    }

    /// The loss terms added so far, in the order they were first added.
    pub fn terms(&self) -> &[(String, Tensor)] {
        &self.terms
    }

    /// Standard normal samples of `shape` on `dev` (from this pass's seeded
    /// stream on the CPU; from the device's generator elsewhere).
    pub fn randn(&mut self, shape: &[usize], dev: &Device) -> Result<Tensor> {
        if !dev.is_cpu() {
            return Ok(Tensor::randn(0f32, 1f32, shape, dev)?);
        }
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut self.rng)).collect();
        Ok(Tensor::from_vec(v, shape, dev)?)
    }

    /// Uniform samples in `[0, 1)` of `shape` on `dev`.
    pub fn rand(&mut self, shape: &[usize], dev: &Device) -> Result<Tensor> {
        if !dev.is_cpu() {
            return Ok(Tensor::rand(0f32, 1f32, shape, dev)?);
        }
        let n: usize = shape.iter().product();
        let u = Uniform::new(0f32, 1f32).expect("0 < 1");
        let v: Vec<f32> = (0..n).map(|_| u.sample(&mut self.rng)).collect();
        Ok(Tensor::from_vec(v, shape, dev)?)
    }
}
