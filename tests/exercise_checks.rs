//! The exercise checks against typical wrong answers, on real Fashion-MNIST
//! (skipped with a notice when it is not fetched): each must be refused by
//! the criterion it breaks, and an honest answer must pass.

use autoencoders::data::{data_dir, Dataset, DatasetKind};
use autoencoders::exercise::{codes, denoise, shoes};
use autoencoders::prelude::*;

fn fashion() -> Option<Dataset> {
    let dir = data_dir().join("fashion-mnist");
    if !dir.join("train-images-idx3-ubyte").is_file() {
        eprintln!("skipped: Fashion-MNIST not fetched (scripts/fetch-data.sh)");
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

/// New codes from the PCA of the training codes, decoded.
fn generate(ae: &Autoencoder, data: &Dataset, n: usize) -> Tensor {
    let codes = predict(&ae.encoder(), &data.train_images, 512).unwrap();
    let pca = Pca::fit(&codes, codes.dim(1).unwrap()).unwrap();
    predict(&ae.decoder(), &pca.sample(n, 1.0, 5, &Device::Cpu).unwrap(), 512).unwrap()
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

#[test]
fn generation_check_refuses_copies_repeats_reconstructions_and_wrong_classes() {
    let Some(data) = fashion() else { return };
    let shoe_data = data.only_classes(&shoes::CLASSES).unwrap();
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
        min_shoe_share: 0.5,
        min_kind_share: 0.0,
        ..shoes::FULL
    };
    let check = |xs: &Tensor, model: &Autoencoder| shoes::check_generated_with(xs, model, &judge, &shoe_data, &limits);

    // An honest answer passes.
    let honest = generate(&ae, &shoe_data, 300);
    check(&honest, &ae).expect("PCA-decorrelated samples are new, varied shoes");

    // Copies of training shoes.
    refused(
        check(&shoe_data.train_images.narrow(0, 0, 300).unwrap(), &ae),
        "new images, not copies",
    );
    // One generated image, 300 times; the mean shoe, 300 times.
    let one = honest.narrow(0, 0, 1).unwrap().repeat((300, 1)).unwrap();
    refused(check(&one, &ae), "varied images");
    let mean = shoe_data
        .train_images
        .mean_keepdim(0)
        .unwrap()
        .repeat((300, 1))
        .unwrap();
    refused(check(&mean, &ae), "varied images");
    // Reconstructions of the test shoes passed off as generations.
    let recon = predict(&ae, &shoe_data.test_images.narrow(0, 0, 250).unwrap(), 256).unwrap();
    refused(check(&recon, &ae), "new images, not copies");
    // A model trained on trousers and bags generates no shoes.
    let other = data.only_classes(&[1, 8]).unwrap();
    let wrong = trained_on(&other, 8);
    refused(check(&generate(&wrong, &other, 300), &wrong), "read as shoes");
    // Too few images, or pixels outside [0, 1].
    refused(check(&honest.narrow(0, 0, 20).unwrap(), &ae), "generated images");
    refused(check(&(honest.clone() * 3.0).unwrap(), &ae), "generated images");
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
    // A small denoiser trained on noisy → clean pairs passes the quick bar.
    let ae = dense_ae(2);
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
