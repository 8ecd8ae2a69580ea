//! Fast CPU forward and backward passes for training, as candle custom ops:
//! 2-D convolution, transposed convolution, 2×2 max-pooling, 2× nearest
//! up-sampling, whole convolution blocks ([`conv_block`]), dense layers
//! ([`dense`]) and the MSE and binary cross-entropy losses.
//!
//! candle 0.11's CPU convolution backward goes through a direct-loop
//! transposed convolution, and its max-pool backward through several
//! full-size temporaries. Here every convolution pass is one of three
//! kernels: 3×3 geometries of stride 1 ('same') and of stride 2 (padding 0
//! or 1: the transposed convolutions') go to the AVX-512 or AVX2/FMA kernels
//! of [`direct`] where the CPU has them (see [`gemm`] for the dispatch),
//! everything else to an `im2col`/`col2im` around one `gemm` per group of
//! images, the images of a batch spread over threads:
//!
//! | pass | convolution | transposed convolution |
//! |---|---|---|
//! | forward | [`conv_forward`] | [`conv_backward_data`] |
//! | gradient of the input | [`conv_backward_data`] | [`conv_forward`] |
//! | gradient of the kernel | [`conv_backward_filter`] | [`conv_backward_filter`] (roles swapped) |
//!
//! The model layers and losses use these automatically for `f32` tensors on
//! the CPU (see [`enabled`]); on a GPU candle's own kernels run.
//! `tests/cpu_ops.rs` compares outputs and gradients with candle's
//! reference ops on random shapes, and `tests/fused_ops.rs` every
//! direct-kernel variant the CPU has with the gemm path.

use candle_core::{CpuStorage, Layout, Tensor};
use rayon::prelude::*;

mod block;
mod conv;
mod dense;
pub mod direct;
mod fused;
pub mod gemm;
mod loss;
mod pool;
mod rows;

pub use block::{block_applies, conv_block, conv_block_with, BlockConv};
pub use conv::{conv2d, conv_transpose2d};
pub use dense::dense;
pub use fused::{conv2d_bias_act, conv_transpose2d_bias_act, conv_transpose2d_bias_act_with};
pub use gemm::{
    conv_backward_data, conv_backward_data_gemm, conv_backward_filter, conv_backward_filter_gemm, conv_forward,
    conv_forward_gemm,
};
pub use loss::{bce_loss, mse_loss, EPSILON};
pub use pool::{max_pool2d, upsample_nearest2d};

/// Which CPU kernels run, chosen once per process by the crate that uses
/// these (the course crate reads it from `AUTOENCODERS_CPU_OPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOps {
    /// The widest variant of the direct kernels the CPU has, else the gemm path.
    Auto,
    /// candle's own reference ops: [`enabled`] is false.
    Candle,
    /// These ops, without the direct kernels.
    Gemm,
    /// This variant of the direct kernels (if the CPU lacks it, the widest it
    /// has, with a notice).
    Direct(direct::Isa),
}

static CHOSEN: std::sync::OnceLock<CpuOps> = std::sync::OnceLock::new();

/// Chooses the kernels for this process, once: the first call wins (and so
/// does [`CpuOps::Auto`] if a kernel ran before any call). Returns the choice
/// in force.
pub fn choose(ops: CpuOps) -> CpuOps {
    *CHOSEN.get_or_init(|| ops)
}

/// The kernels chosen for this process ([`CpuOps::Auto`] unless [`choose`]
/// said otherwise).
pub fn chosen() -> CpuOps {
    *CHOSEN.get_or_init(|| CpuOps::Auto)
}

/// Makes the calling thread worker 0 of the kernels' thread pool (rayon's
/// global pool, a thread per core), if it is the process's main thread
/// (see [`on_main_thread`]) and the pool has not started yet. Returns
/// whether it did.
///
/// Every op splits its images among the pool's threads. Called from a
/// thread outside the pool, each such split is sent to the pool while the
/// caller sleeps, and wakes it again when done: a few hundred of these a
/// training step, each a round trip through the kernel's scheduler. From
/// inside the pool the caller takes a share of the work itself and the
/// other workers take theirs from it. Training runs on the main thread
/// (a notebook's cells do too, in evcxr's runtime), which never leaves
/// the pool, so this is done once; elsewhere (test threads) the pool is
/// left as rayon makes it.
pub fn adopt_main_thread() -> bool {
    on_main_thread()
        && rayon::ThreadPoolBuilder::new()
            .use_current_thread()
            .build_global()
            .is_ok()
}

