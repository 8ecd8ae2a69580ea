//! The fast CPU ops against candle's reference ops: forward outputs and the
//! gradients of both inputs, on random shapes (strides, paddings, output
//! paddings, odd sizes).

mod common;

use autoencoders::kernels as cpu_ops;
use candle_core::{Device, Tensor, Var};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    common::max_diff(a, b)
}

fn scale(t: &Tensor) -> f32 {
    t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0)
}

/// A small deterministic generator, so each case is reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
}

/// Forward and both gradients of `fast` and `reference` on (x, k), with a
/// random weighting of the output as the loss.
fn compare(
    what: &str,
    x: &Tensor,
    k: &Tensor,
    fast: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    reference: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
) {
    let (xv, kv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(k).unwrap());
    let yf = fast(xv.as_tensor(), kv.as_tensor()).unwrap();
    let yr = reference(xv.as_tensor(), kv.as_tensor()).unwrap();
    let tol = 1e-4 * scale(&yr);
    assert!(
        max_diff(&yf, &yr) <= tol,
        "{what}: forward differs by {}",
        max_diff(&yf, &yr)
    );
    let w = randn(yr.dims());
    let gf = (yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gr = (yr * &w).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("input", &xv), ("kernel", &kv)] {
        let (a, b) = (gf.get(v).unwrap(), gr.get(v).unwrap());
        let tol = 1e-4 * scale(b);
        assert!(
            max_diff(a, b) <= tol,
            "{what}: {name} gradient differs by {}",
            max_diff(a, b)
        );
    }
}

/// Each named variable's gradient in `ga` matches the one in `gb` to 1e-4
/// of the latter's scale.
fn assert_same_gradients<const N: usize>(
    ga: &candle_core::backprop::GradStore,
    gb: &candle_core::backprop::GradStore,
    vars: [(&str, &Var); N],
    what: &str,
) {
    for (name, v) in vars {
        let (a, b) = (ga.get(v).unwrap(), gb.get(v).unwrap());
        assert!(
            max_diff(a, b) < 1e-4 * scale(b),
            "{what}: {name} gradient differs by {}",
            max_diff(a, b)
        );
    }
}

#[test]
fn conv2d_matches_candle_on_random_shapes() {
    let mut r = Lcg(1);
    for case in 0..40 {
        let (n, c, f, k) = (1 + r.next(3), 1 + r.next(4), 1 + r.next(5), [1, 2, 3, 5][r.next(4)]);
        let (stride, padding) = (1 + r.next(3), r.next(3));
        let (h, mut w) = (k + r.next(9), k + r.next(9));
        // candle's reference backward derives one output padding from the
        // height and applies it to the width too: keep both remainders equal
        // so that the reference can be computed.
        while (w + 2 * padding - k) % stride != (h + 2 * padding - k) % stride {
            w += 1;
        }
        let x = randn(&[n, c, h, w]);
        let kern = randn(&[f, c, k, k]);
        compare(
            &format!(
                "conv2d case {case}: x {:?} k {:?} stride {stride} padding {padding}",
                x.dims(),
                kern.dims()
            ),
            &x,
            &kern,
            |x, k| cpu_ops::conv2d(x, k, stride, padding),
            |x, k| x.conv2d(k, padding, stride, 1, 1),
        );
    }
}

#[test]
fn conv_transpose2d_matches_candle_on_random_shapes() {
    let mut r = Lcg(2);
    for case in 0..40 {
        let (n, cin, cout, k) = (1 + r.next(3), 1 + r.next(4), 1 + r.next(4), [1, 2, 3, 4][r.next(4)]);
        let stride = 1 + r.next(3);
        let padding = r.next(k.min(3));
        let output_padding = r.next(stride);
        let (h, w) = (1 + r.next(7), 1 + r.next(7));
        if (h - 1) * stride + k + output_padding <= 2 * padding || (w - 1) * stride + k + output_padding <= 2 * padding
        {
            continue;
        }
        let x = randn(&[n, cin, h, w]);
        let kern = randn(&[cin, cout, k, k]);
        compare(
            &format!("conv_transpose2d case {case}: x {:?} k {:?} stride {stride} padding {padding} output_padding {output_padding}", x.dims(), kern.dims()),
            &x,
            &kern,
            |x, k| cpu_ops::conv_transpose2d(x, k, stride, padding, output_padding),
            |x, k| x.conv_transpose2d(k, padding, output_padding, stride, 1),
        );
    }
}

