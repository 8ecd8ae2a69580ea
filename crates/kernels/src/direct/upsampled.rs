//! A 3×3 'same' convolution of a 2× nearest up-sampled input, computed on
//! the input itself. Output pixel `(2u + a, 2v + b)` reads only the 2×2
//! input pixels `(u + a − 1 + dy, v + b − 1 + dx)`, `dy, dx ∈ {0, 1}`: its
//! three kernel rows fall on two input rows (for `a = 0` row 0 on the
//! first, rows 1 and 2 on the second; for `a = 1` rows 0 and 1 on the first,
//! row 2 on the second), and so do the columns. Each of the four phases
//! `(a, b)` is then a 4-tap correlation of the input's padded planes whose
//! weights are sums of the kernel's: 16 multiply-adds per channel for a 2×2
//! block of outputs instead of 36, and no up-sampled copy of the input.

use super::{correlate_image, pack_with, Padded};

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
                    let w = &kernel[(o * cin + i) * 9..][..9];
                    landing(a, t / 2)
                        .flat_map(|ky| landing(b, t % 2).map(move |kx| w[ky * 3 + kx]))
                        .sum()
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
