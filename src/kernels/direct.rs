//! Direct 3×3, stride-1, 'same'-padded convolutions with AVX2 and FMA.
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
//! * the forward kernel holds 24 outputs of 4 filters (12 registers) and
//!   runs over input channels and taps; the input gradient is the same
//!   kernel on the output gradient with the kernel flipped and its two
//!   channel axes swapped;
//! * the kernel-gradient kernel holds 3 taps of 4 filters and runs over the
//!   positions of an image.
//!
//! [`supported`] says whether the CPU has AVX2 and FMA; on other machines
//! (and for other geometries) `kernels::gemm` uses its im2col + gemm path.

use super::Geometry;
use rayon::prelude::*;

/// True when these kernels can run here: x86-64 with AVX2 and FMA, unless
/// `AUTOENCODERS_CPU_OPS=gemm` asks for the im2col + gemm path.
pub fn supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let forced_off = std::env::var("AUTOENCODERS_CPU_OPS").is_ok_and(|v| v.eq_ignore_ascii_case("gemm"));
        !forced_off && cpu_has_avx2_fma()
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx2_fma() -> bool {
    false
}

/// True for the geometry these kernels handle: 3×3, stride 1, padding 1.
pub fn applies(g: &Geometry) -> bool {
    g.k == 3 && g.stride == 1 && g.padding == 1 && supported()
}

/// Stops (in every build) a call the kernels cannot serve: the CPU lacks
/// AVX2/FMA, or the geometry is not 3×3 stride 1 padding 1.
fn assert_applies(g: &Geometry) {
    assert!(
        applies(g),
        "direct kernels: they need AVX2/FMA and a 3x3, stride-1, padding-1 geometry (got {g:?}, CPU supported: {}); use kernels::conv_forward, which picks a path",
        supported()
    );
}

/// Outputs per register block of the forward kernel (3 vectors of 8).
const QBLOCK: usize = 24;
/// Filters per register block.
const OBLOCK: usize = 4;

/// Flat addressing of zero-bordered planes for an `h × w` image.
#[derive(Debug, Clone, Copy)]
pub(super) struct Padded {
    pub h: usize,
    pub w: usize,
    /// Padded row length, `w + 2`.
    pub wp: usize,
    /// Outputs computed per plane, rounded up to [`QBLOCK`].
    pub qp: usize,
    /// Distance between consecutive padded input planes (room for the
    /// furthest tap of the last block).
    pub stride: usize,
}

impl Padded {
    pub fn new(h: usize, w: usize) -> Self {
        let wp = w + 2;
        let qp = (h * wp).div_ceil(QBLOCK) * QBLOCK;
        let stride = (qp + 2 * wp + 2).div_ceil(8) * 8;
        Padded { h, w, wp, qp, stride }
    }

