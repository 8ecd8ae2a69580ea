//! A stack of layers built one after the other, shapes known at each step.

use super::{
    batch_shape, snake_case, Conv2d, Init, Layer, LayerConfig, MaxPool2d, Model, Pass, Summary, SummaryRow, UpSample2d,
};
use crate::error::{Error, Result};
use crate::kernels;
use crate::runtime::cells;
use candle_core::{Device, Tensor, Var};
use std::sync::Arc;

/// Layers applied in order, Keras' `Sequential`: given its input shape once,
/// it builds each added layer for the shape the one before gives.
///
/// Cloning shares the weights (an autoencoder's `encoder()` is a clone).
///
/// # Shapes
/// `(N, input…) -> (N, output…)`. Inputs with the same number of values per
/// sample in another layout are reshaped first: flat images `(N, 784)` feed a
/// stack whose input is `[1, 28, 28]`.
#[derive(Clone)]
pub struct Sequential {
    name: String,
    input: Vec<usize>,
    seed: u64,
    dev: Device,
    layers: Vec<Entry>,
}

/// A built layer with its name and output shape.
#[derive(Clone)]
struct Entry {
    name: String,
    layer: Arc<dyn Layer>,
    output: Vec<usize>,
}

impl Sequential {
    /// An empty stack for samples of shape `input` (without the batch
    /// dimension: `&[784]` for flat images, `&[1, 28, 28]` for images with a
    /// channel), whose weights will live on `dev`.
    pub fn input(input: &[usize], dev: &Device) -> Self {
        // The course's settings (the CPU kernels among them) before any layer.
        crate::runtime::settings();
        Sequential {
            name: "sequential".into(),
            input: input.to_vec(),
            seed: 42,
            dev: dev.clone(),
            layers: Vec::new(),
        }
    }

