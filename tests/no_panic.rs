//! No panic from any notebook-facing function: each is called with randomly
//! wrong inputs (tensors of the wrong rank or size, other dtypes, empty
//! tensors, NaN and infinities, zero and huge sizes) and must return (an
//! `Err` that names the problem, or, where the input is merely unusual, an
//! `Ok`), never panic and never hang. A watchdog ends the run with the name
//! of a call that takes more than a minute.

use autoencoders::exercise::{anomaly, codes, denoise, shoes, vae};
use autoencoders::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A random wrong tensor: any rank up to 4, sizes from 0 to 40 (with the
/// right ones now and then), any dtype, values that may be NaN or infinite.
fn tensor(rng: &mut StdRng) -> Tensor {
    let rank = rng.random_range(0..=4);
    let sizes = [0usize, 1, 2, 3, 7, 28, 784, 10, 16, 40];
    let mut dims: Vec<usize> = (0..rank).map(|_| sizes[rng.random_range(0..sizes.len())]).collect();
    if dims.iter().product::<usize>() > 100_000 {
        dims = vec![2, 784];
    }
    let n: usize = dims.iter().product();
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, 1.0, -1.0, 1e30];
    let values: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random_bool(0.1) {
                specials[rng.random_range(0..specials.len())]
            } else {
                rng.random()
            }
        })
        .collect();
    let t = Tensor::from_vec(values, dims.as_slice(), &Device::Cpu).unwrap();
    match rng.random_range(0..5) {
        0 => t.to_dtype(DType::U8).unwrap(),
        1 => t.to_dtype(DType::U32).unwrap(),
        2 => t.to_dtype(DType::F64).unwrap(),
        _ => t,
    }
}

fn size(rng: &mut StdRng) -> usize {
    [0usize, 1, 2, 3, 10, 784, 1 << 20, usize::MAX][rng.random_range(0..8)]
}

fn float(rng: &mut StdRng) -> f32 {
    [f32::NAN, f32::INFINITY, -1.0, 0.0, 0.5, 1.0, 2.0, 1e30][rng.random_range(0..8)]
}

fn floats(rng: &mut StdRng) -> Vec<f32> {
    let n = [0usize, 1, 2, 5, 50][rng.random_range(0..5)];
    (0..n)
        .map(|_| if rng.random_bool(0.3) { float(rng) } else { rng.random() })
        .collect()
}

/// A small model whose shapes the random inputs rarely fit.
fn small_model(rng: &mut StdRng) -> Autoencoder {
    let dev = Device::Cpu;
    let k = [1usize, 2, 16][rng.random_range(0..3)];
    Autoencoder::new(
        Sequential::input(&[784], &dev).add(dense(k).relu()).unwrap(),
        Sequential::input(&[k], &dev).add(dense(784).sigmoid()).unwrap(),
    )
    .unwrap()
}

type Call = Box<dyn Fn(&mut StdRng) -> Result<(), Error>>;

