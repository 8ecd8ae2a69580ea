//! The fast CPU ops against candle's reference ops: forward outputs and the
//! gradients of both inputs, on random shapes (strides, paddings, output
//! paddings, odd sizes), pooling and up-sampling, and bad shapes.

mod common;

use autoencoders_kernels as cpu_ops;
use candle_core::{Device, Tensor, Var};
use common::*;

#[test]
fn conv2d_matches_candle_on_random_shapes() {
    let mut r = Lcg(1);
    for case in 0..cases(40) {
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
    for case in 0..cases(40) {
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
#[cfg_attr(
    miri,
    ignore = "full-size layers: hours under Miri; the random cases cover the same code"
)]
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
    for case in 0..cases(20) {
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
