//! The exercise checks against typical wrong answers, on real Fashion-MNIST
//! (fetched by the test command; skipped with a notice elsewhere, a failure
//! under CI): each must be refused by the criterion it breaks, and an honest
//! answer must pass.

mod common;

use autoencoders::data::{data_dir, Dataset, DatasetKind};
use autoencoders::exercise::{anomaly, codes, denoise, shoes, vae};
use autoencoders::prelude::*;

fn fashion() -> Option<Dataset> {
    let dir = data_dir().join("fashion-mnist");
    if !common::have(
        dir.join("train-images-idx3-ubyte").is_file(),
        "Fashion-MNIST is not fetched (scripts/fetch-data.sh)",
    ) {
        return None;
    }
    Some(
        Dataset::load(DatasetKind::FashionMnist, dir)
            .unwrap()
            .subset(6_000, 1_000)
            .unwrap(),
    )
}

fn dense_ae(seed: u64) -> Autoencoder {
    let dev = Device::Cpu;
    let enc = Sequential::input(&[784], &dev)
        .seed(seed)
        .add(dense(128).relu())
        .unwrap()
        .add(dense(16).relu())
        .unwrap();
    let dec = Sequential::input(&[16], &dev)
        .seed(seed)
        .add(dense(128).relu())
        .unwrap()
        .add(dense(784).sigmoid())
        .unwrap();
    Autoencoder::new(enc, dec).unwrap()
}

fn trained_on(data: &Dataset, epochs: usize) -> Autoencoder {
    let ae = dense_ae(3);
    let cfg = TrainConfig::default()
        .with_epochs(epochs)
        .with_loss(Loss::BinaryCrossEntropy)
        .quiet();
    fit(&ae, &data.train_images, &data.train_images, None, &cfg).unwrap();
    ae
}

/// New codes drawn from the PCA of the training codes (lesson 6's route).
fn sampled_codes(ae: &Autoencoder, data: &Dataset, n: usize) -> Tensor {
    let codes = predict(&ae.encoder(), &data.train_images, 512).unwrap();
    let pca = Pca::fit(&codes, codes.dim(1).unwrap()).unwrap();
    pca.sample(n, 1.0, 5, &Device::Cpu).unwrap()
}

/// The check's error, which must name `criterion`.
fn refused(result: Result<autoencoders::exercise::Report, Error>, criterion: &str) -> String {
    let msg = result.expect_err("a wrong answer was accepted").to_string();
    let failed: Vec<&str> = msg.lines().filter(|l| l.starts_with('✘')).collect();
    assert!(
        failed.iter().any(|l| l.contains(criterion)),
        "expected {criterion:?} to fail, got:\n{msg}"
    );
    msg
}

/// The first `n` training shoes, edited without any model.
fn edited(shoes: &Tensor, n: usize, edit: &str) -> Tensor {
    let x = shoes.narrow(0, 0, n).unwrap();
    let imgs = x.reshape((n, 28, 28)).unwrap();
    let out = match edit {
        "noise" => GaussianNoise::new(0.05).with_seed(9).apply(&x).unwrap(),
        "moved" => {
            let z = Tensor::zeros((n, 28, 1), DType::F32, &Device::Cpu).unwrap();
            Tensor::cat(&[&z, &imgs.narrow(2, 0, 27).unwrap()], 2).unwrap()
        }
        "mirrored" => Tensor::cat(
            &(0..28).rev().map(|c| imgs.narrow(2, c, 1).unwrap()).collect::<Vec<_>>(),
            2,
        )
        .unwrap(),
        "brightened" => (x * 1.1).unwrap().clamp(0f32, 1f32).unwrap(),
        "darkened" => (x * 0.9).unwrap(),
        other => panic!("no edit {other}"),
    };
    out.reshape((n, 784)).unwrap()
}

