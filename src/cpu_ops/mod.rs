//! Fast CPU forward and backward passes for training, as candle custom ops:
//! 2-D convolution, transposed convolution, 2×2 max-pooling, 2× nearest
//! up-sampling, whole convolution blocks ([`conv_block`]), dense layers
//! ([`dense`]) and the MSE and binary cross-entropy losses.
//!
//! candle 0.11's CPU convolution backward goes through a direct-loop
//! transposed convolution, and its max-pool backward through several
//! full-size temporaries. Here every convolution pass is one of three
//! kernels: 3×3 stride-1 'same' geometries go to the AVX2/FMA kernels of
//! [`direct`] where the CPU has them, everything else to an
//! `im2col`/`col2im` around one `gemm` per group of images, the images of a
//! batch spread over threads:
//!
//! | pass | convolution | transposed convolution |
//! |---|---|---|
//! | forward | [`conv_forward`] | [`conv_backward_data`] |
//! | gradient of the input | [`conv_backward_data`] | [`conv_forward`] |
//! | gradient of the kernel | [`conv_backward_filter`] | [`conv_backward_filter`] (roles swapped) |
//!
//! The model layers and losses use these automatically for `f32` tensors on
//! the CPU (see [`enabled`]); on a GPU candle's own kernels run.
//! `tests/cpu_ops.rs` compares outputs and gradients with candle's
//! reference ops on random shapes.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

pub mod direct;
mod block;
mod dense;
mod loss;

pub use block::{block_applies, conv_block};
pub use dense::dense;
pub use loss::{bce_loss, mse_loss};

/// True when the layers should use these ops: `f32` on the CPU, unless
/// `AUTOENCODERS_CPU_OPS=candle` asks for candle's reference ops.
pub fn enabled(xs: &Tensor) -> bool {
    static REFERENCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let reference = *REFERENCE.get_or_init(|| {
        std::env::var("AUTOENCODERS_CPU_OPS").is_ok_and(|v| v.eq_ignore_ascii_case("candle"))
    });
    !reference && xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32
}

/// Geometry of a square-kernel convolution: input `(n, c, h, w)`, kernel
/// `(f, c, k, k)`, output `(n, f, ho, wo)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// The geometry of a convolution of an `(n, c, h, w)` input.
    pub fn new(n: usize, c: usize, h: usize, w: usize, f: usize, k: usize, stride: usize, padding: usize) -> candle_core::Result<Self> {
        if h + 2 * padding < k || w + 2 * padding < k || stride == 0 {
            candle_core::bail!("convolution: kernel {k} larger than the padded input {h}x{w} (padding {padding}) or stride 0");
        }
        Ok(Geometry {
            n,
            c,
            h,
            w,
            f,
            k,
            stride,
            padding,
            ho: (h + 2 * padding - k) / stride + 1,
            wo: (w + 2 * padding - k) / stride + 1,
        })
    }

    fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }

    fn hw_out(&self) -> usize {
        self.ho * self.wo
    }
}

/// The output columns `ox` whose input column `ox·stride + kx - padding`
/// lies inside `0..w`, as a range.
fn valid_cols(g: &Geometry, kx: usize) -> (usize, usize) {
    let (s, p) = (g.stride, g.padding);
    // ox·s + kx ≥ p  ⇔  ox ≥ ceil((p - kx) / s)
    let lo = if kx >= p { 0 } else { (p - kx).div_ceil(s) };
    // ox·s + kx - p ≤ w - 1  ⇔  ox ≤ (w - 1 + p - kx) / s
    let hi = if g.w + p < kx + 1 { 0 } else { ((g.w - 1 + p - kx) / s + 1).min(g.wo) };
    (lo.min(hi), hi)
}