    /// Offsets of the nine taps, row-major `(ky, kx)`.
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
/// packed by [`pack`] for `cout` filters.
pub(super) fn conv_image(pd: &Padded, cin: usize, cout: usize, xp: &[f32], packed: &[f32], out: &mut [f32]) {
    let taps = pd.taps();
    let blocks = cout.div_ceil(OBLOCK);
    assert!(
        xp.len() >= cin * pd.stride
            && packed.len() >= blocks * cin * 9 * OBLOCK
            && out.len() >= blocks * OBLOCK * pd.qp
    );
    for q0 in (0..pd.qp).step_by(QBLOCK) {
        for b in 0..blocks {
            let wb = &packed[b * cin * 9 * OBLOCK..(b + 1) * cin * 9 * OBLOCK];
            let live = (cout - b * OBLOCK).min(OBLOCK);
            // SAFETY: `supported()` checked AVX2/FMA (callers go through
            // `applies`); reads stay within `xp` (q0 + QBLOCK - 1 + largest
            // tap < cin·stride by the choice of `stride`), writes within
            // `out` (asserted above).
            unsafe {
                if live == 1 {
                    forward_block::<1>(xp, pd.stride, cin, &taps, wb, &mut out[b * OBLOCK * pd.qp..], pd.qp, q0)
                } else {
                    forward_block::<OBLOCK>(xp, pd.stride, cin, &taps, wb, &mut out[b * OBLOCK * pd.qp..], pd.qp, q0)
                }
            }
        }
    }
}

/// Adds one image's kernel gradient to `dw8 (f, c, 9, 8)`, eight partial
/// sums per kernel weight (add them up with [`reduce_lanes`] once all images
/// are in): `gpad (blocks·OBLOCK, stride)` holds the gradient of the
/// convolution's output in the padded layout (zero outside the image), `xp
/// (c, stride)` the padded input.
pub(super) fn filter_image(pd: &Padded, c: usize, f: usize, gpad: &[f32], xp: &[f32], dw8: &mut [f32]) {
    let blocks = f.div_ceil(OBLOCK);
    assert!(gpad.len() >= blocks * OBLOCK * pd.stride && xp.len() >= c * pd.stride && dw8.len() >= f * c * 9 * 8);
    for b in 0..blocks {
        let live = (f - b * OBLOCK).min(OBLOCK);
        let g = &gpad[b * OBLOCK * pd.stride + pd.wp + 1..];
        for i in 0..c {
            for ky in 0..3 {
                let xrow = &xp[i * pd.stride + ky * pd.wp..];
                // Partial sums of filter o = b·OBLOCK + ob, tap (ky, 0..3):
                // at ((o·c + i)·9 + ky·3)·8, filters c·9·8 apart.
                let at = ((b * OBLOCK * c + i) * 9 + ky * 3) * 8;
                // SAFETY: AVX2/FMA checked by `supported()`; gradient reads
                // stay below (b·OBLOCK + ob)·stride + wp + 1 + qp, inside
                // `gpad`; input reads below i·stride + 2·wp + qp + 2, inside
                // `xp`; writes to filters below `live` ≤ f, inside `dw8`.
                unsafe {
                    if live == 1 {
                        filter_block::<1>(g, pd.stride, pd.qp, xrow, &mut dw8[at..], c * 9 * 8, 1)
                    } else {
                        filter_block::<OBLOCK>(g, pd.stride, pd.qp, xrow, &mut dw8[at..], c * 9 * 8, live)
                    }
                }
            }
        }
    }
}

/// Sums each run of eight partial sums: `(…, 8)` → `(…)`.
pub(super) fn reduce_lanes(dw8: &[f32]) -> Vec<f32> {
    dw8.chunks_exact(8).map(|l| l.iter().sum()).collect()
}

/// `y (n, cout, h, w) = Σ_i Σ_taps weights[o][i][t] · x (n, cin, h, w)` with
/// zero padding 1: a 3×3 stride-1 convolution whose kernel is `(cout, cin, 9)`.
fn correlate(n: usize, cin: usize, cout: usize, h: usize, w: usize, x: &[f32], weights: &[f32]) -> Vec<f32> {
    let pd = Padded::new(h, w);
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

// The kernels below run inside the notebooks' builds, which keep debug
// assertions on (evcxr's profile): they use wrapping pointer arithmetic and
// loads through `packed` structs, which compile to plain unaligned loads
// without the per-access checks that `ptr::add` and `_mm256_loadu_ps`
// (a checked `copy_nonoverlapping`) carry in such builds.
#[cfg(target_arch = "x86_64")]
mod simd {
    pub use std::arch::x86_64::{__m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps};

    #[repr(C, packed)]
    struct Vector(__m256);
    #[repr(C, packed)]
    struct Scalar(f32);

    /// Eight floats from `p`, any alignment.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn load(p: *const f32) -> __m256 {
        (*(p as *const Vector)).0
    }

    /// Stores eight floats at `p`, any alignment.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn store(p: *mut f32, v: __m256) {
        (*(p as *mut Vector)).0 = v;
    }

