//! Adam in one in-place pass per parameter on the CPU, candle-nn's `AdamW`
//! elsewhere.

use crate::error::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Layout, Tensor, Var};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW};
use std::collections::HashMap;
use std::sync::Mutex;

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
    /// Parameters `other` trains.
    others: usize,
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
        Ok(Adam {
            cpu,
            others: other.len(),
            other: AdamW::new(other, params.clone())?,
            params,
            step_t: 0,
        })
    }

    /// The moving averages of every CPU parameter and the step count, to
    /// save with a checkpoint. candle-nn's `AdamW`, which trains parameters
    /// elsewhere (a GPU), keeps its state to itself: an error then.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.check_saveable()?;
        let mut out = vec![("adam.t".to_string(), Tensor::new(&[self.step_t as f64], &Device::Cpu)?)];
        for (i, (var, m, v)) in self.cpu.iter().enumerate() {
            out.push((format!("adam.m.{i}"), Tensor::from_slice(m, var.shape(), &Device::Cpu)?));
            out.push((format!("adam.v.{i}"), Tensor::from_slice(v, var.shape(), &Device::Cpu)?));
        }
        Ok(out)
    }

    /// An error when part of the state lives in candle-nn's `AdamW` (a GPU),
    /// which keeps it private: it could be neither saved nor put back.
    pub fn check_saveable(&self) -> Result<()> {
        if self.others > 0 {
            return Err(Error::refused(
                "Adam's state on a GPU cannot be saved or restored (candle-nn's AdamW keeps it private): \
                 train without checkpoints there, or use Optimizer::rmsprop() or Optimizer::adadelta(), whose state can be",
            ));
        }
        Ok(())
    }

    /// Puts back a state from [`Adam::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.check_saveable()?;
        let t = super::state_tensor(state, "adam.t", &[1])?.to_vec1::<f64>()?[0];
        let read = |name: String, var: &Var| -> Result<Vec<f32>> {
            Ok(super::state_tensor(state, &name, var.dims())?
                .flatten_all()?
                .to_vec1()?)
        };
        // Everything is read and checked before anything is replaced.
        let mut moments = Vec::with_capacity(self.cpu.len());
        for (i, (var, _, _)) in self.cpu.iter().enumerate() {
            moments.push((read(format!("adam.m.{i}"), var)?, read(format!("adam.v.{i}"), var)?));
        }
        for ((_, m, v), (m_new, v_new)) in self.cpu.iter_mut().zip(moments) {
            (*m, *v) = (m_new, v_new);
        }
        self.step_t = t as i32;
        Ok(())
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
                return Err(Error::disagree(format!(
                    "Adam: the gradient of a {:?} parameter has shape {:?} ({:?}, {:?})",
                    var.dims(),
                    g.dims(),
                    g.dtype(),
                    g.device().location()
                )));
            }
            let g = g.contiguous()?;
            let update = AdamUpdate {
                rule,
                m: Mutex::new(m),
                v: Mutex::new(v),
            };
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
        let mut m = self
            .m
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam-update: state lock poisoned".into()))?;
        let mut v = self
            .v
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam-update: state lock poisoned".into()))?;
        if w.len() != g.len() || m.len() != w.len() || v.len() != w.len() {
            candle_core::bail!(
                "adam-update: {} parameters, {} gradients, {} moments",
                w.len(),
                g.len(),
                m.len()
            )
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
