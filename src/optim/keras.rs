//! RMSprop and Adadelta with Keras' update rules (candle-nn has neither).

use crate::error::Result;
use candle_core::backprop::GradStore;
use candle_core::Var;

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
