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
    let (in_len, out_len) = (d.c * d.hi * d.wi, d.f * d.ho * d.wo);
    let mut padded = bias.to_vec();
    padded.resize(wg.filters_padded(), 0.0);
    let mut y = vec![0f32; d.n * out_len];
    let pooled = d.ho * d.wo != d.h * d.w;
    let mut winners = vec![0u8; if pooled { d.n * out_len } else { 0 }];
    let run = |b: &mut _, img: usize, yi: &mut [f32], wi: &mut [u8]| {
        let job = WinogradForward {
            xi: &x[img * in_len..(img + 1) * in_len],
            bias: &padded,
            yi,
            wi,
        };
        wg.forward(act, b, job);
    };
    if pooled {
        y.par_chunks_mut(out_len)
            .zip(winners.par_chunks_mut(out_len))
            .enumerate()
            .for_each_init(|| wg.buffers(), |b, (img, (yi, wi))| run(b, img, yi, wi));
    } else {
        y.par_chunks_mut(out_len)
            .enumerate()
            .for_each_init(|| wg.buffers(), |b, (img, yi)| run(b, img, yi, &mut []));
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
    let (in_len, out_len) = (d.c * d.hi * d.wi, d.f * d.ho * d.wo);
    let (dx, partials) = per_thread(d.n, in_len, need_dx, |images, mut dx_part| {
        let (mut sums, mut db, mut b) = (vec![0f32; wg.sums_len()], vec![0f32; wg.filters_padded()], wg.buffers());
        let first = images.start;
        for img in images {
            let out = img * out_len..(img + 1) * out_len;
            let local = img - first;
            let job = WinogradBackward {
                xi: &x[img * in_len..(img + 1) * in_len],
                ri: &res[out.clone()],
                gi: &grad[out.clone()],
                wi: if winners.is_empty() { &[] } else { &winners[out] },
                sums: &mut sums,
                db: &mut db,
                dxi: dx_part
                    .as_deref_mut()
                    .map(|p| &mut p[local * in_len..(local + 1) * in_len]),
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
