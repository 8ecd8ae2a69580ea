//! `course-bench --side-by-side`: the seed models against the repository's
//! Keras anchor (`bench/keras_anchor.py`) in one run, on the same machine,
//! with the CPU's vector features and the direct kernels' variant beside
//! the table.

use autoencoders::prelude::*;
use autoencoders::Result;
use std::time::Instant;

/// Seconds per 60,000-image epoch estimated as the Keras anchor does: a
/// warm-up of 5 batches, then one epoch of `steps` batches of 128.
fn our_epoch_estimate(model: &Autoencoder, x: &Tensor, steps: usize, loss: Loss) -> Result<f32> {
    let xs = x.narrow(0, 0, 128 * steps)?;
    let warm = xs.narrow(0, 0, 128 * 5)?;
    let cfg = TrainConfig::default().with_epochs(1).with_loss(loss).quiet();
    fit(model, &warm, &warm, None, &cfg)?;
    let t = Instant::now();
    fit(model, &xs, &xs, None, &cfg)?;
    Ok(t.elapsed().as_secs_f32() / steps as f32 * 469.0)
}

fn median(xs: &mut [f32]) -> f32 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

/// The Keras anchor's per-epoch estimates, by model name.
fn keras_round(
    python: &str,
    gz_dir: &std::path::Path,
    steps: usize,
    names: &[&str],
) -> Result<(String, Vec<Option<f32>>)> {
    let anchor = autoencoders_tools::repo_root().join("bench/keras_anchor.py");
    let out = std::process::Command::new(python)
        .arg(&anchor)
        .arg(gz_dir)
        .arg(names.join(","))
        .arg(steps.to_string())
        .output()
        .map_err(|e| Error::InvalidArgument(format!(
            "could not run the Keras anchor with {python}: {e}. Set it up with `scripts/keras-venv.sh`, or pass --python PATH to a python with tensorflow-cpu"
        )))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "the Keras anchor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let version = text
        .lines()
        .find(|l| l.starts_with("keras="))
        .unwrap_or("keras=?")
        .to_string();
    let secs = names
        .iter()
        .map(|name| {
            text.lines()
                .filter(|l| l.starts_with(&format!("RESULT {name} ")))
                .find_map(|l| l.split("per_epoch_est=").nth(1)?.split('s').next()?.parse::<f32>().ok())
        })
        .collect();
    Ok((version, secs))
}

/// The CPU's model, core count and vector features (as the kernel lists
/// them in `/proc/cpuinfo`; the architecture alone elsewhere), so that a
/// timing always says what machine made it.
pub fn cpu_vector_features() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(str::trim)
    };
    let vector = |f: &&str| {
        ["avx", "fma", "amx", "sse4", "asimd", "sve"]
            .iter()
            .any(|p| f.starts_with(p))
    };
    let flags: Vec<&str> = field("flags")
        .or(field("Features"))
        .map(|f| f.split_whitespace().filter(vector).collect())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernels = autoencoders::kernels::direct::active().map_or("the gemm path (no AVX2/FMA)", |i| i.name());
    format!(
        "{}, {cores} cores available; vector features: {}; direct 3x3 kernels: {kernels}",
        field("model name").unwrap_or(std::env::consts::ARCH),
        if flags.is_empty() {
            "(not listed)".to_string()
        } else {
            flags.join(" ")
        }
    )
}

