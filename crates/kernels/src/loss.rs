//! Mean squared error and clipped binary cross-entropy as single ops: the
//! loss and its gradient each in one pass (as tensor ops they are five to
//! eight element-wise passes forward and as many backward).

use super::f32_slice;
use candle_core::{CpuStorage, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Keras' `epsilon()`: probabilities are clipped this far from 0 and 1.
pub const EPSILON: f64 = 1e-7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mse,
    Bce,
}

#[derive(Debug, Clone, Copy)]
struct LossOp {
    kind: Kind,
}

const CHUNK: usize = 1 << 14;

impl LossOp {
    /// Per element: the loss term, and its derivatives in `p` and `t`.
    #[inline(always)]
    fn term(self, p: f32, t: f32) -> (f64, f32, f32) {
        match self.kind {
            Kind::Mse => {
                let d = p - t;
                ((d as f64) * (d as f64), 2.0 * d, -2.0 * d)
            }
            Kind::Bce => {
                let (lo, hi) = (EPSILON as f32, 1.0 - EPSILON as f32);
                let pc = p.clamp(lo, hi);
                let (lp, lq) = (super::ln(pc), super::ln(1.0 - pc));
                let term = -((t * lp + (1.0 - t) * lq) as f64);
                // Clipped values pass no gradient, as candle's clamp.
                let dp = if p > lo && p < hi {
                    -(t / pc - (1.0 - t) / (1.0 - pc))
                } else {
                    0.0
                };
                (term, dp, -(lp - lq))
            }
        }
    }
}

/// Runs `$body` compiled for AVX2/FMA where the CPU has it (the loops
/// then vectorise, the logarithm included), portably elsewhere.
macro_rules! with_avx2 {
    ($($(#[$doc:meta])* fn $name:ident($op:ident, $($arg:ident: $ty:ty),*) -> $ret:ty $body:block)*) => {
        impl LossOp {
            $(
                $(#[$doc])*
                fn $name(self, $($arg: $ty),*) -> $ret {
                    #[inline(always)]
                    fn body($op: LossOp, $($arg: $ty),*) -> $ret {
                        $body
                    }
                    #[cfg(target_arch = "x86_64")]
                    if crate::avx2_fma() {
                        #[target_feature(enable = "avx2,fma")]
                        unsafe fn avx2(op: LossOp, $($arg: $ty),*) -> $ret {
                            body(op, $($arg),*)
                        }
                        // SAFETY: the CPU has AVX2 and FMA (checked above).
                        return unsafe { avx2(self, $($arg),*) };
                    }
                    body(self, $($arg),*)
                }
            )*
        }
    };
}

with_avx2! {
    /// The sum of the terms of `p` against `t`, in eight running sums.
    fn sum(op, p: &[f32], t: &[f32]) -> f64 {
        let mut acc = [0f64; 8];
        let (pc, tc) = (p.chunks_exact(8), t.chunks_exact(8));
        let tail: f64 = pc.remainder().iter().zip(tc.remainder()).map(|(&p, &t)| op.term(p, t).0).sum();
        for (p8, t8) in pc.zip(tc) {
            for ((a, &p), &t) in acc.iter_mut().zip(p8).zip(t8) {
                *a += op.term(p, t).0;
            }
        }
        acc.iter().sum::<f64>() + tail
    }

    /// `d[i] = ∂term/∂p · scale` for every element.
    fn grad(op, p: &[f32], t: &[f32], scale: f32, d: &mut [f32]) -> () {
        for ((d, &p), &t) in d.iter_mut().zip(p).zip(t) {
            *d = op.term(p, t).1 * scale;
        }
    }
}

impl candle_core::CustomOp2 for LossOp {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Mse => "fast-mse",
            Kind::Bce => "fast-binary-cross-entropy",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            candle_core::bail!(
                "{}: prediction {:?} and target {:?} differ in shape",
                self.name(),
                l1.dims(),
                l2.dims()
            );
        }
        let (p, t) = (f32_slice(s1, l1, "prediction")?, f32_slice(s2, l2, "target")?);
        let op = *self;
        let sum: f64 = p
            .par_chunks(CHUNK)
            .zip(t.par_chunks(CHUNK))
            .map(|(p, t)| op.sum(p, t))
            .sum();
        Ok((
            CpuStorage::F32(vec![(sum / p.len().max(1) as f64) as f32]),
            Shape::from(()),
        ))
    }

    fn bwd(
        &self,
        pred: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (pred, target) = (pred.contiguous()?, target.contiguous()?);
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / pred.elem_count().max(1) as f32;
        let want_t = target.track_op();
        let (p, t) = (
            pred.flatten_all()?.to_vec1::<f32>()?,
            target.flatten_all()?.to_vec1::<f32>()?,
        );
        let op = *self;
        let mut dp = vec![0f32; p.len()];
        let mut dt = vec![0f32; if want_t { p.len() } else { 0 }];
        dp.par_chunks_mut(CHUNK)
            .zip(p.par_chunks(CHUNK).zip(t.par_chunks(CHUNK)))
            .for_each(|(d, (p, t))| op.grad(p, t, scale, d));
        if want_t {
            for ((d, &p), &t) in dt.iter_mut().zip(&p).zip(&t) {
                *d = op.term(p, t).2 * scale;
            }
        }
        let dev = candle_core::Device::Cpu;
        let dp = Tensor::from_vec(dp, pred.shape(), &dev)?;
        let dt = if want_t {
            Some(Tensor::from_vec(dt, target.shape(), &dev)?)
        } else {
            None
        };
        Ok((Some(dp), dt))
    }
}

/// `mean((pred - target)²)` as one op (CPU `f32`).
pub fn mse_loss(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    pred.contiguous()?
        .apply_op2(&target.contiguous()?, LossOp { kind: Kind::Mse })
}

/// `-mean(t·ln p + (1-t)·ln(1-p))` with `p` clipped to `[ε, 1-ε]`, as one
/// op (CPU `f32`).
pub fn bce_loss(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    pred.contiguous()?
        .apply_op2(&target.contiguous()?, LossOp { kind: Kind::Bce })
}
