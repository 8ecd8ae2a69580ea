//! A transposed convolution with its bias and activation over a batch in
//! channels-last form (see `direct::Transposed`), the images split among
//! threads.

use crate::conv::ConvTranspose2dOp;
use crate::direct::{per_thread, sum_partials, Isa, Transposed, TransposedBackward, TransposedForward};
use crate::{dims4, FusedAct};
use candle_core::Layout;
use rayon::prelude::*;

/// Sizes of one call: input `(n, cin, h, w)`, output `(n, cout, ho, wo)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    pub n: usize,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
}

/// The channels-last plan of `x (n, cin, h, w)` ⊛ᵀ `kernel (cin, cout, k,
/// k)` with `(stride, padding, output_padding)`, where one runs on `isa`.
pub(super) fn plan(
    isa: Option<Isa>,
    (stride, padding, output_padding): (usize, usize, usize),
    x: &Layout,
    k: &Layout,
    kernel: &[f32],
) -> candle_core::Result<Option<(Transposed, Sizes)>> {
    let Some(isa) = isa else { return Ok(None) };
    let (n, cin, h, w) = dims4(x, "conv_transpose2d input")?;
    let (cin2, cout, k1, k2) = dims4(k, "conv_transpose2d kernel")?;
    if cin != cin2 || k1 != k2 || !Transposed::applies(cin, cout, (k1, stride, padding, output_padding)) {
        return Ok(None);
    }
    let op = ConvTranspose2dOp {
        stride,
        padding,
        output_padding,
    };
    let (ho, wo) = (op.out_side(h, k1)?, op.out_side(w, k1)?);
    let sizes = Sizes {
        n,
        cin,
        cout,
        h,
        w,
        ho,
        wo,
    };
    Ok(Some((
        Transposed::new(isa, kernel, (cin, cout), (h, w), (ho, wo), padding),
        sizes,
    )))
}

/// The output `(n, cout, ho, wo)`.
pub(super) fn forward(t: &Transposed, s: &Sizes, act: FusedAct, x: &[f32], bias: &[f32]) -> Vec<f32> {
    let (in_len, out_len) = (s.cin * s.h * s.w, s.cout * s.ho * s.wo);
    let mut padded = bias.to_vec();
    padded.resize(t.filters_padded(), 0.0);
    let mut y = crate::zeros(s.n * out_len);
    y.par_chunks_mut(out_len.max(1)).enumerate().for_each_init(
        || t.buffers(),
        |b, (img, yi)| {
            let job = TransposedForward {
                xi: &x[img * in_len..(img + 1) * in_len],
                bias: &padded,
                yi,
            };
            t.forward(act, b, job);
        },
    );
    y
}

/// The gradients of the input (if asked), the kernel and the bias, from
/// the layer's output `res` and its gradient.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    t: &Transposed,
    s: &Sizes,
    act: FusedAct,
    x: &[f32],
    res: &[f32],
    grad: &[f32],
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (in_len, out_len) = (s.cin * s.h * s.w, s.cout * s.ho * s.wo);
    let (dx, partials) = per_thread(s.n, in_len, need_dx, |images, mut dx_part| {
        let (mut sums, mut db, mut b) = (vec![0f32; t.sums_len()], vec![0f32; t.filters_padded()], t.buffers());
        let first = images.start;
        for img in images {
            let (out, local) = (img * out_len..(img + 1) * out_len, img - first);
            let job = TransposedBackward {
                xi: &x[img * in_len..(img + 1) * in_len],
                ri: &res[out.clone()],
                gi: &grad[out],
                sums: &mut sums,
                db: &mut db,
                dxi: dx_part
                    .as_deref_mut()
                    .map(|p| &mut p[local * in_len..(local + 1) * in_len]),
            };
            t.backward(act, &mut b, job);
        }
        t.flush(&mut b, &mut sums);
        db.truncate(s.cout);
        (sums, db)
    });
    let (sums, dbs): (Vec<_>, Vec<_>) = partials.into_iter().unzip();
    (
        dx,
        t.finish(&sum_partials(sums, t.sums_len())),
        sum_partials(dbs, s.cout),
    )
}
