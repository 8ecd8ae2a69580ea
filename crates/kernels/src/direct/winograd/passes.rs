//! The forward and backward pass of a group of images in Winograd form
//! (see [`super`]): their tiles are stacked, so that each product runs
//! over the whole group's (a pooled 7×7 plane has 9 tiles an image); the
//! block op runs the groups over a batch.

use super::{layout, transform};
use super::{Buffers, Isa, Product, Winograd};
use crate::rows::{with_act, Act};
use crate::FusedAct;

/// The forward pass of `count` images (at most [`Winograd::group`]):
/// their inputs `(count, c, h, w)`, the bias (`fp` values, zero past
/// `f`), and where their outputs `(count, f, ho, wo)` and, with pooling,
/// their winners go (per image `(ho·wo, f)`: which output of each tile
/// won, per filter).
pub(crate) struct Forward<'a> {
    pub count: usize,
    pub xs: &'a [f32],
    pub bias: &'a [f32],
    pub ys: &'a mut [f32],
    pub ws: &'a mut [u8],
}

/// The backward pass of `count` images: their inputs, the block's outputs
/// and their gradients `(count, f, ho, wo)`, the winners (with pooling);
/// the sums they add to (kernel: [`Winograd::sums_len`], bias: `fp`) and,
/// if asked, where their input gradients `(count, c, h, w)` go.
pub(crate) struct Backward<'a> {
    pub count: usize,
    pub xs: &'a [f32],
    pub rs: &'a [f32],
    pub gs: &'a [f32],
    pub ws: &'a [u8],
    pub sums: &'a mut [f32],
    pub db: &'a mut [f32],
    pub dxs: Option<&'a mut [f32]>,
}

impl Winograd {
    /// The forward pass of a group, compiled for the plan's variant.
    pub fn forward(&self, act: FusedAct, b: &mut Buffers, job: Forward<'_>) {
        per_isa!(self, act, forward_group, Forward<'_>, b, job)
    }

    /// The backward pass of a group, compiled for the plan's variant.
    pub fn backward(&self, act: FusedAct, b: &mut Buffers, job: Backward<'_>) {
        per_isa!(self, act, backward_group, Backward<'_>, b, job)
    }

    /// The kernel gradient `(f, c, 3, 3)` from the sums of every image.
    pub fn finish(&self, sums: &[f32]) -> Vec<f32> {
        let (c, fp) = (self.c, self.fp);
        let mut dk = vec![0f32; self.f * c * 9];
        for (oc, out) in dk.chunks_exact_mut(9).enumerate() {
            let (o, i) = (oc / c, oc % c);
            // The points not stored have no sum: zero.
            let s = std::array::from_fn(|xi| {
                Self::slot(self.up, xi / 4, xi % 4).map_or(0.0, |s| sums[(s * c + i) * fp + o])
            });
            out.copy_from_slice(&transform::kernel_grad(s));
        }
        dk
    }

    /// Values per image of the input, and of the output.
    pub fn image_lens(&self) -> (usize, usize) {
        let out = if self.pool { self.tiles() } else { self.h * self.w };
        (self.c * self.hi * self.wi, self.f * out)
    }

    #[inline(always)]
    fn forward_group<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, job: Forward<'_>) {
        let (in_len, out_len) = self.image_lens();
        let (tiles, stack, c, f, fp) = (self.tiles(), self.stacked(), self.c, self.f, self.fp);
        for g in 0..job.count {
            self.input_points::<L, UP>(&job.xs[g * in_len..][..in_len], g, b);
        }
        let p = Product {
            rows: job.count * tiles,
            k: c,
            nv: fp / L,
            a_row: self.cp,
            a_k: 1,
            b_k: fp,
            out_row: fp,
            add: false,
        };
        self.per_point(p, (&b.v, stack * self.cp), (&self.u, c * fp), &mut b.m);
        let rows = out_len / f;
        for g in 0..job.count {
            for t in 0..tiles {
                let k = self.tile(g, t, fp);
                if self.pool {
                    transform::output_pooled::<L, A, UP>(k, &b.m, job.bias, &mut b.out[t * fp..][..fp], &mut b.win);
                    job.ws[g * out_len + t * f..][..f].copy_from_slice(&b.win[..f]);
                } else {
                    transform::output_plain::<L, A, UP>(k, &b.m, job.bias, &mut b.out, self.quad(t));
                }
            }
            layout::transpose(&b.out, fp, (rows, f), &mut job.ys[g * out_len..][..out_len], rows);
        }
    }

    #[inline(always)]
    fn backward_group<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, mut job: Backward<'_>) {
        let (in_len, _) = self.image_lens();
        for g in 0..job.count {
            self.grad_points::<L, A, UP>(b, &mut job, g);
            self.input_points::<L, UP>(&job.xs[g * in_len..][..in_len], g, b);
        }
        let (tiles, stack, c, f, cp, fp) = (self.tiles(), self.stacked(), self.c, self.f, self.cp, self.fp);
        let p = Product {
            rows: c,
            k: job.count * tiles,
            nv: fp / L,
            a_row: 1,
            a_k: cp,
            b_k: fp,
            out_row: fp,
            add: true,
        };
        self.per_point(p, (&b.v, stack * cp), (&b.m, stack * fp), job.sums);
        let Some(dxs) = job.dxs else { return };
        let p = Product {
            rows: job.count * tiles,
            k: f,
            nv: cp / L,
            a_row: fp,
            a_k: 1,
            b_k: cp,
            out_row: cp,
            add: false,
        };
        self.per_point(p, (&b.m, stack * fp), (&self.ut, f * cp), &mut b.z);
        for (g, dxi) in dxs.chunks_exact_mut(in_len).take(job.count).enumerate() {
            b.dx.fill(0.0);
            for t in 0..tiles {
                transform::input_grad_tile::<L, UP>(self.tile(g, t, cp), &b.z, &mut b.dx);
            }
            self.input_grad_out(b, dxi);
        }
    }

    /// Image `g`'s output gradient points `Ĝ` into `b.m`, through the
    /// activation (and the pooling), each filter's gradient added to
    /// `job.db`.
    #[inline(always)]
    fn grad_points<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, job: &mut Backward<'_>, g: usize) {
        let (tiles, f, fp) = (self.tiles(), self.f, self.fp);
        let (_, out_len) = self.image_lens();
        let rows = out_len / f;
        let (gi, ri) = (&job.gs[g * out_len..][..out_len], &job.rs[g * out_len..][..out_len]);
        layout::transpose(gi, rows, (f, rows), &mut b.out, fp);
        layout::transpose(ri, rows, (f, rows), &mut b.res, fp);
        for t in 0..tiles {
            let k = self.tile(g, t, fp);
            if self.pool {
                let at = t * fp..(t + 1) * fp;
                b.win[..f].copy_from_slice(&job.ws[g * out_len + t * f..][..f]);
                let rows = (&b.out[at.clone()], &b.res[at]);
                transform::grad_pooled::<L, A, UP>(k, rows, &b.win, job.db, &mut b.m);
            } else {
                transform::grad_plain::<L, A, UP>(k, (&b.out, &b.res), self.quad(t), job.db, &mut b.m);
            }
        }
    }
}
