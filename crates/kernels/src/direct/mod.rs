//! Direct 3×3 convolutions, stride 1 'same' and stride 2 (see [`stride2`]),
//! written for AVX2/FMA ([`avx2`]) and for AVX-512 ([`avx512`]) and chosen
//! at run time.
//!
//! Every convolution layer of the course has one of these shapes (the
//! transposed ones are stride-2 convolutions run backwards). Instead of
//! unfolding each image into a `(c·9, h·w)` matrix and calling a general
//! matrix product on it (small, awkward matrices: nine rows for a
//! one-channel input, one row for a one-filter output), these kernels read
//! the shifted copies of each input plane straight from a zero-bordered copy
//! of it and keep a block of outputs in registers:
//!
//! * planes are padded to `(h + 2) × (w + 2)` and addressed flat, so tap
//!   `(ky, kx)` of output `q = oy·(w + 2) + ox` is input `q + ky·(w + 2) + kx`
//!   (the two extra columns per row are computed and thrown away); the
//!   kernels take these offsets as a table ([`correlate_image`],
//!   [`filter_image_taps`]), which is how the stride-2 convolutions point
//!   each tap at the phase plane it reads;
//! * the forward kernel holds three vectors of outputs (24 with AVX2, 48
//!   with AVX-512) of 4 filters (AVX2: 12 of its 16 registers) or 8 filters
//!   (AVX-512: 24 of its 32) and runs over input channels and taps; the
//!   input gradient is the same kernel on the output gradient with the
//!   kernel flipped and its two channel axes swapped;
//! * the kernel gradient of a stride-1 convolution with at least a vector
//!   of filters and four channels puts the filters across the lanes
//!   ([`LaneGradient`]: a position's gradients of all filters times each
//!   tap's input, broadcast); elsewhere a kernel holds 3 taps of 4 filters
//!   with the positions across the lanes and runs over the positions of an
//!   image, or of several small ones side by side ([`Slots`]).
//!
//! [`active`] says which variant runs: the widest the CPU has, or the one
//! `AUTOENCODERS_CPU_OPS` names (`avx2`, `avx512`; `gemm` for none). Where
//! none runs (no AVX2/FMA, not x86-64, other geometries) `kernels::gemm`
//! uses its im2col + gemm path. Each entry point has a `_with` twin that
//! takes the variant, so tests can check every variant the CPU has.

use super::Geometry;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod lanes;
mod layout;
mod padded;
mod products;
pub mod stride2;
mod transposed;
mod upsampled;
mod winograd;

pub(crate) use lanes::LaneGradient;
pub(crate) use padded::Padded;
pub(crate) use transposed::{Backward as TransposedBackward, Forward as TransposedForward, Transposed};
pub(crate) use upsampled::{UpsampledConv, UpsampledGrad};
pub(crate) use winograd::{Backward as WinogradBackward, Forward as WinogradForward, Winograd};

/// The instruction sets the direct kernels are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 256-bit vectors with fused multiply-add (x86-64 since 2013).
    Avx2,
    /// 512-bit vectors, 32 registers (`avx512f`).
    Avx512,
}

impl Isa {
    /// How `AUTOENCODERS_CPU_OPS` and `lscpu` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The variants this CPU can run, narrowest first.
    pub fn available() -> Vec<Isa> {
        [Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.on_cpu()).collect()
    }

    /// True when this CPU can run the variant.
    #[cfg(target_arch = "x86_64")]
    pub fn on_cpu(self) -> bool {
        let avx2 = crate::avx2_fma();
        match self {
            Isa::Avx2 => avx2,
            Isa::Avx512 => avx2 && std::is_x86_feature_detected!("avx512f"),
        }
    }

    /// True when this CPU can run the variant.
    #[cfg(not(target_arch = "x86_64"))]
    pub fn on_cpu(self) -> bool {
        false
    }

    /// Floats per vector: planes are computed in whole vectors.
    fn lanes(self) -> usize {
        match self {
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }
}

/// The variant the kernels use here, `None` for the im2col + gemm path:
/// the widest the CPU has, unless [`crate::choose`] asked for the gemm path
/// or a variant (one the CPU lacks falls back to the widest, with a notice).
pub fn active() -> Option<Isa> {
    static ACTIVE: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let widest = Isa::available().last().copied();
        match crate::chosen() {
            crate::CpuOps::Gemm => None,
            crate::CpuOps::Direct(asked) => {
                let found = Isa::available().into_iter().find(|&i| i == asked);
                if found.is_none() {
                    eprintln!(
                        "CPU kernels: this CPU lacks {}; using {}",
                        asked.name(),
                        widest.map_or("the gemm path", Isa::name)
                    );
                }
                found.or(widest)
            }
            crate::CpuOps::Auto | crate::CpuOps::Candle => widest,
        }
    })
}