/// True on the process's first thread, asked of the operating system: a
/// notebook's cell is a library evcxr loads with its own copy of `std`,
/// which never named that thread "main".
pub fn on_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        tid == std::process::id() as libc::c_long
    }
    #[cfg(target_os = "macos")]
    {
        // SAFETY: pthread_main_np takes no arguments and cannot fail.
        unsafe { libc::pthread_main_np() == 1 }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        std::thread::current().name() == Some("main")
    }
}

/// True when the layers should use these ops: `f32` on the CPU, unless
/// [`CpuOps::Candle`] was chosen.
pub fn enabled(xs: &Tensor) -> bool {
    chosen() != CpuOps::Candle && xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32
}

/// Geometry of a square-kernel convolution: input `(n, c, h, w)`, kernel
/// `(f, c, k, k)`, output `(n, f, ho, wo)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// The geometry of a convolution of an `(n, c, h, w)` input.
    #[allow(clippy::too_many_arguments)] // the eight numbers that define a convolution
    pub fn new(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        f: usize,
        k: usize,
        stride: usize,
        padding: usize,
    ) -> candle_core::Result<Self> {
        if h + 2 * padding < k || w + 2 * padding < k || stride == 0 {
            candle_core::bail!(
                "convolution: kernel {k} larger than the padded input {h}x{w} (padding {padding}) or stride 0"
            );
        }
        Ok(Geometry {
            n,
            c,
            h,
            w,
            f,
            k,
            stride,
            padding,
            ho: (h + 2 * padding - k) / stride + 1,
            wo: (w + 2 * padding - k) / stride + 1,
        })
    }

    /// Values in the input `(n, c, h, w)`.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// Values in the output `(n, f, ho, wo)`.
    pub fn output_len(&self) -> usize {
        self.n * self.f * self.ho * self.wo
    }

    /// Values in the kernel `(f, c, k, k)`.
    pub fn kernel_len(&self) -> usize {
        self.f * self.c * self.k * self.k
    }

    /// Checks, in every build, that each slice holds exactly what the
    /// geometry says: the kernels index the slices without bounds checks, so a
    /// short slice must stop here, not be read past its end.
    pub(crate) fn assert_lens(&self, what: &str, slices: &[(&str, usize, usize)]) {
        for (name, got, want) in slices {
            assert!(
                got == want,
                "{what}: `{name}` holds {got} values, but the geometry {self:?} needs {want}"
            );
        }
    }

    pub(crate) fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }

    pub(crate) fn hw_out(&self) -> usize {
        self.ho * self.wo
    }
}

/// True when the CPU has AVX2 and FMA, what every vector variant needs
/// (a cached lookup: cheap enough per call of an op).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// `len` zeros, written by the pool's threads when `len` is large: an op's
/// output (a batch of images) would otherwise be cleared by the calling
/// thread alone before the work is split.
pub(crate) fn zeros<T: Copy + Default + Send>(len: usize) -> Vec<T> {
    const SERIAL: usize = 1 << 16;
    if len <= SERIAL {
        return vec![T::default(); len];
    }
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(SERIAL)
        .for_each(|c| c.iter_mut().for_each(|x| _ = x.write(T::default())));
    // SAFETY: the first `len` elements were written just above.
    unsafe { v.set_len(len) };
    v
}

pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d,
        _ => candle_core::bail!("{what}: the fast CPU ops take f32 tensors"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

pub(crate) fn dims4(l: &Layout, what: &str) -> candle_core::Result<(usize, usize, usize, usize)> {
    match l.dims() {
        &[a, b, c, d] => Ok((a, b, c, d)),
        d => candle_core::bail!("{what}: expected 4 dimensions, got {d:?}"),
    }
}

/// An activation fused into a convolution's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedAct {
    Linear,
    Relu,
    Sigmoid,
}

