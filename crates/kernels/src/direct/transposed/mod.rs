//! A 3×3 transposed convolution of stride 2 (padding 0 or 1) with its bias
//! and activation, channels-last, image by image.
//!
//! Along each axis, output `y = 2u + r` takes tap `k` from input `u + d`
//! where `d = (r + p − k)/2` is whole (`p` the padding): each of the four
//! output phases `(ry, rx)` uses 1, 2, 2 or 4 of the nine taps (with
//! padding 1; 4, 2, 2 and 1 with padding 0), and each tap once per input
//! pixel, the fewest multiply-adds this layer has. Per phase, the input
//! pixels its taps read are gathered position-major into `A (positions,
//! taps·cp)` (channels across the lanes, zero outside the image), and
//!
//! * the forward pass is one product `A · W (taps·cp, fp)`, the phase's
//!   taps of the kernel, then the bias and activation;
//! * the kernel gradient adds `Aᵀ · P` (`P (positions, fp)` the phase's
//!   output gradient through the activation) over the images;
//! * the input gradient is `P · Wᵀ (cout, taps·cp)`, each tap's share added
//!   back to the pixel it read.
//!
//! All three run on the channels-last product kernel ([`super::products`]).

use super::products::{gemm, Product};
use super::Isa;

/// One output phase: outputs `(2u + ry, 2v + rx)`, `u < rows`, `v < cols`.
#[derive(Debug, Clone)]
struct Phase {
    at: (usize, usize),
    rows: usize,
    cols: usize,
    /// Per tap: `ky·3 + kx`, and where it reads: input `(u + dy, v + dx)`.
    taps: Vec<(usize, isize, isize)>,
    /// Per position and tap, the input pixel `m·w + n` it reads, or
    /// [`OUTSIDE`] (padding: zero).
    sources: Vec<usize>,
    /// The taps' weights `(taps·cp, fp)`, and transposed `(cout, taps·cp)`.
    w: Vec<f32>,
    wt: Vec<f32>,
}

impl Phase {
    fn positions(&self) -> usize {
        self.rows * self.cols
    }

    /// Values per gathered position, `taps·cp`.
    fn width(&self, cp: usize) -> usize {
        self.taps.len() * cp
    }

    /// The output position `(2u + ry)·wo + 2v + rx` of the phase's `pos`.
    fn output(&self, pos: usize, wo: usize) -> usize {
        let (u, v) = (pos / self.cols, pos % self.cols);
        (2 * u + self.at.0) * wo + 2 * v + self.at.1
    }
}

/// In [`Phase::sources`]: a tap that reads the zero padding.
const OUTSIDE: usize = usize::MAX;

/// The taps `k` of phase `r` along one axis, with their input offsets `d`.
fn axis_taps(r: usize, padding: usize) -> Vec<(usize, isize)> {
    (0..3)
        .filter_map(|k| {
            let t = (r + padding) as isize - k as isize;
            (t.rem_euclid(2) == 0).then_some((k, t.div_euclid(2)))
        })
        .collect()
}

/// One transposed convolution: the geometry and each phase's taps.
#[derive(Debug, Clone)]
pub(crate) struct Transposed {
    isa: Isa,
    cin: usize,
    cout: usize,
    /// Input channels and output channels rounded up to whole vectors.
    cp: usize,
    fp: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    phases: Vec<Phase>,
}

/// One thread's buffers for [`Transposed`]'s passes.
pub(crate) struct Buffers {
    /// The input, position-major `(h·w, cp)`.
    flat: Vec<f32>,
    /// Per phase, the gathered taps `(positions, taps·cp)` and the output
    /// gradient `(positions, fp)` of the last `filled` images, stacked: the
    /// kernel gradient sums over a group of images at once (a phase of a
    /// small output has few positions per image).
    ga: Vec<Vec<f32>>,
    gp: Vec<Vec<f32>>,
    filled: usize,
    /// One phase's products (forward), and input-gradient shares.
    o: Vec<f32>,
    z: Vec<f32>,
    /// The output (or its gradient) and, backward, the output itself,
    /// position-major `(ho·wo, fp)`.
    y: Vec<f32>,
    r: Vec<f32>,
    /// The input gradient, position-major.
    dx: Vec<f32>,
}