/// Unfolds one image `(c, h, w)` into columns `(c·k·k, ho·wo)`, rows `ld`
/// apart (several images' columns side by side when `ld > ho·wo`).
fn im2col(g: &Geometry, img: &[f32], cols: &mut [f32], ld: usize) {
    let (k, s, p) = (g.k, g.stride, g.padding as isize);
    let hw = g.hw_out();
    for c in 0..g.c {
        let plane = &img[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((c * k + ky) * k + kx) * ld..][..hw];
                let (lo, hi) = valid_cols(g, kx);
                for oy in 0..g.ho {
                    let iy = (oy * s) as isize + ky as isize - p;
                    let out = &mut row[oy * g.wo..(oy + 1) * g.wo];
                    if iy < 0 || iy >= g.h as isize || lo >= hi {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let ix0 = lo * g.stride + kx - g.padding;
                    if s == 1 {
                        out[lo..hi].copy_from_slice(&src[ix0..ix0 + (hi - lo)]);
                    } else {
                        for (o, v) in out[lo..hi].iter_mut().zip(src[ix0..].iter().step_by(s)) {
                            *o = *v;
                        }
                    }
                }
            }
        }
    }
}

/// Folds columns `(c·k·k, ho·wo)`, rows `ld` apart, back into one image
/// `(c, h, w)`, adding overlapping contributions.
fn col2im(g: &Geometry, cols: &[f32], ld: usize, img: &mut [f32]) {
    img.fill(0.0);
    let (k, s, p) = (g.k, g.stride, g.padding as isize);
    let hw = g.hw_out();
    for c in 0..g.c {
        let plane = &mut img[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &cols[((c * k + ky) * k + kx) * ld..][..hw];
                let (lo, hi) = valid_cols(g, kx);
                if lo >= hi {
                    continue;
                }
                let ix0 = lo * g.stride + kx - g.padding;
                for oy in 0..g.ho {
                    let iy = (oy * s) as isize + ky as isize - p;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let src = &row[oy * g.wo + lo..oy * g.wo + hi];
                    if s == 1 {
                        for (d, v) in dst[ix0..ix0 + (hi - lo)].iter_mut().zip(src) {
                            *d += *v;
                        }
                    } else {
                        for (d, v) in dst[ix0..].iter_mut().step_by(s).zip(src) {
                            *d += *v;
                        }
                    }
                }
            }
        }
    }
}