/// True when these kernels run here (see [`active`]).
pub fn supported() -> bool {
    active().is_some()
}

/// True for the geometries these kernels handle, on a CPU where they run:
/// 3×3 with stride 1 and padding 1, or with stride 2 and padding 0 or 1
/// (the transposed convolutions' geometry, see [`stride2`]) and an output
/// plane of at least [`STRIDE2_LEAST_OUTPUTS`].
pub fn applies(g: &Geometry) -> bool {
    fits(g) && supported()
}

/// The smallest output plane (`ho·wo`) the stride-2 kernels take. On the
/// conv model's 3×3 code (a 7×7 transposed output) the padded phase planes
/// are mostly border, and the gemm path was faster (1.95 ms against 2.06
/// for the three passes at a batch of 128, AVX-512); from 7×7 up the direct
/// kernels win (`crates/tools/examples/conv_paths.rs`, docs/performance.md).
pub const STRIDE2_LEAST_OUTPUTS: usize = 16;

fn fits(g: &Geometry) -> bool {
    let stride2 = g.stride == 2 && g.padding <= 1 && g.ho * g.wo >= STRIDE2_LEAST_OUTPUTS;
    g.k == 3 && ((g.stride == 1 && g.padding == 1) || stride2)
}

/// Stops (in every build) a call the kernels cannot serve: the CPU lacks
/// the variant, or the geometry is not one [`applies`] accepts.
fn assert_applies(isa: Isa, g: &Geometry) {
    assert!(
        fits(g) && isa.on_cpu(),
        "direct kernels: {} needs a CPU with it and a 3x3 geometry of stride 1 and padding 1, or of stride 2, padding 0 or 1 and at least {STRIDE2_LEAST_OUTPUTS} outputs per plane (got {g:?}, CPU has: {:?}); use kernels::conv_forward, which picks a path",
        isa.name(),
        Isa::available()
    );
}

/// Filters per packed block (see [`pack`]); AVX-512 takes two at a time.
const OBLOCK: usize = 4;

/// Packs `weights` `(cout, cin, 9)` into blocks of [`OBLOCK`] filters laid
/// out `(block, cin, 9, OBLOCK)`, zero-filling a short last block.
pub(super) fn pack(weights: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    pack_with(cout, cin, 9, |o, i, t| weights[(o * cin + i) * 9 + t])
}

/// Packs the weights `weight(o, i, t)` of `cout` filters, `cin` channels and
/// `taps` taps per channel as `(block, cin, taps, OBLOCK)` (see [`pack`]).
pub(super) fn pack_with(cout: usize, cin: usize, taps: usize, weight: impl Fn(usize, usize, usize) -> f32) -> Vec<f32> {
    let blocks = cout.div_ceil(OBLOCK);
    let mut p = vec![0f32; blocks * cin * taps * OBLOCK];
    for o in 0..cout {
        let (b, ob) = (o / OBLOCK, o % OBLOCK);
        for i in 0..cin {
            for t in 0..taps {
                p[((b * cin + i) * taps + t) * OBLOCK + ob] = weight(o, i, t);
            }
        }
    }
    p
}

/// The kernel `(f, c, 9)` flipped and with its channel axes swapped,
/// `(c, f, 9)`: the input gradient of a convolution is the convolution of
/// the output gradient with it.
pub(super) fn flip(kernel: &[f32], f: usize, c: usize) -> Vec<f32> {
    let mut flipped = vec![0f32; c * f * 9];
    for o in 0..f {
        for i in 0..c {
            for t in 0..9 {
                flipped[(i * f + o) * 9 + (8 - t)] = kernel[(o * c + i) * 9 + t];
            }
        }
    }
    flipped
}

/// Output planes of one image: `out (blocks·OBLOCK, qp)` (output `(r, col)`
/// at `r·wp + col`) from the padded input `xp (cin, stride)` and the kernel
/// packed by [`pack`] for `cout` filters, with the kernels of `pd.isa`.
pub(super) fn conv_image(pd: &Padded, cin: usize, cout: usize, xp: &[f32], packed: &[f32], out: &mut [f32]) {
    correlate_image(pd, cin, cout, xp, pd.stride, &pd.taps(), packed, out);
}

