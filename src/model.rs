//! The course's models: a [`Sequential`] stack of Keras-like [`Layer`]s, and
//! an [`Autoencoder`] made of an encoder and a decoder stack that share their
//! weights with it, as the seed lessons build `encoder`, `decoder` and
//! `autoencoder`.
//!
//! Weights start as Keras starts them (Glorot-uniform kernels, zero biases)
//! from a seeded generator, so a model built twice with the same seed is the
//! same model on the CPU.
//!
//! Every autoencoder takes and returns flat images `(N, 784)`; the
//! convolutional ones reshape to `(N, 1, 28, 28)` inside (a `Reshape` layer
//! that their [`Summary`] shows).
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::cpu_ops;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Linear, VarMap};
use rand::SeedableRng;
use rand_distr::{Distribution, Uniform};
use std::path::Path;

/// A layer's activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// The same activation for the fused CPU convolution ops, if they have it.
    fn fused(self) -> Option<cpu_ops::FusedAct> {
        match self {
            Activation::Linear => Some(cpu_ops::FusedAct::Linear),
            Activation::Relu => Some(cpu_ops::FusedAct::Relu),
            Activation::Sigmoid => Some(cpu_ops::FusedAct::Sigmoid),
            Activation::Tanh => None,
        }
    }

    /// Applies the activation element-wise.
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => xs.clone(),
            Activation::Relu => xs.relu()?,
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs)?,
            Activation::Tanh => xs.tanh()?,
        })
    }
}

/// One layer of a [`Sequential`] stack.
#[derive(Debug, Clone)]
pub enum Layer {
    /// Fully connected: `(N, in) -> (N, out)`.
    Dense { name: String, linear: Linear, act: Activation },
    /// 2-D convolution: `(N, C, H, W) -> (N, F, H', W')`.
    Conv2d { name: String, conv: Conv2d, act: Activation },
    /// Transposed 2-D convolution: `(N, C, H, W) -> (N, F, H', W')`.
    ConvTranspose2d { name: String, conv: ConvTranspose2d, act: Activation },
    /// Max-pooling over `size × size` windows, stride `size` (floor).
    MaxPool2d { size: usize },
    /// Nearest-neighbour up-sampling by `factor`.
    UpSample2d { factor: usize },
    /// Reshape each sample to `shape` (the batch dimension is kept).
    Reshape { shape: Vec<usize> },
}

