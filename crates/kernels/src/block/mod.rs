//! A whole convolution block as one op: optional 2× nearest up-sampling,
//! a 3×3 stride-1 'same' convolution, bias, activation and optional 2×2
//! max-pooling, forward and backward, image by image.
//!
//! Run as separate ops, every block writes and reads several full-size
//! tensors (the up-sampled input, the convolution's output, the activation's
//! gradient, the pooled input's gradient), and candle's backward pass adds
//! every gradient into a fresh zero tensor of that size. Here the large
//! intermediates exist only one image at a time, in buffers that stay in
//! cache: the forward pass keeps the pooled output and, per pooled value,
//! which of the four inputs won (one byte); the backward pass rebuilds the
//! rest from those.

use super::direct::Winograd;
use super::direct::{
    self, conv_image, dw8_len, filter_image, flip, pack, per_thread, reduce_lanes, sum_partials, Isa, LaneGradient,
    Padded, UpsampledConv, UpsampledGrad,
};
use super::rows::Rows;
use super::{dims4, f32_slice, FusedAct};
use candle_core::{CpuStorage, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

mod winograd;

/// How a block's convolution runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockConv {
    /// Winograd's F(2×2, 3×3) where it applies (no up-sampling, 8 channels
    /// and 8 filters or more: `direct::Winograd`), the direct kernels
    /// elsewhere. What the layers use.
    Fastest,
    /// The direct kernels only, to compare the two.
    Direct,
}

/// `pool(act(conv3x3(upsample(x)) + bias))` on `x (n, c, h, w)` with kernel
/// `(f, c, 3, 3)` and bias `(f,)`; `upsample` and `pool` are 1 (none) or 2.
#[derive(Debug, Clone)]
struct ConvBlockOp {
    upsample: usize,
    pool: usize,
    act: FusedAct,
    /// The direct kernels' variant.
    isa: Isa,
    /// Whether Winograd's form may run (see [`BlockConv`]).
    conv: BlockConv,
    /// Per pooled output, the winning input of its 2×2 window (0..4), kept
    /// by the forward pass for the backward pass.
    winners: Arc<Mutex<Vec<u8>>>,
}

/// Sizes of one call: input `(n, c, hi, wi)`, convolution `(h, w)` after
/// up-sampling, output `(n, f, ho, wo)` after pooling.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n: usize,
    c: usize,
    f: usize,
    hi: usize,
    wi: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

impl ConvBlockOp {
    fn dims(&self, x: &Layout, k: &Layout, b: &Layout) -> candle_core::Result<Dims> {
        let (n, c, hi, wi) = dims4(x, "conv block input")?;
        let (f, c2, k1, k2) = dims4(k, "conv block kernel")?;
        if c != c2 || k1 != 3 || k2 != 3 {
            candle_core::bail!("conv block: input has {c} channels, kernel is {f}x{c2}x{k1}x{k2} (want {f}x{c}x3x3)");
        }
        if b.dims() != [f] {
            candle_core::bail!("conv block: bias of shape {:?} for {f} filters", b.dims());
        }
        let (h, w) = (hi * self.upsample, wi * self.upsample);
        if h < self.pool || w < self.pool {
            candle_core::bail!("conv block: a {h}x{w} image cannot be pooled by {}", self.pool);
        }
        Ok(Dims {
            n,
            c,
            f,
            hi,
            wi,
            h,
            w,
            ho: h / self.pool,
            wo: w / self.pool,
        })
    }

    /// The block's convolution in Winograd form, where it may and does run.
    fn winograd(&self, d: &Dims, kernel: &[f32]) -> Option<Winograd> {
        (self.conv == BlockConv::Fastest)
            .then(|| winograd::plan(d, self.isa, self.upsample, self.pool, kernel))
            .flatten()
    }