/// One image's backward pass: its input `(cin, h, w)`, the layer's output
/// and its gradient `(cout, ho, wo)`; the sums it adds to (kernel:
/// [`Transposed::sums_len`], bias: `fp`) and, if asked, where its input
/// gradient goes.
pub(crate) struct Backward<'a> {
    pub xi: &'a [f32],
    pub ri: &'a [f32],
    pub gi: &'a [f32],
    pub sums: &'a mut [f32],
    pub db: &'a mut [f32],
    pub dxi: Option<&'a mut [f32]>,
}

impl Transposed {
    /// True where this runs: 3×3, stride 2, padding 0 or 1, an output
    /// padding below the stride, and at least 8 channels in and out (with
    /// fewer, most lanes would hold padding).
    pub fn applies(
        cin: usize,
        cout: usize,
        (k, stride, padding, output_padding): (usize, usize, usize, usize),
    ) -> bool {
        k == 3 && stride == 2 && padding <= 1 && output_padding < 2 && cin >= 8 && cout >= 8
    }

    /// The plan for `kernel (cin, cout, 3, 3)` on `(cin, h, w)` inputs giving
    /// `(cout, ho, wo)` outputs.
    pub fn new(
        isa: Isa,
        kernel: &[f32],
        (cin, cout): (usize, usize),
        (h, w): (usize, usize),
        (ho, wo): (usize, usize),
        padding: usize,
    ) -> Self {
        assert!(
            kernel.len() == cin * cout * 9,
            "transposed convolution: kernel of {} values for {cin}x{cout}x3x3",
            kernel.len()
        );
        let lanes = isa.lanes();
        let (cp, fp) = (cin.div_ceil(lanes) * lanes, cout.div_ceil(lanes) * lanes);
        let phases = (0..4)
            .map(|r| {
                let (ry, rx) = (r / 2, r % 2);
                let taps: Vec<(usize, isize, isize)> = axis_taps(ry, padding)
                    .into_iter()
                    .flat_map(|(ky, dy)| {
                        axis_taps(rx, padding)
                            .into_iter()
                            .map(move |(kx, dx)| (ky * 3 + kx, dy, dx))
                    })
                    .collect();
                let (mut pw, mut pwt) = (vec![0f32; taps.len() * cp * fp], vec![0f32; cout * taps.len() * cp]);
                for (j, &(k, _, _)) in taps.iter().enumerate() {
                    for i in 0..cin {
                        for o in 0..cout {
                            let v = kernel[(i * cout + o) * 9 + k];
                            pw[(j * cp + i) * fp + o] = v;
                            pwt[o * taps.len() * cp + j * cp + i] = v;
                        }
                    }
                }
                let side = |n: usize, r: usize| n.saturating_sub(r).div_ceil(2);
                let (rows, cols) = (side(ho, ry), side(wo, rx));
                Phase {
                    at: (ry, rx),
                    rows,
                    cols,
                    sources: sources(&taps, (rows, cols), (h, w)),
                    taps,
                    w: pw,
                    wt: pwt,
                }
            })
            .filter(|p| p.positions() > 0)
            .collect();
        Transposed {
            isa,
            cin,
            cout,
            cp,
            fp,
            h,
            w,
            ho,
            wo,
            phases,
        }
    }

    /// Output channels rounded up to whole vectors: the bias's length.
    pub fn filters_padded(&self) -> usize {
        self.fp
    }

    /// Length of the kernel-gradient sums, each phase's `(taps·cp, fp)`.
    pub fn sums_len(&self) -> usize {
        self.phases.iter().map(|p| p.width(self.cp) * self.fp).sum()
    }