impl Layer {
    /// Keras-style type name for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "Dense",
            Layer::Conv2d { .. } => "Conv2D",
            Layer::ConvTranspose2d { .. } => "Conv2DTranspose",
            Layer::MaxPool2d { .. } => "MaxPooling2D",
            Layer::UpSample2d { .. } => "UpSampling2D",
            Layer::Reshape { .. } => "Reshape",
        }
    }

    /// The layer's name (weights are stored as `NAME.weight`, `NAME.bias`).
    pub fn name(&self) -> String {
        match self {
            Layer::Dense { name, .. } | Layer::Conv2d { name, .. } | Layer::ConvTranspose2d { name, .. } => {
                name.clone()
            }
            Layer::MaxPool2d { size } => format!("max_pool_{size}x{size}"),
            Layer::UpSample2d { factor } => format!("up_sample_{factor}x{factor}"),
            Layer::Reshape { shape } => format!("reshape_{}", dims(shape)),
        }
    }

    /// The layer's weight and bias tensors (none for pooling, up-sampling
    /// and reshapes).
    pub fn params(&self) -> Vec<&Tensor> {
        let (w, b) = match self {
            Layer::Dense { linear, .. } => (linear.weight(), linear.bias()),
            Layer::Conv2d { conv, .. } => (conv.weight(), conv.bias()),
            Layer::ConvTranspose2d { conv, .. } => (conv.weight(), conv.bias()),
            _ => return Vec::new(),
        };
        std::iter::once(w).chain(b).collect()
    }

    /// Trainable parameters of this layer.
    pub fn param_count(&self) -> usize {
        let count = |w: &Tensor, b: Option<&Tensor>| w.elem_count() + b.map_or(0, |b| b.elem_count());
        match self {
            Layer::Dense { linear, .. } => count(linear.weight(), linear.bias()),
            Layer::Conv2d { conv, .. } => count(conv.weight(), conv.bias()),
            Layer::ConvTranspose2d { conv, .. } => count(conv.weight(), conv.bias()),
            _ => 0,
        }
    }

    /// Applies the layer.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Layer::Dense { name, linear, act } => {
                let want = linear.weight().dim(1)?;
                match xs.dims() {
                    [_, d] if *d == want && cpu_ops::enabled(xs) => match (linear.bias(), act.fused()) {
                        (Some(b), Some(fused)) => Ok(cpu_ops::dense(xs, linear.weight(), b, fused)?),
                        _ => act.apply(&linear.forward(xs)?),
                    },
                    [_, d] if *d == want => act.apply(&linear.forward(xs)?),
                    d => Err(Error::shape(format!("layer {name}"), format!("(N, {want})"), d)),
                }
            }
            Layer::Conv2d { name, conv, act } => {
                let want = conv.weight().dim(1)?;
                let cfg = conv.config();
                match xs.dims() {
                    [_, c, _, _] if *c == want && cpu_ops::enabled(xs) && cfg.dilation == 1 && cfg.groups == 1 => {
                        match (conv.bias(), act.fused()) {
                            (Some(b), Some(fused)) => {
                                Ok(cpu_ops::conv2d_bias_act(xs, conv.weight(), b, cfg.stride, cfg.padding, fused)?)
                            }
                            _ => {
                                let ys = cpu_ops::conv2d(xs, conv.weight(), cfg.stride, cfg.padding)?;
                                act.apply(&add_channel_bias(ys, conv.bias())?)
                            }
                        }
                    }
                    [_, c, _, _] if *c == want => act.apply(&conv.forward(xs)?),
                    d => Err(Error::shape(format!("layer {name}"), format!("(N, {want}, H, W)"), d)),
                }
            }
            Layer::ConvTranspose2d { name, conv, act } => {
                let want = conv.weight().dim(0)?;
                let cfg = conv.config();
                match xs.dims() {
                    [_, c, _, _] if *c == want && cpu_ops::enabled(xs) && cfg.dilation == 1 => {
                        let (s, p, op) = (cfg.stride, cfg.padding, cfg.output_padding);
                        match (conv.bias(), act.fused()) {
                            (Some(b), Some(fused)) => {
                                Ok(cpu_ops::conv_transpose2d_bias_act(xs, conv.weight(), b, s, p, op, fused)?)
                            }
                            _ => {
                                let ys = cpu_ops::conv_transpose2d(xs, conv.weight(), s, p, op)?;
                                act.apply(&add_channel_bias(ys, conv.bias())?)
                            }
                        }
                    }
                    [_, c, _, _] if *c == want => act.apply(&conv.forward(xs)?),
                    d => Err(Error::shape(format!("layer {name}"), format!("(N, {want}, H, W)"), d)),
                }
            }
            Layer::MaxPool2d { size } if cpu_ops::enabled(xs) => Ok(cpu_ops::max_pool2d(xs, *size)?),
            Layer::MaxPool2d { size } => Ok(xs.max_pool2d(*size)?),
            Layer::UpSample2d { factor } if cpu_ops::enabled(xs) => Ok(cpu_ops::upsample_nearest2d(xs, *factor)?),
            Layer::UpSample2d { factor } => {
                let (_, _, h, w) = xs.dims4()?;
                Ok(xs.upsample_nearest2d(h * factor, w * factor)?)
            }
            Layer::Reshape { shape } => {
                let n = xs.dim(0)?;
                let per: usize = xs.dims()[1..].iter().product();
                if per != shape.iter().product::<usize>() {
                    return Err(Error::shape(
                        "reshape",
                        format!("(N, …) with {} values per sample", shape.iter().product::<usize>()),
                        xs.dims(),
                    ));
                }
                let mut full = vec![n];
                full.extend_from_slice(shape);
                Ok(xs.reshape(full)?)
            }
        }
    }
}

/// A stack of layers applied in order.
///
/// # Shapes
/// Whatever its first layer takes, whatever its last layer gives.
#[derive(Debug, Clone, Default)]
pub struct Sequential {
    pub layers: Vec<Layer>,
}

