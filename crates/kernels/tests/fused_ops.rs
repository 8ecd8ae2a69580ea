//! The fused CPU ops against the separate ops they replace: bias and
//! activation, the direct convolution kernels against the gemm path, a
//! whole convolution block, dense layers and the losses.

mod common;

use autoencoders_kernels as cpu_ops;
use candle_core::{Device, Tensor, Var};
use common::*;

#[test]
fn fused_bias_and_activation_match_separate_ops() {
    use cpu_ops::FusedAct;
    let mut r = Lcg(4);
    for case in 0..cases(24) {
        let act = [FusedAct::Linear, FusedAct::Relu, FusedAct::Sigmoid][case % 3];
        let transpose = case % 2 == 1;
        let (n, c, f, k) = (1 + r.next(3), 1 + r.next(4), 1 + r.next(4), [1, 3][r.next(2)]);
        let (stride, padding) = (1 + r.next(2), r.next(2).min(k - 1));
        let (h, w) = (k + 1 + r.next(6), k + 1 + r.next(6));
        let output_padding = if transpose { r.next(stride) } else { 0 };
        let x = Var::from_tensor(&randn(&[n, c, h, w])).unwrap();
        let kshape = if transpose { [c, f, k, k] } else { [f, c, k, k] };
        let kern = Var::from_tensor(&randn(&kshape)).unwrap();
        let bias = Var::from_tensor(&randn(&[f])).unwrap();
        let fused = if transpose {
            cpu_ops::conv_transpose2d_bias_act(
                x.as_tensor(),
                kern.as_tensor(),
                bias.as_tensor(),
                stride,
                padding,
                output_padding,
                act,
            )
        } else {
            cpu_ops::conv2d_bias_act(x.as_tensor(), kern.as_tensor(), bias.as_tensor(), stride, padding, act)
        }
        .unwrap();
        let plain = if transpose {
            cpu_ops::conv_transpose2d(x.as_tensor(), kern.as_tensor(), stride, padding, output_padding)
        } else {
            cpu_ops::conv2d(x.as_tensor(), kern.as_tensor(), stride, padding)
        }
        .unwrap()
        .broadcast_add(&bias.as_tensor().reshape((1, f, 1, 1)).unwrap())
        .unwrap();
        let separate = match act {
            FusedAct::Linear => plain,
            FusedAct::Relu => plain.relu().unwrap(),
            FusedAct::Sigmoid => candle_nn::ops::sigmoid(&plain).unwrap(),
        };
        let what = format!("case {case} ({act:?}, transpose {transpose})");
        assert!(max_diff(&fused, &separate) < 1e-4 * scale(&separate), "{what}: forward");
        let wt = randn(separate.dims());
        let ga = (fused * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (separate * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        assert_same_gradients(&ga, &gb, [("input", &x), ("kernel", &kern), ("bias", &bias)], &what);
    }
}

#[test]
fn direct_kernels_match_the_gemm_path() {
    use cpu_ops::direct::{self, Isa};
    use cpu_ops::Geometry;
    if !have(
        !Isa::available().is_empty(),
        "no AVX2/FMA here: the direct kernels are not used, nothing to compare",
    ) {
        return;
    }
    // The conv model's first transposed layer (3×3 → 7×7) stays on the gemm path.
    assert!(!direct::applies(&Geometry::new(1, 32, 7, 7, 64, 3, 2, 0).unwrap()));
    // Two threads whatever the machine, so that each thread's share of a
    // batch holds several images (the kernel gradient's groups).
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut r = Lcg(7);
    pool.install(|| {
        for case in 0..cases(80) {
            direct_case(case, &mut r);
        }
    });
}

/// One random geometry: every direct variant against the gemm path, and
/// the dispatching entry points against the direct kernels.
fn direct_case(case: usize, r: &mut Lcg) {
    use cpu_ops::direct::{self, Isa};
    use cpu_ops::Geometry;
    let to_vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    // Up to 19 filters and channels: every mix of 8-, 4- and 1-filter
    // blocks; stride 1 ('same'), or stride 2 with padding 0 or 1 (the
    // transposed convolutions' geometry), odd and even sides; up to 12
    // images, so that the kernel gradient runs several small images per
    // call, and a short last group. Every fourth case (stride 1) has 16 to
    // 85 filters: one to six vectors of them for the stride-1 kernel
    // gradient, which puts filters across the lanes. Some cases have a lone
    // filter or channel (the last layer's forward pass and the input
    // gradient of its first layer run a one-filter kernel).
    let n = 1 + r.next(12);
    let c = if case % 6 == 1 { 1 } else { 1 + r.next(19) };
    let f = if case.is_multiple_of(4) {
        16 + r.next(70)
    } else if case % 6 == 2 || case % 6 == 5 {
        1
    } else {
        1 + r.next(19)
    };
    let (stride, padding) = if case.is_multiple_of(2) { (1, 1) } else { (2, r.next(2)) };
    let least = if stride == 2 { 3 - 2 * padding } else { 1 };
    let (h, mut w) = (least + r.next(24), least + r.next(24));
    // Stride 2 takes output planes of at least STRIDE2_LEAST_OUTPUTS
    // pixels: widen a plane that has fewer (thin ones stay thin).
    let out = |side: usize| (side + 2 * padding - 3) / stride + 1;
    while stride == 2 && out(h) * out(w) < direct::STRIDE2_LEAST_OUTPUTS {
        w += 1;
    }
    let g = Geometry::new(n, c, h, w, f, 3, stride, padding).unwrap();
    assert!(direct::applies(&g), "{g:?}");
    let (x, k, gy) = (
        to_vec(&randn(&[n, c, h, w])),
        to_vec(&randn(&[f, c, 3, 3])),
        to_vec(&randn(&[n, f, g.ho, g.wo])),
    );
    let what = format!("case {case} ({n}x{c}x{h}x{w} -> {f}, stride {stride}, padding {padding})");
    let reference = [
        cpu_ops::conv_forward_gemm(&g, &x, &k),
        cpu_ops::conv_backward_data_gemm(&g, &gy, &k),
        cpu_ops::conv_backward_filter_gemm(&g, &x, &gy),
    ];
    // Every variant this CPU has, each forced on in turn.
    for isa in Isa::available() {
        let direct = [
            direct::forward_with(isa, &g, &x, &k),
            direct::backward_data_with(isa, &g, &gy, &k),
            direct::backward_filter_with(isa, &g, &x, &gy),
        ];
        for ((pass, a), b) in ["forward", "input gradient", "kernel gradient"]
            .into_iter()
            .zip(direct)
            .zip(&reference)
        {
            assert_eq!(a.len(), b.len(), "{what} {isa:?} {pass}: lengths");
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff <= 1e-4 * scale, "{what} {isa:?} {pass}: differs by {diff}");
        }
    }
    // What the layers call picks the direct kernels here: its results are
    // theirs to the bit (the gemm path adds in another order).
    let active = direct::active().expect("a direct variant is active");
    let fused = cpu_ops::gemm::conv_forward_and_filter(&g, &x, &k, &gy, true);
    let dispatched = [
        (cpu_ops::conv_forward(&g, &x, &k), "conv_forward"),
        (cpu_ops::conv_backward_data(&g, &gy, &k), "conv_backward_data"),
        (cpu_ops::conv_backward_filter(&g, &x, &gy), "conv_backward_filter"),
        (fused.0.unwrap(), "conv_forward_and_filter's output"),
        (fused.1, "conv_forward_and_filter's kernel gradient"),
    ];
    let direct = [
        direct::forward_with(active, &g, &x, &k),
        direct::backward_data_with(active, &g, &gy, &k),
        direct::backward_filter_with(active, &g, &x, &gy),
        direct::forward_with(active, &g, &x, &k),
        direct::backward_filter_with(active, &g, &x, &gy),
    ];
    for ((got, name), want) in dispatched.into_iter().zip(direct) {
        assert!(got == want, "{what}: {name} did not run the direct kernels");
    }
}

#[test]
fn conv_block_matches_separate_layers() {
    use cpu_ops::FusedAct;
    let x0 = randn(&[1, 1, 4, 4]);
    if !have(
        cpu_ops::block_applies(&x0),
        "no AVX2/FMA here: conv_block is not used, nothing to compare",
    ) {
        return;
    }
    let mut r = Lcg(11);
    for case in 0..cases(36) {
        let act = [FusedAct::Linear, FusedAct::Relu, FusedAct::Sigmoid][case % 3];
        let (upsample, pool) = [(1, 1), (2, 1), (1, 2), (2, 2)][(case / 3) % 4];
        // Even cases have the channels and filters (16 or more) for which the
        // kernel gradient puts filters across the lanes.
        let (n, c, f) = if case.is_multiple_of(2) {
            (1 + r.next(3), 4 + r.next(6), 16 + r.next(40))
        } else {
            (1 + r.next(3), 1 + r.next(6), 1 + r.next(11))
        };
        let (h, w) = (1 + r.next(9), 1 + r.next(9));
        let (h, w) = if pool == 2 && upsample == 1 {
            (h.max(2), w.max(2))
        } else {
            (h, w)
        };
        let x = Var::from_tensor(&randn(&[n, c, h, w])).unwrap();
        let kern = Var::from_tensor(&randn(&[f, c, 3, 3])).unwrap();
        let bias = Var::from_tensor(&randn(&[f])).unwrap();
        let mut t = x.as_tensor().clone();
        if upsample == 2 {
            t = t.upsample_nearest2d(2 * h, 2 * w).unwrap();
        }
        let t = t
            .conv2d(kern.as_tensor(), 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&bias.as_tensor().reshape((1, f, 1, 1)).unwrap())
            .unwrap();
        let t = match act {
            FusedAct::Linear => t,
            FusedAct::Relu => t.relu().unwrap(),
            FusedAct::Sigmoid => candle_nn::ops::sigmoid(&t).unwrap(),
        };
        // candle's max-pool gradient is off (see `max_pool_and_upsample_match_candle`): pool with ours.
        let separate = if pool == 2 {
            cpu_ops::max_pool2d(&t, 2).unwrap()
        } else {
            t
        };
        let wt = randn(separate.dims());
        let gb = (&separate * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        // Every variant of the direct kernels this CPU has, each forced on in turn.
        for isa in cpu_ops::direct::Isa::available() {
            let fused = cpu_ops::conv_block_with(
                isa,
                cpu_ops::BlockConv::Fastest,
                x.as_tensor(),
                kern.as_tensor(),
                bias.as_tensor(),
                upsample,
                pool,
                act,
            )
            .unwrap();
            let what = format!(
                "case {case} {isa:?} ({act:?}, x {n}x{c}x{h}x{w}, {f} filters, upsample {upsample}, pool {pool})"
            );
            assert_eq!(fused.dims(), separate.dims(), "{what}: shape");
            assert!(
                max_diff(&fused, &separate) < 1e-4 * scale(&separate),
                "{what}: forward differs by {}",
                max_diff(&fused, &separate)
            );
            let ga = (fused * &wt).unwrap().sum_all().unwrap().backward().unwrap();
            assert_same_gradients(&ga, &gb, [("input", &x), ("kernel", &kern), ("bias", &bias)], &what);
        }
    }
    // Bad settings are errors.
    let k = randn(&[2, 1, 3, 3]);
    let b = randn(&[2]);
    assert!(cpu_ops::conv_block(&x0, &k, &b, 3, 1, FusedAct::Relu).is_err());
    assert!(cpu_ops::conv_block(&x0, &randn(&[2, 2, 3, 3]), &b, 1, 1, FusedAct::Relu).is_err());
    assert!(cpu_ops::conv_block(&x0, &k, &randn(&[3]), 1, 1, FusedAct::Relu).is_err());
}

#[test]
fn dense_matches_candle_linear_and_activation() {
    use cpu_ops::FusedAct;
    let mut r = Lcg(13);
    for case in 0..cases(30) {
        let act = [FusedAct::Linear, FusedAct::Relu, FusedAct::Sigmoid][case % 3];
        let (n, k, m) = (1 + r.next(70), 1 + r.next(90), 1 + r.next(40));
        let x = Var::from_tensor(&randn(&[n, k])).unwrap();
        let w = Var::from_tensor(&randn(&[m, k])).unwrap();
        let b = Var::from_tensor(&randn(&[m])).unwrap();
        let fused = cpu_ops::dense(x.as_tensor(), w.as_tensor(), b.as_tensor(), act).unwrap();
        let plain = x
            .as_tensor()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        let separate = match act {
            FusedAct::Linear => plain,
            FusedAct::Relu => plain.relu().unwrap(),
            FusedAct::Sigmoid => candle_nn::ops::sigmoid(&plain).unwrap(),
        };
        let what = format!("case {case} ({act:?}, x {n}x{k}, {m} units)");
        assert!(
            max_diff(&fused, &separate) < 1e-4 * scale(&separate),
            "{what}: forward differs by {}",
            max_diff(&fused, &separate)
        );
        let wt = randn(separate.dims());
        let ga = (fused * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (separate * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("input", &x), ("weight", &w), ("bias", &b)] {
            let (a, bb) = (ga.get(v).unwrap(), gb.get(v).unwrap());
            assert!(
                max_diff(a, bb) < 1e-4 * scale(bb),
                "{what}: {name} gradient differs by {}",
                max_diff(a, bb)
            );
        }
    }
    // A plain input (not a variable) gets no gradient.
    let x = randn(&[4, 3]);
    let w = Var::from_tensor(&randn(&[2, 3])).unwrap();
    let b = Var::from_tensor(&randn(&[2])).unwrap();
    let g = cpu_ops::dense(&x, w.as_tensor(), b.as_tensor(), FusedAct::Relu)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(g.get(&x).is_none() && g.get(w.as_tensor()).is_some());
    assert!(cpu_ops::dense(&x, &randn(&[2, 4]), b.as_tensor(), FusedAct::Relu).is_err());
}

#[test]
fn fused_losses_match_the_tensor_formulas() {
    let n = 3 * 17;
    // Predictions in [0, 1] with exact 0s and 1s (clipped by the BCE), targets in [0, 1].
    let p = Tensor::rand(0f32, 1f32, (3, 17), &Device::Cpu).unwrap();
    let p = p
        .slice_assign(&[0..1, 0..2], &Tensor::new(&[[0f32, 1f32]], &Device::Cpu).unwrap())
        .unwrap();
    let t = Tensor::rand(0f32, 1f32, (3, 17), &Device::Cpu).unwrap();
    type LossFn = fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>;
    // The formulas as tensor ops: the mean squared error, and binary
    // cross-entropy with the prediction clipped to [ε, 1 − ε].
    let mse: LossFn = |p, t| (p - t)?.sqr()?.mean_all();
    let bce: LossFn = |p, t| {
        let eps = cpu_ops::EPSILON;
        let p = p.clamp(eps, 1.0 - eps)?;
        let one_minus = |x: &Tensor| x.affine(-1.0, 1.0);
        let ll = ((t * p.log()?)? + (one_minus(t)? * one_minus(&p)?.log()?)?)?;
        ll.mean_all()?.neg()
    };
    for (name, fused, reference) in [
        ("mse", cpu_ops::mse_loss as LossFn, mse),
        ("bce", cpu_ops::bce_loss as LossFn, bce),
    ] {
        let (pv, tv) = (Var::from_tensor(&p).unwrap(), Var::from_tensor(&t).unwrap());
        let a = fused(pv.as_tensor(), tv.as_tensor()).unwrap();
        let b = reference(pv.as_tensor(), tv.as_tensor()).unwrap();
        let (av, bv) = (a.to_scalar::<f32>().unwrap(), b.to_scalar::<f32>().unwrap());
        assert!((av - bv).abs() <= 1e-5 * bv.abs().max(1.0), "{name}: {av} vs {bv}");
        let (ga, gb) = (a.backward().unwrap(), b.backward().unwrap());
        for (what, v) in [("prediction", &pv), ("target", &tv)] {
            let (x, y) = (ga.get(v).unwrap(), gb.get(v).unwrap());
            assert!(
                max_diff(x, y) <= 1e-4 * scale(y) / n as f32 * 10.0,
                "{name}: {what} gradient differs by {}",
                max_diff(x, y)
            );
        }
    }
    assert!(cpu_ops::mse_loss(&p, &randn(&[17, 3])).is_err());
}
