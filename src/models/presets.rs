//! The seed lessons' autoencoders, each a short constructor written on the
//! public layer API: read them as examples.

use super::Autoencoder;
use crate::data::IMAGE_PIXELS;
use crate::error::{Error, Result};
use crate::nn::{conv2d, conv_transpose2d, dense, max_pool, up_sample, Activation, Sequential};
use candle_core::Device;

/// A dense (fully connected) autoencoder: `input_dim -> hidden… ->
/// latent_dim` and the mirror image back.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseAutoencoder {
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    pub latent_dim: usize,
    pub hidden_activation: Activation,
    pub latent_activation: Activation,
    pub output_activation: Activation,
    pub seed: u64,
}

impl Default for DenseAutoencoder {
    /// The classic lesson's 784-32-784 (relu code, sigmoid output).
    fn default() -> Self {
        DenseAutoencoder {
            input_dim: IMAGE_PIXELS,
            hidden: vec![],
            latent_dim: 32,
            hidden_activation: Activation::Relu,
            latent_activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            seed: 42,
        }
    }
}

impl DenseAutoencoder {
    /// 784-32-784, relu then sigmoid: 50,992 parameters (seed 001).
    pub fn classic() -> Self {
        Self::default()
    }

    /// 784-500-200-10-200-500-784, relu everywhere, output too (seed 000).
    pub fn seed000() -> Self {
        DenseAutoencoder {
            hidden: vec![500, 200],
            latent_dim: 10,
            output_activation: Activation::Relu,
            ..Self::default()
        }
    }

    /// 784-128-64-32-64-128-784, relu, sigmoid output (seed 001's deep model).
    pub fn deep() -> Self {
        DenseAutoencoder {
            hidden: vec![128, 64],
            ..Self::default()
        }
    }

    /// 784-128-64-32-2 and back: a 2-D code to plot (seed 001).
    pub fn deep_2d() -> Self {
        DenseAutoencoder {
            hidden: vec![128, 64, 32],
            latent_dim: 2,
            ..Self::default()
        }
    }

    /// One hidden layer of `latent_dim` units (seed 004 generates digits with
    /// `latent_dim = 10`).
    pub fn single_layer(latent_dim: usize) -> Self {
        DenseAutoencoder {
            latent_dim,
            ..Self::default()
        }
    }

    /// The same settings with another code size.
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

    /// Builds the model on `dev`.
    pub fn build(&self, dev: &Device) -> Result<Autoencoder> {
        if self.input_dim == 0 || self.latent_dim == 0 || self.hidden.contains(&0) {
            return Err(Error::out_of_range(format!(
                "DenseAutoencoder: input_dim {}, hidden {:?} and latent_dim {} must all be at least 1",
                self.input_dim, self.hidden, self.latent_dim
            )));
        }
        let mut encoder = Sequential::input(&[self.input_dim], dev).seed(self.seed);
        for &units in &self.hidden {
            encoder = encoder.add(dense(units).activation(self.hidden_activation))?;
        }
        encoder = encoder.add(dense(self.latent_dim).activation(self.latent_activation))?;
        let mut decoder = Sequential::input(&[self.latent_dim], dev).seed(self.seed);
        for &units in self.hidden.iter().rev() {
            decoder = decoder.add(dense(units).activation(self.hidden_activation))?;
        }
        decoder = decoder.add(dense(self.input_dim).activation(self.output_activation))?;
        let mut sizes = vec![self.input_dim];
        sizes.extend(&self.hidden);
        sizes.push(self.latent_dim);
        sizes.extend(self.hidden.iter().rev());
        sizes.push(self.input_dim);
        let name: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
        Ok(Autoencoder::new(encoder, decoder)?.named(&format!("dense {}", name.join("-"))))
    }
}

/// The convolutional autoencoder with a transposed-convolution decoder
/// (seed 001): three 3×3 'same' convolutions, each followed by 2×2
/// max-pooling, to a `3×3×filters[2]` code; then three stride-2 transposed
/// convolutions ('valid', 'same', 'same') back to 28×28.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvAutoencoder {
    pub filters: [usize; 3],
    pub seed: u64,
}

impl Default for ConvAutoencoder {
    /// Filters 16, 32, 64: 46,529 parameters.
    fn default() -> Self {
        ConvAutoencoder {
            filters: [16, 32, 64],
            seed: 42,
        }
    }
}

impl ConvAutoencoder {
    /// Builds the model on `dev`.
    pub fn build(&self, dev: &Device) -> Result<Autoencoder> {
        let [f1, f2, f3] = self.filters;
        let encoder = Sequential::input(&[1, 28, 28], dev)
            .seed(self.seed)
            .add(conv2d(f1).kernel(3).same().relu())? // (N, f1, 28, 28)
            .add(max_pool(2))? //                        (N, f1, 14, 14)
            .add(conv2d(f2).kernel(3).same().relu())? // (N, f2, 14, 14)
            .add(max_pool(2))? //                        (N, f2, 7, 7)
            .add(conv2d(f3).kernel(3).same().relu())? // (N, f3, 7, 7)
            .add(max_pool(2))?; //                       (N, f3, 3, 3)
        let decoder = Sequential::input(&encoder.output_shape(), dev)
            .seed(self.seed)
            .add(conv_transpose2d(f2).kernel(3).stride(2).valid().relu())? // (N, f2, 7, 7)
            .add(conv_transpose2d(f1).kernel(3).stride(2).same().relu())? //  (N, f1, 14, 14)
            .add(conv_transpose2d(1).kernel(3).stride(2).same().sigmoid())?; // (N, 1, 28, 28)
        Ok(Autoencoder::new(encoder, decoder)?.named(&format!("conv {f1}-{f2}-{f3}, transposed-conv decoder")))
    }
}

/// The Conv/MaxPool + Conv/UpSampling autoencoder (seed 004's denoiser):
/// two convolutions with pooling to `7×7×filters`, two convolutions with
/// up-sampling back, and a last 3×3 convolution to one sigmoid channel.
#[derive(Debug, Clone, PartialEq)]
pub struct UpConvAutoencoder {
    pub filters: usize,
    pub seed: u64,
}

impl Default for UpConvAutoencoder {
    /// 32 filters per layer, as in seed 004.
    fn default() -> Self {
        UpConvAutoencoder { filters: 32, seed: 42 }
    }
}

impl UpConvAutoencoder {
    /// Builds the model on `dev`.
    pub fn build(&self, dev: &Device) -> Result<Autoencoder> {
        let f = self.filters;
        let encoder = Sequential::input(&[1, 28, 28], dev)
            .seed(self.seed)
            .add(conv2d(f).kernel(3).same().relu())? // (N, f, 28, 28)
            .add(max_pool(2))? //                       (N, f, 14, 14)
            .add(conv2d(f).kernel(3).same().relu())? // (N, f, 14, 14)
            .add(max_pool(2))?; //                      (N, f, 7, 7)
        let decoder = Sequential::input(&encoder.output_shape(), dev)
            .seed(self.seed)
            .add(conv2d(f).kernel(3).same().relu())? //      (N, f, 7, 7)
            .add(up_sample(2))? //                           (N, f, 14, 14)
            .add(conv2d(f).kernel(3).same().relu())? //      (N, f, 14, 14)
            .add(up_sample(2))? //                           (N, f, 28, 28)
            .add(conv2d(1).kernel(3).same().sigmoid())?; // (N, 1, 28, 28)
        Ok(Autoencoder::new(encoder, decoder)?.named(&format!("conv {f}-{f}, up-sampling decoder")))
    }
}
