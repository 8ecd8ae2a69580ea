//! The `cuda` build (compiled only with the feature).
//!
//! Without a usable GPU (the stub driver of `scripts/cuda-env.sh` on a
//! machine with no NVIDIA driver) the course must fall back to the CPU and
//! say so: `fallback_*`. With a GPU, every model's forward and backward pass
//! and a short `fit` must agree with the CPU: `gpu_*`, which fail without a
//! GPU. `scripts/test-cuda.sh` runs the fallback tests (`--skip gpu_`),
//! `scripts/gpu-check.sh` all of them with `AUTOENCODERS_REQUIRE_GPU=1`.
#![cfg(feature = "cuda")]

use autoencoders::prelude::*;
use autoencoders::runtime::{device, device::device_notice};

/// Relative tolerance of one forward or backward pass, GPU against CPU
/// (f32 throughout; cuBLAS and cuDNN-free convolutions add in another order).
const PASS_TOL: f32 = 1e-3;
/// Relative tolerance of the loss after a short `fit` (two epochs of Adam
/// carry those differences along).
const FIT_TOL: f32 = 1e-2;

fn require_gpu() -> bool {
    std::env::var("AUTOENCODERS_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

fn gpu() -> Device {
    let dev = device();
    assert!(dev.is_cuda(), "no usable GPU: {}", device_notice());
    dev
}

#[test]
fn fallback_runs_on_the_cpu_and_says_why_without_a_usable_gpu() {
    let dev = device();
    if require_gpu() {
        assert!(dev.is_cuda(), "AUTOENCODERS_REQUIRE_GPU=1, but {}", device_notice());
        return;
    }
    assert!(
        !dev.is_cuda(),
        "a GPU is usable here: run scripts/gpu-check.sh, not the fallback tests"
    );
    let notice = device_notice();
    assert!(
        notice.starts_with("device: CPU (built with cuda, but no usable GPU"),
        "{notice}"
    );
    // The CPU fallback trains like the CPU build.
    let xs = Tensor::rand(0f32, 1f32, (256, 784), &dev).unwrap();
    let ae = DenseAutoencoder::classic().build(&dev).unwrap();
    let h = fit(&ae, &xs, &xs, None, &TrainConfig::default().with_epochs(1).quiet()).unwrap();
    assert!(h.loss[0].is_finite());
}

/// The same model on the CPU and on the GPU, with the same weights.
fn pair(name: &str, gpu: &Device) -> (Autoencoder, Autoencoder) {
    let build = |dev: &Device| match name {
        "classic" => DenseAutoencoder::classic().build(dev),
        "deep" => DenseAutoencoder::deep().build(dev),
        "conv" => ConvAutoencoder::default().build(dev),
        _ => UpConvAutoencoder::default().build(dev),
    };
    let (cpu, cuda) = (build(&Device::Cpu).unwrap(), build(gpu).unwrap());
    let path = std::env::temp_dir().join(format!("autoencoders-cuda-{}-{name}.safetensors", std::process::id()));
    cpu.save(&path).unwrap();
    cuda.load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    (cpu, cuda)
}

/// `|a - b|_max / |a|_max`.
fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    let b = b.to_device(&Device::Cpu).unwrap();
    let scale = a
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .max(1e-12);
    let d = (a - &b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    d / scale
}

#[test]
fn gpu_forward_and_backward_of_every_model_agree_with_the_cpu() {
    let dev = gpu();
    let xs = Tensor::rand(0f32, 1f32, (128, 784), &Device::Cpu).unwrap();
    for name in ["classic", "deep", "conv", "upconv"] {
        let (cpu, cuda) = pair(name, &dev);
        let (out_c, out_g) = (
            cpu.forward(&xs).unwrap(),
            cuda.forward(&xs.to_device(&dev).unwrap()).unwrap(),
        );
        let fwd = rel_diff(&out_c, &out_g);
        assert!(fwd < PASS_TOL, "{name}: forward differs by {fwd:e} (relative)");
        let loss_c = Loss::BinaryCrossEntropy.compute(&out_c, &xs).unwrap();
        let loss_g = Loss::BinaryCrossEntropy
            .compute(&out_g, &xs.to_device(&dev).unwrap())
            .unwrap();
        let (gc, gg) = (loss_c.backward().unwrap(), loss_g.backward().unwrap());
        for ((pname, vc), (_, vg)) in cpu.named_params().iter().zip(cuda.named_params().iter()) {
            let d = rel_diff(gc.get(vc.as_tensor()).unwrap(), gg.get(vg.as_tensor()).unwrap());
            assert!(d < PASS_TOL, "{name}: gradient of {pname} differs by {d:e} (relative)");
        }
        eprintln!("{name}: forward {fwd:.1e}, gradients within {PASS_TOL:e}");
    }
}

#[test]
fn gpu_fit_and_predict_agree_with_the_cpu() {
    let dev = gpu();
    let xs = Tensor::rand(0f32, 1f32, (1024, 784), &Device::Cpu).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(2)
        .with_loss(Loss::BinaryCrossEntropy)
        .quiet();
    for name in ["classic", "conv"] {
        let (cpu, cuda) = pair(name, &dev);
        let hc = fit(&cpu, &xs, &xs, None, &cfg).unwrap();
        let hg = fit(
            &cuda,
            &xs.to_device(&dev).unwrap(),
            &xs.to_device(&dev).unwrap(),
            None,
            &cfg,
        )
        .unwrap();
        let (lc, lg) = (hc.last_loss().unwrap(), hg.last_loss().unwrap());
        assert!(
            (lc - lg).abs() / lc < FIT_TOL,
            "{name}: loss after 2 epochs {lc} (CPU) against {lg} (GPU)"
        );
        let pg = predict(&cuda, &xs.to_device(&dev).unwrap(), 256).unwrap();
        assert!(pg.device().is_cuda(), "{name}: predict of GPU data returns GPU tensors");
        let d = rel_diff(&predict(&cpu, &xs, 256).unwrap(), &pg);
        assert!(
            d < FIT_TOL,
            "{name}: predictions after training differ by {d:e} (relative)"
        );
        eprintln!("{name}: loss {lc:.5} (CPU) {lg:.5} (GPU)");
    }
}