/// `dst (m×n) = alpha·dst + lhs (m×k) · rhs (k×n)` for row-major slices,
/// with `lhs_t`/`rhs_t` reading the operand transposed (stored `k×m`, `n×k`).
#[allow(clippy::too_many_arguments)]
fn matmul(m: usize, n: usize, kk: usize, dst: &mut [f32], accumulate: bool, lhs: &[f32], lhs_t: bool, rhs: &[f32], rhs_t: bool) {
    debug_assert!(dst.len() >= m * n && lhs.len() >= m * kk && rhs.len() >= kk * n);
    // Row-major: element (i, j) at i·cols + j → row stride cols, column stride 1.
    let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, kk as isize) };
    let (rhs_cs, rhs_rs) = if rhs_t { (kk as isize, 1) } else { (1, n as isize) };
    // SAFETY: the slices hold at least m·n, m·k and k·n elements (checked
    // above in debug builds and guaranteed by the callers' geometry), and the
    // strides describe exactly those row-major (or transposed) layouts.
    unsafe {
        gemm::gemm(
            m,
            n,
            kk,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Convolution forward: `x (n, c, h, w)`, `kernel (f, c, k, k)` → `(n, f, ho, wo)`.
///
/// 3×3 stride-1 'same' convolutions go to [`direct`] where the CPU allows,
/// everything else to [`conv_forward_gemm`].
pub fn conv_forward(g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    if direct::applies(g) {
        return direct::forward(g, x, kernel);
    }
    conv_forward_gemm(g, x, kernel)
}

/// Images per gemm in the im2col path: enough that each product has about
/// 256 columns (a 3×3 output alone would make 9-column products, too small
/// for the gemm's blocking to pay off).
fn group_size(g: &Geometry) -> usize {
    256usize.div_ceil(g.hw_out().max(1)).clamp(1, g.n.max(1))
}

/// Copies `src (imgs, f, hw)` into `dst (f, imgs·hw)`.
fn to_channel_major(src: &[f32], imgs: usize, f: usize, hw: usize, dst: &mut [f32]) {
    let ld = imgs * hw;
    for j in 0..imgs {
        for o in 0..f {
            dst[o * ld + j * hw..][..hw].copy_from_slice(&src[(j * f + o) * hw..][..hw]);
        }
    }
}

/// [`conv_forward`] through im2col and one gemm per group of images, for any
/// geometry.
pub fn conv_forward_gemm(g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let mut y = vec![0f32; g.n * img_out];
    y.par_chunks_mut(grp * img_out).enumerate().for_each_init(
        || (vec![0f32; ckk * grp * hw], vec![0f32; g.f * grp * hw]),
        |(cols, out), (gi, yg)| {
            let imgs = yg.len() / img_out;
            let ld = imgs * hw;
            for j in 0..imgs {
                im2col(g, &x[(gi * grp + j) * img_in..][..img_in], &mut cols[j * hw..], ld);
            }
            if imgs == 1 {
                matmul(g.f, hw, ckk, yg, false, kernel, false, cols, false);
                return;
            }
            // out (f × imgs·hw) = kernel (f × ckk) · cols (ckk × imgs·hw)
            matmul(g.f, ld, ckk, out, false, kernel, false, &cols[..ckk * ld], false);
            for o in 0..g.f {
                for j in 0..imgs {
                    yg[(j * g.f + o) * hw..][..hw].copy_from_slice(&out[o * ld + j * hw..][..hw]);
                }
            }
        },
    );
    y
}

/// Gradient of a convolution's input: `grad (n, f, ho, wo)`, `kernel (f, c, k, k)`
/// → `(n, c, h, w)`. Also the forward pass of a transposed convolution.
pub fn conv_backward_data(g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    if direct::applies(g) {
        return direct::backward_data(g, grad, kernel);
    }
    conv_backward_data_gemm(g, grad, kernel)
}

/// A convolution's output `conv(x, kernel)` (if `want_y`) and the kernel
/// gradient for the output gradient `grad`, sharing one im2col of `x`: the
/// input and kernel gradients of a transposed convolution, whose output
/// gradient is `x` here. `x (n, c, h, w)`, `kernel (f, c, k, k)`, `grad (n, f,
/// ho, wo)` → (`(n, f, ho, wo)`, `(f, c, k, k)`); `kernel` is not read when
/// `want_y` is false.
pub fn conv_forward_and_filter(g: &Geometry, x: &[f32], kernel: &[f32], grad: &[f32], want_y: bool) -> (Option<Vec<f32>>, Vec<f32>) {
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let threads = rayon::current_num_threads().max(1);
    let per = g.n.div_ceil(threads).max(1);
    let mut y = if want_y { vec![0f32; g.n * img_out] } else { Vec::new() };
    let slots: Vec<Option<&mut [f32]>> =
        if want_y { y.chunks_mut(per * img_out).map(Some).collect() } else { (0..g.n.div_ceil(per)).map(|_| None).collect() };
    let partials: Vec<Vec<f32>> = slots
        .into_par_iter()
        .enumerate()
        .map(|(t, mut ys)| {
            let mut dw = vec![0f32; g.f * ckk];
            let mut cols = vec![0f32; ckk * grp * hw];
            let mut gm = vec![0f32; g.f * grp * hw];
            let mut out = vec![0f32; if want_y { g.f * grp * hw } else { 0 }];
            let (start, end) = (t * per, ((t + 1) * per).min(g.n));
            let mut first = start;
            while first < end {
                let imgs = grp.min(end - first);
                let ld = imgs * hw;
                for j in 0..imgs {
                    im2col(g, &x[(first + j) * img_in..][..img_in], &mut cols[j * hw..], ld);
                }
                let src = &grad[first * img_out..][..imgs * img_out];
                to_channel_major(src, imgs, g.f, hw, &mut gm);
                // dw (f × ckk) += grad (f × imgs·hw) · colsᵀ (imgs·hw × ckk)
                matmul(g.f, ckk, ld, &mut dw, true, &gm[..g.f * ld], false, &cols[..ckk * ld], true);
                if let Some(ys) = ys.as_deref_mut() {
                    // out (f × imgs·hw) = kernel (f × ckk) · cols (ckk × imgs·hw)
                    matmul(g.f, ld, ckk, &mut out, false, kernel, false, &cols[..ckk * ld], false);
                    for j in 0..imgs {
                        let yi = &mut ys[(first - start + j) * img_out..][..img_out];
                        for o in 0..g.f {
                            yi[o * hw..(o + 1) * hw].copy_from_slice(&out[o * ld + j * hw..][..hw]);
                        }
                    }
                }
                first += imgs;
            }
            dw
        })
        .collect();
    (if want_y { Some(y) } else { None }, direct::sum_partials(partials, g.f * ckk))
}

/// [`conv_backward_data`] through one gemm per group of images and col2im.
pub fn conv_backward_data_gemm(g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let mut dx = vec![0f32; g.n * img_in];
    dx.par_chunks_mut(grp * img_in).enumerate().for_each_init(
        || (vec![0f32; ckk * grp * hw], vec![0f32; g.f * grp * hw]),
        |(cols, gm), (gi, dxg)| {
            let imgs = dxg.len() / img_in;
            let ld = imgs * hw;
            let src = &grad[gi * grp * img_out..][..imgs * img_out];
            let gmat: &[f32] = if imgs == 1 {
                src
            } else {
                to_channel_major(src, imgs, g.f, hw, gm);
                &gm[..g.f * ld]
            };
            // cols (ckk × imgs·hw) = kernelᵀ (ckk × f) · grad (f × imgs·hw)
            matmul(ckk, ld, g.f, &mut cols[..ckk * ld], false, kernel, true, gmat, false);
            for j in 0..imgs {
                col2im(g, &cols[j * hw..], ld, &mut dxg[j * img_in..][..img_in]);
            }
        },
    );
    dx
}

/// Gradient of a convolution's kernel: `x (n, c, h, w)`, `grad (n, f, ho, wo)`
/// → `(f, c, k, k)`, summed over the batch.
pub fn conv_backward_filter(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    if direct::applies(g) {
        return direct::backward_filter(g, x, grad);
    }
    conv_backward_filter_gemm(g, x, grad)
}

/// [`conv_backward_filter`] through im2col and one gemm per group of images.
pub fn conv_backward_filter_gemm(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    conv_forward_and_filter(g, x, &[], grad, false).1
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d,
        _ => candle_core::bail!("{what}: the fast CPU ops take f32 tensors"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

fn dims4(l: &Layout, what: &str) -> candle_core::Result<(usize, usize, usize, usize)> {
    match l.dims() {
        &[a, b, c, d] => Ok((a, b, c, d)),
        d => candle_core::bail!("{what}: expected 4 dimensions, got {d:?}"),
    }
}

/// 2-D convolution `x (n, c, h, w)` ⊛ `kernel (f, c, k, k)` with stride and padding.
#[derive(Debug, Clone, Copy)]
struct Conv2dOp {
    stride: usize,
    padding: usize,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "fast-conv2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "conv2d input")?;
        let (f, c2, k, k2) = dims4(l2, "conv2d kernel")?;
        if c != c2 || k != k2 {
            candle_core::bail!("conv2d: input has {c} channels, kernel {f}x{c2}x{k}x{k2}");
        }
        let g = Geometry::new(n, c, h, w, f, k, self.stride, self.padding)?;
        let y = conv_forward(&g, f32_slice(s1, l1, "conv2d input")?, f32_slice(s2, l2, "conv2d kernel")?);
        Ok((CpuStorage::F32(y), Shape::from((n, f, g.ho, g.wo))))
    }

    fn bwd(&self, x: &Tensor, kernel: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, h, w) = x.dims4()?;
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(&kernel.contiguous()?, &ConvBackwardData { stride: self.stride, padding: self.padding, h, w })?;
        let dk = x.contiguous()?.apply_op2_no_bwd(&grad, &ConvBackwardFilter { stride: self.stride, padding: self.padding, k: kernel.dim(2)? })?;
        Ok((Some(dx), Some(dk)))
    }
}

/// `grad (n, f, ho, wo)`, `kernel (f, c, k, k)` → `(n, c, h, w)`: a
/// convolution's input gradient, or a transposed convolution's forward pass.
#[derive(Debug, Clone, Copy)]
struct ConvBackwardData {
    stride: usize,
    padding: usize,
    h: usize,
    w: usize,
}

impl CustomOp2 for ConvBackwardData {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-data"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, f, ho, wo) = dims4(l1, "conv2d gradient")?;
        let (f2, c, k, _) = dims4(l2, "conv2d kernel")?;
        if f != f2 {
            candle_core::bail!("conv2d backward: gradient has {f} channels, kernel {f2}");
        }
        let g = Geometry::new(n, c, self.h, self.w, f, k, self.stride, self.padding)?;
        if (g.ho, g.wo) != (ho, wo) {
            candle_core::bail!("conv2d backward: gradient is {ho}x{wo}, geometry gives {}x{}", g.ho, g.wo);
        }
        let dx = conv_backward_data(&g, f32_slice(s1, l1, "gradient")?, f32_slice(s2, l2, "kernel")?);
        Ok((CpuStorage::F32(dx), Shape::from((n, c, self.h, self.w))))
    }
}

/// `x (n, c, h, w)`, `grad (n, f, ho, wo)` → the kernel gradient `(f, c, k, k)`.
#[derive(Debug, Clone, Copy)]
struct ConvBackwardFilter {
    stride: usize,
    padding: usize,
    k: usize,
}

impl CustomOp2 for ConvBackwardFilter {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-filter"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "conv2d input")?;
        let (n2, f, ho, wo) = dims4(l2, "conv2d gradient")?;
        let g = Geometry::new(n, c, h, w, f, self.k, self.stride, self.padding)?;
        if n != n2 || (g.ho, g.wo) != (ho, wo) {
            candle_core::bail!("conv2d filter gradient: shapes {:?} and {:?} do not match", l1.dims(), l2.dims());
        }
        let dk = conv_backward_filter(&g, f32_slice(s1, l1, "input")?, f32_slice(s2, l2, "gradient")?);
        Ok((CpuStorage::F32(dk), Shape::from((f, c, self.k, self.k))))
    }
}

