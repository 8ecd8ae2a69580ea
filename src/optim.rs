//! Optimisers with Keras' defaults. Adam and SGD are candle-nn's (`AdamW`
//! with no weight decay is Adam); RMSprop and Adadelta, which candle-nn does
//! not have, follow Keras' update rules.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW, SGD};

/// Which optimiser to train with, and its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Adam (Keras defaults: lr 1e-3, β 0.9/0.999, ε 1e-7).
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64 },
    /// RMSprop (Keras defaults: lr 1e-3, ρ 0.9, ε 1e-7).
    RmsProp { lr: f64, rho: f64, eps: f64 },
    /// Adadelta (Keras defaults: lr 1e-3, ρ 0.95, ε 1e-7).
    Adadelta { lr: f64, rho: f64, eps: f64 },
    /// Plain stochastic gradient descent.
    Sgd { lr: f64 },
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::adam()
    }
}

impl Optimizer {
    /// Adam with Keras' defaults.
    pub fn adam() -> Self {
        Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-7 }
    }
    /// Adam with learning rate `lr`, other settings as Keras.
    pub fn adam_lr(lr: f64) -> Self {
        match Optimizer::adam() {
            Optimizer::Adam { beta1, beta2, eps, .. } => Optimizer::Adam { lr, beta1, beta2, eps },
            other => other,
        }
    }
    /// RMSprop with Keras' defaults.
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp { lr: 1e-3, rho: 0.9, eps: 1e-7 }
    }
    /// Adadelta with Keras' defaults.
    pub fn adadelta() -> Self {
        Optimizer::Adadelta { lr: 1e-3, rho: 0.95, eps: 1e-7 }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Adam { lr, .. }
            | Optimizer::RmsProp { lr, .. }
            | Optimizer::Adadelta { lr, .. }
            | Optimizer::Sgd { lr } => lr,
        }
    }

    /// Builds the optimiser's state for `vars`.
    pub fn build(&self, vars: Vec<Var>) -> Result<OptimizerState> {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid(format!(
                "learning rate {lr} is not allowed: use a finite value > 0 (Keras' default is 0.001)"
            )));
        }
        Ok(match *self {
            Optimizer::Adam { lr, beta1, beta2, eps } => OptimizerState::Adam(AdamW::new(
                vars,
                ParamsAdamW { lr, beta1, beta2, eps, weight_decay: 0.0 },
            )?),
            Optimizer::Sgd { lr } => OptimizerState::Sgd(SGD::new(vars, lr)?),
            Optimizer::RmsProp { lr, rho, eps } => OptimizerState::RmsProp(RmsProp::new(vars, lr, rho, eps)?),
            Optimizer::Adadelta { lr, rho, eps } => OptimizerState::Adadelta(Adadelta::new(vars, lr, rho, eps)?),
        })
    }
}

/// A built optimiser, ready to step.
pub enum OptimizerState {
    Adam(AdamW),
    Sgd(SGD),
    RmsProp(RmsProp),
    Adadelta(Adadelta),
}

impl OptimizerState {
    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update from computed gradients.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        match self {
            OptimizerState::Adam(o) => o.step(grads)?,
            OptimizerState::Sgd(o) => o.step(grads)?,
            OptimizerState::RmsProp(o) => o.step(grads)?,
            OptimizerState::Adadelta(o) => o.step(grads)?,
        }
        Ok(())
    }
}

/// RMSprop as Keras: `v ← ρv + (1-ρ)g²`, `w ← w - lr·g / (√v + ε)`.
pub struct RmsProp {
    vars: Vec<(Var, Var)>,
    lr: f64,
    rho: f64,
    eps: f64,
}

impl RmsProp {
    pub fn new(vars: Vec<Var>, lr: f64, rho: f64, eps: f64) -> Result<Self> {
        let vars = vars
            .into_iter()
            .filter(|v| v.dtype().is_float())
            .map(|v| {
                let sq = Var::zeros(v.shape(), v.dtype(), v.device())?;
                Ok((v, sq))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RmsProp { vars, lr, rho, eps })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        for (var, v) in &self.vars {
            if let Some(g) = grads.get(var) {
                let v_new = ((v.as_tensor() * self.rho)? + (g.sqr()? * (1.0 - self.rho))?)?;
                let update = (g / (v_new.sqrt()? + self.eps)?)?;
                var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
                v.set(&v_new)?;
            }
        }
        Ok(())
    }
}

/// Adadelta as Keras: accumulated squared gradients and updates, step
/// `Δ = -√(E[Δ²] + ε) / √(E[g²] + ε) · g`, `w ← w + lr·Δ`.
pub struct Adadelta {
    vars: Vec<(Var, Var, Var)>,
    lr: f64,
    rho: f64,
    eps: f64,
}

impl Adadelta {
    pub fn new(vars: Vec<Var>, lr: f64, rho: f64, eps: f64) -> Result<Self> {
        let vars = vars
            .into_iter()
            .filter(|v| v.dtype().is_float())
            .map(|v| {
                let g2 = Var::zeros(v.shape(), v.dtype(), v.device())?;
                let d2 = Var::zeros(v.shape(), v.dtype(), v.device())?;
                Ok((v, g2, d2))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Adadelta { vars, lr, rho, eps })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        for (var, g2, d2) in &self.vars {
            if let Some(g) = grads.get(var) {
                let g2_new = ((g2.as_tensor() * self.rho)? + (g.sqr()? * (1.0 - self.rho))?)?;
                let delta = ((d2.as_tensor() + self.eps)?.sqrt()? / (&g2_new + self.eps)?.sqrt()?)?
                    .mul(g)?
                    .neg()?;
                let d2_new = ((d2.as_tensor() * self.rho)? + (delta.sqr()? * (1.0 - self.rho))?)?;
                var.set(&(var.as_tensor() + (&delta * self.lr)?)?)?;
                g2.set(&g2_new)?;
                d2.set(&d2_new)?;
            }
        }
        Ok(())
    }
}

