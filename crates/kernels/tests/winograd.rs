//! The blocks' convolution in Winograd form against candle's separate
//! layers and against the direct kernels: every variant the CPU has,
//! up-sampled or not, pooled or not, odd and even sizes, every activation,
//! with and without the input gradient; the course's own block shapes
//! first.

mod common;

use autoencoders_kernels::{self as cpu_ops, BlockConv, FusedAct};
use candle_core::{Tensor, Var};
use common::*;

/// One case: images, channels, filters, height, width, up-sampling,
/// pooling.
type Case = (usize, usize, usize, usize, usize, usize, usize);

/// The blocks of the conv and up-sampling models that run in Winograd
/// form, then random ones.
fn shapes(r: &mut Lcg, count: usize) -> Vec<Case> {
    let mut all = vec![
        (2, 16, 32, 14, 14, 1, 2),
        (2, 32, 64, 7, 7, 1, 2),
        (2, 32, 32, 14, 14, 1, 2),
        (2, 32, 32, 7, 7, 1, 1),
        (2, 32, 32, 7, 7, 2, 1),
        // Enough images for whole groups of stacked tiles, split between
        // threads, and short last groups.
        (7, 16, 24, 7, 7, 1, 2),
        (9, 8, 8, 5, 6, 1, 1),
        (6, 12, 16, 3, 4, 2, 1),
    ];
    while all.len() < count {
        let (n, c, f) = (1 + r.next(3), 8 + r.next(30), 8 + r.next(60));
        let (up, pool) = (1 + r.next(2), 1 + r.next(2));
        let least = if up == 2 { 1 } else { 2 };
        all.push((n, c, f, least + r.next(14), least + r.next(14), up, pool));
    }
    all
}

/// `pool(act(conv3x3(upsample(x)) + bias))` from candle's ops (pooled with
/// the crate's, since candle's max-pool gradient is off).
fn separate(x: &Tensor, k: &Tensor, b: &Tensor, (up, pool): (usize, usize), act: FusedAct) -> Tensor {
    let (f, (_, _, h, w)) = (k.dim(0).unwrap(), x.dims4().unwrap());
    let x = x.upsample_nearest2d(h * up, w * up).unwrap();
    let t = x
        .conv2d(k, 1, 1, 1, 1)
        .unwrap()
        .broadcast_add(&b.reshape((1, f, 1, 1)).unwrap())
        .unwrap();
    let t = match act {
        FusedAct::Linear => t,
        FusedAct::Relu => t.relu().unwrap(),
        FusedAct::Sigmoid => candle_nn::ops::sigmoid(&t).unwrap(),
    };
    if pool == 2 {
        cpu_ops::max_pool2d(&t, 2).unwrap()
    } else {
        t
    }
}

#[test]
fn winograd_blocks_match_separate_layers_and_the_direct_kernels() {
    if !have(
        cpu_ops::block_applies(&randn(&[1, 8, 4, 4])),
        "no AVX2/FMA here: conv_block is not used, nothing to compare",
    ) {
        return;
    }
    let mut r = Lcg(29);
    for (case, (n, c, f, h, w, up, pool)) in shapes(&mut r, cases(36)).into_iter().enumerate() {
        let act = [FusedAct::Relu, FusedAct::Sigmoid, FusedAct::Linear][case % 3];
        // Every fifth case has no input gradient (a model's first layer).
        let track_x = case % 5 != 4;
        let xt = randn(&[n, c, h, w]);
        let x = Var::from_tensor(&xt).unwrap();
        let input = if track_x { x.as_tensor().clone() } else { xt };
        let kern = Var::from_tensor(&randn(&[f, c, 3, 3])).unwrap();
        let bias = Var::from_tensor(&randn(&[f])).unwrap();
        let reference = separate(&input, kern.as_tensor(), bias.as_tensor(), (up, pool), act);
        let wt = randn(reference.dims());
        let gb = (&reference * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        for isa in cpu_ops::direct::Isa::available() {
            let what =
                format!("case {case} {isa:?} ({act:?}, x {n}x{c}x{h}x{w}, {f} filters, upsample {up}, pool {pool})");
            let run = |conv| {
                cpu_ops::conv_block_with(isa, conv, &input, kern.as_tensor(), bias.as_tensor(), up, pool, act).unwrap()
            };
            let params = [("kernel", &kern), ("bias", &bias)];
            let direct = run(BlockConv::Direct);
            check_path(
                &what,
                run(BlockConv::Fastest),
                &direct,
                &reference,
                &wt,
                &gb,
                (&x, track_x),
                params,
            );
        }
    }
}