/// Transposed convolution `x (n, c_in, h, w)` with `kernel (c_in, c_out, k, k)`.
#[derive(Debug, Clone, Copy)]
struct ConvTranspose2dOp {
    stride: usize,
    padding: usize,
    output_padding: usize,
}

impl ConvTranspose2dOp {
    fn out_side(&self, side: usize, k: usize) -> candle_core::Result<usize> {
        let full = (side - 1) * self.stride + k + self.output_padding;
        if full < 2 * self.padding + 1 {
            candle_core::bail!("conv_transpose2d: padding {} leaves no output", self.padding);
        }
        Ok(full - 2 * self.padding)
    }
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "fast-conv-transpose2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, cin, h, w) = dims4(l1, "conv_transpose2d input")?;
        let (cin2, cout, k, _) = dims4(l2, "conv_transpose2d kernel")?;
        if cin != cin2 {
            candle_core::bail!("conv_transpose2d: input has {cin} channels, kernel expects {cin2}");
        }
        let (ho, wo) = (self.out_side(h, k)?, self.out_side(w, k)?);
        // The forward pass is the input gradient of the convolution that maps
        // (cout, ho, wo) to (cin, h, w) with this kernel read as (f=cin, c=cout).
        let g = Geometry::new(n, cout, ho, wo, cin, k, self.stride, self.padding)?;
        let y = conv_backward_data(&g, f32_slice(s1, l1, "input")?, f32_slice(s2, l2, "kernel")?);
        Ok((CpuStorage::F32(y), Shape::from((n, cout, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, kernel: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(&kernel.contiguous()?, &Conv2dOp { stride: self.stride, padding: self.padding })?;
        let dk = grad.apply_op2_no_bwd(&x.contiguous()?, &ConvBackwardFilter { stride: self.stride, padding: self.padding, k: kernel.dim(2)? })?;
        Ok((Some(dx), Some(dk)))
    }
}

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
        let mut y = vec![0f32; n * c * ho * wo];
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

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "max_pool2d input")?;
        let (ho, wo) = (h / self.size, w / self.size);
        let x = f32_slice(s1, l1, "max_pool2d input")?;
        let g = f32_slice(s2, l2, "max_pool2d gradient")?;
        let pool = MaxPoolOp { size: self.size };
        let mut dx = vec![0f32; n * c * h * w];
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
        let mut y = vec![0f32; n * c * ho * wo];
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
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&UpsampleBackward { factor: self.factor })?))
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
        let mut dx = vec![0f32; n * c * h * w];
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