/// The general form of [`conv_image`]: output `o` at `q` (`q = r·wp + col`)
/// is `Σ_i Σ_t packed[o][i][t] · xp[i·plane + taps[t] + q]`, channel `i`'s
/// planes starting `plane` apart in `xp` and the weights packed by
/// [`pack_with`] for `taps.len()` taps.
#[allow(clippy::too_many_arguments)]
pub(super) fn correlate_image(
    pd: &Padded,
    cin: usize,
    cout: usize,
    xp: &[f32],
    plane: usize,
    taps: &[usize],
    packed: &[f32],
    out: &mut [f32],
) {
    let blocks = cout.div_ceil(OBLOCK);
    let furthest = taps.iter().max().copied().unwrap_or(0);
    assert!(
        pd.isa.on_cpu()
            && pd.qp.is_multiple_of(pd.isa.lanes())
            && (cin == 0 || xp.len() >= (cin - 1) * plane + furthest + pd.qp)
            && packed.len() >= blocks * cin * taps.len() * OBLOCK
            && out.len() >= blocks * OBLOCK * pd.qp
    );
    // SAFETY: the CPU has the variant (asserted); reads stay below
    // (cin − 1)·plane + furthest tap + qp, inside `xp` (qp is whole vectors,
    // so the last block of outputs ends at qp; no channel, no read), and
    // within `packed`; writes within `out` (asserted above).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match pd.isa {
            Isa::Avx2 => avx2::conv_image(pd, cin, cout, xp, plane, taps, packed, out),
            Isa::Avx512 => avx512::conv_image(pd, cin, cout, xp, plane, taps, packed, out),
        }
    }
}

/// Adds one image's kernel gradient to `dw8 (blocks·OBLOCK, c, 9, 8)`
/// (see [`dw8_len`]), eight partial sums per kernel weight (add up the
/// first `f` filters' with [`reduce_lanes`] once all images are in):
/// `gpad (blocks·OBLOCK, stride)` holds the gradient of the convolution's
/// output in the padded layout (zero outside the image), `xp (c, stride)`
/// the padded input.
pub(super) fn filter_image(pd: &Padded, c: usize, f: usize, gpad: &[f32], xp: &[f32], dw8: &mut [f32]) {
    let one = Slots::one(pd);
    filter_image_taps(pd, one, c, f, gpad, xp, &pd.rows(c, one.pitch), dw8);
}

/// Images side by side in the kernel-gradient buffers: slots of
/// `pd.stride` values, so that plane `k` of the image in slot `j` starts at
/// `k·pitch + j·stride` (`pitch` = the buffers' slots × stride; a short
/// last group fills fewer). On small planes one call of the kernels then
/// runs over several images.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slots {
    /// Slots in use.
    pub count: usize,
    /// Distance between the planes of one image.
    pub pitch: usize,
}

impl Slots {
    fn one(pd: &Padded) -> Self {
        Slots {
            count: 1,
            pitch: pd.stride,
        }
    }

    /// Outputs one call runs over: every slot's plane and the gaps between
    /// them (where the gradient is zero).
    pub fn span(&self, pd: &Padded) -> usize {
        (self.count - 1) * pd.stride + pd.qp
    }
}

/// The general form of [`filter_image`], over the images in `slots`:
/// `rows[i·3 + ky]` holds where, in `xp`, the taps `(ky, 0..3)` of channel
/// `i` read for output `q = 0` of slot 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn filter_image_taps(
    pd: &Padded,
    slots: Slots,
    c: usize,
    f: usize,
    gpad: &[f32],
    xp: &[f32],
    rows: &[[usize; 3]],
    dw8: &mut [f32],
) {
    let blocks = f.div_ceil(OBLOCK);
    let furthest = rows.iter().flatten().max().copied().unwrap_or(0);
    assert!(
        pd.isa.on_cpu()
            && slots.count >= 1
            && slots.pitch > slots.span(pd) + pd.wp
            && rows.len() == c * 3
            && gpad.len() >= blocks * OBLOCK * slots.pitch
            && (c == 0 || xp.len() >= furthest + slots.span(pd))
            && dw8.len() >= dw8_len(c, f)
    );
    // SAFETY: the CPU has the variant (asserted); gradient reads stay below
    // (b·OBLOCK + ob)·pitch + wp + 1 + span, inside `gpad`; input reads below
    // the furthest tap + span, inside `xp`; writes go to filters below
    // blocks·OBLOCK, inside `dw8`.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match pd.isa {
            Isa::Avx2 => avx2::filter_image(pd, slots, c, f, gpad, xp, rows, dw8),
            Isa::Avx512 => avx512::filter_image(pd, slots, c, f, gpad, xp, rows, dw8),
        }
    }
}

