//! The course benchmark: trains each lesson's model at the seed lesson's
//! budget on the full data and prints, per model, the validation loss beside
//! the seed's logged value and the seconds per epoch, as a Markdown table.
//!
//! ```text
//! cargo run --release -p autoencoders-tools --bin course-bench -- [--models simple,deep,...] [--max-epochs N]
//! ```
//! Models: simple, deep, deep2d, seed000, conv, upconv, denoise, generate,
//! and the lessons beyond the seeds (`lessons.rs`): vae, sparse, anomaly,
//! codesize.
//! `--max-epochs` caps every model's epochs (for the slow conv models on a CPU).
//! `--save-weights DIR` saves each of the models above (not the lessons')
//! with its `History` for `autoencoders::train::pretrained` (the shipped
//! ones: `--models seed000,conv,upconv,denoise,generate --save-weights weights`).
//!
//! ```text
//! cargo run --release -p autoencoders-tools --bin course-bench -- --side-by-side [--steps N] [--rounds R] [--python PATH]
//! ```
//! Times one epoch of `N` batches (default 60) of the simple, deep, conv and
//! up-conv models, runs the repository's Keras anchor
//! (`bench/keras_anchor.py`, the same models in Keras) with `PATH` (a python
//! with tensorflow-cpu; default `.venv-keras/bin/python`, made by
//! `scripts/keras-venv.sh`) in the same run, and prints the CPU's vector
//! features and seconds per
//! 60,000-image epoch for both and their ratio.
//!
//! ```text
//! cargo run --release -p autoencoders-tools --bin course-bench -- --ops
//! ```
//! Times the convolution layers' operations, fast CPU ops against candle's.

mod lessons;
mod side_by_side;

use autoencoders::prelude::*;
use autoencoders::Result;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The benchmark's arguments.
#[derive(clap::Parser)]
#[command(
    name = "course-bench",
    about = "Trains the lessons' models at full budget, times them beside Keras, or times single ops",
    after_help = "Models: simple, deep, deep2d, seed000, conv, upconv, denoise, generate (the seed lessons'), \
                  vae, sparse, anomaly, codesize (lessons 9-12)."
)]
struct Args {
    /// Comma-separated models to train at their lessons' budgets.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "simple,deep,deep2d,seed000,conv,upconv,denoise,generate"
    )]
    models: Vec<String>,
    /// Cap every model's epochs (for the slow conv models on a CPU).
    #[arg(long, conflicts_with = "save_weights")]
    max_epochs: Option<usize>,
    /// Save each trained seed model with its History into this folder (the
    /// shipped ones: `--models seed000,conv,upconv,denoise,generate --save-weights weights`).
    #[arg(long)]
    save_weights: Option<PathBuf>,
    /// Time one epoch of the four seed models beside the repository's Keras
    /// anchor (bench/keras_anchor.py), alternating round by round.
    #[arg(long)]
    side_by_side: bool,
    /// With --side-by-side: batches timed per epoch (more than 5).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(6..))]
    steps: u64,
    /// With --side-by-side: rounds (at least 1).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// With --side-by-side: a python with tensorflow-cpu (default
    /// .venv-keras/bin/python, made by scripts/keras-venv.sh).
    #[arg(long)]
    python: Option<String>,
    /// Time the convolution layers' operations, fast CPU ops against candle's.
    #[arg(long)]
    ops: bool,
}

struct Row {
    model: &'static str,
    setting: String,
    epochs: usize,
    val_loss: f32,
    seed_val: Option<f32>,
    sec_per_epoch: f32,
    /// The last epoch's seconds (the first carries one-off costs).
    last_epoch: f32,
    extra: String,
}

/// Prints a finished row's figures as the run goes.
fn report(row: &Row) {
    eprintln!(
        "   val_loss {:.4}, {:.1} s/epoch (last epoch {:.2} s) {}",
        row.val_loss, row.sec_per_epoch, row.last_epoch, row.extra
    );
}

#[allow(clippy::too_many_arguments)] // one table row: the model, its data, its settings and its labels
fn run(
    save: Option<&Path>,
    model: &'static str,
    ae: &Autoencoder,
    xs: &Tensor,
    ys: &Tensor,
    val: (&Tensor, &Tensor),
    cfg: TrainConfig,
    seed_val: Option<f32>,
    setting: String,
) -> Result<Row> {
    eprintln!("== {model}: {} ({} epochs)", ae.name(), cfg.epochs);
    let h = fit(ae, xs, ys, Some(val), &cfg)?;
    if let Some(dir) = save {
        let command = format!(
            "cargo run --release -p autoencoders-tools --bin course-bench -- --models {model} --save-weights weights"
        );
        autoencoders::train::save_pretrained(dir, ae, model, &h, &command, &side_by_side::cpu_vector_features())?;
        eprintln!(
            "   weights saved to {}",
            dir.join(format!("{model}.safetensors")).display()
        );
    }
    let total: f32 = h.seconds.iter().sum();
    Ok(Row {
        model,
        setting,
        epochs: h.loss.len(),
        val_loss: h.last_val_loss().unwrap_or(f32::NAN),
        seed_val,
        sec_per_epoch: total / h.seconds.len().max(1) as f32,
        last_epoch: h.seconds.last().copied().unwrap_or(f32::NAN),
        extra: String::new(),
    })
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let result = if args.ops {
        ops_bench()
    } else if args.side_by_side {
        let python = args.python.clone().unwrap_or_else(|| {
            autoencoders_tools::repo_root()
                .join(".venv-keras/bin/python")
                .display()
                .to_string()
        });
        side_by_side::side_by_side(args.steps as usize, args.rounds as usize, &python)
    } else {
        bench(&args)
    };
    if let Err(e) = result {
        eprintln!("course-bench: {e}");
        std::process::exit(1);
    }
}