/// Ours and the Keras anchor on the same four models, `rounds` times in
/// turn (the machine's speed drifts; alternating keeps both sides under the
/// same conditions), reporting medians and best rounds.
pub fn side_by_side(steps: usize, rounds: usize, python: &str) -> Result<()> {
    let dev = setup();
    let data = Dataset::mnist()?;
    if data.train_len() < 128 * steps {
        return Err(Error::InvalidArgument(format!(
            "--steps {steps} needs {} training images, have {}",
            128 * steps,
            data.train_len()
        )));
    }
    let x = &data.train_images;
    let names = ["simple", "deep", "conv", "upconv"];
    // The Keras anchor reads gzip'd IDX files: make them once under target/.
    let gz_dir = autoencoders_tools::repo_root().join("target").join("bench-data");
    let gz = gz_dir.join("train-images-idx3-ubyte.gz");
    if !gz.is_file() {
        std::fs::create_dir_all(&gz_dir).map_err(|e| Error::InvalidArgument(format!("{}: {e}", gz_dir.display())))?;
        let src = autoencoders::data::data_dir()
            .join("mnist")
            .join("train-images-idx3-ubyte");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "gzip -c '{}' > '{}.part' && mv '{}.part' '{}'",
                src.display(),
                gz.display(),
                gz.display(),
                gz.display()
            ))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Err(Error::InvalidArgument(
                "could not gzip the MNIST training images for the Keras anchor".into(),
            ));
        }
    }
    let mut ours: Vec<Vec<f32>> = vec![Vec::new(); names.len()];
    let mut keras: Vec<Vec<f32>> = vec![Vec::new(); names.len()];
    let mut version = String::new();
    for round in 1..=rounds {
        // Fresh models each round, built with the same seeds.
        let models: [(Autoencoder, Loss); 4] = [
            (DenseAutoencoder::classic().build(&dev)?, Loss::Mse),
            (DenseAutoencoder::deep().build(&dev)?, Loss::Mse),
            (ConvAutoencoder::default().build(&dev)?, Loss::BinaryCrossEntropy),
            (UpConvAutoencoder::default().build(&dev)?, Loss::BinaryCrossEntropy),
        ];
        for (i, (model, loss)) in models.iter().enumerate() {
            let s = our_epoch_estimate(model, x, steps, *loss)?;
            eprintln!("   round {round}: ours {}: {s:.1} s/epoch", names[i]);
            ours[i].push(s);
        }
        let (v, ks) = keras_round(python, &gz_dir, steps, &names)?;
        version = v;
        for (i, k) in ks.into_iter().enumerate() {
            if let Some(k) = k {
                eprintln!("   round {round}: Keras {}: {k:.1} s/epoch", names[i]);
                keras[i].push(k);
            }
        }
    }
    println!("CPU: {}", cpu_vector_features());
    print_table(&names, &ours, &keras, rounds, steps, &version);
    Ok(())
}

/// The side-by-side table: medians, best round against best round (Keras'
/// times can be bimodal, which flatters a median ratio; judge by the less
/// flattering of the two), and the ratio of each round.
fn print_table(names: &[&str], ours: &[Vec<f32>], keras: &[Vec<f32>], rounds: usize, steps: usize, version: &str) {
    println!("Side by side, {rounds} alternating rounds of {steps} steps of 128 images, seconds per 60,000-image epoch ({version}; ours: candle 0.11 with the crate's CPU ops):");
    println!();
    println!("| model | Keras median | ours median | ratio of medians | Keras best | ours best | ratio of bests | ratio per round |");
    println!("|---|---|---|---|---|---|---|---|");
    let best = |xs: &[f32]| xs.iter().copied().fold(f32::INFINITY, f32::min);
    for (i, name) in names.iter().enumerate() {
        let o = median(&mut ours[i].clone());
        let ob = best(&ours[i]);
        if keras[i].is_empty() {
            println!("| {name} | (no result) | {o:.1} | — | (no result) | {ob:.1} | — | — |");
            continue;
        }
        let per_round: Vec<String> = ours[i]
            .iter()
            .zip(&keras[i])
            .map(|(o, k)| format!("{:.2}", o / k))
            .collect();
        let (k, kb) = (median(&mut keras[i].clone()), best(&keras[i]));
        println!(
            "| {name} | {k:.1} | {o:.1} | {:.2} | {kb:.1} | {ob:.1} | {:.2} | {} |",
            o / k,
            ob / kb,
            per_round.join(", ")
        );
    }
}
