//! A block's 3×3 'same' convolution by Winograd's F(2×2, 3×3): 16
//! multiply-adds per channel and filter for each 2×2 tile of outputs, where
//! the direct kernels spend 36.
//!
//! Per image, with the channels across the vector lanes:
//!
//! 1. the input `(c, h, w)` is copied position-major into a zero-bordered
//!    grid, `(2·th + 2, 2·tw + 2)` positions of `cp` values (`cp` = `c`
//!    rounded up to whole vectors), `th × tw` the tiles the block needs (a
//!    pooled block's tiles are its pooling windows);
//! 2. each tile's 4×4 pixels become 16 points `V = Bᵀ d B`, stored
//!    `(16, tiles, cp)`;
//! 3. per point `ξ`, one matrix product `M_ξ (tiles, fp) = V_ξ (tiles, c) ·
//!    U_ξ (c, fp)` with the kernel's points `U = G g Gᵀ`, `(16, c, fp)`;
//! 4. each tile's outputs `Aᵀ M A` (2×2, `fp` filters across the lanes) get
//!    the bias and activation, and with pooling their maximum and winner.
//!
//! The backward pass runs the transposed maps: the output gradient becomes
//! `Ĝ = A dY Aᵀ` `(16, tiles, fp)`; the kernel gradient sums `V_ξᵀ Ĝ_ξ`
//! `(c, fp)` over the images and ends as `Gᵀ S G`; the input gradient is
//! `Z_ξ = Ĝ_ξ U_ξᵀ` `(tiles, cp)`, each tile's `B Z Bᵀ` added into a
//! zero-bordered grid. Every pass is the exact gradient of the forward
//! pass; they differ from the direct kernels by rounding only.
//!
//! A block that up-samples first (2× nearest) runs on the small input's
//! grid: a tile per input pixel, whose 3×3 neighbourhood gives the 2×2
//! outputs of the up-sampled grid at twice its position, with 9 points
//! instead of 16 (see [`transform`]): 9 multiply-adds per channel and
//! filter for each 2×2 block of outputs, and no up-sampled copy.
//!
//! [`Winograd::applies`] says where it runs; see docs/performance.md for the
//! measurements behind it.

mod transform;

use super::products::{gemm, Product};
use super::{layout, Isa};
use transform::{point_count, TileAt};

/// One block's convolution in Winograd form: the geometry and the
/// kernel's points.
#[derive(Debug, Clone)]
pub(crate) struct Winograd {
    isa: Isa,
    c: usize,
    f: usize,
    /// Channels and filters rounded up to whole vectors.
    cp: usize,
    fp: usize,
    /// The input's size, and the convolution's (twice it with up-sampling).
    hi: usize,
    wi: usize,
    h: usize,
    w: usize,
    up: bool,
    pool: bool,
    /// Tiles down and across (the small input's size with up-sampling, the
    /// pooled output's with pooling), and the input pixels between tiles
    /// (1 with up-sampling, else 2).
    th: usize,
    tw: usize,
    step: usize,
    /// Positions per row of the padded grid, `step·tw + 2`.
    wp: usize,
    /// Images whose tiles one product stacks (see [`Winograd::group`]).
    group: usize,
    /// The kernel's points `U`, `(points, c, fp)`, and transposed,
    /// `(points, f, cp)`.
    u: Vec<f32>,
    ut: Vec<f32>,
}

/// One thread's buffers for [`Winograd`]'s passes.
pub(crate) struct Buffers {
    /// The padded input, position-major.
    x: Vec<f32>,
    /// The input (or the input gradient) position-major without borders,
    /// `(hi·wi, cp)`.
    flat: Vec<f32>,
    /// Its points `V`.
    v: Vec<f32>,
    /// The product `M` (forward) or the gradient's points `Ĝ` (backward).
    m: Vec<f32>,
    /// The input gradient's points `Z`, and the padded input gradient.
    z: Vec<f32>,
    dx: Vec<f32>,
    /// Rows of `fp` filters per output position: the outputs (forward), the
    /// output gradient and the outputs (backward).
    out: Vec<f32>,
    res: Vec<f32>,
    /// One tile's winners.
    win: Vec<u8>,
}

impl Winograd {
    /// True where a block's convolution runs this way: at least 8 channels
    /// and 8 filters (with fewer the transforms outweigh the products), and
    /// a convolution of at least 2×2 pixels (after up-sampling by 1 or 2).
    pub fn applies(c: usize, f: usize, (hi, wi): (usize, usize), upsample: usize) -> bool {
        matches!(upsample, 1 | 2) && c >= 8 && f >= 8 && hi * upsample >= 2 && wi * upsample >= 2
    }