    /// The seed of the weights of the layers added from now on (42 unless
    /// set). The same seed and layers give the same weights.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same stack under another name (weights are saved as
    /// `NAME.LAYER.weight`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a layer built for the current output shape. A layer that cannot
    /// take that shape is an error naming the layer, the shape and the fix.
    #[allow(clippy::should_implement_trait)] // Keras' name; not `+`
    pub fn add(mut self, config: impl LayerConfig) -> Result<Self> {
        if self.input.is_empty() || self.input.contains(&0) {
            return Err(Error::out_of_range(format!(
                "Sequential::input({:?}): every input dimension must be at least 1, e.g. &[784] or &[1, 28, 28]",
                self.input
            )));
        }
        let kind = config.kind();
        let base = snake_case(kind);
        let count = self
            .layers
            .iter()
            .filter(|e| snake_case(e.layer.kind()) == base)
            .count();
        let name = format!("{base}_{}", count + 1);
        let input = self.output_shape();
        let label = format!("{}.{name} ({kind})", self.name);
        let mut init = Init::new(self.seed, self.layers.len(), kind, &input, label, &self.dev);
        let (layer, output) = config.build(&input, &mut init)?;
        self.layers.push(Entry { name, layer, output });
        Ok(self)
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> Vec<usize> {
        self.input.clone()
    }

    /// The shape of one output sample.
    pub fn output_shape(&self) -> Vec<usize> {
        self.layers
            .last()
            .map_or_else(|| self.input.clone(), |e| e.output.clone())
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True for a stack with no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// `NAME.LAYER.local` names of the weights `pick` takes from each layer.
    fn weights_named(&self, pick: fn(&dyn Layer) -> Vec<(&'static str, Var)>) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for e in &self.layers {
            for (local, v) in pick(e.layer.as_ref()) {
                out.push((format!("{}.{}.{local}", self.name, e.name), v));
            }
        }
        out
    }

    /// The layers, in order.
    pub fn layers(&self) -> Vec<Arc<dyn Layer>> {
        self.layers.iter().map(|e| e.layer.clone()).collect()
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.dev.clone()
    }

    /// One row per layer: name, type, output shape, weights.
    pub fn summary_rows(&self) -> Vec<SummaryRow> {
        self.layers
            .iter()
            .map(|e| SummaryRow {
                name: format!("{}.{}", self.name, e.name),
                kind: e.layer.kind(),
                output: e.output.clone(),
                params: e.layer.params().iter().map(|(_, v)| v.elem_count()).sum(),
            })
            .collect()
    }

    /// The input row and one row per layer.
    fn summary_table(&self) -> Summary {
        let mut rows = vec![SummaryRow::input(&self.input)];
        rows.extend(self.summary_rows());
        Summary {
            title: self.name.clone(),
            rows,
        }
    }

    /// The batch reshaped to the stack's input layout, or the error naming
    /// both shapes.
    fn fit_input(&self, xs: &Tensor) -> Result<Tensor> {
        let per: usize = xs.dims().iter().skip(1).product();
        if xs.rank() >= 1 && xs.dims()[1..] == self.input[..] {
            return Ok(xs.clone());
        }
        if xs.rank() >= 2 && per == self.input.iter().product::<usize>() {
            let mut dims = vec![xs.dim(0)?];
            dims.extend_from_slice(&self.input);
            return Ok(xs.reshape(dims)?);
        }
        Err(Error::shape(
            format!("{} input", self.name),
            format!("{} (or the same number of values per sample)", batch_shape(&self.input)),
            xs.dims(),
        ))
    }

    /// Applies every layer in turn, as inference.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_pass(xs, &mut Pass::inference())
    }

    /// Applies every layer in turn, within `pass` (training or inference).
    ///
    /// On a CPU with AVX2/FMA each run of [2× up-sampling] → 3×3 'same'
    /// convolution with a bias → [2×2 max-pooling] runs as one fused op
    /// ([`kernels::conv_block`]); the result is the same as layer by layer.
    ///
    /// Tensor ids are kept apart first (see [`crate::runtime::cells`]): the
    /// weights may come from another notebook cell.
    pub fn forward_pass(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let vars: Vec<Var> = self
            .layers
            .iter()
            .flat_map(|e| e.layer.params())
            .map(|(_, v)| v)
            .collect();
        cells::enter_graph(vars.iter().map(|v| v.as_tensor()), [xs]);
        let mut xs = self.fit_input(xs)?;
        let mut i = 0;
        while i < self.layers.len() {
            if let Some((ys, used)) = self.fused_block(i, &xs)? {
                xs = ys;
                i += used;
                continue;
            }
            let e = &self.layers[i];
            xs = e.layer.forward(&xs, pass).map_err(|err| match err {
                Error::Candle(c) => Error::invalid(format!("layer {}.{} ({}): {c}", self.name, e.name, e.layer.kind())),
                other => other,
            })?;
            i += 1;
        }
        Ok(xs)
    }

    /// The fused CPU block starting at layer `i`, if the layers there form
    /// one, with the number of layers it covers.
    fn fused_block(&self, i: usize, xs: &Tensor) -> Result<Option<(Tensor, usize)>> {
        if !kernels::block_applies(xs) || xs.rank() != 4 {
            return Ok(None);
        }
        let layer = |at: usize| self.layers.get(at).map(|e| e.layer.as_ref() as &dyn std::any::Any);
        let mut at = i;
        let upsample = match layer(at).and_then(|l| l.downcast_ref::<UpSample2d>()) {
            Some(UpSample2d { factor: 2 }) => {
                at += 1;
                2
            }
            _ => 1,
        };
        let Some(conv) = layer(at).and_then(|l| l.downcast_ref::<Conv2d>()) else {
            return Ok(None);
        };
        let (Some(bias), Some(act)) = (&conv.bias, conv.activation.fused()) else {
            return Ok(None);
        };
        let w = conv.weight.as_tensor();
        if conv.stride != 1 || conv.padding != 1 || w.dims()[2..] != [3, 3] || xs.dim(1)? != w.dim(1)? {
            return Ok(None);
        }
        at += 1;
        let pool = match layer(at).and_then(|l| l.downcast_ref::<MaxPool2d>()) {
            Some(MaxPool2d { size: 2 }) => {
                at += 1;
                2
            }
            _ => 1,
        };
        Ok(Some((
            kernels::conv_block(xs, w, bias.as_tensor(), upsample, pool, act)?,
            at - i,
        )))
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.layers.iter().map(|e| e.layer.kind()).collect();
        write!(
            f,
            "Sequential({}: {} -> {}, [{}])",
            self.name,
            batch_shape(&self.input),
            batch_shape(&self.output_shape()),
            kinds.join(", ")
        )
    }
}

impl Model for Sequential {
    fn forward_pass(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        Sequential::forward_pass(self, xs, pass)
    }

    fn named_params(&self) -> Vec<(String, Var)> {
        self.weights_named(|l| l.params())
    }

    fn named_state(&self) -> Vec<(String, Var)> {
        self.weights_named(|l| l.state())
    }

    fn device(&self) -> Device {
        self.dev.clone()
    }

    /// The layers with their output shapes and weight counts, as Keras'
    /// `model.summary()` prints them; known before any training.
    fn summary(&self) -> Result<Summary> {
        Ok(self.summary_table())
    }
}

impl candle_core::Module for Sequential {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Sequential::forward(self, xs).map_err(candle_core::Error::wrap)
    }
}