/// Convolution `(n, c, h, w) ⊛ (f, c, k, k)` with a square kernel.
pub fn conv2d(xs: &Tensor, kernel: &Tensor, stride: usize, padding: usize) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op2(&kernel.contiguous()?, Conv2dOp { stride, padding })
}

/// Transposed convolution `(n, c_in, h, w)` with kernel `(c_in, c_out, k, k)`.
pub fn conv_transpose2d(xs: &Tensor, kernel: &Tensor, stride: usize, padding: usize, output_padding: usize) -> candle_core::Result<Tensor> {
    if output_padding >= stride.max(1) {
        candle_core::bail!("conv_transpose2d: output_padding {output_padding} must be smaller than the stride {stride}");
    }
    xs.contiguous()?.apply_op2(&kernel.contiguous()?, ConvTranspose2dOp { stride, padding, output_padding })
}

/// Max-pooling over `size × size` windows, stride `size`.
pub fn max_pool2d(xs: &Tensor, size: usize) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op1(MaxPoolOp { size })
}

/// Nearest up-sampling by `factor`.
pub fn upsample_nearest2d(xs: &Tensor, factor: usize) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op1(UpsampleOp { factor })
}

/// An activation fused into a convolution's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedAct {
    Linear,
    Relu,
    Sigmoid,
}

