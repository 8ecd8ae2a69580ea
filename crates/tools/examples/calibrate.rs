//! Runs the exercise checks, with their full-mode limits, on honest answers
//! (two seeds each) and on the typical wrong ones, at full budget, and
//! prints every criterion as measured: the figures the thresholds in
//! `src/exercise/` are chosen from (docs/maintaining.md, "Exercise
//! thresholds"). A check that refuses an answer is reported, not fatal.
//!
//! ```text
//! cargo run --release -p autoencoders-tools --example calibrate -- shoes|denoise|vae|anomaly
//! ```

use autoencoders::exercise::{self, anomaly, denoise, shoes, vae, Report};
use autoencoders::prelude::*;

/// The example's arguments.
#[derive(clap::Parser)]
#[command(
    name = "calibrate",
    about = "The exercise checks on honest and wrong answers, at full budget"
)]
struct Args {
    /// The exercise: shoes, denoise, vae or anomaly.
    exercise: String,
    /// Epochs of the honest answers (each exercise's solution uses its own when unset).
    #[arg(long)]
    epochs: Option<usize>,
}

fn main() -> autoencoders::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let dev = Device::Cpu;
    match args.exercise.as_str() {
        "shoes" => calibrate_shoes(args.epochs.unwrap_or(20), &dev),
        "denoise" => calibrate_denoise(args.epochs.unwrap_or(10), &dev),
        "vae" => calibrate_vae(args.epochs.unwrap_or(20), &dev),
        "anomaly" => calibrate_anomaly(args.epochs.unwrap_or(10), &dev),
        other => Err(Error::InvalidArgument(format!(
            "exercise {other:?}: use shoes, denoise, vae or anomaly"
        ))),
    }
}

/// Prints which answer was judged, runs the check and says how it ended.
fn judged(what: &str, check: impl FnOnce() -> autoencoders::Result<Report>) {
    println!("\n== {what}");
    match check() {
        Ok(_) => println!("-> passed"),
        Err(Error::CheckFailed { .. }) => println!("-> refused"),
        Err(e) => println!("-> error: {e}"),
    }
}

fn train(model: &impl Model, xs: &Tensor, ys: &Tensor, epochs: usize, loss: Loss) -> autoencoders::Result<()> {
    let start = std::time::Instant::now();
    let cfg = TrainConfig::default().with_epochs(epochs).with_loss(loss).quiet();
    let h = fit(model, xs, ys, None, &cfg)?;
    println!(
        "   trained {epochs} epochs in {:.0} s, loss {:.4}",
        start.elapsed().as_secs_f32(),
        h.last_loss().unwrap_or(f32::NAN)
    );
    Ok(())
}

/// Exercise 1's solution model (a dense 784-256-128-16 autoencoder).
fn shoe_model(seed: u64, dev: &Device) -> autoencoders::Result<Autoencoder> {
    let enc = Sequential::input(&[784], dev)
        .seed(seed)
        .add(dense(256).relu())?
        .add(dense(128).relu())?
        .add(dense(16).relu())?;
    let dec = Sequential::input(&[16], dev)
        .seed(seed + 100)
        .add(dense(128).relu())?
        .add(dense(256).relu())?
        .add(dense(784).sigmoid())?;
    Autoencoder::new(enc, dec)
}

/// The first `n` images of `xs`, edited: mirrored, or moved by `px` pixels
/// to the right, or with noise, or brighter.
fn edited(xs: &Tensor, n: usize, edit: &str) -> autoencoders::Result<Tensor> {
    let x = xs.narrow(0, 0, n)?;
    let imgs = x.reshape((n, 28, 28))?;
    let out = match edit {
        "noise" => GaussianNoise::new(0.05).with_seed(9).apply(&x)?,
        "brighter" => x.affine(0.9, 0.1)?.clamp(0f32, 1f32)?,
        "moved 2 px" => {
            let z = Tensor::zeros((n, 28, 2), DType::F32, xs.device())?;
            Tensor::cat(&[&z, &imgs.narrow(2, 0, 26)?], 2)?
        }
        _ => {
            let cols: Vec<Tensor> = (0..28)
                .rev()
                .map(|c| imgs.narrow(2, c, 1))
                .collect::<candle_core::Result<_>>()?;
            Tensor::cat(&cols, 2)?
        }
    };
    Ok(out.reshape((n, 784))?)
}