    /// The plan for `kernel (f, c, 3, 3)` on `(c, hi, wi)` inputs, up-sampled
    /// (by 1 or 2) before it and pooled (or not) after it.
    pub fn new(
        isa: Isa,
        kernel: &[f32],
        (c, f): (usize, usize),
        (hi, wi): (usize, usize),
        up: bool,
        pool: bool,
    ) -> Self {
        assert!(
            kernel.len() == f * c * 9,
            "winograd: kernel of {} values for {f}x{c}x3x3",
            kernel.len()
        );
        let lanes = isa.lanes();
        let (cp, fp) = (c.div_ceil(lanes) * lanes, f.div_ceil(lanes) * lanes);
        let (h, w) = if up { (2 * hi, 2 * wi) } else { (hi, wi) };
        let (th, tw) = match (up, pool) {
            (true, _) => (hi, wi),
            (false, true) => (h / 2, w / 2),
            (false, false) => (h.div_ceil(2), w.div_ceil(2)),
        };
        let step = if up { 1 } else { 2 };
        let (u, ut) = Self::kernel_points(kernel, (c, f), (cp, fp), up);
        Winograd {
            isa,
            c,
            f,
            cp,
            fp,
            hi,
            wi,
            h,
            w,
            up,
            pool,
            th,
            tw,
            step,
            wp: step * tw + 2,
            group: 48usize.div_ceil((th * tw).max(1)).clamp(1, 8),
            u,
            ut,
        }
    }

    /// The kernel's points `(points, c, fp)` and `(points, f, cp)`.
    fn kernel_points(
        kernel: &[f32],
        (c, f): (usize, usize),
        (cp, fp): (usize, usize),
        up: bool,
    ) -> (Vec<f32>, Vec<f32>) {
        let n = point_count(up);
        let (mut u, mut ut) = (vec![0f32; n * c * fp], vec![0f32; n * f * cp]);
        for o in 0..f {
            for i in 0..c {
                let all = transform::kernel_points(&kernel[(o * c + i) * 9..][..9]);
                for (xi, v) in all.into_iter().enumerate() {
                    let Some(s) = Self::slot(up, xi / 4, xi % 4) else {
                        continue;
                    };
                    u[(s * c + i) * fp + o] = v;
                    ut[(s * f + o) * cp + i] = v;
                }
            }
        }
        (u, ut)
    }

    /// The slot of point `(p, q)`, if stored.
    fn slot(up: bool, p: usize, q: usize) -> Option<usize> {
        match up {
            true if p == 2 || q == 2 => None,
            true => Some(transform::slot::<true>(p, q)),
            false => Some(transform::slot::<false>(p, q)),
        }
    }

    fn points(&self) -> usize {
        point_count(self.up)
    }

    /// Tiles per image.
    #[inline(always)]
    fn tiles(&self) -> usize {
        self.th * self.tw
    }

    /// Images per group: enough for about 48 tiles (a product over fewer
    /// rows spends much of its time loading and storing its sums), at most 8.
    pub fn group(&self) -> usize {
        self.group
    }

    /// Tiles per point in the buffers: a whole group's.
    #[inline(always)]
    fn stacked(&self) -> usize {
        self.group * self.tiles()
    }

    /// Where tile `t` of the group's image `g` sits, with `per` values per
    /// position and point.
    #[inline(always)]
    fn tile(&self, g: usize, t: usize, per: usize) -> TileAt {
        TileAt {
            at: self.step * ((t / self.tw) * self.wp + t % self.tw),
            wp: self.wp,
            t: g * self.tiles() + t,
            tiles: self.stacked(),
            cp: per,
        }
    }

    /// A thread's buffers, zeroed (the padded grids' borders, the padding
    /// channels and filters stay zero).
    pub fn buffers(&self) -> Buffers {
        let grid = (self.step * self.th + 2) * self.wp * self.cp;
        let (tiles, points) = (self.stacked(), self.points());
        let rows = if self.pool { self.tiles() } else { self.h * self.w };
        Buffers {
            x: vec![0f32; grid],
            flat: vec![0f32; self.hi * self.wi * self.cp],
            v: vec![0f32; points * tiles * self.cp],
            m: vec![0f32; points * tiles * self.fp],
            z: vec![0f32; points * tiles * self.cp],
            dx: vec![0f32; grid],
            out: vec![0f32; rows * self.fp],
            res: vec![0f32; rows * self.fp],
            win: vec![0u8; self.fp],
        }
    }

