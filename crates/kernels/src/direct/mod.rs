//! Direct 3×3, stride-1, 'same'-padded convolutions, written for AVX2/FMA
//! ([`avx2`]) and for AVX-512 ([`avx512`]) and chosen at run time.
//!
//! Every convolution layer of the course but the transposed ones has this
//! shape. Instead of unfolding each image into a `(c·9, h·w)` matrix and
//! calling a general matrix product on it (small, awkward matrices: nine
//! rows for a one-channel input, one row for a one-filter output), these
//! kernels read the nine shifted copies of each input plane straight from a
//! zero-bordered copy of it and keep a block of outputs in registers:
//!
//! * planes are padded to `(h + 2) × (w + 2)` and addressed flat, so tap
//!   `(ky, kx)` of output `q = oy·(w + 2) + ox` is input `q + ky·(w + 2) + kx`
//!   (the two extra columns per row are computed and thrown away);
//! * the forward kernel holds three vectors of outputs (24 with AVX2, 48
//!   with AVX-512) of 4 filters (AVX2: 12 of its 16 registers) or 8 filters
//!   (AVX-512: 24 of its 32) and runs over input channels and taps; the
//!   input gradient is the same kernel on the output gradient with the
//!   kernel flipped and its two channel axes swapped;
//! * the kernel-gradient kernel holds 3 taps of 4 filters and runs over the
//!   positions of an image.
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
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
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

/// True for the geometry these kernels handle, 3×3 with stride 1 and
/// padding 1, on a CPU where they run.
pub fn applies(g: &Geometry) -> bool {
    g.k == 3 && g.stride == 1 && g.padding == 1 && supported()
}

/// Stops (in every build) a call the kernels cannot serve: the CPU lacks
/// the variant, or the geometry is not 3×3 stride 1 padding 1.
fn assert_applies(isa: Isa, g: &Geometry) {
    assert!(
        g.k == 3 && g.stride == 1 && g.padding == 1 && isa.on_cpu(),
        "direct kernels: {} needs a CPU with it and a 3x3, stride-1, padding-1 geometry (got {g:?}, CPU has: {:?}); use kernels::conv_forward, which picks a path",
        isa.name(),
        Isa::available()
    );
}

/// Filters per packed block (see [`pack`]); AVX-512 takes two at a time.
const OBLOCK: usize = 4;

/// Flat addressing of zero-bordered planes for an `h × w` image.
#[derive(Debug, Clone, Copy)]
pub(super) struct Padded {
    pub h: usize,
    pub w: usize,
    /// Padded row length, `w + 2`.
    pub wp: usize,
    /// Outputs computed per plane, rounded up to whole vectors.
    pub qp: usize,
    /// Distance between consecutive padded input planes (room for the
    /// furthest tap of the last block).
    pub stride: usize,
    /// The kernels that will read and write these planes.
    pub isa: Isa,
}

impl Padded {
    pub fn new(h: usize, w: usize, isa: Isa) -> Self {
        let wp = w + 2;
        let qp = (h * wp).div_ceil(isa.lanes()) * isa.lanes();
        let stride = (qp + 2 * wp + 2).div_ceil(16) * 16;
        Padded {
            h,
            w,
            wp,
            qp,
            stride,
            isa,
        }
    }

    /// Offsets of the nine taps, row-major `(ky, kx)`.
    #[cfg(target_arch = "x86_64")]
    fn taps(&self) -> [usize; 9] {
        let mut t = [0; 9];
        for (i, o) in t.iter_mut().enumerate() {
            *o = (i / 3) * self.wp + i % 3;
        }
        t
    }

    /// Index, in a padded plane, of pixel `(r, col)`; in an output plane
    /// (`(h, qp)` rows of `wp`), output `(r, col)` is `at(r, col) - wp - 1`.
    #[inline]
    pub fn at(&self, r: usize, col: usize) -> usize {
        (r + 1) * self.wp + col + 1
    }

    /// Copies `planes` `(c, h/f, w/f)` into the interiors of `dst`
    /// `(c, stride)`, each pixel repeated `f × f` times (nearest
    /// up-sampling); the borders stay zero.
    pub fn fill_upsampled(&self, planes: &[f32], c: usize, f: usize, dst: &mut [f32]) {
        if f == 1 {
            return self.fill(planes, c, dst);
        }
        let (hs, ws) = (self.h / f, self.w / f);
        for ch in 0..c {
            let src = &planes[ch * hs * ws..(ch + 1) * hs * ws];
            let d = &mut dst[ch * self.stride..];
            for r in 0..self.h {
                let row = &src[(r / f) * ws..(r / f + 1) * ws];
                let at = self.at(r, 0);
                let out = &mut d[at..at + self.w];
                if f == 2 {
                    for (pair, &v) in out.chunks_exact_mut(2).zip(row) {
                        pair[0] = v;
                        pair[1] = v;
                    }
                } else {
                    for (block, &v) in out.chunks_exact_mut(f).zip(row) {
                        block.fill(v);
                    }
                }
            }
        }
    }

