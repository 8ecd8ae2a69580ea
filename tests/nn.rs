//! The layer API: shapes at build time, build-time errors, training-only
//! layers, extra loss terms, custom losses, saving and loading any model.

mod common;

use autoencoders::nn::Pass;
use autoencoders::prelude::*;

fn images(n: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 784)
        .map(|i| (((i * 37) % 101) as f32 / 100.0).powi(2))
        .collect();
    Tensor::from_vec(v, (n, 784), &Device::Cpu).unwrap()
}

use common::max_diff;

fn conv_encoder(dev: &Device) -> Sequential {
    Sequential::input(&[1, 28, 28], dev)
        .add(conv2d(16).relu())
        .unwrap()
        .add(max_pool(2))
        .unwrap()
        .add(conv2d(8).relu())
        .unwrap()
        .add(max_pool(2))
        .unwrap()
}

#[test]
fn shapes_and_names_are_known_before_training() {
    let dev = Device::Cpu;
    let enc = conv_encoder(&dev);
    assert_eq!(enc.output_shape(), vec![8, 7, 7]);
    let dec = Sequential::input(&enc.output_shape(), &dev)
        .add(conv_transpose2d(8).kernel(3).stride(2).same().relu())
        .unwrap()
        .add(conv_transpose2d(1).kernel(3).stride(2).same().sigmoid())
        .unwrap();
    assert_eq!(dec.output_shape(), vec![1, 28, 28]);
    let ae = Autoencoder::new(enc, dec).unwrap();
    let s = ae.summary().unwrap();
    let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "input",
            "encoder.conv2d_1",
            "encoder.max_pooling2d_1",
            "encoder.conv2d_2",
            "encoder.max_pooling2d_2",
            "decoder.conv2d_transpose_1",
            "decoder.conv2d_transpose_2"
        ]
    );
    assert_eq!(s.total_params(), ae.param_count());
    // Flat images in, flat images out; the forward pass agrees with the summary.
    assert_eq!(Model::forward(&ae, &images(2)).unwrap().dims(), &[2, 784]);
    assert_eq!(ae.encode(&images(2)).unwrap().dims(), &[2, 8, 7, 7]);
    // 'valid' transposed convolution: (side - 1)·stride + kernel.
    let v = Sequential::input(&[4, 3, 3], &dev)
        .add(conv_transpose2d(2).kernel(3).stride(2).valid())
        .unwrap();
    assert_eq!(v.output_shape(), vec![2, 7, 7]);
    let strided = Sequential::input(&[1, 28, 28], &dev).add(conv2d(4).stride(2)).unwrap();
    assert_eq!(strided.output_shape(), vec![4, 14, 14]);
}

