//! Choosing where tensors live: the GPU when the crate was built with the
//! `cuda` feature and a GPU is usable, otherwise the CPU.
//!
//! candle's `Device::cuda_if_available` decides at compile time and returns an
//! error on a CUDA build without a usable GPU; [`device`] instead tries the GPU
//! and falls back to the CPU with a one-line notice.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use candle_core::Device;
use std::sync::OnceLock;

static CHOSEN: OnceLock<(Device, String)> = OnceLock::new();

/// Asks candle's CPU worker pool to sleep as soon as its part of an
/// element-wise op is done (`CANDLE_BARRIER_POOL_SPIN_LIMIT=0`) rather than
/// spin for about a millisecond waiting for the next one, unless the user set
/// that variable. On a laptop's few cores the spinning worker takes a core
/// from the crate's own multi-threaded ops: in a profile of the deep dense
/// model it was a fifth of all CPU time. It only takes effect if candle's pool
/// has not started yet, so the crate calls it before its first tensor op
/// (from [`device`], [`crate::runtime::mode::setup`] and the dataset loaders).
pub(crate) fn quiet_candle_pool() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        const VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
        if std::env::var_os(VAR).is_none() {
            std::env::set_var(VAR, "0");
        }
    });
}

/// The device the course runs on, chosen once per process.
///
/// Set `AUTOENCODERS_DEVICE=cpu` to force the CPU on a CUDA build.
pub fn device() -> Device {
    quiet_candle_pool();
    let (dev, notice) = CHOSEN.get_or_init(choose);
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| println!("{notice}"));
    dev.clone()
}

/// One line saying which device was chosen and why.
pub fn device_notice() -> String {
    CHOSEN.get_or_init(choose).1.clone()
}

fn choose() -> (Device, String) {
    let forced_cpu = std::env::var("AUTOENCODERS_DEVICE")
        .map(|v| v.eq_ignore_ascii_case("cpu"))
        .unwrap_or(false);
    if forced_cpu {
        return (Device::Cpu, "device: CPU (AUTOENCODERS_DEVICE=cpu)".into());
    }
    if cfg!(feature = "cuda") {
        // Device::new_cuda fails cleanly when the driver finds no GPU.
        match Device::new_cuda(0) {
            Ok(dev) => (dev, "device: CUDA GPU 0".into()),
            Err(e) => (
                Device::Cpu,
                format!("device: CPU (built with cuda, but no usable GPU: {e})"),
            ),
        }
    } else {
        (Device::Cpu, "device: CPU (built without the `cuda` feature)".into())
    }
}