impl FusedAct {
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            FusedAct::Linear => v,
            FusedAct::Relu => v.max(0.0),
            FusedAct::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }

    /// The derivative, written in terms of the activation's output `y`.
    pub(crate) fn grad_from_output(self, y: f32) -> f32 {
        match self {
            FusedAct::Linear => 1.0,
            FusedAct::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            FusedAct::Sigmoid => y * (1.0 - y),
        }
    }
}

/// `act(conv(x, kernel) + bias)` (or with a transposed convolution) in one
/// op: the bias and activation are applied while each image's output is
/// still in cache, and the backward pass needs no separate element-wise ops.
#[derive(Debug, Clone, Copy)]
struct ConvBiasActOp {
    stride: usize,
    padding: usize,
    /// `Some(output_padding)` for a transposed convolution.
    transpose: Option<usize>,
    act: FusedAct,
}

impl candle_core::CustomOp3 for ConvBiasActOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-bias-act"
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
        let (storage, shape) = match self.transpose {
            None => Conv2dOp { stride: self.stride, padding: self.padding }.cpu_fwd(s1, l1, s2, l2)?,
            Some(output_padding) => {
                ConvTranspose2dOp { stride: self.stride, padding: self.padding, output_padding }.cpu_fwd(s1, l1, s2, l2)?
            }
        };
        let mut y = match storage {
            CpuStorage::F32(y) => y,
            _ => candle_core::bail!("conv2d-bias-act: expected f32 output"),
        };
        let bias = f32_slice(s3, l3, "conv2d bias")?;
        let (f, plane) = match shape.dims() {
            &[_, f, h, w] => (f, h * w),
            d => candle_core::bail!("conv2d-bias-act: unexpected output shape {d:?}"),
        };
        if bias.len() != f {
            candle_core::bail!("conv2d-bias-act: {} biases for {f} channels", bias.len());
        }
        let act = self.act;
        y.par_chunks_mut(f * plane).for_each(|img| {
            for (ch, b) in img.chunks_mut(plane).zip(bias) {
                for v in ch.iter_mut() {
                    *v = act.apply(*v + b);
                }
            }
        });
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Gradient before the activation, then the bias and convolution parts.
        let pre = res.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &ActBackward { act: self.act })?;
        let dbias = pre.apply_op1_no_bwd(&ChannelSum)?;
        let (dx, dk) = match self.transpose {
            None => {
                let (_, _, h, w) = x.dims4()?;
                let dx = pre.apply_op2_no_bwd(&kernel.contiguous()?, &ConvBackwardData { stride: self.stride, padding: self.padding, h, w })?;
                let dk = x.contiguous()?.apply_op2_no_bwd(&pre, &ConvBackwardFilter { stride: self.stride, padding: self.padding, k: kernel.dim(2)? })?;
                (dx, dk)
            }
            Some(_) => {
                // Both gradients unfold `pre` the same way: do it once.
                let (x, kernel) = (x.contiguous()?, kernel.contiguous()?);
                let (n, cin, h, w) = x.dims4()?;
                let (_, cout, ho, wo) = pre.dims4()?;
                let k = kernel.dim(2)?;
                let g = Geometry::new(n, cout, ho, wo, cin, k, self.stride, self.padding)?;
                let need_dx = x.track_op();
                let (xs, xl) = x.storage_and_layout();
                let (ks, kl) = kernel.storage_and_layout();
                let (ps, pl) = pre.storage_and_layout();
                let (xc, kc, pc) = match (&*xs, &*ks, &*ps) {
                    (candle_core::Storage::Cpu(a), candle_core::Storage::Cpu(b), candle_core::Storage::Cpu(c)) => (a, b, c),
                    _ => candle_core::bail!("conv_transpose2d backward: CPU tensors only"),
                };
                let (xv, kv, pv) = (f32_slice(xc, xl, "input")?, f32_slice(kc, kl, "kernel")?, f32_slice(pc, pl, "gradient")?);
                let (dx, dk) = conv_forward_and_filter(&g, pv, kv, xv, need_dx);
                let dev = candle_core::Device::Cpu;
                let dk = Tensor::from_vec(dk, (cin, cout, k, k), &dev)?;
                let dx = match dx {
                    Some(v) => Some(Tensor::from_vec(v, (n, cin, h, w), &dev)?),
                    None => None,
                };
                return Ok((dx, Some(dk), Some(dbias)));
            }
        };
        Ok((Some(dx), Some(dk), Some(dbias)))
    }
}

