//! Max-pooling and nearest up-sampling as candle custom ops, forward and
//! backward.

use super::{dims4, f32_slice};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Max-pooling over `size × size` windows with stride `size` (floor); the
/// gradient goes to the first maximum of each window, as in TensorFlow and
/// PyTorch.
#[derive(Debug, Clone, Copy)]
struct MaxPoolOp {
    size: usize,
}

impl MaxPoolOp {
    /// Index (within the plane) of each window's first maximum.
    fn argmax(&self, plane: &[f32], h: usize, w: usize, out: &mut [u32]) {
        let (s, ho, wo) = (self.size, h / self.size, w / self.size);
        if s == 2 {
            for oy in 0..ho {
                let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
                for ox in 0..wo {
                    let (a, b, c, d) = (r0 + 2 * ox, r0 + 2 * ox + 1, r1 + 2 * ox, r1 + 2 * ox + 1);
                    let mut best = a;
                    for i in [b, c, d] {
                        if plane[i] > plane[best] {
                            best = i;
                        }
                    }
                    out[oy * wo + ox] = best as u32;
                }
            }
            return;
        }
        for oy in 0..ho {
            for ox in 0..wo {
                let mut best = (oy * s) * w + ox * s;
                for dy in 0..s {
                    for dx in 0..s {
                        let i = (oy * s + dy) * w + ox * s + dx;
                        if plane[i] > plane[best] {
                            best = i;
                        }
                    }
                }
                out[oy * wo + ox] = best as u32;
            }
        }
    }
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "fast-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "max_pool2d input")?;
        let (ho, wo) = (h / self.size, w / self.size);
        let x = f32_slice(s, l, "max_pool2d input")?;
        let mut y = crate::zeros(n * c * ho * wo);
        y.par_chunks_mut(ho * wo).enumerate().for_each_init(
            || vec![0u32; ho * wo],
            |idx, (p, yp)| {
                let plane = &x[p * h * w..(p + 1) * h * w];
                self.argmax(plane, h, w, idx);
                for (o, &i) in yp.iter_mut().zip(idx.iter()) {
                    *o = plane[i as usize];
                }
            },
        );
        Ok((CpuStorage::F32(y), Shape::from((n, c, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let op = MaxPoolBackward { size: self.size };
        Ok(Some(x.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

#[derive(Debug, Clone, Copy)]
struct MaxPoolBackward {
    size: usize,
}

impl CustomOp2 for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "fast-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "max_pool2d input")?;
        let (ho, wo) = (h / self.size, w / self.size);
        let x = f32_slice(s1, l1, "max_pool2d input")?;
        let g = f32_slice(s2, l2, "max_pool2d gradient")?;
        let pool = MaxPoolOp { size: self.size };
        let mut dx = crate::zeros(n * c * h * w);
        dx.par_chunks_mut(h * w).enumerate().for_each_init(
            || vec![0u32; ho * wo],
            |idx, (p, dxp)| {
                pool.argmax(&x[p * h * w..(p + 1) * h * w], h, w, idx);
                for (&i, &gv) in idx.iter().zip(&g[p * ho * wo..(p + 1) * ho * wo]) {
                    dxp[i as usize] += gv;
                }
            },
        );
        Ok((CpuStorage::F32(dx), Shape::from((n, c, h, w))))
    }
}

/// Nearest-neighbour up-sampling by an integer `factor`; its gradient sums
/// each `factor × factor` block.
#[derive(Debug, Clone, Copy)]
struct UpsampleOp {
    factor: usize,
}

impl CustomOp1 for UpsampleOp {
    fn name(&self) -> &'static str {
        "fast-upsample-nearest2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "upsample input")?;
        let f = self.factor;
        let x = f32_slice(s, l, "upsample input")?;
        let (ho, wo) = (h * f, w * f);
        let mut y = crate::zeros(n * c * ho * wo);
        y.par_chunks_mut(ho * wo).enumerate().for_each(|(p, yp)| {
            let plane = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..ho {
                let src = &plane[(oy / f) * w..(oy / f + 1) * w];
                for (ox, o) in yp[oy * wo..(oy + 1) * wo].iter_mut().enumerate() {
                    *o = src[ox / f];
                }
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((n, c, ho, wo))))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&UpsampleBackward { factor: self.factor })?,
        ))
    }
}

#[derive(Debug, Clone, Copy)]
struct UpsampleBackward {
    factor: usize,
}

impl CustomOp1 for UpsampleBackward {
    fn name(&self) -> &'static str {
        "fast-upsample-nearest2d-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, ho, wo) = dims4(l, "upsample gradient")?;
        let f = self.factor;
        let (h, w) = (ho / f, wo / f);
        let g = f32_slice(s, l, "upsample gradient")?;
        let mut dx = crate::zeros(n * c * h * w);
        dx.par_chunks_mut(h * w).enumerate().for_each(|(p, dp)| {
            let plane = &g[p * ho * wo..(p + 1) * ho * wo];
            for oy in 0..ho {
                let dst = &mut dp[(oy / f) * w..(oy / f + 1) * w];
                for (ox, v) in plane[oy * wo..(oy + 1) * wo].iter().enumerate() {
                    dst[ox / f] += *v;
                }
            }
        });
        Ok((CpuStorage::F32(dx), Shape::from((n, c, h, w))))
    }
}

/// Max-pooling over `size × size` windows, stride `size`.
pub fn max_pool2d(xs: &Tensor, size: usize) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if size == 0 || size > h || size > w {
        candle_core::bail!(
            "max_pool2d: window {size}x{size} does not fit a {h}x{w} map (it needs 1 ≤ size ≤ the map's side)"
        );
    }
    xs.contiguous()?.apply_op1(MaxPoolOp { size })
}

/// Nearest up-sampling by `factor`.
pub fn upsample_nearest2d(xs: &Tensor, factor: usize) -> candle_core::Result<Tensor> {
    if factor == 0 {
        candle_core::bail!("upsample_nearest2d: factor is 0; use at least 1");
    }
    xs.contiguous()?.apply_op1(UpsampleOp { factor })
}