fn calibrate_shoes(epochs: usize, dev: &Device) -> autoencoders::Result<()> {
    let fashion = Dataset::fashion_mnist()?;
    let judge = Classifier::trained_on(&fashion, 3, dev)?;
    let mine = exercise::data()?.only_classes(&shoes::CLASSES)?;
    let all = fashion.only_classes(&shoes::CLASSES)?;
    let pool = Tensor::cat(&[&all.train_images, &all.test_images], 0)?;
    let limits = shoes::FULL;
    for seed in [1, 2] {
        let ae = shoe_model(seed, dev)?;
        train(
            &ae,
            &mine.train_images,
            &mine.train_images,
            epochs,
            Loss::BinaryCrossEntropy,
        )?;
        let check = |codes: &Tensor| shoes::check_generator_with(&ae, codes, &judge, &pool, &limits);
        judged(&format!("seed {seed}: reconstruction"), || {
            shoes::check_reconstruction_with(&ae, &exercise::held_out()?.only_classes(&shoes::CLASSES)?, &limits)
        });
        let codes = predict(&ae.encoder(), &mine.train_images, 512)?;
        let pca = Pca::fit(&codes, codes.dim(1)?)?;
        for scale in [1.0, 0.5] {
            judged(&format!("seed {seed}: PCA samples ×{scale}"), || {
                check(&pca.sample(500, scale, 42, dev)?)
            });
        }
        judged(&format!("seed {seed}: encoded training shoes"), || {
            check(&codes.narrow(0, 0, 500)?)
        });
        for edit in ["noise", "brighter", "mirrored", "moved 2 px"] {
            judged(&format!("seed {seed}: encoded training shoes, {edit}"), || {
                check(&predict(&ae.encoder(), &edited(&mine.train_images, 500, edit)?, 512)?)
            });
        }
        let a = codes.narrow(0, 0, 500)?;
        let b = codes.narrow(0, 500, 500)?;
        judged(&format!("seed {seed}: midpoints of two training codes"), || {
            check(&((a + b)? * 0.5)?)
        });
        judged(&format!("seed {seed}: uniform codes in [0, 5)"), || {
            check(&uniform_samples(500, 16, (0.0, 5.0), 3, dev)?)
        });
    }
    Ok(())
}

/// Exercise 2's solution shape with `f1` and `f2` filters.
fn denoiser(f1: usize, f2: usize, dev: &Device) -> autoencoders::Result<Autoencoder> {
    let enc = Sequential::input(&[1, 28, 28], dev)
        .add(conv2d(f1).kernel(3).same().relu())?
        .add(max_pool(2))?
        .add(conv2d(f2).kernel(3).same().relu())?
        .add(max_pool(2))?;
    let dec = Sequential::input(&enc.output_shape(), dev)
        .add(conv2d(f2).kernel(3).same().relu())?
        .add(up_sample(2))?
        .add(conv2d(f1).kernel(3).same().relu())?
        .add(up_sample(2))?
        .add(conv2d(1).kernel(3).same().sigmoid())?;
    Autoencoder::new(enc, dec)
}

fn calibrate_denoise(epochs: usize, dev: &Device) -> autoencoders::Result<()> {
    let data = exercise::data()?;
    let held = exercise::held_out()?;
    let clean = held.test_images.narrow(0, 0, held.test_len().min(2_000))?;
    let limits = denoise::FULL;
    let noisy = GaussianNoise::new(denoise::NOISE)
        .with_seed(1)
        .apply(&data.train_images)?;
    for (f1, f2) in [(16, 16), (8, 16), (16, 24)] {
        let m = denoiser(f1, f2, dev)?;
        train(&m, &noisy, &data.train_images, epochs, Loss::BinaryCrossEntropy)?;
        judged(&format!("{f1}/{f2} filters, noisy -> clean"), || {
            denoise::check_with(&m, &clean, &limits)
        });
    }
    let plain = denoiser(16, 16, dev)?;
    train(
        &plain,
        &data.train_images,
        &data.train_images,
        epochs,
        Loss::BinaryCrossEntropy,
    )?;
    judged("16/16 filters trained clean -> clean", || {
        denoise::check_with(&plain, &clean, &limits)
    });
    let identity = Autoencoder::new(Sequential::input(&[784], dev), Sequential::input(&[784], dev))?;
    judged("the noisy input unchanged", || {
        denoise::check_with(&identity, &clean, &limits)
    });
    Ok(())
}