impl Sequential {
    /// Applies every layer in turn.
    ///
    /// On a CPU with AVX2/FMA, each run of [2× up-sampling] → 3×3 'same'
    /// convolution with a bias → [2×2 max-pooling] runs as one fused op
    /// ([`cpu_ops::conv_block`]); the result is the same as layer by layer.
    ///
    /// Tensor ids are kept apart first (see [`crate::cells`]): the weights
    /// may come from another notebook cell.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        crate::cells::keep_ids_apart(self.layers.iter().flat_map(Layer::params));
        crate::cells::move_past([xs]);
        let mut xs = xs.clone();
        let mut i = 0;
        while i < self.layers.len() {
            if let Some((ys, used)) = self.fused_block(i, &xs)? {
                xs = ys;
                i += used;
                continue;
            }
            xs = self.layers[i].forward(&xs)?;
            i += 1;
        }
        Ok(xs)
    }

    /// The fused CPU block starting at layer `i`, if the layers there form
    /// one, with the number of layers it covers.
    fn fused_block(&self, i: usize, xs: &Tensor) -> Result<Option<(Tensor, usize)>> {
        if !cpu_ops::block_applies(xs) || xs.rank() != 4 {
            return Ok(None);
        }
        let mut at = i;
        let upsample = match self.layers.get(at) {
            Some(Layer::UpSample2d { factor: 2 }) => {
                at += 1;
                2
            }
            _ => 1,
        };
        let Some(Layer::Conv2d { conv, act, .. }) = self.layers.get(at) else {
            return Ok(None);
        };
        let cfg = conv.config();
        let (Some(bias), Some(fused)) = (conv.bias(), act.fused()) else {
            return Ok(None);
        };
        let w = conv.weight();
        if cfg.stride != 1 || cfg.padding != 1 || cfg.dilation != 1 || cfg.groups != 1 || w.dims()[2..] != [3, 3] || xs.dim(1)? != w.dim(1)? {
            return Ok(None);
        }
        at += 1;
        let pool = match self.layers.get(at) {
            Some(Layer::MaxPool2d { size: 2 }) => {
                at += 1;
                2
            }
            _ => 1,
        };
        Ok(Some((cpu_ops::conv_block(xs, w, bias, upsample, pool, fused)?, at - i)))
    }

    /// Trainable parameters of the whole stack.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }
}

impl Module for Sequential {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Sequential::forward(self, xs).map_err(|e| candle_core::Error::Msg(e.to_string()))
    }
}

/// Creates seeded, Keras-initialised weights and keeps them in a `VarMap`
/// (so they can be trained, saved and loaded as candle does).
pub struct ParamBuilder {
    varmap: VarMap,
    rng: rand::rngs::StdRng,
    dev: Device,
}