    /// Filters rounded up to whole vectors: the length of the bias the
    /// forward pass takes.
    pub fn filters_padded(&self) -> usize {
        self.fp
    }

    /// Length of the kernel-gradient sums [`Winograd::backward`] adds to.
    pub fn sums_len(&self) -> usize {
        self.points() * self.c * self.fp
    }

    /// The input `xi (c, hi, wi)` of the group's image `g` into the padded
    /// grid, and its points `V`.
    #[inline(always)]
    fn input_points<const L: usize, const UP: bool>(&self, xi: &[f32], g: usize, b: &mut Buffers) {
        let (hw, cp) = (self.hi * self.wi, self.cp);
        layout::transpose(xi, hw, (self.c, hw), &mut b.flat, cp);
        let rows = self.hi.min(self.step * self.th + 1);
        let cols = self.wi.min(self.step * self.tw + 1);
        for r in 0..rows {
            let at = ((r + 1) * self.wp + 1) * cp;
            b.x[at..at + cols * cp].copy_from_slice(&b.flat[r * self.wi * cp..][..cols * cp]);
        }
        for t in 0..self.tiles() {
            transform::input_tile::<L, UP>(self.tile(g, t, cp), &b.x, &mut b.v);
        }
    }

    /// The padded input gradient's interior into `dxi (c, hi, wi)`.
    fn input_grad_out(&self, b: &mut Buffers, dxi: &mut [f32]) {
        let (hw, cp) = (self.hi * self.wi, self.cp);
        for r in 0..self.hi {
            let at = ((r + 1) * self.wp + 1) * cp;
            b.flat[r * self.wi * cp..][..self.wi * cp].copy_from_slice(&b.dx[at..at + self.wi * cp]);
        }
        layout::transpose(&b.flat, cp, (hw, self.c), dxi, hw);
    }

    /// The positions `r·w + col` of tile `t`'s outputs `i·2 + j` inside
    /// the convolution's output.
    #[inline(always)]
    fn quad(&self, t: usize) -> [Option<usize>; 4] {
        let (ty, tx) = (t / self.tw, t % self.tw);
        std::array::from_fn(|q| {
            let (r, col) = (2 * ty + q / 2, 2 * tx + q % 2);
            (r < self.h && col < self.w).then_some(r * self.w + col)
        })
    }

    /// One product per point: `p` with `a`, `b`, `out` offset by the point
    /// times their given sizes.
    fn per_point(&self, p: Product, (a, a_len): (&[f32], usize), (b, b_len): (&[f32], usize), out: &mut [f32]) {
        let out_len = out.len() / self.points();
        for s in 0..self.points() {
            let o = &mut out[s * out_len..(s + 1) * out_len];
            gemm(self.isa, &p, &a[s * a_len..], &b[s * b_len..], o);
        }
    }
}

/// Runs `$w.$name::<L, A, UP>($b, $args)` compiled for `$w`'s variant (`L`
/// its lanes), with `A` the activation type of `$act` and `UP` whether the
/// plan up-samples; `$ty` is the type of `$args`.
macro_rules! per_isa {
    ($w:expr, $act:expr, $name:ident, $ty:ty, $b:expr, $args:expr) => {
        with_act!($act, A => {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<Ac: Act, const UP: bool>(w: &Winograd, b: &mut Buffers, args: $ty) {
                    w.$name::<8, Ac, UP>(b, args)
                }
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512<Ac: Act, const UP: bool>(w: &Winograd, b: &mut Buffers, args: $ty) {
                    w.$name::<16, Ac, UP>(b, args)
                }
                // SAFETY: the caller made `$w` for a variant the CPU has
                // (and `gemm` asserts it before any kernel runs).
                match ($w.isa, $w.up) {
                    (Isa::Avx2, false) => unsafe { avx2::<A, false>($w, $b, $args) },
                    (Isa::Avx2, true) => unsafe { avx2::<A, true>($w, $b, $args) },
                    (Isa::Avx512, false) => unsafe { avx512::<A, false>($w, $b, $args) },
                    (Isa::Avx512, true) => unsafe { avx512::<A, true>($w, $b, $args) },
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                if $w.up {
                    $w.$name::<8, A, true>($b, $args)
                } else {
                    $w.$name::<8, A, false>($b, $args)
                }
            }
        })
    };
}

mod passes;
pub(crate) use passes::{Backward, Forward};
