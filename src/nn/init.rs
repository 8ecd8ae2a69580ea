//! Seeded, Keras-style weight initialisation, one generator per layer.

use super::batch_shape;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand_distr::{Distribution, Uniform};

/// The most numbers one weight tensor may hold: 2^28 (1 GiB of f32), a
/// hundred times the largest layer of the course.
pub const MAX_WEIGHTS: usize = 1 << 28;

/// What a [`super::LayerConfig`] gets to build its layer: the device, a
/// random generator seeded for this layer alone (the model's seed mixed with
/// the layer's position, type and input shape), and the layer's name and
/// input shape for error messages.
pub struct Init {
    rng: rand::rngs::StdRng,
    dev: Device,
    layer: String,
    input: Vec<usize>,
}

/// splitmix64: spreads nearby seeds over the whole range.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Init {
    /// The generator for layer number `index` (from 0) of kind `kind` with
    /// inputs `(N, input…)`, named `layer` in messages.
    pub fn new(seed: u64, index: usize, kind: &str, input: &[usize], layer: String, dev: &Device) -> Self {
        let mut h = mix(seed ^ mix(index as u64));
        for b in kind.bytes() {
            h = mix(h ^ b as u64);
        }
        for &d in input {
            h = mix(h ^ d as u64);
        }
        Init {
            rng: rand::rngs::StdRng::seed_from_u64(h),
            dev: dev.clone(),
            layer,
            input: input.to_vec(),
        }
    }

    /// Where the weights are made.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The layer's full name, e.g. `encoder.conv2d_1`.
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// How many numbers a weight tensor of `shape` holds, refused above
    /// [`MAX_WEIGHTS`] (a layer that large would take minutes and gigabytes
    /// to initialise before failing for want of memory).
    fn count(&self, shape: &[usize]) -> Result<usize> {
        match shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
            Some(n) if n <= MAX_WEIGHTS => Ok(n),
            _ => Err(self.setting_error(format!(
                "a weight tensor of shape {shape:?} holds more than {MAX_WEIGHTS} numbers; \
                 use fewer units or filters, or give the layer a smaller input"
            ))),
        }
    }

    /// Weights drawn uniformly from `[-limit, limit]`.
    pub fn uniform(&mut self, shape: &[usize], limit: f64) -> Result<Var> {
        let n = self.count(shape)?;
        let dist = Uniform::new_inclusive(-limit as f32, limit as f32)
            .map_err(|e| Error::invalid(format!("{}: weight initialisation: {e}", self.layer)))?;
        let values: Vec<f32> = (0..n).map(|_| dist.sample(&mut self.rng)).collect();
        Ok(Var::from_tensor(&Tensor::from_vec(values, shape, &self.dev)?)?)
    }

    /// Keras' default kernel initialiser, Glorot-uniform:
    /// `limit = √(6 / (fan_in + fan_out))`.
    pub fn glorot(&mut self, shape: &[usize], fan_in: usize, fan_out: usize) -> Result<Var> {
        self.uniform(shape, (6.0 / (fan_in + fan_out) as f64).sqrt())
    }

    /// A tensor of one value (biases start at 0, scales at 1).
    pub fn constant(&mut self, shape: &[usize], value: f32) -> Result<Var> {
        let n = self.count(shape)?;
        Ok(Var::from_tensor(&Tensor::from_vec(vec![value; n], shape, &self.dev)?)?)
    }

    /// The error for an input this layer cannot take: names the layer, the
    /// shape it received and what it `needs` (say the fix there too).
    pub fn shape_error(&self, needs: impl Into<String>) -> Error {
        Error::LayerShape {
            layer: self.layer.clone(),
            input: batch_shape(&self.input),
            needs: needs.into(),
        }
    }

    /// The error for a setting out of range: names the layer and the value.
    pub fn setting_error(&self, msg: impl std::fmt::Display) -> Error {
        Error::invalid(format!("layer {}: {msg}", self.layer))
    }
}
