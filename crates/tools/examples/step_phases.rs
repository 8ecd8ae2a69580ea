//! Milliseconds per training step, split into forward, loss, backward and
//! optimiser, for one of the course's models on the CPU (batches of 128
//! MNIST images).
//!
//! ```text
//! cargo run --release --example step_phases -- [deep|conv|upconv] [STEPS] [--adamw] [--layerwise]
//! ```
//! `--adamw` steps with candle-nn's `AdamW` instead of the crate's Adam;
//! `--layerwise` runs the layers one by one (no block fusion) and prints the
//! forward time of each.

use autoencoders::prelude::*;
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW};
use std::time::Instant;

/// The example's arguments.
#[derive(clap::Parser)]
#[command(
    name = "step_phases",
    about = "Milliseconds per training step: forward, loss, backward, optimiser"
)]
struct Args {
    /// The model: deep, conv or upconv.
    #[arg(default_value = "deep")]
    model: String,
    /// Steps to time.
    #[arg(default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// Step with candle-nn's AdamW instead of the crate's Adam.
    #[arg(long)]
    adamw: bool,
    /// Run the layers one by one (no block fusion) and time each.
    #[arg(long)]
    layerwise: bool,
}

fn main() -> autoencoders::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let data = Dataset::mnist()?;
    let which = args.model.clone();
    let steps = args.steps as usize;
    let ae = match which.as_str() {
        "deep" => DenseAutoencoder::deep().build(&Device::Cpu)?,
        "conv" => ConvAutoencoder::default().build(&Device::Cpu)?,
        "upconv" => UpConvAutoencoder::default().build(&Device::Cpu)?,
        other => {
            return Err(Error::InvalidArgument(format!(
                "model {other:?}: use deep, conv or upconv"
            )))
        }
    };
    let loss_fn = if which == "deep" {
        Loss::Mse
    } else {
        Loss::BinaryCrossEntropy
    };
    let mut ours = Optimizer::adam().build(ae.vars())?;
    let mut adamw = args
        .adamw
        .then(|| {
            AdamW::new(
                ae.vars(),
                ParamsAdamW {
                    lr: 1e-3,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-7,
                    weight_decay: 0.0,
                },
            )
        })
        .transpose()?;
    let layerwise = args.layerwise;
    let (enc, dec) = (ae.encoder(), ae.decoder());
    let layers: Vec<_> = enc.layers().into_iter().chain(dec.layers()).collect();
    let mut input_dims = vec![128];
    input_dims.extend(enc.input_shape());
    let mut per_layer = vec![0f64; layers.len()];
    let mut phases = [0f64; 4];
    // Two warm-up steps are not counted.
    for s in 0..steps + 2 {
        let xs = data.train_images.narrow(0, (s * 128) % 59_872, 128)?;
        let t0 = Instant::now();
        let ys = if layerwise {
            let mut h = xs.reshape(input_dims.as_slice())?;
            for (i, l) in layers.iter().enumerate() {
                let t = Instant::now();
                h = l.forward(&h, &mut autoencoders::nn::Pass::training(0))?;
                if s >= 2 {
                    per_layer[i] += t.elapsed().as_secs_f64();
                }
            }
            h.reshape(xs.dims())?
        } else {
            ae.forward(&xs)?
        };
        let t1 = Instant::now();
        let loss = loss_fn.compute(&ys, &xs)?;
        let t2 = Instant::now();
        let grads = loss.backward()?;
        let t3 = Instant::now();
        match adamw.as_mut() {
            Some(o) => o.step(&grads)?,
            None => ours.step(&grads)?,
        }
        let t4 = Instant::now();
        if s >= 2 {
            for (p, (a, b)) in phases.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
                *p += (b - a).as_secs_f64();
            }
        }
    }
    let ms = |v: f64| v * 1000.0 / steps as f64;
    let opt = if adamw.is_some() {
        "candle-nn AdamW"
    } else {
        "the crate's Adam"
    };
    println!(
        "{which} ({opt}, {steps} steps): forward {:.1} ms, loss {:.1}, backward {:.1}, optimiser {:.1}; total {:.1} ms/step",
        ms(phases[0]),
        ms(phases[1]),
        ms(phases[2]),
        ms(phases[3]),
        ms(phases.iter().sum())
    );
    if layerwise {
        for (i, (l, v)) in layers.iter().zip(&per_layer).enumerate() {
            println!("   {:30} {:.2} ms", format!("{i:>2} {}", l.kind()), ms(*v));
        }
    }
    Ok(())
}
