//! The lessons beyond the seeds (9 to 12) at full budget: the same models
//! as the notebooks, and the figures each notebook prints.

use super::{report, run, Row};
use autoencoders::prelude::*;
use autoencoders::Result;

/// Lesson 9: a VAE and a plain autoencoder of the same shape (784-512-2),
/// and how the reference classifier reads 1,000 decoded samples of N(0, I).
pub fn vae(data: &Dataset, epochs: usize, dev: &Device) -> Result<Vec<Row>> {
    let decoder = || -> Result<Sequential> {
        Sequential::input(&[2], dev)
            .add(dense(512).relu())?
            .add(dense(784).sigmoid())
    };
    let vae_encoder = Sequential::input(&[784], dev)
        .add(dense(512).relu())?
        .add(dense(2 * 2))?
        .add(sampling(1.0 / 784.0))?;
    let plain_encoder = Sequential::input(&[784], dev).add(dense(512).relu())?.add(dense(2))?;
    let vae = Autoencoder::new(vae_encoder, decoder()?)?.named("vae");
    let plain = Autoencoder::new(plain_encoder, decoder()?)?.named("plain");
    let cfg = TrainConfig::default()
        .with_epochs(epochs)
        .with_loss(Loss::BinaryCrossEntropy);
    let judge = Classifier::trained_on(data, 3, dev)?;
    let z = prior_samples(1000, 2, 42, dev)?;
    let mut rows = Vec::new();
    for (name, ae, setting) in [
        ("vae", &vae, "784-512-(2 μ, 2 log σ²), sampling, bce + KL (β = 1)"),
        ("vae-plain", &plain, "784-512-2, the same shape without sampling, bce"),
    ] {
        let x = &data.train_images;
        let mut row = run(
            None,
            name,
            ae,
            x,
            x,
            (&data.test_images, &data.test_images),
            cfg.clone(),
            None,
            setting.into(),
        )?;
        let j = judge.judge(&predict(&ae.decoder(), &z, 256)?)?;
        row.extra = format!(
            "N(0, I) samples: {:.1} % read confidently, {} of 10 digits appear",
            100.0 * j.confident,
            j.classes
        );
        report(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Lesson 10: 784-64-784 with an L1 penalty on the code, for several weights.
pub fn sparse(data: &Dataset, epochs: usize, dev: &Device) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for weight in [0.0, 1e-5, 1e-4, 1e-3] {
        let encoder = Sequential::input(&[784], dev)
            .add(dense(64).relu())?
            .add(activity_l1(weight))?;
        let decoder = Sequential::input(&[64], dev).add(dense(784).sigmoid())?;
        let ae = Autoencoder::new(encoder, decoder)?;
        let cfg = TrainConfig::default()
            .with_epochs(epochs)
            .with_loss(Loss::BinaryCrossEntropy);
        let (x, xt) = (&data.train_images, &data.test_images);
        let mut row = run(
            None,
            "sparse",
            &ae,
            x,
            x,
            (xt, xt),
            cfg,
            None,
            format!("784-64-784, L1 weight {weight:e}"),
        )?;
        let codes = predict(&ae.encoder(), xt, 256)?;
        row.extra = format!(
            "code values < 0.01: {:.1} %; test MSE {:.4}",
            100.0 * near_zero_share(&codes, 0.01)?,
            mse_value(&predict(&ae, xt, 256)?, xt)?
        );
        report(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Lesson 11: an autoencoder of Fashion-MNIST without one class scores the
/// test images; the held-out class should score high.
pub fn anomaly(fashion: &Dataset, held_out: u32, epochs: usize, dev: &Device) -> Result<Vec<Row>> {
    let normal_classes: Vec<u32> = (0..10).filter(|&c| c != held_out).collect();
    let normal = fashion.only_classes(&normal_classes)?;
    let odd = fashion.only_classes(&[held_out])?;
    let ae = DenseAutoencoder::deep().build(dev)?;
    let cfg = TrainConfig::default().with_epochs(epochs);
    let (x, xt) = (&normal.train_images, &normal.test_images);
    let name = fashion.class_names()[held_out as usize];
    let mut row = run(
        None,
        "anomaly",
        &ae,
        x,
        x,
        (xt, xt),
        cfg,
        None,
        format!("784-128-64-32 on Fashion-MNIST without {name}"),
    )?;
    let scores = |xs: &Tensor| -> Result<Vec<f32>> { per_image_mse(&predict(&ae, xs, 256)?, xs) };
    let n_fit = x.dim(0)?.min(10_000);
    let threshold = quantile(&scores(&x.narrow(0, 0, n_fit)?)?, 0.95)?;
    let (s_normal, s_odd) = (scores(xt)?, scores(&odd.test_images)?);
    let d = detect(&s_normal, &s_odd, threshold)?;
    row.extra = format!(
        "{name} as anomalies: ROC AUC {:.3}; at the 95th percentile of training scores precision {:.3}, recall {:.3}",
        roc_auc(&s_normal, &s_odd)?,
        d.precision,
        d.recall
    );
    report(&row);
    Ok(vec![row])
}

/// The convolutional model of lesson 12 with a dense code of `k` numbers.
pub fn conv_with_code(k: usize, dev: &Device) -> Result<Autoencoder> {
    let encoder = Sequential::input(&[1, 28, 28], dev)
        .add(conv2d(16).kernel(3).same().relu())?
        .add(max_pool(2))?
        .add(conv2d(8).kernel(3).same().relu())?
        .add(max_pool(2))?
        .add(flatten())?
        .add(dense(k))?;
    let decoder = Sequential::input(&[k], dev)
        .add(dense(8 * 7 * 7).relu())?
        .add(reshape(&[8, 7, 7]))?
        .add(up_sample(2))?
        .add(conv2d(16).kernel(3).same().relu())?
        .add(up_sample(2))?
        .add(conv2d(1).kernel(3).same().sigmoid())?;
    Autoencoder::new(encoder, decoder)
}

/// Lesson 12: validation MSE against the code size for the dense and the
/// convolutional model, and k-NN search in codes against pixels.
pub fn code_size(data: &Dataset, epochs: usize, dev: &Device) -> Result<Vec<Row>> {
    let (x, xt) = (&data.train_images, &data.test_images);
    let cfg = TrainConfig::default().with_epochs(epochs);
    let mut rows = Vec::new();
    for k in [2, 4, 8, 16, 32, 64] {
        let dense_ae = DenseAutoencoder::deep().with_latent_dim(k).build(dev)?;
        let mut row = run(
            None,
            "codesize",
            &dense_ae,
            x,
            x,
            (xt, xt),
            cfg.clone(),
            None,
            format!("dense 784-128-64-{k}, mse"),
        )?;
        if k == 32 {
            let (pool, pool_labels) = (x.narrow(0, 0, 10_000)?, data.train_labels.narrow(0, 0, 10_000)?);
            let (q, q_labels) = (xt.narrow(0, 0, 1_000)?, data.test_labels.narrow(0, 0, 1_000)?);
            let enc = dense_ae.encoder();
            let in_codes = knn_accuracy(
                &predict(&enc, &pool, 256)?,
                &pool_labels,
                &predict(&enc, &q, 256)?,
                &q_labels,
                5,
            )?;
            let in_pixels = knn_accuracy(&pool, &pool_labels, &q, &q_labels, 5)?;
            row.extra = format!(
                "5-NN accuracy, 1,000 test images among 10,000 training images: codes {:.1} %, pixels {:.1} %",
                100.0 * in_codes,
                100.0 * in_pixels
            );
        }
        report(&row);
        rows.push(row);
        let conv_ae = conv_with_code(k, dev)?;
        let row = run(
            None,
            "codesize",
            &conv_ae,
            x,
            x,
            (xt, xt),
            cfg.clone(),
            None,
            format!("conv 16-8 + dense {k}, mse"),
        )?;
        report(&row);
        rows.push(row);
    }
    Ok(rows)
}