    /// The forward pass through the up-sampled input's padded copy: the
    /// output and, with pooling, each window's winner.
    fn forward(&self, d: &Dims, x: &[f32], kernel: &[f32], bias: &[f32]) -> (Vec<f32>, Vec<u8>) {
        let pd = Padded::new(d.h, d.w, self.isa);
        let packed = pack(kernel, d.f, d.c);
        let (in_len, out_len) = (d.c * d.hi * d.wi, d.f * d.ho * d.wo);
        let mut y = crate::zeros(d.n * out_len);
        let mut winners = crate::zeros(if self.pool == 2 { d.n * out_len } else { 0 });
        let (act, up, pool, rows) = (self.act, self.upsample, self.pool, Rows::new());
        let out_planes = d.f.div_ceil(4) * 4;
        let per_image = |(xp, out): &mut (Vec<f32>, Vec<f32>), img: usize, yi: &mut [f32], wi: &mut [u8]| {
            pd.fill_upsampled(&x[img * in_len..(img + 1) * in_len], d.c, up, xp);
            conv_image(&pd, d.c, d.f, xp, &packed, out);
            for (o, &b) in bias.iter().enumerate() {
                let plane = &out[o * pd.qp..(o + 1) * pd.qp];
                let yo = &mut yi[o * d.ho * d.wo..(o + 1) * d.ho * d.wo];
                if pool == 1 {
                    for (r, row) in yo.chunks_exact_mut(d.w).enumerate() {
                        rows.bias_act(&plane[r * pd.wp..], b, act, row);
                    }
                    continue;
                }
                let wo_ = &mut wi[o * d.ho * d.wo..(o + 1) * d.ho * d.wo];
                for (py, (ys, ws)) in yo.chunks_exact_mut(d.wo).zip(wo_.chunks_exact_mut(d.wo)).enumerate() {
                    let (top, bottom) = (&plane[2 * py * pd.wp..], &plane[(2 * py + 1) * pd.wp..]);
                    rows.pool_bias_act(top, bottom, b, act, ys, ws);
                }
            }
        };
        let init = || (vec![0f32; d.c * pd.stride], vec![0f32; out_planes * pd.qp]);
        if pool == 2 {
            y.par_chunks_mut(out_len)
                .zip(winners.par_chunks_mut(out_len))
                .enumerate()
                .for_each_init(init, |bufs, (img, (yi, wi))| per_image(bufs, img, yi, wi));
        } else {
            y.par_chunks_mut(out_len)
                .enumerate()
                .for_each_init(init, |bufs, (img, yi)| per_image(bufs, img, yi, &mut []));
        }
        (y, winners)
    }
}