impl ParamBuilder {
    /// A builder whose weights are drawn from a generator seeded with `seed`.
    pub fn new(seed: u64, dev: &Device) -> Self {
        ParamBuilder {
            varmap: VarMap::new(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            dev: dev.clone(),
        }
    }

    /// The weights created so far.
    pub fn into_varmap(self) -> VarMap {
        self.varmap
    }

    fn var(&mut self, name: &str, shape: &[usize], limit: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = if limit == 0.0 {
            vec![0.0; n]
        } else {
            let dist = Uniform::new_inclusive(-limit as f32, limit as f32)
                .map_err(|e| Error::invalid(format!("weight init for {name}: {e}")))?;
            (0..n).map(|_| dist.sample(&mut self.rng)).collect()
        };
        let t = Tensor::from_vec(values, shape, &self.dev)?;
        let var = Var::from_tensor(&t)?;
        let tensor = var.as_tensor().clone();
        let data = self.varmap.data();
        let mut map = data
            .lock()
            .map_err(|_| Error::invalid("the weight store was poisoned by an earlier panic; rebuild the model"))?;
        if map.contains_key(name) {
            return Err(Error::invalid(format!("two layers are named {name:?}; layer names must be unique")));
        }
        map.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn glorot(&mut self, name: &str, shape: &[usize], fan_in: usize, fan_out: usize) -> Result<Tensor> {
        self.var(name, shape, (6.0 / (fan_in + fan_out) as f64).sqrt())
    }

    /// A dense layer `(N, in) -> (N, out)`.
    pub fn dense(&mut self, name: &str, d_in: usize, d_out: usize, act: Activation) -> Result<Layer> {
        check_positive(name, &[("inputs", d_in), ("units", d_out)])?;
        let w = self.glorot(&format!("{name}.weight"), &[d_out, d_in], d_in, d_out)?;
        let b = self.var(&format!("{name}.bias"), &[d_out], 0.0)?;
        Ok(Layer::Dense {
            name: name.into(),
            linear: Linear::new(w, Some(b)),
            act,
        })
    }

    /// A `k × k` convolution, `c_in -> c_out` channels, with `padding` on every
    /// side and `stride` (Keras `padding='same'` for odd `k` is `(k-1)/2`).
    pub fn conv2d(
        &mut self,
        name: &str,
        c_in: usize,
        c_out: usize,
        k: usize,
        padding: usize,
        stride: usize,
        act: Activation,
    ) -> Result<Layer> {
        check_positive(name, &[("channels in", c_in), ("filters", c_out), ("kernel", k), ("stride", stride)])?;
        let w = self.glorot(&format!("{name}.weight"), &[c_out, c_in, k, k], k * k * c_in, k * k * c_out)?;
        let b = self.var(&format!("{name}.bias"), &[c_out], 0.0)?;
        let cfg = Conv2dConfig {
            padding,
            stride,
            ..Default::default()
        };
        Ok(Layer::Conv2d {
            name: name.into(),
            conv: Conv2d::new(w, Some(b), cfg),
            act,
        })
    }

    /// A `k × k` transposed convolution, `c_in -> c_out` channels. The output
    /// side is `(in - 1)·stride - 2·padding + k + output_padding`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &mut self,
        name: &str,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: usize,
        output_padding: usize,
        act: Activation,
    ) -> Result<Layer> {
        check_positive(name, &[("channels in", c_in), ("filters", c_out), ("kernel", k), ("stride", stride)])?;
        if output_padding >= stride {
            return Err(Error::invalid(format!(
                "{name}: output_padding {output_padding} must be smaller than the stride {stride}"
            )));
        }
        let w = self.glorot(&format!("{name}.weight"), &[c_in, c_out, k, k], k * k * c_out, k * k * c_in)?;
        let b = self.var(&format!("{name}.bias"), &[c_out], 0.0)?;
        let cfg = ConvTranspose2dConfig {
            padding,
            output_padding,
            stride,
            dilation: 1,
        };
        Ok(Layer::ConvTranspose2d {
            name: name.into(),
            conv: ConvTranspose2d::new(w, Some(b), cfg),
            act,
        })
    }
}

/// Adds a per-channel bias `(C,)` to `(N, C, H, W)`.
fn add_channel_bias(ys: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    Ok(match bias {
        Some(b) => ys.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)?,
        None => ys,
    })
}

fn check_positive(name: &str, values: &[(&str, usize)]) -> Result<()> {
    for (what, v) in values {
        if *v == 0 {
            return Err(Error::invalid(format!("{name}: {what} is 0; it must be at least 1")));
        }
    }
    Ok(())
}

fn dims(shape: &[usize]) -> String {
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// What [`crate::train::fit`] needs of a model: a forward pass and its weights.
pub trait Model {
    /// The model's output for a batch.
    fn forward(&self, xs: &Tensor) -> Result<Tensor>;
    /// The trainable weights.
    fn vars(&self) -> Vec<Var>;
    /// The device the weights live on.
    fn device(&self) -> Device {
        self.vars().first().map(|v| v.device().clone()).unwrap_or(Device::Cpu)
    }
}

/// An encoder or decoder on its own: it predicts on the device of its
/// weights, which it shares with (and are trained through) its autoencoder.
impl Model for Sequential {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Sequential::forward(self, xs)
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }

    fn device(&self) -> Device {
        self.layers
            .iter()
            .find_map(|l| match l {
                Layer::Dense { linear, .. } => Some(linear.weight().device().clone()),
                Layer::Conv2d { conv, .. } => Some(conv.weight().device().clone()),
                Layer::ConvTranspose2d { conv, .. } => Some(conv.weight().device().clone()),
                _ => None,
            })
            .unwrap_or(Device::Cpu)
    }
}

