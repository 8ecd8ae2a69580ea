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
//! [`Winograd::applies`] says where it runs; see docs/performance.md for the
//! measurements behind it.

pub(super) mod gemm;
mod layout;
mod transform;

use super::Isa;
use gemm::{gemm, Product};
use transform::TileAt;

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
    /// The convolution's input and output size.
    h: usize,
    w: usize,
    pool: bool,
    /// Tiles down and across: the pooled output's size with pooling.
    th: usize,
    tw: usize,
    /// Positions per row of the padded grid, `2·tw + 2`.
    wp: usize,
    /// The kernel's points `U`, `(16, c, fp)`, and transposed, `(16, f, cp)`.
    u: Vec<f32>,
    ut: Vec<f32>,
}

/// One thread's buffers for [`Winograd`]'s passes.
pub(crate) struct Buffers {
    /// The padded input, position-major.
    x: Vec<f32>,
    /// The input (or the input gradient) position-major without borders,
    /// `(h·w, cp)`.
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
    /// True where a block's convolution runs this way: no up-sampling (an
    /// up-sampled block has its own reduction, `UpsampledConv`), at least 8
    /// channels and 8 filters (with fewer the transforms outweigh the
    /// products), and at least 2×2 pixels.
    pub fn applies(c: usize, f: usize, h: usize, w: usize, upsample: usize) -> bool {
        upsample == 1 && c >= 8 && f >= 8 && h >= 2 && w >= 2
    }

    /// The plan for `kernel (f, c, 3, 3)` on `(c, h, w)` inputs, with or
    /// without 2×2 pooling after it.
    pub fn new(isa: Isa, kernel: &[f32], (c, f): (usize, usize), (h, w): (usize, usize), pool: bool) -> Self {
        assert!(
            kernel.len() == f * c * 9,
            "winograd: kernel of {} values for {f}x{c}x3x3",
            kernel.len()
        );
        let lanes = isa.lanes();
        let (cp, fp) = (c.div_ceil(lanes) * lanes, f.div_ceil(lanes) * lanes);
        let (th, tw) = if pool {
            (h / 2, w / 2)
        } else {
            (h.div_ceil(2), w.div_ceil(2))
        };
        let (mut u, mut ut) = (vec![0f32; 16 * c * fp], vec![0f32; 16 * f * cp]);
        for o in 0..f {
            for i in 0..c {
                let points = transform::kernel_points(&kernel[(o * c + i) * 9..][..9]);
                for (xi, v) in points.into_iter().enumerate() {
                    u[(xi * c + i) * fp + o] = v;
                    ut[(xi * f + o) * cp + i] = v;
                }
            }
        }
        Winograd {
            isa,
            c,
            f,
            cp,
            fp,
            h,
            w,
            pool,
            th,
            tw,
            wp: 2 * tw + 2,
            u,
            ut,
        }
    }

    #[inline(always)]
    fn tiles(&self) -> usize {
        self.th * self.tw
    }

    /// Where tile `t` sits, with `per` values per position and point.
    #[inline(always)]
    fn tile(&self, t: usize, per: usize) -> TileAt {
        TileAt {
            at: 2 * (t / self.tw) * self.wp + 2 * (t % self.tw),
            wp: self.wp,
            t,
            tiles: self.tiles(),
            cp: per,
        }
    }

    /// A thread's buffers, zeroed (the padded grids' borders, the padding
    /// channels and filters stay zero).
    pub fn buffers(&self) -> Buffers {
        let (grid, tiles, hw) = ((2 * self.th + 2) * self.wp * self.cp, self.tiles(), self.h * self.w);
        let rows = if self.pool { tiles } else { hw };
        Buffers {
            x: vec![0f32; grid],
            flat: vec![0f32; hw * self.cp],
            v: vec![0f32; 16 * tiles * self.cp],
            m: vec![0f32; 16 * tiles * self.fp],
            z: vec![0f32; 16 * tiles * self.cp],
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

    /// Length of the kernel-gradient sums [`Winograd::backward_image`] adds to.
    pub fn sums_len(&self) -> usize {
        16 * self.c * self.fp
    }

    /// The input `xi (c, h, w)` into the padded grid, and its points `V`.
    #[inline(always)]
    fn input_points<const L: usize>(&self, xi: &[f32], b: &mut Buffers) {
        let (hw, cp) = (self.h * self.w, self.cp);
        layout::transpose(xi, hw, (self.c, hw), &mut b.flat, cp);
        let (rows, cols) = (self.h.min(2 * self.th + 1), self.w.min(2 * self.tw + 1));
        for r in 0..rows {
            let at = ((r + 1) * self.wp + 1) * cp;
            b.x[at..at + cols * cp].copy_from_slice(&b.flat[r * self.w * cp..][..cols * cp]);
        }
        for t in 0..self.tiles() {
            transform::input_tile::<L>(self.tile(t, cp), &b.x, &mut b.v);
        }
    }

    /// The padded input gradient's interior into `dxi (c, h, w)`.
    fn input_grad_out(&self, b: &mut Buffers, dxi: &mut [f32]) {
        let (hw, cp) = (self.h * self.w, self.cp);
        for r in 0..self.h {
            let at = ((r + 1) * self.wp + 1) * cp;
            b.flat[r * self.w * cp..][..self.w * cp].copy_from_slice(&b.dx[at..at + self.w * cp]);
        }
        layout::transpose(&b.flat, cp, (hw, self.c), dxi, hw);
    }

    /// The positions `r·w + col` of tile `t`'s outputs `i·2 + j` inside
    /// the image.
    #[inline(always)]
    fn quad(&self, t: usize) -> [Option<usize>; 4] {
        let (ty, tx) = (t / self.tw, t % self.tw);
        std::array::from_fn(|q| {
            let (r, col) = (2 * ty + q / 2, 2 * tx + q % 2);
            (r < self.h && col < self.w).then_some(r * self.w + col)
        })
    }

    /// One point's product per `ξ`: `p` with `a`, `b`, `out` offset by
    /// `ξ` times their given sizes.
    fn per_point(&self, p: Product, (a, a_len): (&[f32], usize), (b, b_len): (&[f32], usize), out: &mut [f32]) {
        let out_len = out.len() / 16;
        for xi in 0..16 {
            let o = &mut out[xi * out_len..(xi + 1) * out_len];
            gemm(self.isa, &p, &a[xi * a_len..], &b[xi * b_len..], o);
        }
    }
}

/// Runs `$w.$name::<L, A>($b, $args)` compiled for `$w`'s variant (`L`
/// its lanes), with `A` the activation type of `$act`; `$ty` is the type of
/// `$args`.
macro_rules! per_isa {
    ($w:expr, $act:expr, $name:ident, $ty:ty, $b:expr, $args:expr) => {
        with_act!($act, A => {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<Ac: Act>(w: &Winograd, b: &mut Buffers, args: $ty) {
                    w.$name::<8, Ac>(b, args)
                }
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512<Ac: Act>(w: &Winograd, b: &mut Buffers, args: $ty) {
                    w.$name::<16, Ac>(b, args)
                }
                // SAFETY: the caller made `$w` for a variant the CPU has
                // (and `gemm` asserts it before any kernel runs).
                match $w.isa {
                    Isa::Avx2 => unsafe { avx2::<A>($w, $b, $args) },
                    Isa::Avx512 => unsafe { avx512::<A>($w, $b, $args) },
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                $w.$name::<8, A>($b, $args)
            }
        })
    };
}

mod passes;
pub(crate) use passes::{Backward, Forward};
