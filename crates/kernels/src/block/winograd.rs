//! A block's forward and backward passes over a batch in Winograd form
//! (see `direct::Winograd`), the images split among threads as in the
//! direct path.

use super::Dims;
use crate::direct::{per_thread, sum_partials};
use crate::direct::{Isa, Winograd, WinogradBackward, WinogradForward};
use crate::FusedAct;
use rayon::prelude::*;

/// The Winograd plan of a block's convolution, where one applies.
pub(super) fn plan(d: &Dims, isa: Isa, upsample: usize, pool: usize, kernel: &[f32]) -> Option<Winograd> {
    Winograd::applies(d.c, d.f, (d.hi, d.wi), upsample)
        .then(|| Winograd::new(isa, kernel, (d.c, d.f), (d.hi, d.wi), upsample == 2, pool == 2))
}

/// The output `(n, f, ho, wo)` and, with pooling, each window's winner.
pub(super) fn forward(d: &Dims, wg: &Winograd, act: FusedAct, x: &[f32], bias: &[f32]) -> (Vec<f32>, Vec<u8>) {
    let ((in_len, out_len), group) = (wg.image_lens(), wg.group());
    let mut padded = bias.to_vec();
    padded.resize(wg.filters_padded(), 0.0);
    let mut y = crate::zeros(d.n * out_len);
    let pooled = d.ho * d.wo != d.h * d.w;
    let mut winners = crate::zeros(if pooled { d.n * out_len } else { 0 });
    let run = |b: &mut _, first: usize, ys: &mut [f32], ws: &mut [u8]| {
        let count = ys.len() / out_len;
        let job = WinogradForward {
            count,
            xs: &x[first * in_len..(first + count) * in_len],
            bias: &padded,
            ys,
            ws,
        };
        wg.forward(act, b, job);
    };
    let chunk = group * out_len;
    if pooled {
        y.par_chunks_mut(chunk)
            .zip(winners.par_chunks_mut(chunk))
            .enumerate()
            .for_each_init(|| wg.buffers(), |b, (i, (ys, ws))| run(b, i * group, ys, ws));
    } else {
        y.par_chunks_mut(chunk)
            .enumerate()
            .for_each_init(|| wg.buffers(), |b, (i, ys)| run(b, i * group, ys, &mut []));
    }
    (y, winners)
}

/// The gradients of the input (if asked), the kernel and the bias, from
/// the block's output `res`, its gradient and the winners.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &Dims,
    wg: &Winograd,
    act: FusedAct,
    x: &[f32],
    res: &[f32],
    grad: &[f32],
    winners: &[u8],
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let ((in_len, out_len), group) = (wg.image_lens(), wg.group());
    let (dx, partials) = per_thread(d.n, in_len, need_dx, |images, mut dx_part| {
        let (mut sums, mut db, mut b) = (vec![0f32; wg.sums_len()], vec![0f32; wg.filters_padded()], wg.buffers());
        let first = images.start;
        for start in images.clone().step_by(group) {
            let count = group.min(images.end - start);
            let (out, local) = (start * out_len..(start + count) * out_len, start - first);
            let job = WinogradBackward {
                count,
                xs: &x[start * in_len..(start + count) * in_len],
                rs: &res[out.clone()],
                gs: &grad[out.clone()],
                ws: if winners.is_empty() { &[] } else { &winners[out] },
                sums: &mut sums,
                db: &mut db,
                dxs: dx_part
                    .as_deref_mut()
                    .map(|p| &mut p[local * in_len..(local + count) * in_len]),
            };
            wg.backward(act, &mut b, job);
        }
        db.truncate(d.f);
        (sums, db)
    });
    let (sums, dbs): (Vec<_>, Vec<_>) = partials.into_iter().unzip();
    let dk = wg.finish(&sum_partials(sums, wg.sums_len()));
    (dx, dk, sum_partials(dbs, d.f))
}