/// Settings of a dense (fully connected) autoencoder.
///
/// The encoder is `input_dim -> hidden[0] -> … -> latent_dim`, the decoder the
/// mirror image back to `input_dim`.
#[derive(Debug, Clone)]
pub struct DenseConfig {
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    pub latent_dim: usize,
    pub hidden_activation: Activation,
    pub latent_activation: Activation,
    pub output_activation: Activation,
    pub seed: u64,
}

impl Default for DenseConfig {
    /// The classic lesson's 784-32-784 (relu code, sigmoid output).
    fn default() -> Self {
        DenseConfig {
            input_dim: crate::data::IMAGE_PIXELS,
            hidden: vec![],
            latent_dim: 32,
            hidden_activation: Activation::Relu,
            latent_activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            seed: 42,
        }
    }
}

impl DenseConfig {
    /// 784-32-784, relu then sigmoid: 50,992 parameters (seed 001).
    pub fn classic() -> Self {
        Self::default()
    }

    /// 784-500-200-10-200-500-784, relu everywhere, output too (seed 000).
    pub fn seed000() -> Self {
        DenseConfig {
            hidden: vec![500, 200],
            latent_dim: 10,
            output_activation: Activation::Relu,
            ..Self::default()
        }
    }

    /// 784-128-64-32-64-128-784, relu, sigmoid output (seed 001's deep model).
    pub fn deep() -> Self {
        DenseConfig {
            hidden: vec![128, 64],
            latent_dim: 32,
            ..Self::default()
        }
    }

    /// 784-128-64-32-2 and back: a 2-D code to plot (seed 001).
    pub fn deep_2d() -> Self {
        DenseConfig {
            hidden: vec![128, 64, 32],
            latent_dim: 2,
            ..Self::default()
        }
    }

    /// One hidden layer of `latent_dim` units: 784-`latent_dim`-784 (seed 004
    /// generates digits with `latent_dim = 10`).
    pub fn single_layer(latent_dim: usize) -> Self {
        DenseConfig {
            latent_dim,
            ..Self::default()
        }
    }

    /// The same settings with another latent size.
    pub fn with_latent_dim(mut self, latent_dim: usize) -> Self {
        self.latent_dim = latent_dim;
        self
    }

    /// The same settings with other hidden layers.
    pub fn with_hidden(mut self, hidden: Vec<usize>) -> Self {
        self.hidden = hidden;
        self
    }