    /// `*p` in all eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn splat(p: *const f32) -> __m256 {
        _mm256_set1_ps((*(p as *const Scalar)).0)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_block<const OB: usize>(
    xp: &[f32],
    plane: usize,
    cin: usize,
    taps: &[usize; 9],
    wb: &[f32],
    out: &mut [f32],
    qp: usize,
    q0: usize,
) {
    use simd::*;
    debug_assert!(xp.len() >= (cin - 1) * plane + q0 + QBLOCK + taps[8]);
    debug_assert!(wb.len() >= cin * 9 * OBLOCK && out.len() >= (OB - 1) * qp + q0 + QBLOCK);
    let mut acc = [[_mm256_setzero_ps(); 3]; OB];
    let mut base = xp.as_ptr().wrapping_add(q0);
    let mut wi = wb.as_ptr();
    for _ in 0..cin {
        for &off in taps {
            let p = base.wrapping_add(off);
            let x0 = load(p);
            let x1 = load(p.wrapping_add(8));
            let x2 = load(p.wrapping_add(16));
            for (ob, a) in acc.iter_mut().enumerate() {
                let wv = splat(wi.wrapping_add(ob));
                a[0] = _mm256_fmadd_ps(wv, x0, a[0]);
                a[1] = _mm256_fmadd_ps(wv, x1, a[1]);
                a[2] = _mm256_fmadd_ps(wv, x2, a[2]);
            }
            wi = wi.wrapping_add(OBLOCK);
        }
        base = base.wrapping_add(plane);
    }
    let optr = out.as_mut_ptr().wrapping_add(q0);
    for (ob, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            store(optr.wrapping_add(ob * qp + 8 * j), *v);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_block<const OB: usize>(
    _: &[f32],
    _: usize,
    _: usize,
    _: &[usize; 9],
    _: &[f32],
    _: &mut [f32],
    _: usize,
    _: usize,
) {
    unreachable!("direct kernels are used only where supported() is true")
}

/// Convolution forward: `x (n, c, h, w)`, `kernel (f, c, 3, 3)` → `(n, f, h, w)`.
pub fn forward(g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    assert_applies(g);
    g.assert_lens(
        "direct::forward",
        &[("x", x.len(), g.input_len()), ("kernel", kernel.len(), g.kernel_len())],
    );
    correlate(g.n, g.c, g.f, g.h, g.w, x, kernel)
}

/// Input gradient: `grad (n, f, h, w)`, `kernel (f, c, 3, 3)` → `(n, c, h, w)`,
/// the forward kernel with the kernel flipped and its channel axes swapped.
pub fn backward_data(g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    assert_applies(g);
    g.assert_lens(
        "direct::backward_data",
        &[
            ("grad", grad.len(), g.output_len()),
            ("kernel", kernel.len(), g.kernel_len()),
        ],
    );
    correlate(g.n, g.f, g.c, g.h, g.w, grad, &flip(kernel, g.f, g.c))
}

/// Kernel gradient: `x (n, c, h, w)`, `grad (n, f, h, w)` → `(f, c, 3, 3)`,
/// summed over the batch.
pub fn backward_filter(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_applies(g);
    g.assert_lens(
        "direct::backward_filter",
        &[("x", x.len(), g.input_len()), ("grad", grad.len(), g.output_len())],
    );
    let (n, c, f, h, w) = (g.n, g.c, g.f, g.h, g.w);
    let pd = Padded::new(h, w);
    let blocks = f.div_ceil(OBLOCK);
    let threads = rayon::current_num_threads().max(1);
    let per = n.div_ceil(threads).max(1);
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|part| {
            let mut dw8 = vec![0f32; f * c * 9 * 8];
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
            reduce_lanes(&dw8)
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn filter_block<const OB: usize>(
    gp: &[f32],
    gstride: usize,
    qp: usize,
    xrow: &[f32],
    dw8: &mut [f32],
    fstride: usize,
    live: usize,
) {
    use simd::*;
    debug_assert!(gp.len() >= (OB - 1) * gstride + qp && xrow.len() >= qp + 2);
    debug_assert!(live <= OB && dw8.len() >= (live - 1) * fstride + 24);
    let mut acc = [[_mm256_setzero_ps(); 3]; OB];
    let (mut g, mut x) = (gp.as_ptr(), xrow.as_ptr());
    for _ in 0..qp / 8 {
        let x0 = load(x);
        let x1 = load(x.wrapping_add(1));
        let x2 = load(x.wrapping_add(2));
        for (ob, a) in acc.iter_mut().enumerate() {
            let gv = load(g.wrapping_add(ob * gstride));
            a[0] = _mm256_fmadd_ps(gv, x0, a[0]);
            a[1] = _mm256_fmadd_ps(gv, x1, a[1]);
            a[2] = _mm256_fmadd_ps(gv, x2, a[2]);
        }
        g = g.wrapping_add(8);
        x = x.wrapping_add(8);
    }
    let d = dw8.as_mut_ptr();
    for (ob, a) in acc.iter().enumerate().take(live) {
        for (kx, v) in a.iter().enumerate() {
            let p = d.wrapping_add(ob * fstride + kx * 8);
            store(p, _mm256_add_ps(load(p), *v));
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn filter_block<const OB: usize>(_: &[f32], _: usize, _: usize, _: &[f32], _: &mut [f32], _: usize, _: usize) {
    unreachable!("direct kernels are used only where supported() is true")
}
