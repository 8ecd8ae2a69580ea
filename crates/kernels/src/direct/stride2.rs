//! 3×3 convolutions of stride 2 (padding 0 or 1) on the direct kernels: the
//! geometry of the course's transposed convolutions, whose forward pass is
//! the input gradient of such a convolution and whose input gradient is its
//! forward pass (see `kernels::conv`).
//!
//! Along each axis, tap `k` of output `a` reads input `2a + k − p`, which is
//! `2(a + d) + r`: pixel `a + d` of the input's phase `r` (its even or its
//! odd rows), with `d` in −1..=1 (see [`phase`]). Split into its four phases
//! (even or odd rows × even or odd columns), each a plane on a padded grid,
//! a stride-2 convolution becomes stride-1 work for the kernels of
//! [`super`], each tap applied once per output (plus what the padded layout
//! always costs: border taps, two spare columns a row, whole vectors):
//!
//! * **forward**: the input's four phases of each channel, laid out on the
//!   output's padded grid, correlated with nine taps per channel, each
//!   reading the phase and offset it lands on;
//! * **input gradient**: each phase of the input gradient is a stride-1
//!   correlation of the output gradient with the taps that land on that
//!   phase (1, 2, 2 and 4 of the nine for padding 1): four correlations, the
//!   nine taps once between them;
//! * **kernel gradient**: the kernel-gradient kernel on the output gradient
//!   and the input's phases, each tap reading its phase and offset.

use super::{correlate_image, filter_batch, pack, pack_with, Isa, Padded, OBLOCK};
use crate::Geometry;
use rayon::prelude::*;

/// Phase `r` and offset `d` of tap `k` with padding `p`: the tap of output
/// `a` reads input `2a + k − p = 2(a + d) + r`.
fn phase(k: usize, p: usize) -> (usize, isize) {
    let t = k as isize - p as isize;
    (t.rem_euclid(2) as usize, t.div_euclid(2))
}

/// Where, relative to output `q` on `pd`'s padded grid, the pixel `(dy, dx)`
/// away sits (`dy`, `dx` in −1..=1).
fn shift(pd: &Padded, dy: isize, dx: isize) -> usize {
    (dy + 1) as usize * pd.wp + (dx + 1) as usize
}

/// Copies the pixels `(r0 + step·u, c0 + step·v)` of the plane `src (h, w)`
/// to `(u, v)` of the padded plane `dst` on `pd`'s grid, as far as the grid
/// reaches: one row and one column past it too, into the border, where taps
/// of offset +1 read. Nothing else of `dst` is written.
fn fill_phase(
    pd: &Padded,
    src: &[f32],
    (h, w): (usize, usize),
    step: usize,
    (r0, c0): (usize, usize),
    dst: &mut [f32],
) {
    let count = |len: usize, first: usize, room: usize| len.saturating_sub(first).div_ceil(step).min(room + 1);
    let (rows, cols) = (count(h, r0, pd.h), count(w, c0, pd.w));
    for u in 0..rows {
        let line = &src[(r0 + step * u) * w..][..w];
        let at = pd.at(u, 0);
        for (v, o) in dst[at..at + cols].iter_mut().enumerate() {
            *o = line[c0 + step * v];
        }
    }
}

/// The four phases of each channel of one image `(c, h, w)`, phase `(ry,
/// rx)` of channel `i` as plane `i·4 + ry·2 + rx` of `xp`, planes `pitch`
/// apart, on the output's grid `pd`.
fn split_phases(pd: &Padded, g: &Geometry, img: &[f32], xp: &mut [f32], pitch: usize) {
    let hw = g.h * g.w;
    for i in 0..g.c {
        for r in 0..4 {
            let dst = &mut xp[(i * 4 + r) * pitch..][..pd.stride];
            fill_phase(pd, &img[i * hw..][..hw], (g.h, g.w), 2, (r / 2, r % 2), dst);
        }
    }
}

/// Where tap `(ky, kx)` reads in [`split_phases`]' layout (planes `pitch`
/// apart), for output `q` of channel 0.
fn phase_tap(pd: &Padded, g: &Geometry, pitch: usize, ky: usize, kx: usize) -> usize {
    let ((ry, dy), (rx, dx)) = (phase(ky, g.padding), phase(kx, g.padding));
    (ry * 2 + rx) * pitch + shift(pd, dy, dx)
}

/// Forward: `x (n, c, h, w)`, `kernel (f, c, 3, 3)` → `(n, f, ho, wo)`.
pub(super) fn forward(isa: Isa, g: &Geometry, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    let pd = Padded::new(g.ho, g.wo, isa);
    let taps: Vec<usize> = (0..9).map(|t| phase_tap(&pd, g, pd.stride, t / 3, t % 3)).collect();
    let packed = pack(kernel, g.f, g.c);
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * g.ho * g.wo);
    let mut y = crate::zeros(g.n * img_out);
    y.par_chunks_mut(img_out.max(1)).enumerate().for_each_init(
        || {
            let out = vec![0f32; g.f.div_ceil(OBLOCK) * OBLOCK * pd.qp];
            (vec![0f32; 4 * g.c * pd.stride], out)
        },
        |(xp, out), (img, yi)| {
            split_phases(&pd, g, &x[img * img_in..][..img_in], xp, pd.stride);
            correlate_image(&pd, g.c, g.f, xp, 4 * pd.stride, &taps, &packed, out);
            pd.copy_out(out, g.f, yi);
        },
    );
    y
}