    /// The same settings with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Settings of the convolutional autoencoder with a transposed-convolution
/// decoder (seed 001): three `3×3` convolutions (`same`) each followed by a
/// `2×2` max-pool, to a `3×3×filters[2]` code, then three stride-2 transposed
/// convolutions (`valid`, `same`, `same`) back to `28×28×1`.
#[derive(Debug, Clone)]
pub struct ConvConfig {
    pub filters: [usize; 3],
    pub seed: u64,
}

impl Default for ConvConfig {
    /// Filters 16, 32, 64: 46,529 parameters.
    fn default() -> Self {
        ConvConfig {
            filters: [16, 32, 64],
            seed: 42,
        }
    }
}

/// Settings of the up-sampling convolutional autoencoder (seed 004's
/// denoiser): Conv/MaxPool twice to `7×7×filters`, then Conv/UpSampling twice
/// and a final `3×3` convolution to one sigmoid channel.
#[derive(Debug, Clone)]
pub struct UpConvConfig {
    pub filters: usize,
    pub seed: u64,
}

impl Default for UpConvConfig {
    /// 32 filters per layer, as in seed 004.
    fn default() -> Self {
        UpConvConfig { filters: 32, seed: 42 }
    }
}

/// An encoder and a decoder trained together to reproduce their input.
///
/// # Shapes
/// - `forward`: `(N, 784) -> (N, 784)`
/// - `encode`: `(N, 784) -> (N, latent…)` (`(N, latent_dim)` for dense models,
///   `(N, 64, 3, 3)` for [`ConvConfig`], `(N, 32, 7, 7)` for [`UpConvConfig`])
/// - `decode`: `(N, latent…) -> (N, 784)`
#[derive(Clone)]
pub struct Autoencoder {
    name: String,
    encoder: Sequential,
    decoder: Sequential,
    varmap: VarMap,
    input_dim: usize,
}

impl Autoencoder {
    /// A dense autoencoder; see [`DenseConfig`]'s presets.
    pub fn dense(cfg: &DenseConfig, dev: &Device) -> Result<Self> {
        if cfg.input_dim == 0 || cfg.latent_dim == 0 {
            return Err(Error::invalid(format!(
                "DenseConfig: input_dim {} and latent_dim {} must both be at least 1",
                cfg.input_dim, cfg.latent_dim
            )));
        }
        let mut pb = ParamBuilder::new(cfg.seed, dev);
        let mut sizes = vec![cfg.input_dim];
        sizes.extend(&cfg.hidden);
        sizes.push(cfg.latent_dim);
        let mut encoder = Sequential::default();
        for i in 0..sizes.len() - 1 {
            let last = i == sizes.len() - 2;
            let act = if last { cfg.latent_activation } else { cfg.hidden_activation };
            encoder.layers.push(pb.dense(&format!("encoder.dense_{}", i + 1), sizes[i], sizes[i + 1], act)?);
        }
        sizes.reverse();
        let mut decoder = Sequential::default();
        for i in 0..sizes.len() - 1 {
            let last = i == sizes.len() - 2;
            let act = if last { cfg.output_activation } else { cfg.hidden_activation };
            decoder.layers.push(pb.dense(&format!("decoder.dense_{}", i + 1), sizes[i], sizes[i + 1], act)?);
        }
        let mut name: Vec<String> = sizes.iter().rev().map(|s| s.to_string()).collect();
        name.extend(sizes.iter().skip(1).map(|s| s.to_string()));
        Ok(Autoencoder {
            name: format!("dense {}", name.join("-")),
            encoder,
            decoder,
            varmap: pb.into_varmap(),
            input_dim: cfg.input_dim,
        })
    }

    /// The convolutional autoencoder with a transposed-convolution decoder.
    pub fn conv(cfg: &ConvConfig, dev: &Device) -> Result<Self> {
        let [f1, f2, f3] = cfg.filters;
        let mut pb = ParamBuilder::new(cfg.seed, dev);
        use Activation::*;
        let encoder = Sequential {
            layers: vec![
                Layer::Reshape { shape: vec![1, 28, 28] },
                pb.conv2d("encoder.conv_1", 1, f1, 3, 1, 1, Relu)?,
                Layer::MaxPool2d { size: 2 },
                pb.conv2d("encoder.conv_2", f1, f2, 3, 1, 1, Relu)?,
                Layer::MaxPool2d { size: 2 },
                pb.conv2d("encoder.conv_3", f2, f3, 3, 1, 1, Relu)?,
                Layer::MaxPool2d { size: 2 },
            ],
        };
        // 3 -> 7 ('valid': (3-1)·2 + 3), 7 -> 14 and 14 -> 28 ('same': padding 1, output padding 1).
        let decoder = Sequential {
            layers: vec![
                pb.conv_transpose2d("decoder.conv_t_1", f3, f2, 3, 2, 0, 0, Relu)?,
                pb.conv_transpose2d("decoder.conv_t_2", f2, f1, 3, 2, 1, 1, Relu)?,
                pb.conv_transpose2d("decoder.conv_t_3", f1, 1, 3, 2, 1, 1, Sigmoid)?,
                Layer::Reshape { shape: vec![784] },
            ],
        };
        Ok(Autoencoder {
            name: format!("conv {f1}-{f2}-{f3}, transposed-conv decoder"),
            encoder,
            decoder,
            varmap: pb.into_varmap(),
            input_dim: 784,
        })
    }