impl FusedAct {
    pub(crate) fn apply(self, v: f32) -> f32 {
        rows::with_act!(self, A => <A as rows::Act>::apply(v))
    }

    /// The derivative, written in terms of the activation's output `y`.
    pub(crate) fn grad_from_output(self, y: f32) -> f32 {
        rows::with_act!(self, A => <A as rows::Act>::slope(y))
    }
}

/// `1 / (1 + e^-v)` without a call into libm, so that the loops applying it
/// vectorise: `e^-v = 2^n · p(r)` with `n = round(-v · log2 e)`, `r = -v - n ·
/// ln 2` (two parts, as Cephes' `expf`) and `p` Cephes' degree-6 polynomial
/// (about one ulp); `-v` is clamped to ±87, beyond which the sigmoid is 0 or
/// 1 in `f32`.
#[inline]
pub(crate) fn sigmoid(v: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer, held in the low bits.
    const ROUND: f32 = 12_582_912.0;
    let x = (-v).clamp(-87.0, 87.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from n's bits (|n| ≤ 126: a normal number).
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32).wrapping_shl(23));
    1.0 / (1.0 + e * scale)
}

/// `ln x` without a call into libm, for positive normal `x` (the loss's
/// clipped probabilities), so that the loops applying it vectorise: Cephes'
/// `logf`, `x = m · 2^e` with `m` in `[√½, √2)`, `ln x = e · ln 2 + ln m`
/// and `ln(1 + r)`, `r = m − 1`, by a degree-8 polynomial (about one ulp).
#[inline]
pub(crate) fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let bits = x.to_bits();
    // m in [0.5, 1): the mantissa with the exponent of 0.5.
    let m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000);
    let e = ((bits >> 23) & 0xff) as i32 - 126;
    let small = m < SQRT_HALF;
    let (e, r) = if small { (e - 1, m + m - 1.0) } else { (e, m - 1.0) };
    let e = e as f32;
    let z = r * r;
    // Cephes' coefficients, highest power first (Horner's rule).
    const P: [f32; 9] = [
        0.070_376_836,
        -0.115_146_1,
        0.116_769_984,
        -0.124_201_41,
        0.142_493_23,
        -0.166_680_57,
        0.200_007_14,
        -0.249_999_94,
        0.333_333_3,
    ];
    let p = P.iter().fold(0.0, |acc, &c| acc * r + c);
    let y = p * r * z + e * LN2_LO - 0.5 * z;
    r + y + e * LN2_HI
}

#[cfg(test)]
mod tests {
    #[test]
    fn sigmoid_matches_libm() {
        let mut worst = 0f64;
        // Relative error up to 80 either side (the sigmoid 2e-35 at -80).
        for i in -160_000..=160_000 {
            let v = i as f32 * 5e-4;
            let want = 1.0 / (1.0 + (-(v as f64)).exp());
            let got = super::sigmoid(v) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        for (v, want) in [(-200.0, 0.0), (-90.0, 0.0), (90.0, 1.0), (1e30, 1.0)] {
            let got = super::sigmoid(v);
            assert!((got - want).abs() < 1e-37, "sigmoid({v}) = {got}");
        }
        assert!(super::sigmoid(f32::NAN).is_nan());
    }

    #[test]
    fn only_the_process_first_thread_is_the_main_thread() {
        // The test harness runs each test on a thread of its own.
        assert!(!super::on_main_thread());
        let spawned = std::thread::spawn(super::on_main_thread).join().unwrap();
        assert!(!spawned);
    }

    #[test]
    fn ln_matches_libm() {
        // The loss's range, [1e-7, 1], densely, and a few decades either side.
        let mut worst = 0f64;
        let mut x = 1e-9f32;
        while x < 1e3 {
            let want = (x as f64).ln();
            let got = super::ln(x) as f64;
            worst = worst.max((got - want).abs() / want.abs().max(1e-3));
            x *= 1.000_03;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(super::ln(1.0), 0.0);
        assert!((super::ln(1e-7) - (-16.118_095)).abs() < 1e-5);
    }
}
