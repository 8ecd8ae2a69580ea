//! One image's forward and backward pass of a [`Transposed`] convolution,
//! compiled for the plan's variant.

use super::{Backward, Buffers, Transposed, OUTSIDE};
use crate::direct::layout;
use crate::direct::products::{gemm, Product};
use crate::direct::Isa;
use crate::rows::{with_act, Act};
use crate::FusedAct;

/// One image's forward pass: its input `(cin, h, w)`, the bias (`fp`
/// values, zero past `cout`), and where its output `(cout, ho, wo)` goes.
pub(crate) struct Forward<'a> {
    pub xi: &'a [f32],
    pub bias: &'a [f32],
    pub yi: &'a mut [f32],
}

/// Runs `$t.$name::<L, A>($b, $args)` compiled for `$t`'s variant (`L` its
/// lanes), with `A` the activation type of `$act`; `$ty` is `$args`' type.
macro_rules! per_isa {
    ($t:expr, $act:expr, $name:ident, $ty:ty, $b:expr, $args:expr) => {
        with_act!($act, A => {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<Ac: Act>(t: &Transposed, b: &mut Buffers, args: $ty) {
                    t.$name::<8, Ac>(b, args)
                }
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512<Ac: Act>(t: &Transposed, b: &mut Buffers, args: $ty) {
                    t.$name::<16, Ac>(b, args)
                }
                // SAFETY: the caller made `$t` for a variant the CPU has
                // (and `gemm` asserts it before any kernel runs).
                match $t.isa {
                    Isa::Avx2 => unsafe { avx2::<A>($t, $b, $args) },
                    Isa::Avx512 => unsafe { avx512::<A>($t, $b, $args) },
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                $t.$name::<8, A>($b, $args)
            }
        })
    };
}

impl Transposed {
    /// The forward pass of one image.
    pub fn forward(&self, act: FusedAct, b: &mut Buffers, job: Forward<'_>) {
        per_isa!(self, act, forward_image, Forward<'_>, b, job)
    }

    /// The backward pass of one image.
    pub fn backward(&self, act: FusedAct, b: &mut Buffers, job: Backward<'_>) {
        per_isa!(self, act, backward_image, Backward<'_>, b, job)
    }

    #[inline(always)]
    fn forward_image<const L: usize, A: Act>(&self, b: &mut Buffers, job: Forward<'_>) {
        let (hw, hwo, cp, fp) = (self.h * self.w, self.ho * self.wo, self.cp, self.fp);
        layout::transpose(job.xi, hw, (self.cin, hw), &mut b.flat, cp);
        for (pi, ph) in self.phases.iter().enumerate() {
            self.gather(ph, &b.flat, &mut b.ga[pi]);
            let width = ph.width(cp);
            let p = Product {
                rows: ph.positions(),
                k: width,
                nv: fp / L,
                a_row: width,
                a_k: 1,
                b_k: fp,
                out_row: fp,
                add: false,
            };
            gemm(self.isa, &p, &b.ga[pi], &ph.w, &mut b.o);
            for (pos, o) in b.o.chunks_exact(fp).take(ph.positions()).enumerate() {
                let at = ph.output(pos, self.wo) * fp;
                for ((y, o), bias) in b.y[at..at + fp].iter_mut().zip(o).zip(job.bias) {
                    *y = A::apply(o + bias);
                }
            }
        }
        layout::transpose(&b.y, fp, (hwo, self.cout), job.yi, hwo);
    }

    #[inline(always)]
    fn backward_image<const L: usize, A: Act>(&self, b: &mut Buffers, job: Backward<'_>) {
        let (hw, hwo, cp, fp) = (self.h * self.w, self.ho * self.wo, self.cp, self.fp);
        layout::transpose(job.gi, hwo, (self.cout, hwo), &mut b.y, fp);
        layout::transpose(job.ri, hwo, (self.cout, hwo), &mut b.r, fp);
        // The gradient before the activation, and the bias's.
        for (g, y) in b.y.chunks_exact_mut(fp).zip(b.r.chunks_exact(fp)) {
            for ((g, y), d) in g.iter_mut().zip(y).zip(job.db.iter_mut()) {
                *g *= A::slope(*y);
                *d += *g;
            }
        }
        layout::transpose(job.xi, hw, (self.cin, hw), &mut b.flat, cp);
        let dxi = job.dxi;
        if dxi.is_some() {
            b.dx.fill(0.0);
        }
        let slot = b.filled;
        for (pi, ph) in self.phases.iter().enumerate() {
            let (positions, width) = (ph.positions(), ph.width(cp));
            self.gather(ph, &b.flat, &mut b.ga[pi][slot * positions * width..]);
            let rows = &mut b.gp[pi][slot * positions * fp..][..positions * fp];
            for (pos, o) in rows.chunks_exact_mut(fp).enumerate() {
                for (d, s) in o.iter_mut().zip(&b.y[ph.output(pos, self.wo) * fp..][..fp]) {
                    *d = *s;
                }
            }
            if dxi.is_some() {
                self.input_grad::<L>(pi, b);
            }
        }
        b.filled += 1;
        if b.filled == self.group() {
            self.flush(b, job.sums);
        }
        if let Some(dxi) = dxi {
            layout::transpose(&b.dx, cp, (hw, self.cin), dxi, hw);
        }
    }

    /// Adds phase `pi`'s share of the input gradient to `b.dx`, from the
    /// output gradient of the image in the group's last slot.
    #[inline(always)]
    fn input_grad<const L: usize>(&self, pi: usize, b: &mut Buffers) {
        let ph = &self.phases[pi];
        let (cp, width, positions) = (self.cp, ph.width(self.cp), ph.positions());
        let p = Product {
            rows: ph.positions(),
            k: self.cout,
            nv: width / L,
            a_row: self.fp,
            a_k: 1,
            b_k: width,
            out_row: width,
            add: false,
        };
        let rows = &b.gp[pi][b.filled * positions * self.fp..];
        gemm(self.isa, &p, rows, &ph.wt, &mut b.z);
        for (z, &src) in b.z.chunks_exact(cp).zip(&ph.sources) {
            if src != OUTSIDE {
                for (d, v) in b.dx[src * cp..][..cp].iter_mut().zip(z) {
                    *d += v;
                }
            }
        }
    }
}