    /// The Conv/MaxPool + Conv/UpSampling autoencoder (seed 004's denoiser).
    pub fn upsampling(cfg: &UpConvConfig, dev: &Device) -> Result<Self> {
        let f = cfg.filters;
        let mut pb = ParamBuilder::new(cfg.seed, dev);
        use Activation::*;
        let encoder = Sequential {
            layers: vec![
                Layer::Reshape { shape: vec![1, 28, 28] },
                pb.conv2d("encoder.conv_1", 1, f, 3, 1, 1, Relu)?,
                Layer::MaxPool2d { size: 2 },
                pb.conv2d("encoder.conv_2", f, f, 3, 1, 1, Relu)?,
                Layer::MaxPool2d { size: 2 },
            ],
        };
        let decoder = Sequential {
            layers: vec![
                pb.conv2d("decoder.conv_1", f, f, 3, 1, 1, Relu)?,
                Layer::UpSample2d { factor: 2 },
                pb.conv2d("decoder.conv_2", f, f, 3, 1, 1, Relu)?,
                Layer::UpSample2d { factor: 2 },
                pb.conv2d("decoder.conv_3", f, 1, 3, 1, 1, Sigmoid)?,
                Layer::Reshape { shape: vec![784] },
            ],
        };
        Ok(Autoencoder {
            name: format!("conv {f}-{f}, up-sampling decoder"),
            encoder,
            decoder,
            varmap: pb.into_varmap(),
            input_dim: 784,
        })
    }

    /// A short description, e.g. `dense 784-32-784`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The encoder on its own; it shares its weights with this model.
    pub fn encoder(&self) -> Sequential {
        self.encoder.clone()
    }

    /// The decoder on its own; it shares its weights with this model.
    pub fn decoder(&self) -> Sequential {
        self.decoder.clone()
    }

    /// Maps images to latent codes: `(N, 784) -> (N, latent…)`.
    pub fn encode(&self, xs: &Tensor) -> Result<Tensor> {
        match xs.dims() {
            [_, d] if *d == self.input_dim => self.encoder.forward(&xs.to_dtype(DType::F32)?),
            d => Err(Error::shape(
                format!("{} input", self.name),
                format!("(N, {}) flat images (use images_flat for (N, 1, 28, 28))", self.input_dim),
                d,
            )),
        }
    }

    /// Maps latent codes back to images: `(N, latent…) -> (N, 784)`.
    pub fn decode(&self, zs: &Tensor) -> Result<Tensor> {
        self.decoder.forward(zs)
    }

    /// Trainable parameters (Keras' "Total params").
    pub fn param_count(&self) -> usize {
        self.encoder.param_count() + self.decoder.param_count()
    }

    /// The layers with their output shapes and parameter counts, as Keras'
    /// `model.summary()` prints them.
    pub fn summary(&self) -> Result<Summary> {
        let dev = self.varmap.all_vars().first().map(|v| v.device().clone()).unwrap_or(Device::Cpu);
        let mut xs = Tensor::zeros((1, self.input_dim), DType::F32, &dev)?;
        let mut rows = vec![SummaryRow {
            name: "input".into(),
            kind: "InputLayer",
            output: vec![self.input_dim],
            params: 0,
        }];
        for stack in [&self.encoder, &self.decoder] {
            for layer in &stack.layers {
                xs = layer.forward(&xs)?;
                rows.push(SummaryRow {
                    name: layer.name(),
                    kind: layer.kind(),
                    output: xs.dims()[1..].to_vec(),
                    params: layer.param_count(),
                });
            }
        }
        Ok(Summary {
            title: self.name.clone(),
            rows,
        })
    }

    /// Saves the weights as safetensors, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tmp = path.with_extension(format!("part.{}", std::process::id()));
        self.varmap.save(&tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }

    /// Loads weights saved by [`Autoencoder::save`] from a model of the same
    /// architecture.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file")));
        }
        self.varmap.load(path)?;
        Ok(())
    }
}

impl std::fmt::Debug for Autoencoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Autoencoder({}, {} parameters)", self.name, self.param_count())
    }
}

impl Model for Autoencoder {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.decode(&self.encode(xs)?)
    }

    fn vars(&self) -> Vec<Var> {
        self.varmap.all_vars()
    }
}

impl Module for Autoencoder {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Model::forward(self, xs).map_err(|e| candle_core::Error::Msg(e.to_string()))
    }
}