/// One phase `(ry, rx)` of the input gradient: the offsets of the taps
/// that land on it (in the output gradient's padded planes) and their
/// weights, packed for [`correlate_image`].
struct GradPhase {
    /// The phase `(ry, rx)`: its pixels are `(2u + ry, 2v + rx)`.
    at: (usize, usize),
    /// Where each tap reads in the output gradient's padded planes.
    taps: Vec<usize>,
    /// The taps' weights, for `c` outputs from `f` planes.
    packed: Vec<f32>,
}

impl GradPhase {
    fn new(pd: &Padded, g: &Geometry, kernel: &[f32], at: (usize, usize)) -> Self {
        // Input `2u + r` takes tap `k` from output `u − d`.
        let kernel_taps: Vec<(usize, usize)> = (0..9)
            .filter_map(|t| {
                let ((ry, dy), (rx, dx)) = (phase(t / 3, g.padding), phase(t % 3, g.padding));
                ((ry, rx) == at).then(|| (t, shift(pd, -dy, -dx)))
            })
            .collect();
        // The correlation's outputs are the convolution's input channels
        // (`c`), its inputs the output gradient's planes (`f`).
        let packed = pack_with(g.c, g.f, kernel_taps.len(), |out, plane, t| {
            kernel[(plane * g.c + out) * 9 + kernel_taps[t].0]
        });
        GradPhase {
            at,
            taps: kernel_taps.iter().map(|&(_, off)| off).collect(),
            packed,
        }
    }
}

/// Input gradient: `grad (n, f, ho, wo)`, `kernel (f, c, 3, 3)` → `(n, c,
/// h, w)`, phase by phase.
pub(super) fn backward_data(isa: Isa, g: &Geometry, grad: &[f32], kernel: &[f32]) -> Vec<f32> {
    // The grid of the largest phase; the output gradient fits in it.
    let pd = Padded::new(g.h.div_ceil(2), g.w.div_ceil(2), isa);
    let phases: Vec<GradPhase> = (0..4).map(|r| GradPhase::new(&pd, g, kernel, (r / 2, r % 2))).collect();
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * g.ho * g.wo);
    let mut dx = crate::zeros(g.n * img_in);
    dx.par_chunks_mut(img_in.max(1)).enumerate().for_each_init(
        || {
            let out = vec![0f32; g.c.div_ceil(OBLOCK) * OBLOCK * pd.qp];
            (vec![0f32; g.f * pd.stride], out)
        },
        |(gp, out), (img, dxi)| {
            let gi = &grad[img * img_out..][..img_out];
            for o in 0..g.f {
                let plane = &gi[o * g.ho * g.wo..][..g.ho * g.wo];
                fill_phase(
                    &pd,
                    plane,
                    (g.ho, g.wo),
                    1,
                    (0, 0),
                    &mut gp[o * pd.stride..][..pd.stride],
                );
            }
            for ph in &phases {
                correlate_image(&pd, g.f, g.c, gp, pd.stride, &ph.taps, &ph.packed, out);
                scatter_phase(&pd, g, ph.at, out, dxi);
            }
        },
    );
    dx
}

/// Writes the phase `(ry, rx)` computed in `out (c, qp)` on `pd`'s grid to
/// its pixels `(2u + ry, 2v + rx)` of `dst (c, h, w)`.
fn scatter_phase(pd: &Padded, g: &Geometry, (ry, rx): (usize, usize), out: &[f32], dst: &mut [f32]) {
    let rows = g.h.saturating_sub(ry).div_ceil(2);
    let cols = g.w.saturating_sub(rx).div_ceil(2);
    for i in 0..g.c {
        for u in 0..rows {
            let src = &out[i * pd.qp + u * pd.wp..][..cols];
            let line = &mut dst[(i * g.h + 2 * u + ry) * g.w..][..g.w];
            for (v, &val) in src.iter().enumerate() {
                line[2 * v + rx] = val;
            }
        }
    }
}

/// Kernel gradient: `x (n, c, h, w)`, `grad (n, f, ho, wo)` → `(f, c, 3,
/// 3)`, summed over the batch.
pub(super) fn backward_filter(isa: Isa, g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let pd = Padded::new(g.ho, g.wo, isa);
    let rows = |pitch| -> Vec<[usize; 3]> {
        (0..g.c * 3)
            .map(|r| {
                let (i, ky) = (r / 3, r % 3);
                [0, 1, 2].map(|kx| i * 4 * pitch + phase_tap(&pd, g, pitch, ky, kx))
            })
            .collect()
    };
    let (img_in, img_out) = (g.c * g.h * g.w, g.f * g.ho * g.wo);
    filter_batch(&pd, g.n, g.c, g.f, 4 * g.c, rows, |img, pitch, xp, gpad| {
        split_phases(&pd, g, &x[img * img_in..][..img_in], xp, pitch);
        pd.fill_pitched(&grad[img * img_out..][..img_out], g.f, gpad, pitch);
    })
}

#[cfg(test)]
mod tests {
    use super::phase;

    #[test]
    fn taps_land_on_the_phase_and_offset_they_read() {
        for p in 0..=1 {
            for k in 0..3 {
                let (r, d) = phase(k, p);
                for a in 0..5isize {
                    let input = 2 * a + k as isize - p as isize;
                    assert_eq!(input, 2 * (a + d) + r as isize, "tap {k}, padding {p}, output {a}");
                    assert!((-1..=1).contains(&d) && r < 2);
                }
            }
        }
    }
}
