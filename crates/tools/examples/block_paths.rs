//! Milliseconds per pass of each convolution block of the conv and
//! up-sampling models at a batch of 128 (`[UpSampling2D] → Conv2D → bias
//! → activation → [MaxPooling2D]` as one op) and of the conv model's
//! transposed layers (with their bias and activation): forward, and
//! backward (the kernel, bias and input gradients), each on its
//! channels-last path where one applies (Winograd's form for the blocks)
//! and without it (the direct kernels; for the transposed layers the
//! stride-2 kernels or the gemm path), for every direct variant this CPU
//! has; medians of `ROUNDS` runs.
//!
//! ```text
//! MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 \
//!   cargo run --release -p autoencoders-tools --no-default-features --example block_paths -- [ROUNDS]
//! ```
//! With `NAME`, only the layers whose name contains it run (`transposed`,
//! `upconv`, `14×14`, …). The two glibc settings keep freed buffers in the process: the blocks
//! here change sizes every few calls, which defeats glibc's adaptive
//! thresholds, and returning and refetching the memory (page faults, and
//! TLB flushes on the other cores) then costs more than the backward pass
//! itself (10 ms against 1.4 for the conv model's first block). Training
//! repeats one step's sizes and does not pay it (`step_phases` with and
//! without them: the same within noise).

use autoencoders::kernels::direct::Isa;
use autoencoders::kernels::{self, BlockConv, FusedAct};
use candle_core::{Device, Tensor, Var};
use std::time::Instant;

/// One block: its name, input `(c, side)`, filters, up-sampling, pooling,
/// activation, and whether training needs its input gradient.
struct Block {
    name: &'static str,
    c: usize,
    side: usize,
    f: usize,
    upsample: usize,
    pool: usize,
    act: FusedAct,
    dx: bool,
}

fn blocks() -> Vec<Block> {
    let b = |name, (c, side, f), (upsample, pool), act, dx| Block {
        name,
        c,
        side,
        f,
        upsample,
        pool,
        act,
        dx,
    };
    use FusedAct::{Relu, Sigmoid};
    vec![
        b("conv 1→16, 28×28, pool", (1, 28, 16), (1, 2), Relu, false),
        b("conv 16→32, 14×14, pool", (16, 14, 32), (1, 2), Relu, true),
        b("conv 32→64, 7×7, pool", (32, 7, 64), (1, 2), Relu, true),
        b("upconv 1→32, 28×28, pool", (1, 28, 32), (1, 2), Relu, false),
        b("upconv 32→32, 14×14, pool", (32, 14, 32), (1, 2), Relu, true),
        b("upconv 32→32, 7×7", (32, 7, 32), (1, 1), Relu, true),
        b("upconv up 32→32, 7×7→14×14", (32, 7, 32), (2, 1), Relu, true),
        b("upconv up 32→1, 14×14→28×28", (32, 14, 1), (2, 1), Sigmoid, true),
    ]
}

/// Median milliseconds of `rounds` calls of `run`, after one warm-up call.
fn median_ms(rounds: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[rounds / 2]
}

/// One transposed layer of the conv model: its name, input `(cin, side)`,
/// output channels, padding and output padding, activation.
struct Transposed {
    name: &'static str,
    cin: usize,
    side: usize,
    cout: usize,
    padding: usize,
    output_padding: usize,
    act: FusedAct,
}

fn transposed() -> Vec<Transposed> {
    let t = |name, (cin, side, cout), (padding, output_padding), act| Transposed {
        name,
        cin,
        side,
        cout,
        padding,
        output_padding,
        act,
    };
    vec![
        t("transposed 64→32, 3×3→7×7", (64, 3, 32), (0, 0), FusedAct::Relu),
        t("transposed 32→16, 7×7→14×14", (32, 7, 16), (1, 1), FusedAct::Relu),
        t("transposed 16→1, 14×14→28×28", (16, 14, 1), (1, 1), FusedAct::Sigmoid),
    ]
}