/// A dense VAE 784-512-(2·latent) | latent-512-784 with KL weight β/784.
fn vae_model(latent: usize, beta: f32, seed: u64, dev: &Device) -> autoencoders::Result<Autoencoder> {
    let mut enc = Sequential::input(&[784], dev).seed(seed).add(dense(512).relu())?;
    enc = if beta.is_nan() {
        enc.add(dense(latent))?
    } else {
        enc.add(dense(2 * latent))?.add(sampling(beta / 784.0))?
    };
    let dec = Sequential::input(&[latent], dev)
        .seed(seed + 100)
        .add(dense(512).relu())?
        .add(dense(784).sigmoid())?;
    Autoencoder::new(enc, dec)
}

fn calibrate_vae(epochs: usize, dev: &Device) -> autoencoders::Result<()> {
    let data = exercise::data()?;
    let held = exercise::held_out()?;
    let judge = Classifier::trained_on(&Dataset::fashion_mnist()?, 3, dev)?;
    let limits = vae::FULL;
    // β NaN: no sampling layer at all (a plain autoencoder).
    let answers = [
        (2, 1.0, 1),
        (4, 1.0, 1),
        (8, 1.0, 1),
        (8, 1.0, 2),
        (8, 0.5, 1),
        (8, 2.0, 1),
        (8, 0.0, 1),
        (8, 50.0, 1),
        (8, f32::NAN, 1),
    ];
    for (latent, beta, seed) in answers {
        let m = vae_model(latent, beta, seed, dev)?;
        train(
            &m,
            &data.train_images,
            &data.train_images,
            epochs,
            Loss::BinaryCrossEntropy,
        )?;
        judged(&format!("latent {latent}, beta {beta}, seed {seed}"), || {
            vae::check_with(&m, &judge, &held.test_images, &limits)
        });
    }
    Ok(())
}

/// Lesson 11's dense model of normal images, or a small convolutional one.
fn normal_model(conv: bool, dev: &Device) -> autoencoders::Result<Autoencoder> {
    if conv {
        return denoiser(16, 8, dev);
    }
    Autoencoder::new(
        Sequential::input(&[784], dev)
            .add(dense(128).relu())?
            .add(dense(64).relu())?
            .add(dense(32).relu())?,
        Sequential::input(&[32], dev)
            .add(dense(64).relu())?
            .add(dense(128).relu())?
            .add(dense(784).sigmoid())?,
    )
}

fn calibrate_anomaly(epochs: usize, dev: &Device) -> autoencoders::Result<()> {
    let data = exercise::data()?;
    let held = exercise::held_out()?;
    let normal_classes: Vec<u32> = (0..10).filter(|&c| c != anomaly::ANOMALY).collect();
    let normal = data.only_classes(&normal_classes)?;
    let limits = anomaly::FULL;
    for conv in [false, true] {
        let m = normal_model(conv, dev)?;
        train(&m, &normal.train_images, &normal.train_images, epochs, Loss::Mse)?;
        for q in [0.7, 0.8, 0.85, 0.9, 0.95] {
            judged(&format!("conv {conv}, normal images only, q {q}"), || {
                anomaly::check_with(&m, q, &held, &limits)
            });
        }
        let seen = normal_model(conv, dev)?;
        train(&seen, &data.train_images, &data.train_images, epochs, Loss::Mse)?;
        judged(&format!("conv {conv}, trained on every class, q 0.95"), || {
            anomaly::check_with(&seen, 0.95, &held, &limits)
        });
    }
    let untrained = normal_model(false, dev)?;
    judged("untrained dense model, q 0.95", || {
        anomaly::check_with(&untrained, 0.95, &held, &limits)
    });
    Ok(())
}
