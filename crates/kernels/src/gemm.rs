//! The im2col + gemm path of the convolutions, for any geometry, and the
//! dispatch between it and the direct 3×3 kernels of [`super::direct`].
//!
//! The functions taking raw slices check their lengths against the geometry
//! with real asserts (a short slice would otherwise be read out of bounds).

use super::{direct, Geometry};
use rayon::prelude::*;

/// The output columns `ox` whose input column `ox·stride + kx - padding`
/// lies inside `0..w`, as a range.
fn valid_cols(g: &Geometry, kx: usize) -> (usize, usize) {
    let (s, p) = (g.stride, g.padding);
    // ox·s + kx ≥ p  ⇔  ox ≥ ceil((p - kx) / s)
    let lo = if kx >= p { 0 } else { (p - kx).div_ceil(s) };
    // ox·s + kx - p ≤ w - 1  ⇔  ox ≤ (w - 1 + p - kx) / s
    let hi = if g.w + p < kx + 1 {
        0
    } else {
        ((g.w - 1 + p - kx) / s + 1).min(g.wo)
    };
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
pub(crate) fn matmul(
    m: usize,
    n: usize,
    kk: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
) {
    assert!(
        dst.len() >= m * n && lhs.len() >= m * kk && rhs.len() >= kk * n,
        "matmul: slices shorter than {m}x{kk} · {kk}x{n}"
    );
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
/// 3×3 convolutions of stride 1 ('same') or 2 (padding 0 or 1) go to
/// [`direct`] where the CPU allows, everything else to [`conv_forward_gemm`].
pub fn conv_forward(g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    g.assert_lens(
        "conv_forward",
        &[("x", x.len(), g.input_len()), ("kernel", kernel.len(), g.kernel_len())],
    );
    if direct::applies(g) {
        return direct::forward(g, x, kernel);
    }
    conv_forward_gemm(g, x, kernel)
}

/// Images per gemm in the im2col path: enough that each product has about
/// 256 columns (a 3×3 output alone would make 9-column products, too small
/// for the gemm's blocking to pay off), in groups that split evenly over
/// the threads (on the conv model's 3×3 code, 29 images a group left one
/// of two threads with 70 images to the other's 58).
fn group_size(g: &Geometry) -> usize {
    let n = g.n.max(1);
    let enough = 256usize.div_ceil(g.hw_out().max(1)).clamp(1, n);
    // As many groups as that gives, rounded up to a multiple of the
    // threads, so that every thread gets as many images.
    let threads = rayon::current_num_threads().max(1);
    n.div_ceil(n.div_ceil(enough).div_ceil(threads) * threads)
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
    g.assert_lens(
        "conv_forward_gemm",
        &[("x", x.len(), g.input_len()), ("kernel", kernel.len(), g.kernel_len())],
    );
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let mut y = crate::zeros(g.n * img_out);
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
    g.assert_lens(
        "conv_backward_data",
        &[
            ("grad", grad.len(), g.output_len()),
            ("kernel", kernel.len(), g.kernel_len()),
        ],
    );
    if direct::applies(g) {
        return direct::backward_data(g, grad, kernel);
    }
    conv_backward_data_gemm(g, grad, kernel)
}

/// A convolution's output `conv(x, kernel)` (if `want_y`) and the kernel
/// gradient for the output gradient `grad` (on the gemm path sharing one
/// im2col of `x`): the input and kernel gradients of a transposed
/// convolution, whose output gradient is `x` here. `x (n, c, h, w)`, `kernel (f, c, k, k)`, `grad (n, f,
/// ho, wo)` → (`(n, f, ho, wo)`, `(f, c, k, k)`); `kernel` is not read when
/// `want_y` is false.
pub fn conv_forward_and_filter(
    g: &Geometry,
    x: &[f32],
    kernel: &[f32],
    grad: &[f32],
    want_y: bool,
) -> (Option<Vec<f32>>, Vec<f32>) {
    let kernel_len = if want_y { g.kernel_len() } else { kernel.len() };
    g.assert_lens(
        "conv_forward_and_filter",
        &[
            ("x", x.len(), g.input_len()),
            ("grad", grad.len(), g.output_len()),
            ("kernel", kernel.len(), kernel_len),
        ],
    );
    if direct::applies(g) {
        let y = want_y.then(|| direct::forward(g, x, kernel));
        return (y, direct::backward_filter(g, x, grad));
    }
    forward_and_filter_gemm(g, x, kernel, grad, want_y)
}

/// [`conv_forward_and_filter`] through one im2col per group of images and
/// two gemms (lengths checked by the callers).
fn forward_and_filter_gemm(
    g: &Geometry,
    x: &[f32],
    kernel: &[f32],
    grad: &[f32],
    want_y: bool,
) -> (Option<Vec<f32>>, Vec<f32>) {
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let threads = rayon::current_num_threads().max(1);
    let per = g.n.div_ceil(threads).max(1);
    let mut y = if want_y {
        crate::zeros(g.n * img_out)
    } else {
        Vec::new()
    };
    let slots: Vec<Option<&mut [f32]>> = if want_y {
        y.chunks_mut(per * img_out).map(Some).collect()
    } else {
        (0..g.n.div_ceil(per)).map(|_| None).collect()
    };
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
                matmul(
                    g.f,
                    ckk,
                    ld,
                    &mut dw,
                    true,
                    &gm[..g.f * ld],
                    false,
                    &cols[..ckk * ld],
                    true,
                );
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
    (
        if want_y { Some(y) } else { None },
        direct::sum_partials(partials, g.f * ckk),
    )
}

/// [`conv_backward_data`] through one gemm per group of images and col2im.
pub fn conv_backward_data_gemm(g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    g.assert_lens(
        "conv_backward_data_gemm",
        &[
            ("grad", grad.len(), g.output_len()),
            ("kernel", kernel.len(), g.kernel_len()),
        ],
    );
    let (ckk, hw, grp) = (g.ckk(), g.hw_out(), group_size(g));
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * hw);
    let mut dx = crate::zeros(g.n * img_in);
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
    g.assert_lens(
        "conv_backward_filter",
        &[("x", x.len(), g.input_len()), ("grad", grad.len(), g.output_len())],
    );
    if direct::applies(g) {
        return direct::backward_filter(g, x, grad);
    }
    conv_backward_filter_gemm(g, x, grad)
}

/// [`conv_backward_filter`] through im2col and one gemm per group of images.
pub fn conv_backward_filter_gemm(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    g.assert_lens(
        "conv_backward_filter_gemm",
        &[("x", x.len(), g.input_len()), ("grad", grad.len(), g.output_len())],
    );
    forward_and_filter_gemm(g, x, &[], grad, false).1
}