/// Every notebook-facing function, each as a call on random inputs.
fn calls() -> Vec<(&'static str, Call)> {
    let mut v: Vec<(&'static str, Call)> = Vec::new();
    macro_rules! call {
        ($name:expr, |$r:ident| $body:expr) => {
            v.push((
                $name,
                Box::new(move |$r: &mut StdRng| -> Result<(), Error> {
                    $body;
                    Ok(())
                }),
            ));
        };
    }
    let dims = |r: &mut StdRng| -> Vec<usize> { (0..r.random_range(0..4)).map(|_| size(r).min(1 << 20)).collect() };
    call!("Sequential::input + dense", |r| Sequential::input(
        &dims(r),
        &Device::Cpu
    )
    .add(dense(size(r).min(4096)))?);
    call!("Sequential::add conv2d", |r| Sequential::input(&dims(r), &Device::Cpu)
        .add(
            conv2d(size(r).min(64)).kernel(size(r).min(9)).stride(size(r).min(4))
        )?);
    call!("Sequential::add conv_transpose2d", |r| Sequential::input(
        &dims(r),
        &Device::Cpu
    )
    .add(
        conv_transpose2d(size(r).min(64))
            .kernel(size(r).min(9))
            .stride(size(r).min(4))
    )?);
    call!("Sequential::add pooling and up-sampling", |r| Sequential::input(
        &dims(r),
        &Device::Cpu
    )
    .add(max_pool(size(r).min(64)))?
    .add(up_sample(size(r).min(64)))?);
    call!("Sequential::add reshape/flatten", |r| Sequential::input(
        &dims(r),
        &Device::Cpu
    )
    .add(flatten())?
    .add(reshape(&dims(r)))?);
    call!("Sequential::add regularisers", |r| Sequential::input(
        &[784],
        &Device::Cpu
    )
    .add(dropout(float(r)))?
    .add(gaussian_noise(float(r)))?
    .add(activity_l1(float(r)))?
    .add(batch_norm().momentum(float(r) as f64))?);
    call!("Sequential::add sampling", |r| Sequential::input(
        &dims(r),
        &Device::Cpu
    )
    .add(sampling(float(r)))?);
    call!("Autoencoder::new", |r| Autoencoder::new(
        Sequential::input(&dims(r), &Device::Cpu),
        Sequential::input(&dims(r), &Device::Cpu)
    )?);
    call!("fit", |r| {
        let cfg = TrainConfig::default()
            .with_epochs(size(r).min(2))
            .with_batch_size(size(r))
            .quiet();
        fit(&small_model(r), &tensor(r), &tensor(r), None, &cfg)?
    });
    call!("fit with validation", |r| {
        let (x, v) = (tensor(r), tensor(r));
        fit(
            &small_model(r),
            &x,
            &x,
            Some((&v, &tensor(r))),
            &TrainConfig::default().with_epochs(1).quiet(),
        )?
    });
    call!("predict", |r| predict(&small_model(r), &tensor(r), size(r))?);
    call!("evaluate", |r| evaluate(
        &small_model(r),
        &tensor(r),
        &tensor(r),
        Loss::Mse,
        size(r)
    )?);
    for (name, loss) in [
        ("mse", Loss::Mse),
        ("bce", Loss::BinaryCrossEntropy),
        ("kl", Loss::KlDivergence),
        ("ce", Loss::CrossEntropy),
    ] {
        v.push((
            name,
            Box::new(move |r: &mut StdRng| {
                loss.compute(&tensor(r), &tensor(r))?;
                Ok(())
            }),
        ));
    }
    call!("mse_value, psnr", |r| {
        let (a, b) = (tensor(r), tensor(r));
        mse_value(&a, &b)?;
        psnr(&a, &b)?
    });
    call!("image_rows", |r| image_rows(
        &[("a", &tensor(r)), ("b", &tensor(r))],
        size(r)
    )?);
    call!("reconstruction_grid, denoising_grid", |r| {
        let (a, b) = (tensor(r), tensor(r));
        reconstruction_grid(&a, &b, size(r))?;
        denoising_grid(&a, &b, &tensor(r), size(r))?
    });
    call!("image_canvas", |r| image_canvas(&tensor(r), size(r), size(r))?);
    call!("feature_grid", |r| feature_grid(&tensor(r), size(r), size(r))?);
    call!("line_chart", |r| line_chart("t", "x", "y", &[("s", &floats(r))])?);
    call!("xy_chart", |r| {
        let pts: Vec<(f32, f32)> = floats(r).into_iter().zip(floats(r)).collect();
        xy_chart("t", "x", "y", &[("s", pts)])?
    });
    call!("histogram", |r| histogram(
        "t",
        "x",
        &[("s", &floats(r))],
        Some(float(r))
    )?);
    call!("scatter_by_class", |r| scatter_by_class(
        "t",
        &tensor(r),
        &tensor(r),
        &["a", "b"]
    )?);
    call!("Pca::fit + transform + sample", |r| {
        let pca = Pca::fit(&tensor(r), size(r))?;
        pca.transform(&tensor(r))?;
        pca.inverse_transform(&tensor(r))?;
        pca.sample(size(r).min(1000), float(r), 1, &Device::Cpu)?
    });
    call!("tsne", |r| tsne(&tensor(r), float(r) as f64 * 10.0, size(r).min(300))?);
    call!("prior_samples, uniform_samples, grid_2d", |r| {
        let _ = prior_samples(size(r).min(1 << 16), size(r).min(64), 1, &Device::Cpu);
        let _ = uniform_samples(
            size(r).min(1 << 16),
            size(r).min(64),
            (float(r), float(r)),
            1,
            &Device::Cpu,
        );
        grid_2d(size(r).min(4096), float(r), &Device::Cpu)?
    });
    call!("interpolate", |r| interpolate(
        &tensor(r),
        &tensor(r),
        size(r).min(1 << 16)
    )?);
    call!("nearest_neighbours, knn_accuracy", |r| {
        let (p, q) = (tensor(r), tensor(r));
        let _ = nearest_neighbours(&q, &p, size(r));
        knn_accuracy(&p, &tensor(r), &q, &tensor(r), size(r))?
    });
    call!("near_zero_share", |r| near_zero_share(&tensor(r), float(r))?);
    call!("per_image_mse", |r| per_image_mse(&tensor(r), &tensor(r))?);
    call!("roc_auc, roc_curve, quantile, detect", |r| {
        let (a, b) = (floats(r), floats(r));
        let _ = roc_auc(&a, &b);
        let _ = roc_curve(&a, &b);
        let _ = quantile(&a, float(r));
        detect(&a, &b, float(r))?
    });
    call!("Classifier", |r| {
        let c = Classifier::new(1, &Device::Cpu)?;
        let x = tensor(r);
        let _ = c.predict_classes(&x);
        let _ = c.share_of(&x, &[size(r).min(20) as u32]);
        let _ = c.accuracy(&x, &tensor(r));
        c.judge(&x)?
    });
    call!("Model::weight, save, load", |r| {
        let m = small_model(r);
        let _ = m.weight(&format!("no-such-{}", size(r)));
        let _ = m.load("/no/such/folder/weights.safetensors");
        m.save("/proc/forbidden/weights.safetensors")?
    });
    call!("exercise checks", |r| {
        let m = small_model(r);
        let x = tensor(r);
        let _ = shoes::check_reconstruction_with(&m, data(), &shoes::QUICK);
        let _ = denoise::check_with(&m, &x, &denoise::QUICK);
        let _ = codes::check_with(&m, (&x, &tensor(r)), (&tensor(r), &tensor(r)), &codes::QUICK);
        let judge = Classifier::new(1, &Device::Cpu)?;
        let _ = shoes::check_generator_with(&m, &tensor(r), &judge, &tensor(r), &shoes::QUICK);
        let _ = vae::check_with(&m, &judge, &x, &vae::QUICK);
        let _ = anomaly::check_with(&m, float(r), data(), &anomaly::QUICK);
    });
    v
}

/// A small part of MNIST, loaded once, for the checks that need a data set.
fn data() -> &'static Dataset {
    static DATA: std::sync::OnceLock<Dataset> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        Dataset::mnist()
            .expect("MNIST is needed: scripts/fetch-data.sh (the test command fetches it)")
            .subset(300, 200)
            .unwrap()
    })
}