/// `grad · act'(y)` from the activation's output `y`.
#[derive(Debug, Clone, Copy)]
struct ActBackward {
    act: FusedAct,
}

impl CustomOp2 for ActBackward {
    fn name(&self) -> &'static str {
        "fast-activation-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, "activation output")?;
        let g = f32_slice(s2, l2, "activation gradient")?;
        if y.len() != g.len() {
            candle_core::bail!("activation backward: {} outputs, {} gradients", y.len(), g.len());
        }
        let act = self.act;
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(1 << 14)
            .zip(y.par_chunks(1 << 14).zip(g.par_chunks(1 << 14)))
            .for_each(|(o, (y, g))| {
                for ((o, y), g) in o.iter_mut().zip(y).zip(g) {
                    *o = g * act.grad_from_output(*y);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `act(conv2d(x, kernel) + bias)`: `(n, c, h, w)`, kernel `(f, c, k, k)`,
/// bias `(f,)`.
pub fn conv2d_bias_act(xs: &Tensor, kernel: &Tensor, bias: &Tensor, stride: usize, padding: usize, act: FusedAct) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op3(&kernel.contiguous()?, &bias.contiguous()?, ConvBiasActOp { stride, padding, transpose: None, act })
}

/// `act(conv_transpose2d(x, kernel) + bias)`: `(n, c_in, h, w)`, kernel
/// `(c_in, c_out, k, k)`, bias `(c_out,)`.
pub fn conv_transpose2d_bias_act(
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    if output_padding >= stride.max(1) {
        candle_core::bail!("conv_transpose2d: output_padding {output_padding} must be smaller than the stride {stride}");
    }
    xs.contiguous()?.apply_op3(
        &kernel.contiguous()?,
        &bias.contiguous()?,
        ConvBiasActOp { stride, padding, transpose: Some(output_padding), act },
    )
}

/// Sums `(n, c, h, w)` over everything but the channel: `(c,)`, the bias
/// gradient of a convolution (candle's reduction over dims 0, 2, 3 walks
/// the tensor with strided reads).
#[derive(Debug, Clone, Copy)]
struct ChannelSum;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "fast-channel-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "channel sum input")?;
        let x = f32_slice(s, l, "channel sum input")?;
        let plane = h * w;
        let sums: Vec<f32> = (0..c)
            .into_par_iter()
            .map(|ch| {
                // Eight f32 lanes per plane (vectorised), planes added in f64.
                let mut acc = 0f64;
                for i in 0..n {
                    let p = &x[(i * c + ch) * plane..(i * c + ch + 1) * plane];
                    let mut lanes = [0f32; 8];
                    let chunks = p.chunks_exact(8);
                    let tail: f32 = chunks.remainder().iter().sum();
                    for ch8 in chunks {
                        for (l, v) in lanes.iter_mut().zip(ch8) {
                            *l += v;
                        }
                    }
                    acc += (lanes.iter().sum::<f32>() + tail) as f64;
                }
                acc as f32
            })
            .collect();
        Ok((CpuStorage::F32(sums), Shape::from(c)))
    }
}