/// Length of the partial sums of the kernel gradient for `f` filters of
/// `c` channels: whole blocks of filters, so that the kernels write every
/// filter of a block (the padding filters' sums are never read).
pub(super) fn dw8_len(c: usize, f: usize) -> usize {
    f.div_ceil(OBLOCK) * OBLOCK * c * 9 * 8
}

/// The kernel gradient `(f, c, 9)` from the partial sums of [`filter_image`]:
/// each run of eight added up.
pub(super) fn reduce_lanes(dw8: &[f32], c: usize, f: usize) -> Vec<f32> {
    dw8[..f * c * 9 * 8].chunks_exact(8).map(|l| l.iter().sum()).collect()
}

/// `y (n, cout, h, w) = Σ_i Σ_taps weights[o][i][t] · x (n, cin, h, w)` with
/// zero padding 1: a 3×3 stride-1 convolution whose kernel is `(cout, cin, 9)`.
#[allow(clippy::too_many_arguments)]
fn correlate(isa: Isa, n: usize, cin: usize, cout: usize, h: usize, w: usize, x: &[f32], weights: &[f32]) -> Vec<f32> {
    let pd = Padded::new(h, w, isa);
    let packed = pack(weights, cout, cin);
    let blocks = cout.div_ceil(OBLOCK);
    let mut y = crate::zeros(n * cout * h * w);
    y.par_chunks_mut(cout * h * w).enumerate().for_each_init(
        || (vec![0f32; cin * pd.stride], vec![0f32; blocks * OBLOCK * pd.qp]),
        |(xp, out), (img, yi)| {
            pd.fill(&x[img * cin * h * w..(img + 1) * cin * h * w], cin, xp);
            conv_image(&pd, cin, cout, xp, &packed, out);
            pd.copy_out(out, cout, yi);
        },
    );
    y
}

/// The variant [`active`] chose; only called where [`applies`] holds.
fn chosen() -> Isa {
    active().expect("direct kernels called where none is active: check applies() first")
}

/// Convolution forward: `x (n, c, h, w)`, `kernel (f, c, 3, 3)` → `(n, f, h, w)`.
pub fn forward(g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    forward_with(chosen(), g, x, kernel)
}

/// [`forward`] with the kernels of `isa`.
pub fn forward_with(isa: Isa, g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    assert_applies(isa, g);
    g.assert_lens(
        "direct::forward",
        &[("x", x.len(), g.input_len()), ("kernel", kernel.len(), g.kernel_len())],
    );
    if g.stride == 2 {
        return stride2::forward(isa, g, x, kernel);
    }
    correlate(isa, g.n, g.c, g.f, g.h, g.w, x, kernel)
}

/// Input gradient: `grad (n, f, h, w)`, `kernel (f, c, 3, 3)` → `(n, c, h, w)`,
/// the forward kernel with the kernel flipped and its channel axes swapped.
pub fn backward_data(g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    backward_data_with(chosen(), g, grad, kernel)
}

/// [`backward_data`] with the kernels of `isa`.
pub fn backward_data_with(isa: Isa, g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    assert_applies(isa, g);
    g.assert_lens(
        "direct::backward_data",
        &[
            ("grad", grad.len(), g.output_len()),
            ("kernel", kernel.len(), g.kernel_len()),
        ],
    );
    if g.stride == 2 {
        return stride2::backward_data(isa, g, grad, kernel);
    }
    correlate(isa, g.n, g.f, g.c, g.h, g.w, grad, &flip(kernel, g.f, g.c))
}

/// Kernel gradient: `x (n, c, h, w)`, `grad (n, f, h, w)` → `(f, c, 3, 3)`,
/// summed over the batch.
pub fn backward_filter(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    backward_filter_with(chosen(), g, x, grad)
}

/// [`backward_filter`] with the kernels of `isa`.
pub fn backward_filter_with(isa: Isa, g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_applies(isa, g);
    g.assert_lens(
        "direct::backward_filter",
        &[("x", x.len(), g.input_len()), ("grad", grad.len(), g.output_len())],
    );
    if g.stride == 2 {
        return stride2::backward_filter(isa, g, x, grad);
    }
    let (c, f, hw) = (g.c, g.f, g.h * g.w);
    let pd = Padded::new(g.h, g.w, isa);
    if LaneGradient::applies(isa, c, f) {
        return lane_batch(&pd, g.n, c, f, x, grad);
    }
    let rows = |pitch| pd.rows(c, pitch);
    filter_batch(&pd, g.n, c, f, c, rows, |img, pitch, xp, gpad| {
        pd.fill_pitched(&x[img * c * hw..(img + 1) * c * hw], c, xp, pitch);
        pd.fill_pitched(&grad[img * f * hw..(img + 1) * f * hw], f, gpad, pitch);
    })
}