#[test]
fn generation_check_judges_the_generator_and_refuses_encoded_data_set_shoes() {
    let Some(data) = fashion() else { return };
    let shoe_data = data.only_classes(&shoes::CLASSES).unwrap();
    let all = Tensor::cat(&[&shoe_data.train_images, &shoe_data.test_images], 0).unwrap();
    let judge = Classifier::new(7, &Device::Cpu).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(2)
        .with_loss(Loss::CrossEntropy)
        .quiet();
    fit(&judge, &data.train_images, &data.train_labels, None, &cfg).unwrap();
    let ae = trained_on(&shoe_data, 8);
    // Full-mode criteria for novelty and variety; quick-mode bars for the
    // judge, whose training here is short.
    let limits = shoes::Limits {
        max_mse: 0.040,
        min_shoe_share: 0.5,
        min_kind_share: 0.0,
        ..shoes::FULL
    };
    let check = |model: &Autoencoder, codes: &Tensor| shoes::check_generator_with(model, codes, &judge, &all, &limits);

    // An honest answer passes: new codes of the training codes' distribution.
    let honest = sampled_codes(&ae, &shoe_data, 300);
    check(&ae, &honest).expect("PCA-decorrelated samples are new, varied shoes");

    // Encodings of data-set shoes, as they are and lightly edited: the
    // decoder reconstructs them, it generates nothing.
    let encode = |x: &Tensor| predict(&ae.encoder(), x, 256).unwrap();
    let criterion = "new codes, not the encoder's codes";
    refused(
        check(&ae, &encode(&shoe_data.train_images.narrow(0, 0, 300).unwrap())),
        criterion,
    );
    refused(
        check(&ae, &encode(&shoe_data.test_images.narrow(0, 0, 250).unwrap())),
        criterion,
    );
    for edit in ["noise", "moved", "mirrored"] {
        let msg = refused(
            check(&ae, &encode(&edited(&shoe_data.train_images, 300, edit))),
            criterion,
        );
        eprintln!("{edit}: {}", msg.lines().find(|l| l.contains(criterion)).unwrap_or(""));
    }
    // Shoes brightened (×1.1) or darkened (×0.9), then encoded: their codes
    // can lie as far from the data set's as new ones do, but they decode to
    // the reconstructions of data-set shoes at another brightness.
    for edit in ["brightened", "darkened"] {
        let msg = refused(
            check(&ae, &encode(&edited(&shoe_data.train_images, 300, edit))),
            "new images, not copies",
        );
        eprintln!(
            "{edit}: {}",
            msg.lines().find(|l| l.contains("new images")).unwrap_or("")
        );
    }
    // Encoded shoes handed in with another encoder, so that the check would
    // compare them with that encoder's codes: the pair no longer rebuilds.
    let swapped = Autoencoder::new(dense_ae(9).encoder(), ae.decoder()).unwrap();
    let copies = encode(&shoe_data.train_images.narrow(0, 0, 300).unwrap());
    refused(check(&swapped, &copies), "the encoder and decoder are a trained pair");
    // One code, 300 times; the mean code, 300 times.
    refused(
        check(&ae, &honest.narrow(0, 0, 1).unwrap().repeat((300, 1)).unwrap()),
        "varied images",
    );
    let mean = encode(&shoe_data.train_images)
        .mean_keepdim(0)
        .unwrap()
        .repeat((300, 1))
        .unwrap();
    refused(check(&ae, &mean), "varied images");
    // A model trained on trousers and bags generates no shoes.
    let other = data.only_classes(&[1, 8]).unwrap();
    let wrong = trained_on(&other, 8);
    refused(check(&wrong, &sampled_codes(&wrong, &other, 300)), "read as shoes");
    // Too few codes, codes of the wrong width, codes with NaN.
    refused(check(&ae, &honest.narrow(0, 0, 20).unwrap()), "codes for your decoder");
    refused(check(&ae, &honest.narrow(1, 0, 8).unwrap()), "codes for your decoder");
    let nan = honest.affine(0.0, f64::NAN).unwrap();
    refused(check(&ae, &nan), "codes for your decoder");
    // A decoder without a sigmoid at the end gives pixels outside [0, 1].
    let dev = Device::Cpu;
    let linear = Autoencoder::new(ae.encoder(), Sequential::input(&[16], &dev).add(dense(784)).unwrap()).unwrap();
    refused(check(&linear, &(honest.clone() * 10.0).unwrap()), "decoded images");
}

