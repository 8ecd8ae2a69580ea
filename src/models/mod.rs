//! Models made of layers: the [`Autoencoder`] of any encoder and decoder,
//! the seed lessons' autoencoders as presets, and the reference
//! [`Classifier`].
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

mod autoencoder;
mod classifier;
mod presets;

pub use autoencoder::Autoencoder;
pub use classifier::{Classifier, Judgement, CONFIDENT};
pub use presets::{ConvAutoencoder, DenseAutoencoder, UpConvAutoencoder};
