//! The CPU's f32 limit: GFLOP/s of fused multiply-adds alone, on every
//! core, in the widest vectors the direct kernels use here (AVX-512, else
//! AVX2), with enough independent chains to hide the FMA latency. The
//! ceiling a training step's GFLOP/s is compared with in docs/performance.md.
//!
//! ```text
//! cargo run --release -p autoencoders-tools --no-default-features --example fma_peak
//! ```

use std::time::Instant;

/// Multiply-adds per chain and call.
const ITERS: usize = 200_000_000;
/// Independent accumulators: more than latency × FMA units (4 × 2).
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_avx512(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(seed * 1e-7));
    let mut acc = [_mm512_set1_ps(seed); CHAINS];
    for _ in 0..ITERS {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_avx2(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(seed * 1e-7));
    let mut acc = [_mm256_set1_ps(seed); CHAINS];
    for _ in 0..ITERS {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut lanes = [0f32; 8];
    acc.iter()
        .map(|v| {
            _mm256_storeu_ps(lanes.as_mut_ptr(), *v);
            lanes.iter().sum::<f32>()
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let (name, lanes, run): (&str, usize, fn(f32) -> f32) = if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        ("avx512", 16, |s| unsafe { fma_avx512(s) })
    } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        ("avx2", 8, |s| unsafe { fma_avx2(s) })
    } else {
        eprintln!("fma_peak: this CPU has neither AVX-512F nor AVX2/FMA; nothing to measure");
        std::process::exit(2);
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let sums: Vec<f32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || run(1.0 + t as f32))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let flops = (threads * ITERS * CHAINS * lanes * 2) as f64;
    println!(
        "{name}, {threads} threads: {:.0} GFLOP/s of f32 FMAs ({:.2} s; checksum {:.3e})",
        flops / secs / 1e9,
        secs,
        sums.iter().sum::<f32>()
    );
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("fma_peak: written for x86-64 (AVX-512 or AVX2/FMA); nothing to measure here");
    std::process::exit(2);
}