/// A small reference classifier, 784-256-10 (relu, then logits), used to
/// judge generated images objectively.
///
/// # Shapes
/// `(N, 784) -> (N, 10)` logits.
#[derive(Clone)]
pub struct Classifier {
    net: Sequential,
    varmap: VarMap,
}

impl Classifier {
    /// A fresh classifier with seeded weights.
    pub fn new(seed: u64, dev: &Device) -> Result<Self> {
        let mut pb = ParamBuilder::new(seed, dev);
        let net = Sequential {
            layers: vec![
                pb.dense("classifier.dense_1", 784, 256, Activation::Relu)?,
                pb.dense("classifier.dense_2", 256, 10, Activation::Linear)?,
            ],
        };
        Ok(Classifier {
            net,
            varmap: pb.into_varmap(),
        })
    }

    /// A classifier trained on `data` for `epochs` (Adam, cross-entropy);
    /// prints its test accuracy. About 98 % on MNIST after 3 full epochs.
    pub fn trained_on(data: &crate::data::Dataset, epochs: usize, dev: &Device) -> Result<Self> {
        let clf = Classifier::new(7, dev)?;
        let cfg = crate::train::TrainConfig::default()
            .with_epochs(epochs)
            .with_loss(crate::loss::Loss::CrossEntropy)
            .quiet();
        crate::train::fit(&clf, &data.train_images, &data.train_labels, None, &cfg)?;
        let acc = clf.accuracy(&data.test_images, &data.test_labels)?;
        println!(
            "reference classifier (784-256-10): {:.1} % of {} test images right",
            100.0 * acc,
            data.test_len()
        );
        Ok(clf)
    }

    /// The predicted class of each image: `(N, 784) -> (N,)` u32.
    pub fn predict_classes(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(crate::train::predict(self, xs, 1024)?.argmax(1)?)
    }

    /// Share of `xs` classified as one of `classes`, in `[0, 1]`.
    pub fn share_of(&self, xs: &Tensor, classes: &[u32]) -> Result<f32> {
        let pred = self.predict_classes(xs)?.to_vec1::<u32>()?;
        if pred.is_empty() {
            return Err(Error::invalid("share_of: no images given"));
        }
        let hits = pred.iter().filter(|p| classes.contains(p)).count();
        Ok(hits as f32 / pred.len() as f32)
    }

    /// Share of `xs` whose predicted class equals `labels`.
    pub fn accuracy(&self, xs: &Tensor, labels: &Tensor) -> Result<f32> {
        let pred = self.predict_classes(xs)?.to_vec1::<u32>()?;
        let labels = labels.to_vec1::<u32>()?;
        if pred.len() != labels.len() || pred.is_empty() {
            return Err(Error::invalid(format!(
                "accuracy: {} images but {} labels",
                pred.len(),
                labels.len()
            )));
        }
        let hits = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
        Ok(hits as f32 / pred.len() as f32)
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Classifier(784-256-10, {} parameters)", self.net.param_count())
    }
}

impl Model for Classifier {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.net.forward(xs)
    }

    fn vars(&self) -> Vec<Var> {
        self.varmap.all_vars()
    }
}

/// One row of a [`Summary`].
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub name: String,
    pub kind: &'static str,
    /// Output shape without the batch dimension.
    pub output: Vec<usize>,
    pub params: usize,
}

/// A Keras-like model summary: layers, output shapes, parameter counts.
#[derive(Debug, Clone)]
pub struct Summary {
    pub title: String,
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Total trainable parameters.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// Shows the summary as text in a notebook.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = "─".repeat(72);
        writeln!(f, "Model: \"{}\"", self.title)?;
        writeln!(f, "{line}")?;
        writeln!(f, "{:<40} {:<20} {:>10}", "Layer (type)", "Output Shape", "Param #")?;
        writeln!(f, "{}", "═".repeat(72))?;
        for r in &self.rows {
            let shape = format!(
                "(None, {})",
                r.output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            );
            writeln!(f, "{:<40} {:<20} {:>10}", format!("{} ({})", r.name, r.kind), shape, thousands(r.params))?;
        }
        writeln!(f, "{}", "═".repeat(72))?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
}
