//! An encoder and a decoder trained together to reproduce their input.

use crate::error::{Error, Result};
use crate::nn::{Model, Pass, Sequential, Summary, SummaryRow};
use candle_core::{Device, Tensor, Var};

/// Any encoder and decoder, trained as one model.
///
/// ```no_run
/// # use autoencoders::prelude::*;
/// # fn main() -> Result<(), Error> {
/// # let dev = Device::Cpu;
/// let encoder = Sequential::input(&[784], &dev).add(dense(32).relu())?;
/// let decoder = Sequential::input(&[32], &dev).add(dense(784).sigmoid())?;
/// let ae = Autoencoder::new(encoder, decoder)?;
/// # Ok(()) }
/// ```
///
/// # Shapes
/// - `forward`: `(N, input…) -> (N, input…)`: the output takes the input's
///   layout (flat images in, flat images out)
/// - `encode`: `(N, input…) -> (N, code…)`, the encoder's output shape
/// - `decode`: `(N, code…) -> (N, output…)`, the decoder's output shape
#[derive(Clone)]
pub struct Autoencoder {
    name: String,
    encoder: Sequential,
    decoder: Sequential,
}

impl Autoencoder {
    /// The autoencoder of `encoder` then `decoder`: the decoder must take
    /// what the encoder gives and give back as many values per sample as the
    /// encoder takes. The two are renamed `encoder` and `decoder`.
    pub fn new(encoder: Sequential, decoder: Sequential) -> Result<Self> {
        let shape = |s: &[usize]| crate::nn::batch_shape(s);
        if decoder.input_shape() != encoder.output_shape() {
            return Err(Error::Mismatch {
                what: "Autoencoder::new".into(),
                left: format!("the decoder's input {}", shape(&decoder.input_shape())),
                right: format!("the encoder's output {}", shape(&encoder.output_shape())),
                fix: "build the decoder with Sequential::input(&encoder.output_shape(), &dev)".into(),
            });
        }
        let (inp, out) = (encoder.input_shape(), decoder.output_shape());
        if inp.iter().product::<usize>() != out.iter().product::<usize>() {
            return Err(Error::Mismatch {
                what: "Autoencoder::new".into(),
                left: format!("the decoder's output {}", shape(&out)),
                right: format!("the encoder's input {}", shape(&inp)),
                fix: "the decoder must give back as many values per image as the encoder takes: check its last layers' sizes".into(),
            });
        }
        if !encoder.device().same_device(&decoder.device()) {
            return Err(Error::disagree(
                "Autoencoder::new: the encoder and decoder live on different devices; build both with the same `dev`",
            ));
        }
        Ok(Autoencoder {
            name: "autoencoder".into(),
            encoder: encoder.named("encoder"),
            decoder: decoder.named("decoder"),
        })
    }

    /// The same model with a title for summaries, e.g. `dense 784-32-784`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The model's title.
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

    /// Maps a batch to codes: `(N, input…) -> (N, code…)` (inference).
    pub fn encode(&self, xs: &Tensor) -> Result<Tensor> {
        self.encoder.forward(xs)
    }

    /// Maps codes back to the decoder's output: `(N, code…) -> (N, output…)`.
    pub fn decode(&self, zs: &Tensor) -> Result<Tensor> {
        self.decoder.forward(zs)
    }
}

impl std::fmt::Debug for Autoencoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Autoencoder({}, {} parameters)", self.name, self.param_count())
    }
}

impl Model for Autoencoder {
    fn forward_pass(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let zs = self.encoder.forward_pass(xs, pass)?;
        let ys = self.decoder.forward_pass(&zs, pass)?;
        // Back to the input's layout: flat images in, flat images out.
        if ys.dims() != xs.dims() && ys.elem_count() == xs.elem_count() {
            return Ok(ys.reshape(xs.dims())?);
        }
        Ok(ys)
    }

    fn named_params(&self) -> Vec<(String, Var)> {
        let mut p = self.encoder.named_params();
        p.extend(self.decoder.named_params());
        p
    }

    fn named_state(&self) -> Vec<(String, Var)> {
        let mut p = self.encoder.named_state();
        p.extend(self.decoder.named_state());
        p
    }

    fn device(&self) -> Device {
        self.encoder.device()
    }

    fn summary(&self) -> Result<Summary> {
        let mut rows = vec![SummaryRow::input(&self.encoder.input_shape())];
        rows.extend(self.encoder.summary_rows());
        rows.extend(self.decoder.summary_rows());
        Ok(Summary {
            title: self.name.clone(),
            rows,
        })
    }
}

impl candle_core::Module for Autoencoder {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Model::forward(self, xs).map_err(candle_core::Error::wrap)
    }
}