impl candle_core::CustomOp3 for ConvBlockOp {
    fn name(&self) -> &'static str {
        "fast-conv-block"
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
        let d = self.dims(l1, l2, l3)?;
        let x = f32_slice(s1, l1, "conv block input")?;
        let kernel = f32_slice(s2, l2, "conv block kernel")?;
        let bias = f32_slice(s3, l3, "conv block bias")?;
        let (y, winners) = if let Some(wg) = self.winograd(&d, kernel) {
            winograd::forward(&d, &wg, self.act, x, bias)
        } else if self.upsample == 2 && self.pool == 1 {
            (upsampled_forward(&d, self.isa, self.act, x, kernel, bias), Vec::new())
        } else {
            self.forward(&d, x, kernel, bias)
        };
        *self
            .winners
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv block: poisoned lock".into()))? = winners;
        Ok((CpuStorage::F32(y), Shape::from((d.n, d.f, d.ho, d.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Gradients> {
        let (x, kernel, res, grad) = (
            x.contiguous()?,
            kernel.contiguous()?,
            res.contiguous()?,
            grad.contiguous()?,
        );
        let need_dx = x.track_op();
        let (xs, xl) = x.storage_and_layout();
        let (ks, kl) = kernel.storage_and_layout();
        let bl = bias.layout();
        let (rs, rl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let d = self.dims(xl, kl, bl)?;
        let (xc, kc, rc, gc) = match (&*xs, &*ks, &*rs, &*gs) {
            (
                candle_core::Storage::Cpu(a),
                candle_core::Storage::Cpu(b),
                candle_core::Storage::Cpu(c),
                candle_core::Storage::Cpu(e),
            ) => (a, b, c, e),
            _ => candle_core::bail!("conv block backward: CPU tensors only"),
        };
        let xv = f32_slice(xc, xl, "conv block input")?;
        let kv = f32_slice(kc, kl, "conv block kernel")?;
        let rv = f32_slice(rc, rl, "conv block output")?;
        let gv = f32_slice(gc, gl, "conv block gradient")?;
        let winners = self
            .winners
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv block: poisoned lock".into()))?;
        if let Some(wg) = self.winograd(&d, kv) {
            let (dx, dk, db) = winograd::backward(&d, &wg, self.act, xv, rv, gv, &winners, need_dx);
            return wrap_gradients(&d, dx, dk, db);
        }
        let (dx, dk, db) = block_backward(
            &d,
            self.isa,
            self.upsample,
            self.pool,
            self.act,
            xv,
            kv,
            rv,
            gv,
            &winners,
            need_dx,
        );
        wrap_gradients(&d, dx, dk, db)
    }
}

type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The input (if computed), kernel and bias gradients as tensors.
fn wrap_gradients(d: &Dims, dx: Option<Vec<f32>>, dk: Vec<f32>, db: Vec<f32>) -> candle_core::Result<Gradients> {
    let dev = candle_core::Device::Cpu;
    let dx = match dx {
        Some(v) => Some(Tensor::from_vec(v, (d.n, d.c, d.hi, d.wi), &dev)?),
        None => None,
    };
    Ok((
        dx,
        Some(Tensor::from_vec(dk, (d.f, d.c, 3, 3), &dev)?),
        Some(Tensor::from_vec(db, d.f, &dev)?),
    ))
}

/// The forward pass of an up-sampling block without pooling, on the input's
/// own grid (see [`UpsampledConv`]): per image, the four phases of each
/// filter's output, woven into its rows with the bias and activation.
fn upsampled_forward(d: &Dims, isa: Isa, act: FusedAct, x: &[f32], kernel: &[f32], bias: &[f32]) -> Vec<f32> {
    let pd = Padded::new(d.hi, d.wi, isa);
    let conv = UpsampledConv::new(&pd, kernel, d.f, d.c);
    let (in_len, out_len, rows) = (d.c * d.hi * d.wi, d.f * d.h * d.w, Rows::new());
    let planes = d.f.div_ceil(4) * 4 * pd.qp;
    let mut y = crate::zeros(d.n * out_len);
    y.par_chunks_mut(out_len).enumerate().for_each_init(
        || (vec![0f32; d.c * pd.stride], vec![0f32; 2 * planes]),
        |(xp, out), (img, yi)| {
            pd.fill(&x[img * in_len..(img + 1) * in_len], d.c, xp);
            for a in 0..2 {
                // Output rows 2u + a: phase (a, 0) at the even columns, (a, 1) at the odd.
                let (even, odd) = out.split_at_mut(planes);
                conv.phase_image(&pd, (a, 0), xp, even);
                conv.phase_image(&pd, (a, 1), xp, odd);
                for (o, &b) in bias.iter().enumerate() {
                    let (e, od) = (&even[o * pd.qp..], &odd[o * pd.qp..]);
                    let yo = &mut yi[o * d.h * d.w..(o + 1) * d.h * d.w];
                    for u in 0..d.hi {
                        let row = &mut yo[(2 * u + a) * d.w..(2 * u + a + 1) * d.w];
                        rows.interleave_bias_act(&e[u * pd.wp..], &od[u * pd.wp..], b, act, row);
                    }
                }
            }
        },
    );
    y
}

/// The gradients of a block: of the input (if asked), the kernel and the bias.
#[allow(clippy::too_many_arguments)]
fn block_backward(
    d: &Dims,
    isa: Isa,
    up: usize,
    pool: usize,
    act: FusedAct,
    x: &[f32],
    kernel: &[f32],
    res: &[f32],
    grad: &[f32],
    winners: &[u8],
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let pd = Padded::new(d.h, d.w, isa);
    let (in_len, out_len) = (d.c * d.hi * d.wi, d.f * d.ho * d.wo);
    let dx_pass = need_dx.then(|| InputGradient::new(&pd, d, up, kernel));
    let f_planes = d.f.div_ceil(4) * 4;
    let lanes = LaneGradient::applies(isa, d.c, d.f).then(|| LaneGradient::new(&pd, d.c, d.f));
    let (dx, partials) = per_thread(d.n, in_len, need_dx, |images, mut dx_part| {
        let mut dk = KernelSums::new(lanes.as_ref(), d);
        let mut db = vec![0f32; d.f];
        let mut xp = vec![0f32; d.c * pd.stride];
        let mut gpad = vec![0f32; f_planes * pd.stride];
        let mut dx_bufs = dx_pass.as_ref().map(|pass| pass.buffers(&pd, d));
        let first = images.start;
        for img in images {
            let (ri, gi) = (
                &res[img * out_len..(img + 1) * out_len],
                &grad[img * out_len..(img + 1) * out_len],
            );
            let wi = if pool == 2 {
                &winners[img * out_len..(img + 1) * out_len]
            } else {
                &[][..]
            };
            output_gradient(d, &pd, pool, act, (ri, gi, wi), &mut gpad, &mut db);
            pd.fill_upsampled(&x[img * in_len..(img + 1) * in_len], d.c, up, &mut xp);
            dk.add_image(&pd, d, &gpad, &xp);
            if let (Some(dxs), Some(pass), Some(bufs)) = (dx_part.as_deref_mut(), &dx_pass, &mut dx_bufs) {
                let local = img - first;
                pass.image(&pd, d, &gpad, bufs, &mut dxs[local * in_len..(local + 1) * in_len]);
            }
        }
        (dk.finish(d), db)
    });
    let (dks, dbs): (Vec<_>, Vec<_>) = partials.into_iter().unzip();
    (dx, sum_partials(dks, d.f * d.c * 9), sum_partials(dbs, d.f))
}

/// One thread's sums for a block's kernel gradient: a [`LaneGradient`]
/// table (with the position-major gradient it reads), or the partial sums
/// of `filter_image` where that kernel does not apply.
enum KernelSums<'a> {
    Lanes {
        lg: &'a LaneGradient,
        table: Vec<f32>,
        grad: Vec<f32>,
    },
    Partials(Vec<f32>),
}

impl<'a> KernelSums<'a> {
    fn new(lanes: Option<&'a LaneGradient>, d: &Dims) -> Self {
        match lanes {
            Some(lg) => KernelSums::Lanes {
                lg,
                table: vec![0f32; lg.table_len()],
                grad: vec![0f32; lg.grad_len()],
            },
            None => KernelSums::Partials(vec![0f32; dw8_len(d.c, d.f)]),
        }
    }

    /// Adds one image: `gpad` its output gradient in padded planes, `xp`
    /// its padded input.
    fn add_image(&mut self, pd: &Padded, d: &Dims, gpad: &[f32], xp: &[f32]) {
        match self {
            KernelSums::Lanes { lg, table, grad } => {
                lg.transpose_padded(gpad, grad);
                lg.add_image(grad, xp, table);
            }
            KernelSums::Partials(dk8) => filter_image(pd, d.c, d.f, gpad, xp, dk8),
        }
    }

    /// This thread's kernel gradient `(f, c, 9)`.
    fn finish(self, d: &Dims) -> Vec<f32> {
        match self {
            KernelSums::Lanes { lg, table, .. } => lg.finish(&table),
            KernelSums::Partials(dk8) => reduce_lanes(&dk8, d.c, d.f),
        }
    }
}

/// The gradient of one image's convolution output, through the activation
/// and (with pooling) to each window's winner, written into the padded
/// planes `gpad`; each filter's sum is added to `db`. Every pixel a window
/// covers is written, so the planes need no clearing between images (the
/// borders and a last odd row or column stay zero).
fn output_gradient(
    d: &Dims,
    pd: &Padded,
    pool: usize,
    act: FusedAct,
    (ri, gi, wi): (&[f32], &[f32], &[u8]),
    gpad: &mut [f32],
    db: &mut [f32],
) {
    let rows = Rows::new();
    for o in 0..d.f {
        let plane = &mut gpad[o * pd.stride..(o + 1) * pd.stride];
        for py in 0..d.ho {
            let k0 = o * d.ho * d.wo + py * d.wo;
            let (gs, rs) = (&gi[k0..k0 + d.wo], &ri[k0..k0 + d.wo]);
            if pool == 2 {
                // Rows 2·py and 2·py + 1 of the padded plane, from column 0:
                // the whole window is written (zeros but at the winner).
                let (top, bottom) = plane[pd.at(2 * py, 0)..].split_at_mut(pd.wp);
                rows.pool_grad(gs, rs, &wi[k0..k0 + d.wo], act, top, bottom);
            } else {
                rows.act_grad(gs, rs, act, &mut plane[pd.at(py, 0)..][..d.wo]);
            }
        }
        // Everything but the gradients written above is zero.
        db[o] += rows.sum(&plane[pd.wp..(pd.h + 1) * pd.wp]);
    }
}

/// The input gradient of a block: the convolution's output gradient
/// correlated with the flipped kernel on the convolution's grid, or, with
/// up-sampling, on the input's own grid (see [`UpsampledGrad`]).
enum InputGradient {
    Flipped(Vec<f32>),
    Upsampled(UpsampledGrad),
}

impl InputGradient {
    fn new(pd: &Padded, d: &Dims, up: usize, kernel: &[f32]) -> Self {
        if up == 2 {
            InputGradient::Upsampled(UpsampledGrad::new(&Padded::new(d.hi, d.wi, pd.isa), kernel, d.f, d.c))
        } else {
            InputGradient::Flipped(pack(&flip(kernel, d.f, d.c), d.c, d.f))
        }
    }

    /// One thread's buffers: the output planes, and the phase planes.
    fn buffers(&self, pd: &Padded, d: &Dims) -> (Vec<f32>, Vec<f32>) {
        match self {
            InputGradient::Flipped(_) => (vec![0f32; d.c.div_ceil(4) * 4 * pd.qp], Vec::new()),
            InputGradient::Upsampled(ug) => (vec![0f32; ug.out_len()], vec![0f32; ug.phases_len()]),
        }
    }

    /// One image's input gradient `dxi (c, hi, wi)` from `gpad`, its
    /// output gradient in `pd`'s padded planes.
    fn image(&self, pd: &Padded, d: &Dims, gpad: &[f32], (out, phases): &mut (Vec<f32>, Vec<f32>), dxi: &mut [f32]) {
        match self {
            InputGradient::Flipped(packed) => {
                conv_image(pd, d.f, d.c, gpad, packed, out);
                pd.copy_out(out, d.c, dxi);
            }
            InputGradient::Upsampled(ug) => ug.image(pd, gpad, phases, out, dxi),
        }
    }
}

/// True when [`conv_block`] can run `xs` here: `f32` on a CPU where the
/// direct kernels run (see [`direct::active`]).
pub fn block_applies(xs: &Tensor) -> bool {
    super::enabled(xs) && direct::supported()
}

/// `pool(act(conv3x3(upsample(xs), kernel) + bias))`: `xs (n, c, h, w)`,
/// kernel `(f, c, 3, 3)`, bias `(f,)`, stride 1 and padding 1; `upsample`
/// (nearest) and `pool` (2×2 max, floor) are 1 or 2. Output
/// `(n, f, h·upsample/pool, w·upsample/pool)`. One op with its own backward
/// pass; CPU `f32` only (see [`block_applies`]).
pub fn conv_block(
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    upsample: usize,
    pool: usize,
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    match direct::active() {
        Some(isa) => conv_block_with(isa, BlockConv::Fastest, xs, kernel, bias, upsample, pool, act),
        None => candle_core::bail!("conv block: needs a CPU with AVX2 and FMA (and AUTOENCODERS_CPU_OPS not `gemm`)"),
    }
}

/// [`conv_block`] with the direct kernels of `isa`, which the CPU must have,
/// and the convolution run as `conv` says.
#[allow(clippy::too_many_arguments)] // conv_block's six, and the two choices
pub fn conv_block_with(
    isa: Isa,
    conv: BlockConv,
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    upsample: usize,
    pool: usize,
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    if !matches!(upsample, 1 | 2) || !matches!(pool, 1 | 2) {
        candle_core::bail!("conv block: upsample {upsample} and pool {pool} must each be 1 or 2");
    }
    if !super::enabled(xs) || !isa.on_cpu() {
        candle_core::bail!(
            "conv block: needs f32 tensors on the CPU, and a CPU with {} (this one has {:?})",
            isa.name(),
            Isa::available()
        );
    }
    let op = ConvBlockOp {
        upsample,
        pool,
        act,
        isa,
        conv,
        winners: Arc::new(Mutex::new(Vec::new())),
    };
    xs.contiguous()?
        .apply_op3(&kernel.contiguous()?, &bias.contiguous()?, op)
}
