//! A 3×3 'same' convolution of a 2× nearest up-sampled input, computed on
//! the input itself. Output pixel `(2u + a, 2v + b)` reads only the 2×2
//! input pixels `(u + a − 1 + dy, v + b − 1 + dx)`, `dy, dx ∈ {0, 1}`: its
//! three kernel rows fall on two input rows (for `a = 0` row 0 on the
//! first, rows 1 and 2 on the second; for `a = 1` rows 0 and 1 on the first,
//! row 2 on the second), and so do the columns. Each of the four phases
//! `(a, b)` is then a 4-tap correlation of the input's padded planes whose
//! weights are sums of the kernel's: 16 multiply-adds per channel for a 2×2
//! block of outputs instead of 36, and no up-sampled copy of the input.

use super::{correlate_image, pack_with, Padded, OBLOCK};
use crate::rows::Rows;

/// The kernel rows (or columns) that land on input row `d` (0 or 1) of
/// phase `a`.
fn landing(a: usize, d: usize) -> std::ops::Range<usize> {
    match (a, d) {
        (0, 0) => 0..1,
        (0, _) => 1..3,
        (_, 0) => 0..2,
        _ => 2..3,
    }
}

/// The weight of tap `(dy, dx)` of phase `(a, b)` for filter `o` and
/// channel `i` of `kernel (·, cin, 3, 3)`: the sum of the kernel's taps that
/// land on that input pixel.
fn phase_weight(
    kernel: &[f32],
    cin: usize,
    (a, b): (usize, usize),
    (o, i): (usize, usize),
    (dy, dx): (usize, usize),
) -> f32 {
    let w = &kernel[(o * cin + i) * 9..][..9];
    landing(a, dy)
        .flat_map(|ky| landing(b, dx).map(move |kx| w[ky * 3 + kx]))
        .sum()
}

/// The four phases' taps and summed weights for one kernel.
pub(crate) struct UpsampledConv {
    /// Phase `a·2 + b`: where its taps read, relative to output `u·wp + v`
    /// of the input's padded grid, and its weights packed for
    /// [`correlate_image`].
    phases: Vec<([usize; 4], Vec<f32>)>,
    cin: usize,
    cout: usize,
}

impl UpsampledConv {
    /// The phases of `kernel (cout, cin, 3, 3)` on the padded grid `pd` of
    /// the input before up-sampling.
    pub fn new(pd: &Padded, kernel: &[f32], cout: usize, cin: usize) -> Self {
        let phases = (0..4)
            .map(|p| {
                let (a, b) = (p / 2, p % 2);
                let taps = [0, 1, 2, 3].map(|t| (t / 2 + a) * pd.wp + t % 2 + b);
                let packed = pack_with(cout, cin, 4, |o, i, t| {
                    phase_weight(kernel, cin, (a, b), (o, i), (t / 2, t % 2))
                });
                (taps, packed)
            })
            .collect();
        UpsampledConv { phases, cin, cout }
    }

    /// Phase `(a, b)` of one image: `out (blocks·OBLOCK, qp)` holds, at
    /// `u·wp + v`, output `(2u + a, 2v + b)` of each filter; `xp (cin,
    /// stride)` is the input's padded planes.
    pub fn phase_image(&self, pd: &Padded, (a, b): (usize, usize), xp: &[f32], out: &mut [f32]) {
        let (taps, packed) = &self.phases[a * 2 + b];
        correlate_image(pd, self.cin, self.cout, xp, pd.stride, taps, packed, out);
    }
}

/// The input gradient of the same convolution, on the input's grid: the
/// output gradient split into its four phases, `4·cout` planes (phase
/// `(a, b)` of filter `o` is plane `(a·2 + b)·cout + o`, stored from `a·wp +
/// b` so that every phase reads through the same four taps), correlated
/// with the phases' weights flipped, for `cin` outputs from `4·cout` planes.
pub(crate) struct UpsampledGrad {
    /// The grid of the input (before up-sampling).
    pd: Padded,
    packed: Vec<f32>,
    cin: usize,
    cout: usize,
}

impl UpsampledGrad {
    /// For `kernel (cout, cin, 3, 3)` on the padded grid `pd` of the input
    /// before up-sampling.
    pub fn new(pd: &Padded, kernel: &[f32], cout: usize, cin: usize) -> Self {
        let packed = pack_with(cin, 4 * cout, 4, |i, plane, t| {
            let (phase, o) = (plane / cout, plane % cout);
            let (a, b) = (phase / 2, phase % 2);
            phase_weight(kernel, cin, (a, b), (o, i), (1 - t / 2, 1 - t % 2))
        });
        UpsampledGrad {
            pd: *pd,
            packed,
            cin,
            cout,
        }
    }

    /// Length of the phase planes [`UpsampledGrad::image`] takes (zeroed
    /// once: it writes the same pixels every time).
    pub fn phases_len(&self) -> usize {
        4 * self.cout * self.pd.stride
    }

    /// Length of the output planes it takes.
    pub fn out_len(&self) -> usize {
        self.cin.div_ceil(OBLOCK) * OBLOCK * self.pd.qp
    }

    /// One image's input gradient `dxi (cin, h, w)` from its output
    /// gradient `gpad`, in the padded planes of the up-sampled grid `big`.
    pub fn image(&self, big: &Padded, gpad: &[f32], phases: &mut [f32], out: &mut [f32], dxi: &mut [f32]) {
        let (pd, rows) = (&self.pd, Rows::new());
        for o in 0..self.cout {
            for r in 0..big.h {
                let (u, a) = (r / 2, r % 2);
                let src = &gpad[o * big.stride + big.at(r, 0)..][..big.w];
                let even = ((2 * a) * self.cout + o) * pd.stride + (a + u) * pd.wp;
                let odd = ((2 * a + 1) * self.cout + o) * pd.stride + (a + u) * pd.wp + 1;
                let (lo, hi) = phases.split_at_mut(odd);
                rows.deinterleave(src, &mut lo[even..][..pd.w], &mut hi[..pd.w]);
            }
        }
        let taps = [0, 1, pd.wp, pd.wp + 1];
        correlate_image(pd, 4 * self.cout, self.cin, phases, pd.stride, &taps, &self.packed, out);
        pd.copy_out(out, self.cin, dxi);
    }
}
