//! Milliseconds per pass of each convolution of the conv model (seed 001's,
//! `ConvAutoencoder`) at a batch of 128: forward, input gradient and kernel
//! gradient, on the `gemm` path and on the direct kernels of every variant
//! this CPU has; medians of `ROUNDS` runs.
//!
//! ```text
//! cargo run --release -p autoencoders-tools --example conv_paths -- [ROUNDS]
//! ```
//! A transposed convolution runs a stride-2 convolution backwards: its
//! forward pass is that convolution's input gradient, its input gradient
//! that convolution's forward pass.

use autoencoders::kernels::direct::{self, Isa};
use autoencoders::kernels::{self, Geometry};
use std::time::Instant;

/// One convolution of the model, as the (stride-1 or stride-2) convolution
/// the kernels compute.
struct Layer {
    name: &'static str,
    g: Geometry,
    transposed: bool,
}

fn layers(n: usize) -> Vec<Layer> {
    let conv = |name, (c, side, f, stride, padding), transposed| Layer {
        name,
        g: Geometry::new(n, c, side, side, f, 3, stride, padding).expect("a valid geometry"),
        transposed,
    };
    vec![
        conv("conv 1→16, 28×28", (1, 28, 16, 1, 1), false),
        conv("conv 16→32, 14×14", (16, 14, 32, 1, 1), false),
        conv("conv 32→64, 7×7", (32, 7, 64, 1, 1), false),
        conv("transposed 64→32, 3×3→7×7", (32, 7, 64, 2, 0), true),
        conv("transposed 32→16, 7×7→14×14", (16, 14, 32, 2, 1), true),
        conv("transposed 16→1, 14×14→28×28", (1, 28, 16, 2, 1), true),
    ]
}

/// Numbers in -1..1 from a fixed seed.
fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Median milliseconds of `rounds` calls of `run`, after one warm-up call.
fn median_ms(rounds: usize, mut run: impl FnMut() -> Vec<f32>) -> f64 {
    std::hint::black_box(run());
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(run());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[rounds / 2]
}

/// The three passes of `layer` in the layer's own terms (forward, input
/// gradient, kernel gradient), on the direct kernels of `isa` or, for
/// `None`, the gemm path.
fn passes(layer: &Layer, isa: Option<Isa>, rounds: usize) -> [f64; 3] {
    let g = &layer.g;
    let (x, k, gy) = (
        noise(g.input_len(), 1),
        noise(g.kernel_len(), 2),
        noise(g.output_len(), 3),
    );
    let conv_fwd = || match isa {
        Some(isa) => direct::forward_with(isa, g, &x, &k),
        None => kernels::conv_forward_gemm(g, &x, &k),
    };
    let conv_data = || match isa {
        Some(isa) => direct::backward_data_with(isa, g, &gy, &k),
        None => kernels::conv_backward_data_gemm(g, &gy, &k),
    };
    let filter = || match isa {
        Some(isa) => direct::backward_filter_with(isa, g, &x, &gy),
        None => kernels::conv_backward_filter_gemm(g, &x, &gy),
    };
    let (fwd, data, dk) = (
        median_ms(rounds, conv_fwd),
        median_ms(rounds, conv_data),
        median_ms(rounds, filter),
    );
    if layer.transposed {
        [data, fwd, dk]
    } else {
        [fwd, data, dk]
    }
}

fn main() {
    let rounds = autoencoders_tools::rounds_arg("conv_paths", 20);
    let variants = Isa::available();
    println!(
        "batch 128; direct variants on this CPU: {:?}; {} logical CPUs; medians of {rounds} runs, ms",
        variants.iter().map(|i| i.name()).collect::<Vec<_>>(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| layer | path | forward | input gradient | kernel gradient | sum |");
    println!("|---|---|---|---|---|---|");
    // Per path, the six layers as the crate runs them: a geometry the
    // direct kernels do not take runs on the gemm path whatever the CPU.
    let mut totals = vec![0f64; variants.len() + 1];
    for layer in layers(128) {
        let gemm = passes(&layer, None, rounds);
        print_row(&layer, "gemm", gemm);
        totals[0] += gemm.iter().sum::<f64>();
        for (p, &isa) in variants.iter().enumerate() {
            let t = if direct::applies(&layer.g) {
                let t = passes(&layer, Some(isa), rounds);
                print_row(&layer, isa.name(), t);
                t
            } else {
                println!(
                    "| {} | {} | the gemm path (too small a plane for the direct kernels) | | | |",
                    layer.name,
                    isa.name()
                );
                gemm
            };
            totals[p + 1] += t.iter().sum::<f64>();
        }
    }
    let names = std::iter::once("gemm").chain(variants.iter().map(|i| i.name()));
    for (name, total) in names.zip(totals) {
        println!("all six layers as the crate runs them with {name}: {total:.1} ms per step");
    }
}

fn print_row(layer: &Layer, path: &str, t: [f64; 3]) {
    let sum: f64 = t.iter().sum();
    println!(
        "| {} | {path} | {:.2} | {:.2} | {:.2} | {sum:.2} |",
        layer.name, t[0], t[1], t[2]
    );
}
