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

/// The device the course runs on, chosen once per process.
///
/// Set `AUTOENCODERS_DEVICE=cpu` to force the CPU on a CUDA build.
pub fn device() -> Device {
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
    if super::settings().force_cpu {
        return (Device::Cpu, "device: CPU (AUTOENCODERS_DEVICE=cpu)".into());
    }
    if cfg!(feature = "cuda") {
        // Device::new_cuda fails cleanly when the driver finds no GPU.
        match Device::new_cuda(0) {
            Ok(dev) => (dev, "device: CUDA GPU 0".into()),
            Err(e) => (
                Device::Cpu,
                format!("device: CPU (built with cuda, but no usable GPU: {})", why_no_gpu(&e)),
            ),
        }
    } else {
        (Device::Cpu, "device: CPU (built without the `cuda` feature)".into())
    }
}

/// The first line of candle's error (its backtrace, when `RUST_BACKTRACE` is
/// set, would make the notice twenty lines), with the stub driver of
/// `scripts/cuda-env.sh` named as what it is.
fn why_no_gpu(e: &candle_core::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim();
    if first.contains("CUDA_ERROR_STUB_LIBRARY") {
        "no NVIDIA driver on this machine, only the stub libcuda.so.1".into()
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::why_no_gpu;

    #[test]
    fn the_fallback_reason_is_one_line_and_names_the_stub() {
        let stub = candle_core::Error::Msg("DriverError(CUDA_ERROR_STUB_LIBRARY, \"stub\")\nbacktrace:\n  0: x".into());
        assert_eq!(
            why_no_gpu(&stub),
            "no NVIDIA driver on this machine, only the stub libcuda.so.1"
        );
        let other = candle_core::Error::Msg("  DriverError(CUDA_ERROR_NO_DEVICE)  \n  0: frame".into());
        assert_eq!(why_no_gpu(&other), "DriverError(CUDA_ERROR_NO_DEVICE)");
    }
}