#[test]
fn reconstruction_check_refuses_untrained_and_copying_models() {
    let Some(data) = fashion() else { return };
    let shoe_data = data.only_classes(&shoes::CLASSES).unwrap();
    let limits = shoes::QUICK;
    shoes::check_reconstruction_with(&trained_on(&shoe_data, 8), &shoe_data, &limits).expect("a trained model passes");
    refused(
        shoes::check_reconstruction_with(&dense_ae(3), &shoe_data, &limits),
        "reconstruction of the test shoes",
    );
    // An "autoencoder" of no layers returns its input: perfect, and no squeeze.
    let dev = Device::Cpu;
    let copy = Autoencoder::new(Sequential::input(&[784], &dev), Sequential::input(&[784], &dev)).unwrap();
    refused(
        shoes::check_reconstruction_with(&copy, &shoe_data, &limits),
        "code size",
    );
}

#[test]
fn denoising_check_refuses_the_noisy_input_and_an_untrained_model() {
    let Some(data) = fashion() else { return };
    let clean = data.test_images.narrow(0, 0, 500).unwrap();
    let dev = Device::Cpu;
    let limits = denoise::QUICK;
    // Returning the noisy input unchanged gains nothing.
    let identity = Autoencoder::new(Sequential::input(&[784], &dev), Sequential::input(&[784], &dev)).unwrap();
    refused(denoise::check_with(&identity, &clean, &limits), "denoising gain");
    refused(denoise::check_with(&dense_ae(1), &clean, &limits), "denoising gain");
    // A denoiser over the weight budget is refused whatever it gains.
    let big = Autoencoder::new(
        Sequential::input(&[784], &dev).add(dense(256).relu()).unwrap(),
        Sequential::input(&[256], &dev).add(dense(784).sigmoid()).unwrap(),
    )
    .unwrap();
    refused(denoise::check_with(&big, &clean, &limits), "a small denoiser");
    // A small denoiser trained on noisy → clean pairs passes the quick bar.
    let enc = Sequential::input(&[1, 28, 28], &dev)
        .add(conv2d(8).kernel(3).same().relu())
        .unwrap()
        .add(max_pool(2))
        .unwrap();
    let dec = Sequential::input(&enc.output_shape(), &dev)
        .add(up_sample(2))
        .unwrap()
        .add(conv2d(1).kernel(3).same().sigmoid())
        .unwrap();
    let ae = Autoencoder::new(enc, dec).unwrap();
    let noisy = GaussianNoise::new(denoise::NOISE)
        .with_seed(1)
        .apply(&data.train_images)
        .unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(4)
        .with_loss(Loss::BinaryCrossEntropy)
        .quiet();
    fit(&ae, &noisy, &data.train_images, None, &cfg).unwrap();
    denoise::check_with(&ae, &clean, &limits).expect("a trained denoiser passes");
}

#[test]
fn code_check_refuses_big_codes_and_untrained_models() {
    let Some(data) = fashion() else { return };
    let pool = (&data.train_images, &data.train_labels);
    let held_out = (&data.test_images, &data.test_labels);
    // An untrained model rebuilds nothing.
    refused(
        codes::check_with(&dense_ae(3), pool, held_out, &codes::QUICK),
        "reconstruction of held-out images",
    );
    // A code of 64 numbers is no small code, trained or not.
    let dev = Device::Cpu;
    let wide = Autoencoder::new(
        Sequential::input(&[784], &dev).add(dense(64).relu()).unwrap(),
        Sequential::input(&[64], &dev).add(dense(784).sigmoid()).unwrap(),
    )
    .unwrap();
    let msg = refused(codes::check_with(&wide, pool, held_out, &codes::QUICK), "code size");
    assert!(msg.contains("64 numbers per image"), "{msg}");
    // An honest answer, trained a few epochs, passes the quick-mode bars.
    let ae = trained_on(&data, 8);
    let report = codes::check_with(&ae, pool, held_out, &codes::QUICK).unwrap();
    assert!(report
        .criteria
        .iter()
        .any(|c| c.measured.contains("PCA with 16 components")));
}

/// A dense VAE 784-256-(2·latent) | latent-256-784 with KL weight β/784.
fn small_vae(latent: usize, beta: f32) -> Autoencoder {
    let dev = Device::Cpu;
    let enc = Sequential::input(&[784], &dev)
        .seed(4)
        .add(dense(256).relu())
        .unwrap()
        .add(dense(2 * latent))
        .unwrap()
        .add(sampling(beta / 784.0))
        .unwrap();
    let dec = Sequential::input(&[latent], &dev)
        .seed(5)
        .add(dense(256).relu())
        .unwrap()
        .add(dense(784).sigmoid())
        .unwrap();
    Autoencoder::new(enc, dec).unwrap()
}