#[test]
fn the_course_layer_shapes_match_candle() {
    // The seed models' exact layers, batch 4.
    let cases: [(&[usize], &[usize], usize, usize); 3] = [
        (&[4, 1, 28, 28], &[16, 1, 3, 3], 1, 1),
        (&[4, 16, 14, 14], &[32, 16, 3, 3], 1, 1),
        (&[4, 32, 7, 7], &[64, 32, 3, 3], 1, 1),
    ];
    for (xs, ks, stride, padding) in cases {
        compare(
            "course conv",
            &randn(xs),
            &randn(ks),
            |x, k| cpu_ops::conv2d(x, k, stride, padding),
            |x, k| x.conv2d(k, padding, stride, 1, 1),
        );
    }
    // (input, kernel, stride, padding, output padding)
    type Case = (&'static [usize], &'static [usize], usize, usize, usize);
    let tcases: [Case; 3] = [
        (&[4, 64, 3, 3], &[64, 32, 3, 3], 2, 0, 0),
        (&[4, 32, 7, 7], &[32, 16, 3, 3], 2, 1, 1),
        (&[4, 16, 14, 14], &[16, 1, 3, 3], 2, 1, 1),
    ];
    for (xs, ks, s, p, op) in tcases {
        compare(
            "course conv_t",
            &randn(xs),
            &randn(ks),
            |x, k| cpu_ops::conv_transpose2d(x, k, s, p, op),
            |x, k| x.conv_transpose2d(k, p, op, s, 1),
        );
    }
}

