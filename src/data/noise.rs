//! Gaussian noise for the denoising lessons: `x + noise_factor · N(0, 1)`,
//! clipped to `[0, 1]`, reproducible for a given seed.
//!
//! Introduced in `notebooks/04_denoising.ipynb`.

use crate::error::{Error, Result};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Settings for [`GaussianNoise::apply`].
#[derive(Debug, Clone, Copy)]
pub struct GaussianNoise {
    /// Standard deviation of the added noise, in pixel units (seed lessons: 0.5).
    pub noise_factor: f32,
    /// Seed of the random generator: the same seed gives the same noise.
    pub seed: u64,
}

impl Default for GaussianNoise {
    fn default() -> Self {
        GaussianNoise {
            noise_factor: 0.5,
            seed: 0,
        }
    }
}

impl GaussianNoise {
    /// Noise of the given factor and the default seed.
    pub fn new(noise_factor: f32) -> Self {
        GaussianNoise {
            noise_factor,
            ..Default::default()
        }
    }

    /// The same settings with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Returns `clip(xs + noise_factor · N(0, 1), 0, 1)`.
    ///
    /// # Shapes
    /// Any shape in, the same shape out (f32, on the device of `xs`).
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        add_gaussian_noise(xs, self.noise_factor, self.seed)
    }
}

/// `clip(xs + noise_factor · N(0, 1), 0, 1)` with a seeded generator.
pub fn add_gaussian_noise(xs: &Tensor, noise_factor: f32, seed: u64) -> Result<Tensor> {
    if !noise_factor.is_finite() || noise_factor < 0.0 {
        return Err(Error::out_of_range(format!(
            "noise_factor {noise_factor} is not allowed: use a finite value ≥ 0 (the lessons use 0.5, usable up to about 0.9)"
        )));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = xs.elem_count();
    let noise: Vec<f32> = (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            z * noise_factor
        })
        .collect();
    let noise = Tensor::from_vec(noise, xs.shape(), xs.device())?;
    let xs = xs.to_dtype(candle_core::DType::F32)?;
    Ok((xs + noise)?.clamp(0f32, 1f32)?)
}
