//! Bad inputs a notebook can make: each gets an error that names the value
//! and the fix; nothing hangs, panics or is left half-changed.

mod common;

use autoencoders::kernels;
use autoencoders::prelude::*;

fn images(n: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 784).map(|i| ((i * 13) % 97) as f32 / 97.0).collect();
    Tensor::from_vec(v, (n, 784), &Device::Cpu).unwrap()
}

#[test]
fn fit_stops_at_the_first_non_finite_loss_and_puts_the_weights_back() {
    let ae = DenseAutoencoder::classic().build(&Device::Cpu).unwrap();
    let xs = images(64);
    let before = Model::forward(&ae, &xs).unwrap();
    // One NaN pixel in image 40: the batch holding it gives a NaN loss.
    let mut v = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v[40 * 784 + 3] = f32::NAN;
    let bad = Tensor::from_vec(v, (64, 784), &Device::Cpu).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(3)
        .with_batch_size(16)
        .with_seed(1)
        .quiet();
    let err = fit(&ae, &bad, &xs, None, &cfg).unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err}");
    let msg = err.to_string();
    // The relu after the first layer turns the NaN into 0, so the loss stays
    // finite; the NaN reaches the weights through the gradient.
    assert!(
        msg.contains("NaN") && msg.contains("during epoch 1") && msg.contains("learning rate"),
        "{msg}"
    );
    let after = Model::forward(&ae, &xs).unwrap();
    let diff = common::max_diff(&before, &after);
    assert_eq!(diff, 0.0, "the weights are those from before the epoch");
    // A learning rate that blows a linear model up: stopped, the rate named,
    // every weight finite again.
    let lin = Sequential::input(&[784], &Device::Cpu)
        .add(dense(32))
        .unwrap()
        .add(dense(784))
        .unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(5)
        .with_batch_size(16)
        .with_optimizer(Optimizer::Sgd { lr: 1e6 })
        .quiet();
    let msg = fit(&lin, &xs, &xs, None, &cfg).unwrap_err().to_string();
    assert!(msg.contains("it is 1000000; try 100000"), "{msg}");
    println!("{msg}");
    for v in lin.vars() {
        let s = v
            .as_tensor()
            .affine(0.0, 0.0)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(s, 0.0, "a weight was left non-finite");
    }
}

#[test]
fn plots_of_non_finite_points_are_errors_not_hangs() {
    let pts = Tensor::new(&[[0f32, 1.0], [f32::NAN, f32::NAN], [1.0, f32::INFINITY]], &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap();
    let e = scatter_by_class("codes", &pts, &labels, &["a", "b", "c"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 of 3 points") && e.contains("NaN"), "{e}");
    let huge = Tensor::new(&[[-3e38f32, 0.0], [3e38, 1.0]], &Device::Cpu).unwrap();
    assert!(scatter_by_class(
        "huge",
        &huge,
        &Tensor::new(&[0u32, 1], &Device::Cpu).unwrap(),
        &["a", "b"]
    )
    .is_err());
    assert!(xy_chart("inf", "x", "y", &[("s", vec![(0.0, f32::INFINITY)])]).is_err());
}

#[test]
fn image_grids_refuse_more_images_than_given() {
    let xs = images(10);
    let e = reconstruction_grid(&xs, &xs, 50).unwrap_err().to_string();
    assert!(e.contains("50 images asked for") && e.contains("holds 10"), "{e}");
    assert!(reconstruction_grid(&xs, &xs, usize::MAX).is_err());
    assert!(image_canvas(&xs, usize::MAX, 2).is_err());
    assert!(image_canvas(&xs, 2, 5).is_ok());
}

#[test]
fn pca_and_tsne_refuse_what_they_cannot_fit() {
    let few = Tensor::randn(0f32, 1f32, (5, 20), &Device::Cpu).unwrap();
    let e = Pca::fit(&few, 10).unwrap_err().to_string();
    assert!(
        e.contains("10 components from 5 samples") && e.contains("at most 4"),
        "{e}"
    );
    let mut v = Tensor::randn(0f32, 1f32, (40, 8), &Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    v[8 * 7 + 2] = f32::NAN;
    let nan = Tensor::from_vec(v, (40, 8), &Device::Cpu).unwrap();
    let e = tsne(&nan, 5.0, 250).unwrap_err().to_string();
    assert!(e.contains("row 7") && e.contains("NaN"), "{e}");
}

#[test]
fn pooling_and_up_sampling_geometry_is_checked_off_the_fused_path() {
    let one = Tensor::ones((2, 3, 1, 1), DType::F32, &Device::Cpu).unwrap();
    let e = kernels::max_pool2d(&one, 2).unwrap_err().to_string();
    assert!(e.contains("2x2") && e.contains("1x1"), "{e}");
    assert!(kernels::max_pool2d(&one, 0).is_err());
    assert!(kernels::upsample_nearest2d(&one, 0).is_err());
    // The same as layers: refused when the model is built.
    let dev = Device::Cpu;
    assert!(Sequential::input(&[3, 1, 1], &dev).add(max_pool(2)).is_err());
    assert!(Sequential::input(&[3, 1, 1], &dev).add(max_pool(0)).is_err());
    assert!(Sequential::input(&[3, 1, 1], &dev).add(up_sample(0)).is_err());
    // A tanh convolution (no fused op) followed by pooling still works.
    let net = Sequential::input(&[1, 6, 6], &dev)
        .add(conv2d(2).tanh())
        .unwrap()
        .add(max_pool(2))
        .unwrap();
    assert_eq!(
        net.forward(&Tensor::ones((1, 1, 6, 6), DType::F32, &dev).unwrap())
            .unwrap()
            .dims(),
        &[1, 2, 3, 3]
    );
}

#[test]
fn non_square_kernels_are_refused_by_the_fast_ops() {
    let xs = Tensor::ones((1, 2, 5, 5), DType::F32, &Device::Cpu).unwrap();
    let k = Tensor::ones((2, 3, 3, 2), DType::F32, &Device::Cpu).unwrap();
    let e = kernels::conv_transpose2d(&xs, &k, 2, 0, 0).unwrap_err().to_string();
    assert!(e.contains("square") && e.contains("3x2"), "{e}");
    let k = Tensor::ones((3, 2, 3, 2), DType::F32, &Device::Cpu).unwrap();
    assert!(kernels::conv2d(&xs, &k, 1, 1).is_err());
}

#[test]
#[should_panic(expected = "holds 10 values")]
fn raw_slice_kernels_check_their_lengths_in_every_build() {
    let g = kernels::Geometry::new(1, 1, 4, 4, 1, 3, 1, 1).unwrap();
    // The input needs 16 values; 10 would be read past their end.
    let _ = kernels::conv_forward_gemm(&g, &[0.0; 10], &[0.0; 9]);
}
