//! RMSprop and Adadelta with Keras' update rules (candle-nn has neither).

use super::state_tensor;
use crate::error::Result;
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;

/// The accumulators of each parameter (`NAME.SLOT.i`), on the CPU.
fn save_slots(name: &str, slots: &[&[(usize, &Var)]]) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for (s, slot) in slots.iter().enumerate() {
        for (i, v) in slot.iter() {
            out.push((format!("{name}.{s}.{i}"), v.as_tensor().to_device(&Device::Cpu)?));
        }
    }
    Ok(out)
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

    /// The mean squared gradients, to save with a checkpoint.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let sq: Vec<(usize, &Var)> = self.vars.iter().map(|(_, v)| v).enumerate().collect();
        save_slots("rmsprop", &[&sq])
    }

    /// Puts back a state from [`RmsProp::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let saved = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, (var, _))| {
                Ok(state_tensor(state, &format!("rmsprop.0.{i}"), var.dims())?.to_device(var.device())?)
            })
            .collect::<Result<Vec<_>>>()?;
        for ((_, v), t) in self.vars.iter().zip(saved) {
            v.set(&t)?;
        }
        Ok(())
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

    /// The accumulated squared gradients and updates, to save with a
    /// checkpoint.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let g2: Vec<(usize, &Var)> = self.vars.iter().map(|(_, g, _)| g).enumerate().collect();
        let d2: Vec<(usize, &Var)> = self.vars.iter().map(|(_, _, d)| d).enumerate().collect();
        save_slots("adadelta", &[&g2, &d2])
    }

    /// Puts back a state from [`Adadelta::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let mut saved = Vec::with_capacity(self.vars.len());
        for (i, (var, _, _)) in self.vars.iter().enumerate() {
            let slot = |s: usize| -> Result<Tensor> {
                Ok(state_tensor(state, &format!("adadelta.{s}.{i}"), var.dims())?.to_device(var.device())?)
            };
            saved.push((slot(0)?, slot(1)?));
        }
        for ((_, g2, d2), (g2_saved, d2_saved)) in self.vars.iter().zip(saved) {
            g2.set(&g2_saved)?;
            d2.set(&d2_saved)?;
        }
        Ok(())
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
