//! Optimisers with Keras' defaults. Adam follows candle-nn's `AdamW` rule
//! with no weight decay (in one in-place pass per parameter on the CPU, see
//! [`Adam`]) and SGD is candle-nn's; RMSprop and Adadelta, which candle-nn
//! does not have, follow Keras' update rules.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Layout, Tensor, Var};
use std::sync::Mutex;
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
    ///
    /// Tensor ids made from here on in this cell are kept above the ids of
    /// `vars`, which may come from another notebook cell (see
    /// [`crate::cells`]): build the optimiser in the cell that runs the loop.
    pub fn build(&self, vars: Vec<Var>) -> Result<OptimizerState> {
        let highest_id = crate::cells::highest_id(vars.iter().map(|v| v.as_tensor()));
        crate::cells::keep_above(highest_id);
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid(format!(
                "learning rate {lr} is not allowed: use a finite value > 0 (Keras' default is 0.001)"
            )));
        }
        let rule = match *self {
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                Rule::Adam(Adam::new(vars, ParamsAdamW { lr, beta1, beta2, eps, weight_decay: 0.0 })?)
            }
            Optimizer::Sgd { lr } => Rule::Sgd(SGD::new(vars, lr)?),
            Optimizer::RmsProp { lr, rho, eps } => Rule::RmsProp(RmsProp::new(vars, lr, rho, eps)?),
            Optimizer::Adadelta { lr, rho, eps } => Rule::Adadelta(Adadelta::new(vars, lr, rho, eps)?),
        };
        Ok(OptimizerState { rule, highest_id, built_in: crate::cells::copy_key() })
    }
}

/// A built optimiser, ready to step.
pub struct OptimizerState {
    rule: Rule,
    /// The highest tensor id among its variables.
    highest_id: usize,
    /// The copy of the crate (the notebook cell) that built it.
    built_in: usize,
}

enum Rule {
    Adam(Adam),
    Sgd(SGD),
    RmsProp(RmsProp),
    Adadelta(Adadelta),
}

impl OptimizerState {
    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.check_cell()?;
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update from computed gradients.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.check_cell()?;
        match &mut self.rule {
            Rule::Adam(o) => o.step(grads)?,
            Rule::Sgd(o) => o.step(grads)?,
            Rule::RmsProp(o) => o.step(grads)?,
            Rule::Adadelta(o) => o.step(grads)?,
        }
        Ok(())
    }

    /// Refuses a step in a later notebook cell whose graph may give two
    /// tensors one id (see [`crate::cells`]): the optimiser was built in
    /// another cell and nothing in this one kept the variables' ids apart
    /// before the graph was built (a model's forward pass does it).
    fn check_cell(&self) -> Result<()> {
        if crate::cells::copy_key() == self.built_in || crate::cells::kept_apart(self.highest_id) {
            return Ok(());
        }
        Err(Error::invalid(
            "this optimiser was built in an earlier notebook cell, so this cell's tensors may carry the same \
             ids as its variables and candle would mix up their gradients (evcxr gives every cell its own copy \
             of candle, whose tensor ids start again at 1; see autoencoders::cells). Build the optimiser in this \
             cell, before the loop, or call `autoencoders::cells::keep_ids_apart(vars.iter().map(|v| v.as_tensor()))` \
             at the top of this cell. Nothing was updated.",
        ))
    }
}

/// Adam (candle-nn's `AdamW` rule): `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`,
/// `w ← w(1 - lr·λ) - lr·m̂ / (√v̂ + ε)` with `m̂`, `v̂` bias-corrected.
///
/// candle-nn's `AdamW` runs about a dozen tensor ops per parameter and step,
/// each allocating a new tensor; for `f32` parameters on the CPU this does
/// the same arithmetic in one pass, writing the parameter in place (a candle
/// in-place op, so the model's layers see the new values). Parameters
/// elsewhere (a GPU) go to candle-nn's `AdamW`.
pub struct Adam {
    cpu: Vec<(Var, Vec<f32>, Vec<f32>)>,
    other: AdamW,
    params: ParamsAdamW,
    step_t: i32,
}

impl Adam {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let (cpu, other): (Vec<Var>, Vec<Var>) = vars
            .into_iter()
            .filter(|v| v.dtype().is_float())
            .partition(|v| v.device().is_cpu() && v.dtype() == DType::F32 && v.is_contiguous());
        let cpu = cpu
            .into_iter()
            .map(|v| {
                let n = v.elem_count();
                (v, vec![0f32; n], vec![0f32; n])
            })
            .collect();
        Ok(Adam { cpu, other: AdamW::new(other, params.clone())?, params, step_t: 0 })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let rule = AdamRule {
            beta1: p.beta1 as f32,
            beta2: p.beta2 as f32,
            scale_m: (1.0 / (1.0 - p.beta1.powi(self.step_t))) as f32,
            scale_v: (1.0 / (1.0 - p.beta2.powi(self.step_t))) as f32,
            lr: p.lr as f32,
            eps: p.eps as f32,
            decay: (1.0 - p.lr * p.weight_decay) as f32,
        };
        for (var, m, v) in self.cpu.iter_mut() {
            let Some(g) = grads.get(var) else { continue };
            if g.dims() != var.dims() || g.dtype() != DType::F32 || !g.device().is_cpu() {
                return Err(Error::invalid(format!(
                    "Adam: the gradient of a {:?} parameter has shape {:?} ({:?}, {:?})",
                    var.dims(),
                    g.dims(),
                    g.dtype(),
                    g.device().location()
                )));
            }
            let g = g.contiguous()?;
            let update = AdamUpdate { rule, m: Mutex::new(m), v: Mutex::new(v) };
            var.as_tensor().inplace_op2(&g, &update)?;
        }
        self.other.step(grads)?;
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct AdamRule {
    beta1: f32,
    beta2: f32,
    scale_m: f32,
    scale_v: f32,
    lr: f32,
    eps: f32,
    decay: f32,
}

/// One Adam step for one parameter, written into the parameter's storage.
struct AdamUpdate<'a> {
    rule: AdamRule,
    m: Mutex<&'a mut Vec<f32>>,
    v: Mutex<&'a mut Vec<f32>>,
}

impl candle_core::InplaceOp2 for AdamUpdate<'_> {
    fn name(&self) -> &'static str {
        "adam-update"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let (CpuStorage::F32(w), CpuStorage::F32(g)) = (s1, s2) else {
            candle_core::bail!("adam-update: f32 parameters and gradients only")
        };
        let (Some((w0, w1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("adam-update: contiguous parameters and gradients only")
        };
        let (w, g) = (&mut w[w0..w1], &g[g0..g1]);
        let mut m = self.m.lock().map_err(|_| candle_core::Error::Msg("adam-update: state lock poisoned".into()))?;
        let mut v = self.v.lock().map_err(|_| candle_core::Error::Msg("adam-update: state lock poisoned".into()))?;
        if w.len() != g.len() || m.len() != w.len() || v.len() != w.len() {
            candle_core::bail!("adam-update: {} parameters, {} gradients, {} moments", w.len(), g.len(), m.len())
        }
        let r = self.rule;
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = *m * r.beta1 + g * (1.0 - r.beta1);
            *v = *v * r.beta2 + g * g * (1.0 - r.beta2);
            *w = *w * r.decay - r.lr * (*m * r.scale_m / ((*v * r.scale_v).sqrt() + r.eps));
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