    /// Images per group of the kernel gradient: enough for 64 positions
    /// in the phase with the fewest, at most 8.
    fn group(&self) -> usize {
        let fewest = self.phases.iter().map(Phase::positions).min().unwrap_or(1).max(1);
        64usize.div_ceil(fewest).clamp(1, 8)
    }

    /// A thread's buffers (zeroed: the padding channels stay zero).
    pub fn buffers(&self) -> Buffers {
        let most = |f: &dyn Fn(&Phase) -> usize| self.phases.iter().map(f).max().unwrap_or(0);
        let (cp, fp, g) = (self.cp, self.fp, self.group());
        Buffers {
            flat: vec![0f32; self.h * self.w * cp],
            ga: self
                .phases
                .iter()
                .map(|p| vec![0f32; g * p.positions() * p.width(cp)])
                .collect(),
            gp: self.phases.iter().map(|p| vec![0f32; g * p.positions() * fp]).collect(),
            filled: 0,
            o: vec![0f32; most(&|p| p.positions()) * fp],
            z: vec![0f32; most(&|p| p.positions() * p.width(cp))],
            y: vec![0f32; self.ho * self.wo * fp],
            r: vec![0f32; self.ho * self.wo * fp],
            dx: vec![0f32; self.h * self.w * cp],
        }
    }

    /// The kernel gradient `(cin, cout, 3, 3)` from the sums of every image.
    pub fn finish(&self, sums: &[f32]) -> Vec<f32> {
        let (cp, fp, cout) = (self.cp, self.fp, self.cout);
        let mut dk = vec![0f32; self.cin * cout * 9];
        let mut at = 0;
        for ph in &self.phases {
            for (j, &(k, _, _)) in ph.taps.iter().enumerate() {
                for i in 0..self.cin {
                    for o in 0..cout {
                        dk[(i * cout + o) * 9 + k] = sums[at + (j * cp + i) * fp + o];
                    }
                }
            }
            at += ph.width(cp) * fp;
        }
        dk
    }

    /// The input pixels `ph`'s taps read, `(positions, taps·cp)`, into `a`.
    #[inline(always)]
    fn gather(&self, ph: &Phase, flat: &[f32], a: &mut [f32]) {
        let cp = self.cp;
        for (d, &src) in a[..ph.positions() * ph.width(cp)].chunks_exact_mut(cp).zip(&ph.sources) {
            if src == OUTSIDE {
                d.fill(0.0);
            } else {
                d.copy_from_slice(&flat[src * cp..][..cp]);
            }
        }
    }

    /// Adds the stacked images' kernel gradients to `sums` and empties the
    /// group.
    pub fn flush(&self, b: &mut Buffers, sums: &mut [f32]) {
        let (cp, fp) = (self.cp, self.fp);
        let mut at = 0;
        for (pi, ph) in self.phases.iter().enumerate() {
            let width = ph.width(cp);
            let p = Product {
                rows: width,
                k: b.filled * ph.positions(),
                nv: fp / self.isa.lanes(),
                a_row: 1,
                a_k: width,
                b_k: fp,
                out_row: fp,
                add: true,
            };
            gemm(self.isa, &p, &b.ga[pi], &b.gp[pi], &mut sums[at..at + width * fp]);
            at += width * fp;
        }
        b.filled = 0;
    }
}

/// Per position `(u, v)` of a `rows × cols` phase and per tap, the input
/// pixel it reads in an `h × w` image, or [`OUTSIDE`].
fn sources(taps: &[(usize, isize, isize)], (rows, cols): (usize, usize), (h, w): (usize, usize)) -> Vec<usize> {
    let mut out = Vec::with_capacity(rows * cols * taps.len());
    for u in 0..rows as isize {
        for v in 0..cols as isize {
            for &(_, dy, dx) in taps {
                let (m, n) = (u + dy, v + dx);
                let inside = (0..h as isize).contains(&m) && (0..w as isize).contains(&n);
                out.push(if inside { m as usize * w + n as usize } else { OUTSIDE });
            }
        }
    }
    out
}

mod passes;
pub(crate) use passes::Forward;