#[test]
fn vae_check_judges_prior_samples_and_refuses_collapsed_and_oversized_codes() {
    let Some(data) = fashion() else { return };
    let judge = Classifier::new(7, &Device::Cpu).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(2)
        .with_loss(Loss::CrossEntropy)
        .quiet();
    fit(&judge, &data.train_images, &data.train_labels, None, &cfg).unwrap();
    let held = data.test_images.narrow(0, 0, 500).unwrap();
    // Bars for a few epochs on 6,000 images: the criteria, not the full-run values.
    let limits = vae::Limits {
        max_code: 16,
        min_sharp: 0.05,
        min_classes: 2,
        max_bce: 0.40,
    };
    let honest = small_vae(8, 1.0);
    trained(&honest, &data, 8);
    let report = vae::check_with(&honest, &judge, &held, &limits).expect("a trained VAE passes");
    assert!(report
        .criteria
        .iter()
        .any(|c| c.measured.contains("of 10 classes appear")));
    // A huge β drowns the reconstruction: the decoder ignores its code and
    // draws one blur for every sample.
    let collapsed = small_vae(8, 2_000.0);
    trained(&collapsed, &data, 8);
    let msg = refused(
        vae::check_with(&collapsed, &judge, &held, &limits),
        "reconstruction of held-out images",
    );
    assert!(
        msg.contains("diverse samples of the prior"),
        "a collapsed VAE draws one thing:\n{msg}"
    );
    // An untrained VAE, and a code wider than the exercise allows.
    refused(
        vae::check_with(&small_vae(8, 1.0), &judge, &held, &limits),
        "reconstruction of held-out images",
    );
    refused(
        vae::check_with(&small_vae(32, 1.0), &judge, &held, &limits),
        "code size",
    );
}

fn trained(model: &impl Model, data: &Dataset, epochs: usize) {
    let cfg = TrainConfig::default()
        .with_epochs(epochs)
        .with_loss(Loss::BinaryCrossEntropy)
        .quiet();
    fit(model, &data.train_images, &data.train_images, None, &cfg).unwrap();
}

#[test]
fn anomaly_check_grades_the_score_and_a_threshold_from_training_data() {
    let Some(data) = fashion() else { return };
    let normal_classes: Vec<u32> = (0..10).filter(|&c| c != anomaly::ANOMALY).collect();
    let normal = data.only_classes(&normal_classes).unwrap();
    let model = dense_ae(6);
    trained(&model, &normal, 6);
    let limits = anomaly::Limits {
        min_auc: 0.60,
        min_precision: 0.20,
        min_recall: 0.20,
    };
    let report = anomaly::check_with(&model, 0.95, &data, &limits).expect("a model of normal images passes");
    let auc = reported_auc(&report);
    // The threshold is the quantile of the training scores: a very high one
    // flags almost nothing (recall falls), a low one flags half the normal
    // images (precision falls).
    refused(
        anomaly::check_with(&model, 0.9999, &data, &limits),
        "recall at your threshold",
    );
    refused(
        anomaly::check_with(&model, 0.5, &data, &limits),
        "precision at your threshold",
    );
    // A quantile outside [0.5, 1) is a clear error, not a verdict.
    for q in [0.2, 1.0, f32::NAN] {
        let err = anomaly::check_with(&model, q, &data, &limits).unwrap_err().to_string();
        assert!(err.contains("quantile") && err.contains("[0.5, 1)"), "{err}");
    }
    // A model that trained on the anomaly too rebuilds ankle boots better,
    // and its score separates them worse.
    let seen = dense_ae(6);
    trained(&seen, &data, 6);
    let none = anomaly::Limits {
        min_auc: 0.0,
        min_precision: 0.0,
        min_recall: 0.0,
    };
    let seen_report = anomaly::check_with(&seen, 0.95, &data, &none).unwrap();
    let seen_auc = reported_auc(&seen_report);
    assert!(seen_auc < auc, "trained on boots: AUC {seen_auc} against {auc}");
}

/// The ROC AUC an anomaly report states ("ROC AUC 0.912 on …").
fn reported_auc(report: &autoencoders::exercise::Report) -> f32 {
    let measured = &report.criteria[0].measured;
    measured
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no AUC in {measured:?}"))
}