/// The kernel gradient `(f, c, 9)` of `n` images `x (n, c, h, w)` with
/// output gradients `grad (n, f, h, w)`, by [`LaneGradient`], the images
/// split among threads.
fn lane_batch(pd: &Padded, n: usize, c: usize, f: usize, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let lg = LaneGradient::new(pd, c, f);
    let hw = pd.h * pd.w;
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let tables: Vec<Vec<f32>> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|part| {
            let mut table = vec![0f32; lg.table_len()];
            let (mut xp, mut gt) = (vec![0f32; c * pd.stride], vec![0f32; lg.grad_len()]);
            for img in part * per..((part + 1) * per).min(n) {
                pd.fill(&x[img * c * hw..(img + 1) * c * hw], c, &mut xp);
                lg.transpose(&grad[img * f * hw..(img + 1) * f * hw], &mut gt);
                lg.add_image(&gt, &xp, &mut table);
            }
            table
        })
        .collect();
    lg.finish(&sum_partials(tables, lg.table_len()))
}

/// The kernel gradient `(f, c, 9)` of `n` images, the images split among
/// threads and, on small planes, several to a call of the kernels (see
/// [`Slots`]): `fill(img, pitch, xp, gpad)` writes image `img`'s input
/// (`planes` planes `pitch` apart, read through `rows(pitch)` as in
/// [`filter_image_taps`]) and its output gradient (`f` planes in `pd`'s
/// padded layout, `pitch` apart), each slice starting at the image's slot.
pub(super) fn filter_batch(
    pd: &Padded,
    n: usize,
    c: usize,
    f: usize,
    planes: usize,
    rows: impl Fn(usize) -> Vec<[usize; 3]>,
    fill: impl Fn(usize, usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let blocks = f.div_ceil(OBLOCK);
    let threads = rayon::current_num_threads().max(1);
    let per = n.div_ceil(threads).max(1);
    // About 256 outputs per call, as the gemm path groups its images.
    let group = 256usize.div_ceil(pd.stride).clamp(1, per);
    let pitch = group * pd.stride;
    let rows = rows(pitch);
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|part| {
            let mut dw8 = vec![0f32; dw8_len(c, f)];
            let mut xp = vec![0f32; planes * pitch];
            // The gradient in the padded layout: only interiors are written,
            // so borders, the planes of a short last block and the rows
            // past the image stay zero.
            let mut gpad = vec![0f32; blocks * OBLOCK * pitch];
            let images: Vec<usize> = (part * per..((part + 1) * per).min(n)).collect();
            for chunk in images.chunks(group) {
                for (j, &img) in chunk.iter().enumerate() {
                    fill(img, pitch, &mut xp[j * pd.stride..], &mut gpad[j * pd.stride..]);
                }
                let slots = Slots {
                    count: chunk.len(),
                    pitch,
                };
                filter_image_taps(pd, slots, c, f, &gpad, &xp, &rows, &mut dw8);
            }
            reduce_lanes(&dw8, c, f)
        })
        .collect();
    sum_partials(partials, f * c * 9)
}

/// Splits a batch of `n` images among the threads: `work(images, dx)` runs
/// once per thread on a run of images, with that run's share of the input
/// gradient (`in_len` values per image) when `need_dx`. Returns the input
/// gradient and each run's result, in order.
pub(crate) fn per_thread<T: Send>(
    n: usize,
    in_len: usize,
    need_dx: bool,
    work: impl Fn(std::ops::Range<usize>, Option<&mut [f32]>) -> T + Sync,
) -> (Option<Vec<f32>>, Vec<T>) {
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let mut dx = if need_dx { crate::zeros(n * in_len) } else { Vec::new() };
    let shares: Vec<Option<&mut [f32]>> = if need_dx {
        dx.chunks_mut(per * in_len).map(Some).collect()
    } else {
        (0..n.div_ceil(per)).map(|_| None).collect()
    };
    let results = shares
        .into_par_iter()
        .enumerate()
        .map(|(part, share)| work(part * per..((part + 1) * per).min(n), share))
        .collect();
    (need_dx.then_some(dx), results)
}

/// The element-wise sum of per-thread partial results.
pub(crate) fn sum_partials(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut total = vec![0f32; len];
    for p in partials {
        for (a, b) in total.iter_mut().zip(p) {
            *a += b;
        }
    }
    total
}