/// Forward and backward milliseconds of `layer(x, kernel, bias)`, whose
/// input is `(128, c, side, side)` and kernel `kdims`.
fn time_layer(
    (c, side, dx): (usize, usize, bool),
    kdims: (usize, usize, usize, usize),
    f: usize,
    rounds: usize,
    layer: impl Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<[f64; 2]> {
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1f32, (128, c, side, side), &dev)?;
    let x = if dx {
        Var::from_tensor(&x)?.as_tensor().clone()
    } else {
        x
    };
    let k = Var::from_tensor(&(Tensor::randn(0f32, 1f32, kdims, &dev)? * 0.1)?)?;
    let bias = Var::from_tensor(&Tensor::zeros(f, candle_core::DType::F32, &dev)?)?;
    let run = || layer(&x, k.as_tensor(), bias.as_tensor());
    let weights = Tensor::randn(0f32, 1f32, run()?.dims(), &dev)?;
    let forward = median_ms(rounds, || {
        std::hint::black_box(run().expect("the layer runs"));
    });
    let both = median_ms(rounds, || {
        let loss = (run().expect("the layer runs") * &weights).and_then(|t| t.sum_all());
        std::hint::black_box(loss.and_then(|l| l.backward()).expect("the backward pass runs"));
    });
    Ok([forward, both - forward])
}

/// Forward and backward milliseconds of `b` run as `conv` says.
fn passes(b: &Block, isa: Isa, conv: BlockConv, rounds: usize) -> candle_core::Result<[f64; 2]> {
    time_layer((b.c, b.side, b.dx), (b.f, b.c, 3, 3), b.f, rounds, |x, k, bias| {
        kernels::conv_block_with(isa, conv, x, k, bias, b.upsample, b.pool, b.act)
    })
}

/// Forward and backward milliseconds of `t`, on its channels-last path
/// with `isa`, or without it for `None`.
fn transposed_passes(t: &Transposed, isa: Option<Isa>, rounds: usize) -> candle_core::Result<[f64; 2]> {
    let how = (2, t.padding, t.output_padding);
    time_layer(
        (t.cin, t.side, true),
        (t.cin, t.cout, 3, 3),
        t.cout,
        rounds,
        |x, k, bias| kernels::conv_transpose2d_bias_act_with(isa, x, k, bias, how, t.act),
    )
}

fn main() -> candle_core::Result<()> {
    // The course's settings, read before candle starts its threads (they
    // keep candle's worker pool from spinning, as in training).
    autoencoders::runtime::settings();
    let rounds = autoencoders_tools::rounds_arg("block_paths", 20);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("batch 128; {cpus} logical CPUs; medians of {rounds} runs, ms");
    println!("| layer | variant | direct: forward | backward | channels-last where it applies: forward | backward |");
    println!("|---|---|---|---|---|---|");
    let only = std::env::args().nth(2).unwrap_or_default();
    for b in blocks().into_iter().filter(|b| b.name.contains(&only)) {
        for isa in Isa::available() {
            let [df, db] = passes(&b, isa, BlockConv::Direct, rounds)?;
            let [wf, wb] = passes(&b, isa, BlockConv::Fastest, rounds)?;
            row(b.name, isa, [df, db, wf, wb]);
        }
    }
    for t in transposed().into_iter().filter(|t| t.name.contains(&only)) {
        for isa in Isa::available() {
            let [df, db] = transposed_passes(&t, None, rounds)?;
            let [wf, wb] = transposed_passes(&t, Some(isa), rounds)?;
            row(t.name, isa, [df, db, wf, wb]);
        }
    }
    Ok(())
}

fn row(name: &str, isa: Isa, [df, db, wf, wb]: [f64; 4]) {
    println!("| {name} | {} | {df:.2} | {db:.2} | {wf:.2} | {wb:.2} |", isa.name());
}
