//! A dense layer, `act(x · Wᵀ + b)`, as one op with its own backward pass.
//!
//! Run as candle ops, a dense layer is a matrix product, a broadcast add and
//! an activation, and its backward pass a dozen element-wise ops, each with
//! its own allocation, plus candle's add-into-zeros for every intermediate
//! gradient. Here the forward pass is one gemm with the bias and activation
//! applied to each row block while it is in cache, and the backward pass one
//! element-wise pass and two gemms.

use super::gemm::matmul;
use super::{f32_slice, FusedAct};
use candle_core::{CpuStorage, Layout, Shape, Tensor};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
struct DenseOp {
    act: FusedAct,
}

fn dims2(l: &Layout, what: &str) -> candle_core::Result<(usize, usize)> {
    match l.dims() {
        &[a, b] => Ok((a, b)),
        d => candle_core::bail!("{what}: expected 2 dimensions, got {d:?}"),
    }
}

/// Rows per task when `rows` rows are shared among the threads.
fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

impl candle_core::CustomOp3 for DenseOp {
    fn name(&self) -> &'static str {
        "fast-dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, k) = dims2(l1, "dense input")?;
        let (m, k2) = dims2(l2, "dense weight")?;
        if k != k2 || l3.dims() != [m] {
            candle_core::bail!(
                "dense: input {:?}, weight {:?}, bias {:?} do not fit (want (N, {k2}), ({m}, {k2}), ({m},))",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let (x, w, b) = (
            f32_slice(s1, l1, "dense input")?,
            f32_slice(s2, l2, "dense weight")?,
            f32_slice(s3, l3, "dense bias")?,
        );
        let mut y = crate::zeros(n * m);
        let per = rows_per_task(n);
        let act = self.act;
        y.par_chunks_mut(per * m).enumerate().for_each(|(t, yc)| {
            let rows = yc.len() / m;
            // yc (rows × m) = x_rows (rows × k) · Wᵀ (k × m)
            matmul(
                rows,
                m,
                k,
                yc,
                false,
                &x[t * per * k..(t * per + rows) * k],
                false,
                w,
                true,
            );
            for row in yc.chunks_mut(m) {
                for (v, bias) in row.iter_mut().zip(b) {
                    *v = act.apply(*v + bias);
                }
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, w, res, grad) = (x.contiguous()?, w.contiguous()?, res.contiguous()?, grad.contiguous()?);
        let need_dx = x.track_op();
        let (n, k) = x.dims2()?;
        let m = w.dim(0)?;
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (rs, rl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (xc, wc, rc, gc) = match (&*xs, &*ws, &*rs, &*gs) {
            (
                candle_core::Storage::Cpu(a),
                candle_core::Storage::Cpu(b),
                candle_core::Storage::Cpu(c),
                candle_core::Storage::Cpu(d),
            ) => (a, b, c, d),
            _ => candle_core::bail!("dense backward: CPU tensors only"),
        };
        let (xv, wv) = (f32_slice(xc, xl, "dense input")?, f32_slice(wc, wl, "dense weight")?);
        let (yv, gv) = (f32_slice(rc, rl, "dense output")?, f32_slice(gc, gl, "dense gradient")?);
        let (pre, db) = pre_activation_gradient(self.act, yv, gv, n, m);
        // dW (m × k) = preᵀ (m × n) · x (n × k), split over rows of dW.
        let mut dw = vec![0f32; m * k];
        let per_m = rows_per_task(m);
        dw.par_chunks_mut(per_m * k).enumerate().for_each(|(t, dc)| {
            let rows = dc.len() / k;
            // preᵀ rows t·per_m.. : columns of pre, read transposed with row stride m.
            matmul_t_cols(rows, k, n, dc, &pre, m, t * per_m, xv);
        });
        let dev = candle_core::Device::Cpu;
        let dx = if need_dx {
            // dx (n × k) = pre (n × m) · W (m × k), split over rows.
            let mut dx = crate::zeros(n * k);
            let per = rows_per_task(n);
            dx.par_chunks_mut(per * k).enumerate().for_each(|(t, dc)| {
                let rows = dc.len() / k;
                matmul(
                    rows,
                    k,
                    m,
                    dc,
                    false,
                    &pre[t * per * m..(t * per + rows) * m],
                    false,
                    wv,
                    false,
                );
            });
            Some(Tensor::from_vec(dx, (n, k), &dev)?)
        } else {
            None
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dw, (m, k), &dev)?),
            Some(Tensor::from_vec(db, m, &dev)?),
        ))
    }
}

/// The gradient before the activation, `grad · act'(y)` per output of the
/// `(n × m)` layer, and the bias gradient (its column sums).
fn pre_activation_gradient(act: FusedAct, yv: &[f32], gv: &[f32], n: usize, m: usize) -> (Vec<f32>, Vec<f32>) {
    let mut pre = crate::zeros(n * m);
    let per = rows_per_task(n) * m;
    pre.par_chunks_mut(per)
        .zip(yv.par_chunks(per).zip(gv.par_chunks(per)))
        .for_each(|(p, (y, g))| {
            for ((p, y), g) in p.iter_mut().zip(y).zip(g) {
                *p = g * act.grad_from_output(*y);
            }
        });
    let mut db = vec![0f32; m];
    for row in pre.chunks(m) {
        for (d, v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    (pre, db)
}

/// `dst (rows × k) = Pᵀ[first..first+rows] · x` where `P` is `(n × m)` row-major
/// (so `Pᵀ` row `r` is column `first + r` of `P`) and `x` is `(n × k)`.
#[allow(clippy::too_many_arguments)]
fn matmul_t_cols(rows: usize, k: usize, n: usize, dst: &mut [f32], p: &[f32], m: usize, first: usize, x: &[f32]) {
    // SAFETY: P holds n·m elements, so column first..first+rows read with
    // column stride 1 (over r) and row stride m (over the batch) stays inside;
    // x holds n·k, dst rows·k.
    assert!(p.len() >= n * m && first + rows <= m && x.len() >= n * k && dst.len() >= rows * k);
    unsafe {
        gemm::gemm(
            rows,
            k,
            n,
            dst.as_mut_ptr(),
            1,
            k as isize,
            false,
            p.as_ptr().add(first),
            m as isize,
            1,
            x.as_ptr(),
            1,
            k as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `act(xs · weightᵀ + bias)`: `xs (n, in)`, `weight (out, in)`, `bias (out,)`
/// → `(n, out)`, one op on the CPU (`f32`), see [`super::enabled`].
pub fn dense(xs: &Tensor, weight: &Tensor, bias: &Tensor, act: FusedAct) -> candle_core::Result<Tensor> {
    xs.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, DenseOp { act })
}