    /// Copies `planes` `(c, h, w)` into the interiors of `dst` `(c, stride)`,
    /// whose borders stay zero.
    pub fn fill(&self, planes: &[f32], c: usize, dst: &mut [f32]) {
        for ch in 0..c {
            let src = &planes[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            let d = &mut dst[ch * self.stride..];
            for r in 0..self.h {
                let at = (r + 1) * self.wp + 1;
                d[at..at + self.w].copy_from_slice(&src[r * self.w..(r + 1) * self.w]);
            }
        }
    }
}

/// Packs `weights` `(cout, cin, 9)` into blocks of [`OBLOCK`] filters laid
/// out `(block, cin, 9, OBLOCK)`, zero-filling a short last block.
pub(super) fn pack(weights: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let blocks = cout.div_ceil(OBLOCK);
    let mut p = vec![0f32; blocks * cin * 9 * OBLOCK];
    for o in 0..cout {
        let (b, ob) = (o / OBLOCK, o % OBLOCK);
        for i in 0..cin {
            for t in 0..9 {
                p[((b * cin + i) * 9 + t) * OBLOCK + ob] = weights[(o * cin + i) * 9 + t];
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
    let blocks = cout.div_ceil(OBLOCK);
    assert!(
        pd.isa.on_cpu()
            && xp.len() >= cin * pd.stride
            && packed.len() >= blocks * cin * 9 * OBLOCK
            && out.len() >= blocks * OBLOCK * pd.qp
    );
    // SAFETY: the CPU has the variant (asserted); reads stay within `xp`
    // (q0 + block − 1 + largest tap < cin·stride by the choice of `stride`)
    // and `packed`, writes within `out` (asserted above).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match pd.isa {
            Isa::Avx2 => avx2::conv_image(pd, cin, cout, xp, packed, out),
            Isa::Avx512 => avx512::conv_image(pd, cin, cout, xp, packed, out),
        }
    }
}

/// Adds one image's kernel gradient to `dw8 (blocks·OBLOCK, c, 9, 8)`
/// (see [`dw8_len`]), eight partial sums per kernel weight (add up the
/// first `f` filters' with [`reduce_lanes`] once all images are in): `gpad (blocks·OBLOCK, stride)` holds the gradient of the
/// convolution's output in the padded layout (zero outside the image), `xp
/// (c, stride)` the padded input.
pub(super) fn filter_image(pd: &Padded, c: usize, f: usize, gpad: &[f32], xp: &[f32], dw8: &mut [f32]) {
    let blocks = f.div_ceil(OBLOCK);
    assert!(
        pd.isa.on_cpu()
            && gpad.len() >= blocks * OBLOCK * pd.stride
            && xp.len() >= c * pd.stride
            && dw8.len() >= dw8_len(c, f)
    );
    // SAFETY: the CPU has the variant (asserted); gradient reads stay below
    // (b·OBLOCK + ob)·stride + wp + 1 + qp, inside `gpad`; input reads below
    // i·stride + 2·wp + qp + 2, inside `xp`; writes go to filters below
    // blocks·OBLOCK, inside `dw8`.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match pd.isa {
            Isa::Avx2 => avx2::filter_image(pd, c, f, gpad, xp, dw8),
            Isa::Avx512 => avx512::filter_image(pd, c, f, gpad, xp, dw8),
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
    let mut y = vec![0f32; n * cout * h * w];
    y.par_chunks_mut(cout * h * w).enumerate().for_each_init(
        || (vec![0f32; cin * pd.stride], vec![0f32; blocks * OBLOCK * pd.qp]),
        |(xp, out), (img, yi)| {
            pd.fill(&x[img * cin * h * w..(img + 1) * cin * h * w], cin, xp);
            conv_image(&pd, cin, cout, xp, &packed, out);
            for o in 0..cout {
                for r in 0..h {
                    let src = &out[o * pd.qp + r * pd.wp..][..w];
                    yi[(o * h + r) * w..(o * h + r + 1) * w].copy_from_slice(src);
                }
            }
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
    let (n, c, f, h, w) = (g.n, g.c, g.f, g.h, g.w);
    let pd = Padded::new(h, w, isa);
    let blocks = f.div_ceil(OBLOCK);
    let threads = rayon::current_num_threads().max(1);
    let per = n.div_ceil(threads).max(1);
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|part| {
            let mut dw8 = vec![0f32; dw8_len(c, f)];
            let mut xp = vec![0f32; c * pd.stride];
            // The gradient in the padded layout: only interiors are written,
            // so borders, the planes of a short last block and the rows
            // past the image stay zero.
            let mut gpad = vec![0f32; blocks * OBLOCK * pd.stride];
            for img in part * per..((part + 1) * per).min(n) {
                pd.fill(&x[img * c * h * w..(img + 1) * c * h * w], c, &mut xp);
                pd.fill(&grad[img * f * h * w..(img + 1) * f * h * w], f, &mut gpad);
                filter_image(&pd, c, f, &gpad, &xp, &mut dw8);
            }
            reduce_lanes(&dw8, c, f)
        })
        .collect();
    sum_partials(partials, f * c * 9)
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