#[test]
fn layers_that_do_not_fit_are_build_time_errors_naming_the_shapes() {
    let dev = Device::Cpu;
    let e = Sequential::input(&[784], &dev).add(conv2d(8)).unwrap_err().to_string();
    assert!(
        e.contains("conv2d_1 (Conv2D)") && e.contains("(N, 784)") && e.contains("reshape"),
        "{e}"
    );
    let e = conv_encoder(&dev).add(dense(10)).unwrap_err().to_string();
    assert!(
        e.contains("dense_1 (Dense)") && e.contains("(N, 8, 7, 7)") && e.contains("flatten()"),
        "{e}"
    );
    let e = Sequential::input(&[784], &dev)
        .add(reshape(&[1, 27, 27]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("784 values") && e.contains("(N, 1, 27, 27)"), "{e}");
    let e = Sequential::input(&[1, 3, 3], &dev)
        .add(max_pool(4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("(N, 1, 3, 3)") && e.contains("4x4"), "{e}");
    for bad in [
        Sequential::input(&[784], &dev).add(dropout(1.0)).map(|_| ()),
        Sequential::input(&[784], &dev).add(dense(0)).map(|_| ()),
        Sequential::input(&[1, 28, 28], &dev)
            .add(conv2d(4).kernel(2).same())
            .map(|_| ()),
        Sequential::input(&[1, 28, 28], &dev).add(up_sample(0)).map(|_| ()),
        Sequential::input(&[0, 28], &dev).add(flatten()).map(|_| ()),
        Sequential::input(&[7], &dev).add(sampling(1.0)).map(|_| ()),
    ] {
        assert!(bad.is_err());
    }
    // An encoder and a decoder that do not fit together.
    let enc = conv_encoder(&dev);
    let dec = Sequential::input(&[8, 7, 7], &dev)
        .add(up_sample(8))
        .unwrap()
        .add(conv2d(1))
        .unwrap();
    let e = Autoencoder::new(enc.clone(), dec).unwrap_err().to_string();
    assert!(e.contains("(N, 1, 56, 56)") && e.contains("(N, 1, 28, 28)"), "{e}");
    let dec = Sequential::input(&[16], &dev).add(dense(784)).unwrap();
    let e = Autoencoder::new(enc, dec).unwrap_err().to_string();
    assert!(e.contains("(N, 16)") && e.contains("(N, 8, 7, 7)"), "{e}");
}

#[test]
fn training_only_layers_switch_off_at_inference() {
    let dev = Device::Cpu;
    let net = Sequential::input(&[784], &dev)
        .add(gaussian_noise(0.5))
        .unwrap()
        .add(dense(64).relu())
        .unwrap()
        .add(dropout(0.5))
        .unwrap()
        .add(dense(784).sigmoid())
        .unwrap();
    let xs = images(8);
    let a = predict(&net, &xs, 4).unwrap();
    let b = Model::forward(&net, &xs).unwrap();
    assert_eq!(max_diff(&a, &b), 0.0, "inference must be deterministic");
    let t1 = net.forward_pass(&xs, &mut Pass::training(1)).unwrap();
    let t2 = net.forward_pass(&xs, &mut Pass::training(2)).unwrap();
    let t1again = net.forward_pass(&xs, &mut Pass::training(1)).unwrap();
    assert!(max_diff(&t1, &b) > 1e-3 && max_diff(&t1, &t2) > 1e-3);
    assert_eq!(max_diff(&t1, &t1again), 0.0, "a training pass is seeded");
    // Dropout keeps the expected value: mean of many draws ≈ the input.
    let ones = Tensor::ones((200, 784), DType::F32, &dev).unwrap();
    let d = Sequential::input(&[784], &dev).add(dropout(0.25)).unwrap();
    let m = d
        .forward_pass(&ones, &mut Pass::training(3))
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((m - 1.0).abs() < 0.01, "{m}");
}

#[test]
fn batch_norm_normalises_while_training_and_uses_running_statistics_after() {
    let dev = Device::Cpu;
    let xs = ((Tensor::randn(0f32, 1f32, (64, 4, 5, 5), &dev).unwrap() * 3.0).unwrap() + 2.0).unwrap();
    let bn = Sequential::input(&[4, 5, 5], &dev)
        .add(batch_norm().momentum(0.5))
        .unwrap();
    let ys = bn.forward_pass(&xs, &mut Pass::training(0)).unwrap();
    let mean = ys.mean_all().unwrap().to_scalar::<f32>().unwrap();
    let var = ys.sqr().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-2, "{mean} {var}");
    let state = bn.named_state();
    assert_eq!(state.len(), 2);
    let running_mean = state[0].1.as_tensor().mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(
        (running_mean - 1.0).abs() < 0.3,
        "half way from 0 to ≈2: {running_mean}"
    );
    assert_eq!(
        bn.named_params().len(),
        2,
        "gamma and beta train; the running statistics do not"
    );
}

fn mae(pred: &Tensor, target: &Tensor) -> Result<Tensor, Error> {
    Ok((pred - target)?.abs()?.mean_all()?)
}

#[test]
fn fit_adds_the_layers_loss_terms_and_takes_a_custom_loss() {
    let dev = Device::Cpu;
    let xs = images(64);
    // A sparse autoencoder: an L1 penalty on the code.
    let enc = Sequential::input(&[784], &dev)
        .add(dense(32).relu())
        .unwrap()
        .add(activity_l1(1e-3))
        .unwrap();
    let dec = Sequential::input(&[32], &dev).add(dense(784).sigmoid()).unwrap();
    let sparse = Autoencoder::new(enc, dec).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(3)
        .with_batch_size(16)
        .with_loss(Loss::custom("mae", mae))
        .quiet();
    let h = fit(&sparse, &xs, &xs, Some((&xs, &xs)), &cfg).unwrap();
    assert_eq!(h.loss_name, "mae");
    let l1 = h.term("l1_activity").expect("the penalty is reported");
    assert_eq!(l1.len(), 3);
    assert!(l1.iter().all(|v| *v > 0.0));
    // The reported loss is the custom loss plus the penalty.
    let codes = predict(&sparse.encoder(), &xs, 64).unwrap();
    let penalty = codes.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() * 1e-3 / 64.0;
    let recon = predict(&sparse, &xs, 64).unwrap();
    let by_hand = mae(&recon, &xs).unwrap().to_scalar::<f32>().unwrap() + penalty;
    assert!(
        (h.last_val_loss().unwrap() - by_hand).abs() < 1e-4,
        "{:?} vs {by_hand}",
        h.last_val_loss()
    );
    assert!(h.loss[2] < h.loss[0], "{:?}", h.loss);

    // A variational autoencoder: the sampling layer adds the KL term.
    let enc = Sequential::input(&[784], &dev)
        .add(dense(64).relu())
        .unwrap()
        .add(dense(4))
        .unwrap()
        .add(sampling(1.0 / 784.0))
        .unwrap();
    assert_eq!(enc.output_shape(), vec![2]);
    let dec = Sequential::input(&[2], &dev)
        .add(dense(64).relu())
        .unwrap()
        .add(dense(784).sigmoid())
        .unwrap();
    let vae = Autoencoder::new(enc, dec).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(4)
        .with_batch_size(16)
        .with_loss(Loss::BinaryCrossEntropy)
        .quiet();
    let h = fit(&vae, &xs, &xs, None, &cfg).unwrap();
    let kl = h.term("kl").expect("the KL term is reported");
    assert!(kl.iter().all(|v| v.is_finite() && *v >= 0.0), "{kl:?}");
    assert!(h.loss[3] < h.loss[0], "{:?}", h.loss);
    // At inference the code is the mean: deterministic.
    assert_eq!(max_diff(&vae.encode(&xs).unwrap(), &vae.encode(&xs).unwrap()), 0.0);
    // A custom loss that does not give a scalar is refused by name.
    fn per_pixel(p: &Tensor, t: &Tensor) -> Result<Tensor, Error> {
        Ok((p - t)?)
    }
    let e = fit(
        &vae,
        &xs,
        &xs,
        None,
        &cfg.clone().with_loss(Loss::custom("per_pixel", per_pixel)),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("per_pixel") && e.to_string().contains("scalar"),
        "{e}"
    );
}

#[test]
fn a_sequential_on_its_own_trains_saves_and_loads() {
    let dev = Device::Cpu;
    let xs = images(32);
    let labels = Tensor::from_vec((0..32u32).map(|i| i % 10).collect::<Vec<_>>(), 32, &dev).unwrap();
    let clf = Sequential::input(&[784], &dev)
        .add(dense(32).relu())
        .unwrap()
        .add(dense(10))
        .unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(5)
        .with_batch_size(8)
        .with_loss(Loss::CrossEntropy)
        .quiet();
    let h = fit(&clf, &xs, &labels, None, &cfg).unwrap();
    assert!(h.loss[4] < h.loss[0]);
    let dir = std::env::temp_dir().join(format!("ae-nn-{}", std::process::id()));
    let path = dir.join("new/folder/clf.safetensors");
    clf.save(&path).unwrap();
    let other = Sequential::input(&[784], &dev)
        .seed(9)
        .add(dense(32).relu())
        .unwrap()
        .add(dense(10))
        .unwrap();
    assert!(
        max_diff(
            &Model::forward(&clf, &xs).unwrap(),
            &Model::forward(&other, &xs).unwrap()
        ) > 1e-4
    );
    other.load(&path).unwrap();
    assert_eq!(
        max_diff(
            &Model::forward(&clf, &xs).unwrap(),
            &Model::forward(&other, &xs).unwrap()
        ),
        0.0
    );
    // Another architecture: refused before any weight is written.
    let wider = Sequential::input(&[784], &dev)
        .add(dense(64).relu())
        .unwrap()
        .add(dense(10))
        .unwrap();
    let before = Model::forward(&wider, &xs).unwrap();
    let e = wider.load(&path).unwrap_err().to_string();
    assert!(
        e.contains("sequential.dense_1.weight") && e.contains("Nothing was loaded"),
        "{e}"
    );
    assert_eq!(max_diff(&before, &Model::forward(&wider, &xs).unwrap()), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fused_blocks_give_the_layer_by_layer_result() {
    let dev = Device::Cpu;
    let net = Sequential::input(&[3, 12, 12], &dev)
        .add(conv2d(8).relu())
        .unwrap()
        .add(max_pool(2))
        .unwrap()
        .add(up_sample(2))
        .unwrap()
        .add(conv2d(4).sigmoid())
        .unwrap();
    let xs = Tensor::randn(0f32, 1f32, (5, 3, 12, 12), &dev).unwrap();
    let whole = net.forward(&xs).unwrap();
    let mut one_by_one = xs.clone();
    for layer in net.layers() {
        one_by_one = layer.forward(&one_by_one, &mut Pass::inference()).unwrap();
    }
    assert!(max_diff(&whole, &one_by_one) < 1e-5);
}

#[test]
fn presets_are_written_on_the_public_api() {
    let dev = Device::Cpu;
    // The classic preset and the same two layers by hand give the same model.
    let preset = DenseAutoencoder::classic().build(&dev).unwrap();
    let enc = Sequential::input(&[784], &dev).add(dense(32).relu()).unwrap();
    let dec = Sequential::input(&[32], &dev).add(dense(784).sigmoid()).unwrap();
    let by_hand = Autoencoder::new(enc, dec).unwrap();
    let xs = images(3);
    assert_eq!(
        max_diff(
            &Model::forward(&preset, &xs).unwrap(),
            &Model::forward(&by_hand, &xs).unwrap()
        ),
        0.0
    );
    assert_eq!(
        UpConvAutoencoder::default().build(&dev).unwrap().param_count(),
        320 + 3 * 9248 + 289
    );
}