fn bench(args: &Args) -> Result<()> {
    let (models, max_epochs, save) = (&args.models, args.max_epochs, args.save_weights.as_deref());
    let dev = setup();
    let data = Dataset::mnist()?;
    let cap = |e: usize| max_epochs.map_or(e, |m| e.min(m));
    let (x, xt) = (&data.train_images, &data.test_images);
    let mut rows = Vec::new();
    for m in models {
        let row = match m.as_str() {
            "simple" => run(
                save,
                "simple",
                &DenseAutoencoder::classic().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default().with_epochs(cap(5)),
                Some(0.0117),
                "784-32-784, mse, adam, batch 128".into(),
            )?,
            "deep" => run(
                save,
                "deep",
                &DenseAutoencoder::deep().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default().with_epochs(cap(10)),
                None,
                "784-128-64-32, mse".into(),
            )?,
            "deep2d" => run(
                save,
                "deep2d",
                &DenseAutoencoder::deep_2d().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default().with_epochs(cap(10)),
                Some(0.0401),
                "784-128-64-32-2, mse".into(),
            )?,
            "seed000" => run(
                save,
                "seed000",
                &DenseAutoencoder::seed000().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default().with_epochs(cap(20)),
                None,
                "784-500-200-10 relu out, mse".into(),
            )?,
            "conv" => run(
                save,
                "conv",
                &ConvAutoencoder::default().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default()
                    .with_epochs(cap(5))
                    .with_loss(Loss::BinaryCrossEntropy),
                Some(0.0792),
                "conv 16-32-64 + transposed conv, bce".into(),
            )?,
            "upconv" => run(
                save,
                "upconv",
                &UpConvAutoencoder::default().build(&dev)?,
                x,
                x,
                (xt, xt),
                TrainConfig::default()
                    .with_epochs(cap(5))
                    .with_loss(Loss::BinaryCrossEntropy),
                None,
                "conv 32-32 + up-sampling, bce (clean)".into(),
            )?,
            "denoise" => {
                let noise = GaussianNoise::new(0.5);
                let (xn, xtn) = (noise.with_seed(1).apply(x)?, noise.with_seed(2).apply(xt)?);
                let ae = UpConvAutoencoder::default().build(&dev)?;
                let mut row = run(
                    save,
                    "denoise",
                    &ae,
                    &xn,
                    x,
                    (&xtn, xt),
                    TrainConfig::default()
                        .with_epochs(cap(10))
                        .with_loss(Loss::BinaryCrossEntropy),
                    Some(0.1058),
                    "up-sampling conv, noisy 0.5 -> clean, bce".into(),
                )?;
                let out = predict(&ae, &xtn, 256)?;
                row.extra = format!("PSNR {:.1} -> {:.1} dB", psnr(&xtn, xt)?, psnr(&out, xt)?);
                row
            }
            "generate" => {
                let sevens = data.only_classes(&[7])?;
                let ae = DenseAutoencoder::single_layer(10).build(&dev)?;
                let cfg = TrainConfig::default()
                    .with_epochs(cap(200))
                    .with_batch_size(250)
                    .with_optimizer(Optimizer::rmsprop())
                    .with_loss(Loss::BinaryCrossEntropy)
                    .quiet();
                let mut row = run(
                    save,
                    "generate",
                    &ae,
                    &sevens.train_images,
                    &sevens.train_images,
                    (&sevens.test_images, &sevens.test_images),
                    cfg,
                    None,
                    "784-10-784 on 7s, rmsprop, bce, batch 250".into(),
                )?;
                let judge = Classifier::trained_on(&data, 3, &dev)?;
                let codes = predict(&ae.encoder(), &sevens.train_images, 256)?;
                let pca = Pca::fit(&codes, 10)?;
                let gen_pca = predict(&ae.decoder(), &pca.sample(1000, 1.0, 42, &Device::Cpu)?, 256)?;
                let random = (Tensor::rand(0f32, 1f32, (1000, 10), &Device::Cpu)? * 5.0)?;
                let gen_rand = predict(&ae.decoder(), &random, 256)?;
                row.extra = format!(
                    "read as 7: PCA {:.0} %, random {:.0} %",
                    100.0 * judge.share_of(&gen_pca, &[7])?,
                    100.0 * judge.share_of(&gen_rand, &[7])?
                );
                row
            }
            "vae" => {
                rows.extend(lessons::vae(&data, cap(30), &dev)?);
                continue;
            }
            "sparse" => {
                rows.extend(lessons::sparse(&data, cap(10), &dev)?);
                continue;
            }
            "anomaly" => {
                rows.extend(lessons::anomaly(&Dataset::fashion_mnist()?, 8, cap(10), &dev)?);
                continue;
            }
            "codesize" => {
                rows.extend(lessons::code_size(&data, cap(10), &dev)?);
                continue;
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                "unknown model {other:?}; choose from simple, deep, deep2d, seed000, conv, upconv, denoise, generate, vae, sparse, anomaly, codesize"
            )))
            }
        };
        report(&row);
        rows.push(row);
    }
    println!("| model | setting | epochs | val loss | seed's val loss | s/epoch | notes |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.4} | {} | {:.1} | {} |",
            r.model,
            r.setting,
            r.epochs,
            r.val_loss,
            r.seed_val.map_or("—".to_string(), |v| format!("{v:.4}")),
            r.sec_per_epoch,
            r.extra
        );
    }
    Ok(())
}