#[test]
fn no_notebook_facing_function_panics_or_hangs_on_wrong_input() {
    let current = Arc::new(Mutex::new(("start", 0usize, Instant::now())));
    {
        let current = Arc::clone(&current);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            let (name, i, at) = *current.lock().unwrap();
            if at.elapsed() > Duration::from_secs(60) {
                eprintln!("no_panic: the call {name} #{i} has run for more than a minute: a hang");
                std::process::abort();
            }
        });
    }
    let calls = calls();
    let made = AtomicUsize::new(0);
    let mut panics = Vec::new();
    let mut errors = 0;
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (name, call) in &calls {
        for i in 0..40 {
            *current.lock().unwrap() = (name, i, Instant::now());
            let mut rng = StdRng::seed_from_u64(1_000 * i as u64 + name.len() as u64);
            made.fetch_add(1, Ordering::Relaxed);
            match catch_unwind(AssertUnwindSafe(|| call(&mut rng))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    errors += 1;
                    assert!(
                        !e.to_string().trim().is_empty(),
                        "{name} #{i}: an error with no message"
                    );
                }
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panics.push(format!("{name} #{i}: {msg}"));
                }
            }
        }
    }
    std::panic::set_hook(prev);
    let made = made.load(Ordering::Relaxed);
    eprintln!(
        "no_panic: {made} calls of {} functions, {errors} errors, {} panics",
        calls.len(),
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "{} of {made} calls panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
    assert!(
        errors > made / 2,
        "most wrong inputs must be refused: only {errors} of {made}"
    );
}
