//! One image's forward and backward pass in Winograd form (see
//! [`super`]); the block op runs them over a batch.

use super::{layout, transform};
use super::{Buffers, Isa, Product, Winograd};
use crate::rows::{with_act, Act};
use crate::FusedAct;

/// One image's forward pass: its input `(c, h, w)`, the bias (`fp`
/// values, zero past `f`), and where its output `(f, ho, wo)` and, with
/// pooling, its winners go (`(ho·wo, f)`: which output of each tile won,
/// per filter).
pub(crate) struct Forward<'a> {
    pub xi: &'a [f32],
    pub bias: &'a [f32],
    pub yi: &'a mut [f32],
    pub wi: &'a mut [u8],
}

/// One image's backward pass: its input, the block's output and its
/// gradient `(f, ho, wo)`, the winners (with pooling, `(ho·wo, f)`); the
/// sums it adds to (kernel: [`Winograd::sums_len`], bias: `fp`) and, if
/// asked, where its input gradient `(c, h, w)` goes.
pub(crate) struct Backward<'a> {
    pub xi: &'a [f32],
    pub ri: &'a [f32],
    pub gi: &'a [f32],
    pub wi: &'a [u8],
    pub sums: &'a mut [f32],
    pub db: &'a mut [f32],
    pub dxi: Option<&'a mut [f32]>,
}

impl Winograd {
    /// The forward pass of one image, compiled for the plan's variant.
    pub fn forward(&self, act: FusedAct, b: &mut Buffers, job: Forward<'_>) {
        per_isa!(self, act, forward_image, Forward<'_>, b, job)
    }

    /// The backward pass of one image, compiled for the plan's variant.
    pub fn backward(&self, act: FusedAct, b: &mut Buffers, job: Backward<'_>) {
        per_isa!(self, act, backward_image, Backward<'_>, b, job)
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

    #[inline(always)]
    fn forward_image<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, job: Forward<'_>) {
        self.input_points::<L, UP>(job.xi, b);
        let (tiles, c, f, fp) = (self.tiles(), self.c, self.f, self.fp);
        let p = Product {
            rows: tiles,
            k: c,
            nv: fp / L,
            a_row: self.cp,
            a_k: 1,
            b_k: fp,
            out_row: fp,
            add: false,
        };
        self.per_point(p, (&b.v, tiles * self.cp), (&self.u, c * fp), &mut b.m);
        for t in 0..tiles {
            let k = self.tile(t, fp);
            if self.pool {
                transform::output_pooled::<L, A, UP>(k, &b.m, job.bias, &mut b.out[t * fp..][..fp], &mut b.win);
                job.wi[t * f..(t + 1) * f].copy_from_slice(&b.win[..f]);
            } else {
                transform::output_plain::<L, A, UP>(k, &b.m, job.bias, &mut b.out, self.quad(t));
            }
        }
        let rows = if self.pool { tiles } else { self.h * self.w };
        layout::transpose(&b.out, fp, (rows, f), job.yi, rows);
    }

    #[inline(always)]
    fn backward_image<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, mut job: Backward<'_>) {
        self.grad_points::<L, A, UP>(b, &mut job);
        self.input_points::<L, UP>(job.xi, b);
        let (tiles, c, f, cp, fp) = (self.tiles(), self.c, self.f, self.cp, self.fp);
        let p = Product {
            rows: c,
            k: tiles,
            nv: fp / L,
            a_row: 1,
            a_k: cp,
            b_k: fp,
            out_row: fp,
            add: true,
        };
        self.per_point(p, (&b.v, tiles * cp), (&b.m, tiles * fp), job.sums);
        let Some(dxi) = job.dxi else { return };
        let p = Product {
            rows: tiles,
            k: f,
            nv: cp / L,
            a_row: fp,
            a_k: 1,
            b_k: cp,
            out_row: cp,
            add: false,
        };
        self.per_point(p, (&b.m, tiles * fp), (&self.ut, f * cp), &mut b.z);
        b.dx.fill(0.0);
        for t in 0..tiles {
            transform::input_grad_tile::<L, UP>(self.tile(t, cp), &b.z, &mut b.dx);
        }
        self.input_grad_out(b, dxi);
    }

    /// The output gradient's points `Ĝ` into `b.m`, through the activation
    /// (and the pooling), each filter's gradient added to `job.db`.
    #[inline(always)]
    fn grad_points<const L: usize, A: Act, const UP: bool>(&self, b: &mut Buffers, job: &mut Backward<'_>) {
        let (tiles, f, fp) = (self.tiles(), self.f, self.fp);
        let rows = if self.pool { tiles } else { self.h * self.w };
        layout::transpose(job.gi, rows, (f, rows), &mut b.out, fp);
        layout::transpose(job.ri, rows, (f, rows), &mut b.res, fp);
        for t in 0..tiles {
            let k = self.tile(t, fp);
            if self.pool {
                let at = t * fp..(t + 1) * fp;
                b.win[..f].copy_from_slice(&job.wi[t * f..(t + 1) * f]);
                let rows = (&b.out[at.clone()], &b.res[at]);
                transform::grad_pooled::<L, A, UP>(k, rows, &b.win, job.db, &mut b.m);
            } else {
                transform::grad_plain::<L, A, UP>(k, (&b.out, &b.res), self.quad(t), job.db, &mut b.m);
            }
        }
    }
}