fn time_it(reps: usize, mut f: impl FnMut() -> candle_core::Result<()>) -> Result<f64> {
    f()?; // warm-up
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0 / reps as f64)
}

/// Milliseconds per call of the conv layers' operations at the sizes of the
/// issue's micro-benchmark, fast CPU ops against candle's.
fn ops_bench() -> Result<()> {
    use autoencoders::kernels as cpu_ops;
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1., (128, 16, 28, 28), &dev)?)?;
    let k = Var::from_tensor(&Tensor::randn(0f32, 1., (32, 16, 3, 3), &dev)?)?;
    let kt = Var::from_tensor(&Tensor::randn(0f32, 1., (16, 32, 3, 3), &dev)?)?;
    let xt = Var::from_tensor(&Tensor::randn(0f32, 1., (128, 16, 14, 14), &dev)?)?;
    let p = Var::from_tensor(&Tensor::randn(0f32, 1., (128, 32, 28, 28), &dev)?)?;
    let u = Var::from_tensor(&Tensor::randn(0f32, 1., (128, 32, 14, 14), &dev)?)?;
    let reps = 5;
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let fwd_bwd = |y: candle_core::Result<Tensor>| -> candle_core::Result<()> {
        y?.sum_all()?.backward()?;
        Ok(())
    };
    rows.push((
        "conv2d fwd 128x16x28x28 -> 32, 3x3".into(),
        time_it(reps, || cpu_ops::conv2d(x.as_tensor(), k.as_tensor(), 1, 1).map(|_| ()))?,
        time_it(reps, || x.as_tensor().conv2d(k.as_tensor(), 1, 1, 1, 1).map(|_| ()))?,
    ));
    rows.push((
        "conv2d fwd+bwd, same".into(),
        time_it(reps, || fwd_bwd(cpu_ops::conv2d(x.as_tensor(), k.as_tensor(), 1, 1)))?,
        time_it(reps, || fwd_bwd(x.as_tensor().conv2d(k.as_tensor(), 1, 1, 1, 1)))?,
    ));
    rows.push((
        "conv_transpose2d fwd+bwd 128x16x14x14 -> 32x28x28, stride 2".into(),
        time_it(reps, || {
            fwd_bwd(cpu_ops::conv_transpose2d(xt.as_tensor(), kt.as_tensor(), 2, 1, 1))
        })?,
        time_it(reps, || {
            fwd_bwd(xt.as_tensor().conv_transpose2d(kt.as_tensor(), 1, 1, 2, 1))
        })?,
    ));
    rows.push((
        "max_pool2d fwd+bwd 128x32x28x28".into(),
        time_it(reps, || fwd_bwd(cpu_ops::max_pool2d(p.as_tensor(), 2)))?,
        time_it(reps, || fwd_bwd(p.as_tensor().max_pool2d(2)))?,
    ));
    rows.push((
        "upsample 2x fwd+bwd 128x32x14x14".into(),
        time_it(reps, || fwd_bwd(cpu_ops::upsample_nearest2d(u.as_tensor(), 2)))?,
        time_it(reps, || fwd_bwd(u.as_tensor().upsample_nearest2d(28, 28)))?,
    ));
    println!("| operation | fast CPU ops (ms) | candle 0.11 (ms) | speed-up |");
    println!("|---|---|---|---|");
    for (name, fast, reference) in rows {
        println!("| {name} | {fast:.1} | {reference:.1} | {:.1}x |", reference / fast);
    }
    Ok(())
}
