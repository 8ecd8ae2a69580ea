//! The kernel gradient of a 3×3 stride-1 convolution with the filters
//! across the vector lanes: for every output position, the output gradient
//! of all filters (a row of whole vectors) times the input pixel under each
//! tap (one value, broadcast), summed over the positions into a table
//! `(c·9, fpad)`.
//!
//! [`super::filter_image`] puts positions across the lanes instead: it
//! needs a horizontal sum per weight at the end, and it runs over the padded
//! rows, borders included (64 positions for a 7×7 image's 49). This one
//! reads only the image's own positions and keeps up to 24 accumulators
//! (AVX-512; 12 with AVX2) of `3·rows` taps × `fv` vectors of filters, with
//! one vector load per filter vector and one broadcast per tap for each
//! position. It needs the gradient position-major, `(h·w, fpad)`, and at
//! least one vector of filters: [`LaneGradient::applies`].

use super::{Isa, Padded};

#[cfg(target_arch = "x86_64")]
/// One call of a variant's `lane_tile`: `3·rows` taps of `fv` vectors of
/// filters over the positions `pos`.
pub(super) struct LaneTile<'a> {
    /// The gradient of the first position, at its first filter vector
    /// (positions `fpad` apart).
    pub grad: *const f32,
    /// The padded input planes.
    pub x: *const f32,
    /// Per row of taps `(i, ky)`, its offset `i·stride + ky·wp` in `x`.
    pub rows: &'a [usize],
    /// Per position, the offset of its top-left tap in a padded plane.
    pub pos: &'a [usize],
    /// The table at the tile's first tap and filter vector (taps `fpad`
    /// apart); the sums are added to it.
    pub table: *mut f32,
    /// The table's and the gradient's row length.
    pub fpad: usize,
}

