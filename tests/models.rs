//! Models, losses, noise, optimisers and training on small seeded data.

mod common;

use autoencoders::prelude::*;

fn images(n: usize, seed: u64) -> Tensor {
    // Smooth blobs in [0, 1]: learnable, unlike uniform noise.
    let mut v = Vec::with_capacity(n * 784);
    for i in 0..n {
        let (cx, cy) = (
            8.0 + ((i as u64 * 7 + seed) % 12) as f32,
            8.0 + ((i as u64 * 5 + seed) % 12) as f32,
        );
        for y in 0..28 {
            for x in 0..28 {
                let d2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
                v.push((-d2 / 18.0).exp());
            }
        }
    }
    Tensor::from_vec(v, (n, 784), &Device::Cpu).unwrap()
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

#[test]
fn dense_presets_have_the_seed_parameter_counts_and_shapes() {
    let dev = Device::Cpu;
    let xs = images(3, 0);
    let classic = DenseAutoencoder::classic().build(&dev).unwrap();
    assert_eq!(classic.param_count(), 50_992);
    assert_eq!(classic.summary().unwrap().total_params(), 50_992);
    assert_eq!(classic.encode(&xs).unwrap().dims(), &[3, 32]);
    assert_eq!(Model::forward(&classic, &xs).unwrap().dims(), &[3, 784]);

    let s000 = DenseAutoencoder::seed000().build(&dev).unwrap();
    assert_eq!(s000.encode(&xs).unwrap().dims(), &[3, 10]);
    // 784·500+500 + 500·200+200 + 200·10+10, mirrored.
    let enc = 784 * 500 + 500 + 500 * 200 + 200 + 200 * 10 + 10;
    let dec = 10 * 200 + 200 + 200 * 500 + 500 + 500 * 784 + 784;
    assert_eq!(s000.param_count(), enc + dec);

    let deep = DenseAutoencoder::deep().build(&dev).unwrap();
    assert_eq!(deep.encode(&xs).unwrap().dims(), &[3, 32]);
    let d2 = DenseAutoencoder::deep_2d().build(&dev).unwrap();
    assert_eq!(d2.encode(&xs).unwrap().dims(), &[3, 2]);
    assert_eq!(d2.decode(&d2.encode(&xs).unwrap()).unwrap().dims(), &[3, 784]);
}

#[test]
fn conv_models_have_the_seed_shapes_and_counts() {
    let dev = Device::Cpu;
    let xs = images(2, 1);
    let conv = ConvAutoencoder::default().build(&dev).unwrap();
    assert_eq!(conv.param_count(), 46_529, "seed 001 logs 46,529 parameters");
    assert_eq!(conv.encode(&xs).unwrap().dims(), &[2, 64, 3, 3]);
    assert_eq!(Model::forward(&conv, &xs).unwrap().dims(), &[2, 784]);
    let s = conv.summary().unwrap();
    let shapes: Vec<Vec<usize>> = s.rows.iter().map(|r| r.output.clone()).collect();
    assert!(
        shapes.contains(&vec![32, 7, 7]) && shapes.contains(&vec![16, 14, 14]) && shapes.contains(&vec![1, 28, 28])
    );

    let up = UpConvAutoencoder::default().build(&dev).unwrap();
    assert_eq!(up.encode(&xs).unwrap().dims(), &[2, 32, 7, 7]);
    assert_eq!(Model::forward(&up, &xs).unwrap().dims(), &[2, 784]);
    // 3·3·1·32+32, then three 3·3·32·32+32, then 3·3·32·1+1
    assert_eq!(up.param_count(), 320 + 3 * 9248 + 289);
}

#[test]
fn wrong_input_shape_is_a_clear_error() {
    let ae = DenseAutoencoder::classic().build(&Device::Cpu).unwrap();
    let bad = Tensor::zeros((4, 100), DType::F32, &Device::Cpu).unwrap();
    let msg = ae.encode(&bad).unwrap_err().to_string();
    assert!(msg.contains("(N, 784)") && msg.contains("[4, 100]"), "{msg}");
    // The same 784 values per image in another layout are reshaped.
    let square = Tensor::zeros((4, 28, 28), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(ae.encode(&square).unwrap().dims(), &[4, 32]);
    assert!(DenseAutoencoder::classic()
        .with_latent_dim(0)
        .build(&Device::Cpu)
        .is_err());
}

#[test]
fn same_seed_same_weights_and_encoder_shares_them() {
    let dev = Device::Cpu;
    let xs = images(4, 2);
    let a = DenseAutoencoder::deep().build(&dev).unwrap();
    let b = DenseAutoencoder::deep().build(&dev).unwrap();
    let c = DenseAutoencoder::deep().with_seed(7).build(&dev).unwrap();
    let fa = Model::forward(&a, &xs).unwrap();
    let diff = common::max_diff;
    assert_eq!(diff(&fa, &Model::forward(&b, &xs).unwrap()), 0.0);
    assert!(diff(&fa, &Model::forward(&c, &xs).unwrap()) > 1e-4);
    // Train a; its encoder (taken before training) sees the new weights.
    let enc = a.encoder();
    let before = enc.forward(&xs).unwrap();
    fit(
        &a,
        &xs,
        &xs,
        None,
        &TrainConfig::default().with_epochs(2).with_batch_size(2).quiet(),
    )
    .unwrap();
    assert!(diff(&before, &enc.forward(&xs).unwrap()) > 0.0);
    assert_eq!(diff(&a.encode(&xs).unwrap(), &enc.forward(&xs).unwrap()), 0.0);
}

#[test]
fn losses_match_hand_computed_values() {
    let dev = Device::Cpu;
    let p = Tensor::new(&[[0.9f32, 0.2], [0.5, 0.1]], &dev).unwrap();
    let t = Tensor::new(&[[1.0f32, 0.0], [1.0, 0.0]], &dev).unwrap();
    let mse_hand = (0.01 + 0.04 + 0.25 + 0.01) / 4.0;
    assert!((scalar(&mse(&p, &t).unwrap()) - mse_hand).abs() < 1e-6);
    let bce_hand = -((0.9f32).ln() + (0.8f32).ln() + (0.5f32).ln() + (0.9f32).ln()) / 4.0;
    assert!((scalar(&binary_cross_entropy(&p, &t).unwrap()) - bce_hand).abs() < 1e-5);
    // Clipping: a confident wrong prediction gives a large but finite loss.
    let sure = Tensor::new(&[0.0f32, 1.0], &dev).unwrap();
    let opposite = Tensor::new(&[1.0f32, 0.0], &dev).unwrap();
    let clipped = scalar(&binary_cross_entropy(&sure, &opposite).unwrap());
    // In f32, as Keras computes: 1 - 1e-7 rounds to 1 - 2^-23.
    let hand = (-(1e-7f32).ln() - (1.0f32 - (1.0f32 - 1e-7f32)).ln()) / 2.0;
    assert!(
        clipped.is_finite() && (clipped - hand).abs() < 1e-4,
        "{clipped} vs {hand}"
    );
    // KL of distributions: Σ t ln(t/p), mean over rows.
    let pd = Tensor::new(&[[0.5f32, 0.5], [0.9, 0.1]], &dev).unwrap();
    let td = Tensor::new(&[[0.25f32, 0.75], [0.9, 0.1]], &dev).unwrap();
    let kl_hand = (0.25f32 * (0.5f32).ln() + 0.75 * (1.5f32).ln()) / 2.0;
    assert!((scalar(&kl_divergence(&pd, &td).unwrap()) - kl_hand).abs() < 1e-6);
    assert!(mse(&p, &Tensor::zeros(3, DType::F32, &dev).unwrap()).is_err());
    let same = images(2, 0);
    assert!(psnr(&same, &same).unwrap().is_infinite());
}

#[test]
fn noise_is_bounded_seeded_and_validated() {
    let xs = images(8, 3);
    let a = GaussianNoise::new(0.5).apply(&xs).unwrap();
    let b = GaussianNoise::new(0.5).apply(&xs).unwrap();
    let c = GaussianNoise::new(0.5).with_seed(1).apply(&xs).unwrap();
    assert_eq!(a.dims(), xs.dims());
    assert!(scalar(&a.min_all().unwrap()) >= 0.0 && scalar(&a.max_all().unwrap()) <= 1.0);
    assert_eq!(scalar(&(&a - &b).unwrap().abs().unwrap().sum_all().unwrap()), 0.0);
    assert!(scalar(&(&a - &c).unwrap().abs().unwrap().sum_all().unwrap()) > 0.0);
    // The noise really has the requested spread (before clipping): use mid-grey.
    let grey = (Tensor::ones((200, 784), DType::F32, &Device::Cpu).unwrap() * 0.5).unwrap();
    let n = add_gaussian_noise(&grey, 0.1, 0).unwrap();
    let sd = scalar(&(n - &grey).unwrap().sqr().unwrap().mean_all().unwrap()).sqrt();
    assert!((sd - 0.1).abs() < 0.005, "{sd}");
    let err = add_gaussian_noise(&xs, -1.0, 0).unwrap_err().to_string();
    assert!(err.contains("-1") && err.contains("≥ 0"), "{err}");
}

#[test]
fn fit_lowers_the_loss_with_every_optimiser() {
    let dev = Device::Cpu;
    let xs = images(64, 4);
    for (opt, loss, epochs) in [
        (Optimizer::adam(), Loss::Mse, 8),
        (Optimizer::rmsprop(), Loss::BinaryCrossEntropy, 8),
        (Optimizer::Sgd { lr: 10.0 }, Loss::Mse, 8),
        (
            Optimizer::Adadelta {
                lr: 1.0,
                rho: 0.95,
                eps: 1e-7,
            },
            Loss::BinaryCrossEntropy,
            8,
        ),
    ] {
        let ae = DenseAutoencoder::classic().build(&dev).unwrap();
        let before = evaluate(&ae, &xs, &xs, loss, 32).unwrap();
        let cfg = TrainConfig::default()
            .with_epochs(epochs)
            .with_batch_size(16)
            .with_optimizer(opt)
            .with_loss(loss)
            .quiet();
        let h = fit(&ae, &xs, &xs, Some((&xs, &xs)), &cfg).unwrap();
        let after = evaluate(&ae, &xs, &xs, loss, 32).unwrap();
        assert_eq!(h.loss.len(), epochs);
        assert_eq!(h.val_loss.len(), epochs);
        assert!((h.last_val_loss().unwrap() - after).abs() < 1e-5);
        // Adadelta starts with tiny steps by design; the others must cut 10 %.
        let factor = if matches!(opt, Optimizer::Adadelta { .. }) {
            0.98
        } else {
            0.9
        };
        assert!(after < before * factor, "{opt:?}: {before} -> {after}");
    }
}

#[test]
fn fit_is_reproducible_on_cpu() {
    let xs = images(32, 5);
    let run = || {
        let ae = DenseAutoencoder::classic().build(&Device::Cpu).unwrap();
        fit(
            &ae,
            &xs,
            &xs,
            None,
            &TrainConfig::default().with_epochs(2).with_batch_size(8).quiet(),
        )
        .unwrap()
        .loss
    };
    assert_eq!(run(), run());
}

#[test]
fn conv_models_train() {
    let xs = images(32, 6);
    for ae in [
        ConvAutoencoder::default().build(&Device::Cpu).unwrap(),
        UpConvAutoencoder { filters: 8, seed: 1 }.build(&Device::Cpu).unwrap(),
    ] {
        let before = evaluate(&ae, &xs, &xs, Loss::BinaryCrossEntropy, 16).unwrap();
        let cfg = TrainConfig::default()
            .with_epochs(4)
            .with_batch_size(8)
            .with_loss(Loss::BinaryCrossEntropy)
            .quiet();
        fit(&ae, &xs, &xs, None, &cfg).unwrap();
        let after = evaluate(&ae, &xs, &xs, Loss::BinaryCrossEntropy, 16).unwrap();
        assert!(after < before, "{}: {before} -> {after}", ae.name());
    }
}

#[test]
fn bad_training_arguments_are_errors() {
    let ae = DenseAutoencoder::classic().build(&Device::Cpu).unwrap();
    let xs = images(4, 0);
    let ys = images(3, 0);
    let e = fit(&ae, &xs, &ys, None, &TrainConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 inputs but 3 targets"), "{e}");
    assert!(fit(&ae, &xs, &xs, None, &TrainConfig::default().with_batch_size(0)).is_err());
    assert!(fit(
        &ae,
        &xs,
        &xs,
        None,
        &TrainConfig::default().with_optimizer(Optimizer::adam_lr(-1.0))
    )
    .is_err());
    // An encoder on its own is a model: its output is not an image, so an
    // image target is a shape error naming both.
    let e = fit(&ae.encoder(), &xs, &xs, None, &TrainConfig::default().quiet())
        .unwrap_err()
        .to_string();
    assert!(e.contains("[4, 784]") && e.contains("[4, 32]"), "{e}");
}

#[test]
fn save_and_load_round_trip() {
    let dev = Device::Cpu;
    let xs = images(4, 1);
    let a = DenseAutoencoder::classic().build(&dev).unwrap();
    let path = std::env::temp_dir().join(format!("ae-roundtrip-{}.safetensors", std::process::id()));
    a.save(&path).unwrap();
    let b = DenseAutoencoder::classic().with_seed(99).build(&dev).unwrap();
    b.load(&path).unwrap();
    let d = (Model::forward(&a, &xs).unwrap() - Model::forward(&b, &xs).unwrap()).unwrap();
    assert_eq!(scalar(&d.abs().unwrap().max_all().unwrap()), 0.0);
    assert!(b.load("/nonexistent/w.safetensors").is_err());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn figures_render_and_save_atomically() {
    let xs = images(12, 2);
    let png = reconstruction_grid(&xs, &xs, 10).unwrap();
    assert_eq!(&png.bytes[1..4], b"PNG");
    // A label column ("original", "reconstruction") left of 10 images of 56 px.
    let images_w = 10 * 56 + 11 * 2;
    assert!(
        png.width > images_w + 40 && png.width < images_w + 200,
        "width {}",
        png.width
    );
    assert_eq!(png.height, 2 * 56 + 3 * 2);
    let decoder = png::Decoder::new(std::io::Cursor::new(png.bytes.clone()));
    let mut reader = decoder.read_info().unwrap();
    let mut px = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut px).unwrap();
    let label_w = (png.width - images_w) as usize;
    let dark = (0..png.height as usize)
        .flat_map(|y| (0..label_w).map(move |x| (y, x)))
        .filter(|&(y, x)| px[y * png.width as usize + x] < 100)
        .count();
    assert!(dark > 50, "the row labels were not drawn ({dark} dark pixels)");
    let canvas = image_canvas(&xs, 3, 4).unwrap();
    assert_eq!(canvas.height, 3 * 56 + 4 * 2);
    let dir = std::env::temp_dir().join(format!("ae-fig-{}", std::process::id()));
    png.save(dir.join("grid.png")).unwrap();
    assert_eq!(std::fs::read(dir.join("grid.png")).unwrap(), png.bytes);
    let h = History {
        loss: vec![0.3, 0.2, 0.1],
        val_loss: vec![0.35, 0.25, 0.2],
        seconds: vec![1.0; 3],
        loss_name: "mse".into(),
        ..Default::default()
    };
    let svg = h.plot().unwrap();
    assert!(svg.svg.starts_with("<svg") && svg.svg.contains("val_loss"));
    let pts = Tensor::new(&[[0f32, 1.0], [1.0, 0.0], [0.5, 0.5]], &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap();
    let sc = scatter_by_class("codes", &pts, &labels, &["zero", "one", "two"]).unwrap();
    assert!(sc.svg.contains("zero") && sc.svg.contains("two"));
    assert!(scatter_by_class(
        "x",
        &pts,
        &Tensor::new(&[0u32, 1, 7], &Device::Cpu).unwrap(),
        &["a", "b"]
    )
    .is_err());
    assert!(image_rows(
        &[("bad", &Tensor::zeros((2, 10), DType::F32, &Device::Cpu).unwrap())],
        2
    )
    .is_err());
    assert!(line_chart("nan", "x", "y", &[("s", &[f32::NAN])]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn layers_report_kind_and_params() {
    let ae = ConvAutoencoder::default().build(&Device::Cpu).unwrap();
    let kinds: Vec<&str> = ae.encoder().layers().iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds,
        [
            "Conv2D",
            "MaxPooling2D",
            "Conv2D",
            "MaxPooling2D",
            "Conv2D",
            "MaxPooling2D"
        ]
    );
    let text = ae.summary().unwrap().to_string();
    assert!(text.contains("Total params: 46,529"), "{text}");
}

#[test]
fn rmsprop_and_adadelta_take_the_keras_step() {
    // loss = w², w = 1: gradient 2.
    for (opt, expected) in [
        // v = 0.1·4; w -= 0.001·2 / (√0.4 + 1e-7)
        (Optimizer::rmsprop(), 1.0 - 0.001 * 2.0 / (0.4f64.sqrt() + 1e-7)),
        // E[g²] = 0.05·4; Δ = -√(1e-7) / √(0.2 + 1e-7) · 2; w += 1.0·Δ
        (
            Optimizer::Adadelta {
                lr: 1.0,
                rho: 0.95,
                eps: 1e-7,
            },
            1.0 - (1e-7f64).sqrt() / (0.2f64 + 1e-7).sqrt() * 2.0,
        ),
        (Optimizer::Sgd { lr: 0.1 }, 0.8),
        // Adam's first step is lr · sign(g) (up to ε).
        (Optimizer::adam(), 1.0 - 0.001),
    ] {
        let w = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let mut state = opt.build(vec![w.clone()]).unwrap();
        let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
        state.backward_step(&loss).unwrap();
        let got = w.as_tensor().to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - expected).abs() < 1e-6, "{opt:?}: {got} vs {expected}");
    }
}
