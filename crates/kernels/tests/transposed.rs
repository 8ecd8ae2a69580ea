//! Transposed convolutions on their channels-last path against candle's
//! `conv_transpose2d` with bias and activation, and against the crate's
//! other path: every variant the CPU has, padding 0 and 1, output padding
//! 0 and 1, odd and even sizes, every activation, with and without the
//! input gradient; the conv model's two layers first.

mod common;

use autoencoders_kernels::{self as cpu_ops, FusedAct};
use candle_core::{Tensor, Var};
use common::*;

/// One case: images, channels in and out, height, width, padding, output
/// padding.
type Case = (usize, usize, usize, usize, usize, usize, usize);

fn shapes(r: &mut Lcg, count: usize) -> Vec<Case> {
    let mut all = vec![(2, 64, 32, 3, 3, 0, 0), (2, 32, 16, 7, 7, 1, 1)];
    while all.len() < count {
        let (n, cin, cout) = (1 + r.next(3), 8 + r.next(40), 8 + r.next(40));
        all.push((n, cin, cout, 1 + r.next(9), 1 + r.next(9), r.next(2), r.next(2)));
    }
    all
}

/// `act(conv_transpose2d(x) + bias)` from candle's ops.
fn separate(x: &Tensor, k: &Tensor, b: &Tensor, (p, op): (usize, usize), act: FusedAct) -> Tensor {
    let cout = k.dim(1).unwrap();
    let t = x
        .conv_transpose2d(k, p, op, 2, 1)
        .unwrap()
        .broadcast_add(&b.reshape((1, cout, 1, 1)).unwrap())
        .unwrap();
    match act {
        FusedAct::Linear => t,
        FusedAct::Relu => t.relu().unwrap(),
        FusedAct::Sigmoid => candle_nn::ops::sigmoid(&t).unwrap(),
    }
}

#[test]
fn channels_last_transposed_convolutions_match_candle() {
    let variants = cpu_ops::direct::Isa::available();
    if !have(
        !variants.is_empty(),
        "no AVX2/FMA here: the channels-last path does not run",
    ) {
        return;
    }
    let mut r = Lcg(31);
    for (case, (n, cin, cout, h, w, p, op)) in shapes(&mut r, cases(30)).into_iter().enumerate() {
        let act = [FusedAct::Relu, FusedAct::Sigmoid, FusedAct::Linear][case % 3];
        let track_x = case % 5 != 4;
        let xt = randn(&[n, cin, h, w]);
        let x = Var::from_tensor(&xt).unwrap();
        let input = if track_x { x.as_tensor().clone() } else { xt };
        let kern = Var::from_tensor(&randn(&[cin, cout, 3, 3])).unwrap();
        let bias = Var::from_tensor(&randn(&[cout])).unwrap();
        let reference = separate(&input, kern.as_tensor(), bias.as_tensor(), (p, op), act);
        let wt = randn(reference.dims());
        let gb = (&reference * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        let run = |isa| {
            let (k, b) = (kern.as_tensor(), bias.as_tensor());
            cpu_ops::conv_transpose2d_bias_act_with(isa, &input, k, b, (2, p, op), act).unwrap()
        };
        let other = run(None);
        for &isa in &variants {
            let what = format!(
                "case {case} {isa:?} ({act:?}, x {n}x{cin}x{h}x{w}, {cout} out, padding {p}, output padding {op})"
            );
            let params = [("kernel", &kern), ("bias", &bias)];
            check_path(
                &what,
                run(Some(isa)),
                &other,
                &reference,
                &wt,
                &gb,
                (&x, track_x),
                params,
            );
        }
    }
}