#[cfg(target_arch = "x86_64")]
/// Writes a variant's `lane_tile(fv, rows, tile)` and the `lane_block`
/// kernels it dispatches to, for the `(fv, rows)` pairs listed; the
/// invoking module has `load`, `store` and `splat` for its vectors.
macro_rules! lane_kernels {
    ($features:literal, $zero:ident, $fma:ident, $lanes:literal; $(($v:literal, $r:literal)),*) => {
        /// See `super::lanes::LaneGradient::add_image`, which checks the
        /// lengths and picks `fv` and `rows` from the pairs this variant has.
        ///
        /// # Safety
        /// The CPU has this variant's features; `t`'s pointers reach every
        /// value its `rows`, `pos` and `fpad` address.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn lane_tile(fv: usize, rows: usize, t: &super::lanes::LaneTile) {
            match (fv, rows) {
                $(($v, $r) => lane_block::<$v, $r>(t),)*
                _ => unreachable!("lane gradient: no kernel for {fv} vectors × {rows} rows"),
            }
        }

        /// `3·R` taps (`R` rows of three) of `FV` vectors of filters.
        #[target_feature(enable = $features)]
        unsafe fn lane_block<const FV: usize, const R: usize>(t: &super::lanes::LaneTile) {
            let mut acc = [[[$zero(); FV]; 3]; R];
            let mut xr = [t.x; R];
            for (k, (a, x)) in acc.iter_mut().zip(xr.iter_mut()).enumerate() {
                *x = x.wrapping_add(t.rows[k]);
                for (kx, tap) in a.iter_mut().enumerate() {
                    for (v, av) in tap.iter_mut().enumerate() {
                        *av = load(t.table.wrapping_add((k * 3 + kx) * t.fpad + $lanes * v));
                    }
                }
            }
            let mut g = t.grad;
            for &p in t.pos {
                let mut gv = [$zero(); FV];
                for (v, gvv) in gv.iter_mut().enumerate() {
                    *gvv = load(g.wrapping_add($lanes * v));
                }
                for (a, x) in acc.iter_mut().zip(&xr) {
                    let xp = x.wrapping_add(p);
                    for (kx, tap) in a.iter_mut().enumerate() {
                        let xv = splat(xp.wrapping_add(kx));
                        for (av, &gvv) in tap.iter_mut().zip(&gv) {
                            *av = $fma(xv, gvv, *av);
                        }
                    }
                }
                g = g.wrapping_add(t.fpad);
            }
            for (k, a) in acc.iter().enumerate() {
                for (kx, tap) in a.iter().enumerate() {
                    for (v, av) in tap.iter().enumerate() {
                        store(t.table.wrapping_add((k * 3 + kx) * t.fpad + $lanes * v), *av);
                    }
                }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(super) use lane_kernels;

/// The kernel gradient of a 3×3 stride-1 'same' convolution of `c`
/// channels and `f` filters on `pd`'s planes, image by image, with the
/// filters across the lanes.
#[derive(Debug, Clone)]
pub(crate) struct LaneGradient {
    pd: Padded,
    c: usize,
    f: usize,
    /// Filters rounded up to whole vectors: the row length of the gradient
    /// and of the table.
    pub fpad: usize,
    /// Per row of taps `(i, ky)`, `i·stride + ky·wp`.
    rows: Vec<usize>,
    /// Per output position `oy·w + ox`, `oy·wp + ox`.
    pos: Vec<usize>,
}

/// Positions per pass over the taps: about 16 KB of gradient, which stays
/// in the L1 cache while every tile of taps reads it.
const CHUNK_BYTES: usize = 16 * 1024;

impl LaneGradient {
    /// True when this kernel serves `c` channels and `f` filters with
    /// `isa`: at least one whole vector of filters, and channels enough
    /// (12 rows of taps) to fill the tiles. Elsewhere `filter_image` was
    /// faster (a 1→16 convolution on 28×28 images: 0.38 ms against 0.76
    /// for 128 images, AVX-512).
    pub fn applies(isa: Isa, c: usize, f: usize) -> bool {
        f >= isa.lanes() && c >= 4
    }

    /// Vectors of filters per tile and rows of taps per tile at most: 24
    /// accumulators with AVX-512's 32 registers, 12 with AVX2's 16 (and
    /// two filter vectors, or the tile spills).
    fn tile_limits(isa: Isa) -> (usize, usize) {
        match isa {
            Isa::Avx512 => (4, 8),
            Isa::Avx2 => (2, 4),
        }
    }

    pub fn new(pd: &Padded, c: usize, f: usize) -> Self {
        let lanes = pd.isa.lanes();
        let rows = (0..c * 3).map(|r| (r / 3) * pd.stride + (r % 3) * pd.wp).collect();
        let pos = (0..pd.h * pd.w).map(|q| (q / pd.w) * pd.wp + q % pd.w).collect();
        LaneGradient {
            pd: *pd,
            c,
            f,
            fpad: f.div_ceil(lanes) * lanes,
            rows,
            pos,
        }
    }

    /// Length of one image's position-major gradient, `(h·w, fpad)`.
    pub fn grad_len(&self) -> usize {
        self.pos.len() * self.fpad
    }

    /// Length of the table of sums, `(c·9, fpad)`.
    pub fn table_len(&self) -> usize {
        self.c * 9 * self.fpad
    }

    /// Writes one image's output gradient `(f, h, w)` position-major into
    /// `grad (h·w, fpad)` (the padding filters stay as they are: zero).
    pub fn transpose(&self, planes: &[f32], grad: &mut [f32]) {
        let hw = self.pos.len();
        for (o, plane) in planes.chunks_exact(hw).take(self.f).enumerate() {
            for (q, &v) in plane.iter().enumerate() {
                grad[q * self.fpad + o] = v;
            }
        }
    }

    /// [`LaneGradient::transpose`] from the padded planes `gpad (f, stride)`
    /// of `pd` (the interiors are read).
    pub fn transpose_padded(&self, gpad: &[f32], grad: &mut [f32]) {
        // Position by position: each row of `grad` is written whole, and
        // the planes are each read forwards.
        let (stride, first) = (self.pd.stride, self.pd.wp + 1);
        for (row, &p) in grad.chunks_exact_mut(self.fpad).zip(&self.pos) {
            for (v, plane) in row[..self.f].iter_mut().zip(gpad.chunks_exact(stride)) {
                *v = plane[first + p];
            }
        }
    }

    /// Adds one image to `table (c·9, fpad)`: `grad (h·w, fpad)` is its
    /// output gradient position-major, `xp (c, stride)` its padded input.
    // Elsewhere than x86-64 no variant exists (`on_cpu` is false, the
    // assert stops the call) and the tile is never built.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub fn add_image(&self, grad: &[f32], xp: &[f32], table: &mut [f32]) {
        let (pd, lanes) = (&self.pd, self.pd.isa.lanes());
        let furthest = self.rows.last().copied().unwrap_or(0) + self.pos.last().copied().unwrap_or(0) + 2;
        assert!(
            pd.isa.on_cpu()
                && grad.len() >= self.grad_len()
                && table.len() >= self.table_len()
                && (self.c == 0 || xp.len() > furthest),
            "lane gradient: buffers too short for {:?} (grad {}, table {}, input {})",
            pd,
            grad.len(),
            table.len(),
            xp.len()
        );
        let (widest, budget) = Self::tile_limits(pd.isa);
        let chunk = (CHUNK_BYTES / 4 / self.fpad).max(8);
        let vectors = self.fpad / lanes;
        for q0 in (0..self.pos.len()).step_by(chunk) {
            let pos = &self.pos[q0..(q0 + chunk).min(self.pos.len())];
            let mut v0 = 0;
            while v0 < vectors {
                let fv = (vectors - v0).min(widest);
                let most = (budget / fv).max(1);
                let mut r0 = 0;
                while r0 < self.rows.len() {
                    // The largest of 8, 4, 2, 1 that fits what is left.
                    let left = (self.rows.len() - r0).min(most);
                    let rows = 1 << left.ilog2();
                    #[cfg(target_arch = "x86_64")]
                    {
                        let tile = LaneTile {
                            grad: grad.as_ptr().wrapping_add(q0 * self.fpad + v0 * lanes),
                            x: xp.as_ptr(),
                            rows: &self.rows[r0..r0 + rows],
                            pos,
                            table: table.as_mut_ptr().wrapping_add(r0 * 3 * self.fpad + v0 * lanes),
                            fpad: self.fpad,
                        };
                        // SAFETY: the CPU has the variant (asserted); the
                        // tile reads gradients of positions q0.. below h·w,
                        // filter vectors below fpad (inside `grad`), inputs
                        // below the furthest row + position + 2 (inside
                        // `xp`), and adds to taps below c·9 (inside `table`).
                        unsafe {
                            match pd.isa {
                                Isa::Avx2 => super::avx2::lane_tile(fv, rows, &tile),
                                Isa::Avx512 => super::avx512::lane_tile(fv, rows, &tile),
                            }
                        }
                    }
                    r0 += rows;
                }
                v0 += fv;
            }
        }
    }

    /// The kernel gradient `(f, c, 9)` from a table of sums.
    pub fn finish(&self, table: &[f32]) -> Vec<f32> {
        let mut dw = vec![0f32; self.f * self.c * 9];
        for (o, filter) in dw.chunks_exact_mut(self.c * 9).enumerate() {
            for (t, v) in filter.iter_mut().enumerate() {
                *v = table[t * self.fpad + o];
            }
        }
        dw
    }
}