#[test]
fn max_pool_and_upsample_match_candle() {
    let mut r = Lcg(3);
    for case in 0..20 {
        let size = 2 + r.next(2);
        let (n, c, h, w) = (1 + r.next(3), 1 + r.next(4), size + r.next(9), size + r.next(9));
        let x = Var::from_tensor(&randn(&[n, c, h, w])).unwrap();
        let yf = cpu_ops::max_pool2d(x.as_tensor(), size).unwrap();
        let yr = x.as_tensor().max_pool2d(size).unwrap();
        assert_eq!(max_diff(&yf, &yr), 0.0, "max_pool case {case}");
        let wt = randn(yr.dims());
        let gf = (yf * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        // The gradient by definition: each window's weight lands on the
        // window's maximum (random normal inputs have no ties).
        let xs = x.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let ws = wt.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (ho, wo) = (h / size, w / size);
        let mut expected = vec![0f32; xs.len()];
        for p in 0..n * c {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut best = p * h * w + oy * size * w + ox * size;
                    for dy in 0..size {
                        for dx in 0..size {
                            let i = p * h * w + (oy * size + dy) * w + ox * size + dx;
                            if xs[i] > xs[best] {
                                best = i;
                            }
                        }
                    }
                    expected[best] += ws[p * ho * wo + oy * wo + ox];
                }
            }
        }
        let expected = Tensor::from_vec(expected, (n, c, h, w), &Device::Cpu).unwrap();
        assert!(
            max_diff(gf.get(&x).unwrap(), &expected) < 1e-6,
            "max_pool grad case {case}"
        );
        // candle 0.11's own max-pool gradient is that divided by size² (it
        // multiplies by the window's share of maxima instead of dividing by
        // their count), and only right where the size is a multiple of the
        // window: check that too, so a change in candle is noticed.
        if h % size == 0 && w % size == 0 {
            let gr = (x.as_tensor().max_pool2d(size).unwrap() * &wt)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let scaled = (gr.get(&x).unwrap() * (size * size) as f64).unwrap();
            assert!(
                max_diff(&scaled, &expected) < 1e-5,
                "candle's max-pool gradient changed (case {case})"
            );
        }

        let factor = 2 + r.next(2);
        let yf = cpu_ops::upsample_nearest2d(x.as_tensor(), factor).unwrap();
        let yr = x.as_tensor().upsample_nearest2d(h * factor, w * factor).unwrap();
        assert_eq!(max_diff(&yf, &yr), 0.0, "upsample case {case}");
        let wt = randn(yr.dims());
        let gf = (yf * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (yr * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(
            max_diff(gf.get(&x).unwrap(), gr.get(&x).unwrap()) < 1e-4,
            "upsample grad case {case}"
        );
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = randn(&[1, 3, 5, 5]);
    assert!(cpu_ops::conv2d(&x, &randn(&[2, 4, 3, 3]), 1, 0).is_err());
    assert!(cpu_ops::conv2d(&x, &randn(&[2, 3, 7, 7]), 1, 0).is_err());
    assert!(cpu_ops::conv_transpose2d(&x, &randn(&[2, 3, 3, 3]), 2, 0, 2).is_err());
}

#[test]
fn fused_bias_and_activation_match_separate_ops() {
    use cpu_ops::FusedAct;
    let mut r = Lcg(4);
    for case in 0..24 {
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
    if Isa::available().is_empty() {
        eprintln!("no AVX2/FMA here: the direct kernels are not used, nothing to compare");
        return;
    }
    let mut r = Lcg(7);
    let to_vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for case in 0..40 {
        // Up to 19 filters and channels: every mix of 8-, 4- and 1-filter blocks.
        let (n, c, f) = (1 + r.next(3), 1 + r.next(19), 1 + r.next(19));
        let (h, w) = (1 + r.next(20), 1 + r.next(20));
        let g = Geometry::new(n, c, h, w, f, 3, 1, 1).unwrap();
        assert!(direct::applies(&g));
        let (x, k, gy) = (
            to_vec(&randn(&[n, c, h, w])),
            to_vec(&randn(&[f, c, 3, 3])),
            to_vec(&randn(&[n, f, h, w])),
        );
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
            for ((what, a), b) in ["forward", "input gradient", "kernel gradient"]
                .into_iter()
                .zip(direct)
                .zip(&reference)
            {
                assert_eq!(a.len(), b.len(), "case {case} {isa:?} {what}: lengths");
                let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
                let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    diff <= 1e-4 * scale,
                    "case {case} {isa:?} ({n}x{c}x{h}x{w} -> {f}) {what}: differs by {diff}"
                );
            }
        }
    }
}

#[test]
fn conv_block_matches_separate_layers() {
    use cpu_ops::FusedAct;
    let x0 = randn(&[1, 1, 4, 4]);
    if !cpu_ops::block_applies(&x0) {
        eprintln!("no AVX2/FMA here: conv_block is not used, nothing to compare");
        return;
    }
    let mut r = Lcg(11);
    for case in 0..36 {
        let act = [FusedAct::Linear, FusedAct::Relu, FusedAct::Sigmoid][case % 3];
        let (upsample, pool) = [(1, 1), (2, 1), (1, 2), (2, 2)][(case / 3) % 4];
        let (n, c, f) = (1 + r.next(3), 1 + r.next(6), 1 + r.next(11));
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
    for case in 0..30 {
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
    use autoencoders::train::{binary_cross_entropy, mse};
    let n = 3 * 17;
    // Predictions in [0, 1] with exact 0s and 1s (clipped by the BCE), targets in [0, 1].
    let p = Tensor::rand(0f32, 1f32, (3, 17), &Device::Cpu).unwrap();
    let p = p
        .slice_assign(&[0..1, 0..2], &Tensor::new(&[[0f32, 1f32]], &Device::Cpu).unwrap())
        .unwrap();
    let t = Tensor::rand(0f32, 1f32, (3, 17), &Device::Cpu).unwrap();
    for (name, fused, reference) in [
        (
            "mse",
            cpu_ops::mse_loss as fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
            (|a: &Tensor, b: &Tensor| mse(a, b).map_err(|e| candle_core::Error::Msg(e.to_string())))
                as fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
        ),
        ("bce", cpu_ops::bce_loss, |a: &Tensor, b: &Tensor| {
            binary_cross_entropy(a, b).map_err(|e| candle_core::Error::Msg(e.to_string()))
        }),
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
