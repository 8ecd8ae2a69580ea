//! # autoencoders — the support crate of the autoencoder course
//!
//! Notebooks import everything with one line, `use autoencoders::prelude::*;`.
//! The modules follow the course, from where it runs to what it draws:
//!
//! | module | what | introduced in |
//! |---|---|---|
//! | [`runtime`] | the device (CPU or CUDA), full or quick mode, tensor ids across evcxr cells | 01 |
//! | [`data`] | MNIST / Fashion-MNIST from IDX files, batches, gaussian noise | 01, 04 |
//! | [`nn`] | layers, `Sequential`, the `Model` trait, summaries, save/load | 01, 03 |
//! | [`models`] | `Autoencoder` of any encoder and decoder, the seed lessons' presets, the reference classifier | 01 |
//! | [`train`] | `fit` (progress line, time budget, checkpoints), `predict`, `evaluate`, `History`, `Trainer`, the losses | 01, 07 |
//! | [`optim`] | Adam, RMSprop, Adadelta, SGD | 01 |
//! | [`viz`] | image grids (PNG) and charts (SVG) | 01 |
//! | [`reduce`] | PCA and t-SNE through linfa | 05 |
//! | [`latent`] | prior samples, grids and paths in code space, nearest neighbours, k-NN accuracy, sparsity | 09, 10, 12 |
//! | [`metrics`] | per-image reconstruction error, ROC AUC, precision and recall | 11 |
//! | [`exercise`] | checks for the Fashion-MNIST exercises | exercises |
//! | [`kernels`] | fast CPU convolution, pooling, dense and loss ops (forward and backward) | 03 |
//! | [`error`] | the one error type, its kinds of problem | — |
//! | [`io`] | atomic file writes, the pinned SHA-256 sums of data and weights | — |
//!
//! Lower modules never import higher ones: `runtime` and `kernels` know no
//! model, `nn` knows no training loop, `train` knows no preset.

pub mod data;
pub mod error;
pub mod exercise;
pub mod io;
pub mod latent;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod optim;
pub mod reduce;
pub mod runtime;
pub mod train;
pub mod viz;

/// The fast CPU kernels (the `autoencoders-kernels` crate, `crates/kernels`).
pub use autoencoders_kernels as kernels;
/// candle itself, for the lessons that go below the crate's API.
pub use candle_core as candle;
pub use candle_nn;
pub use error::{Error, Result};

/// Everything a notebook needs, in one `use`.
pub mod prelude {
    pub use crate::data::{
        add_gaussian_noise, images_2d, images_flat, Batcher, Dataset, DatasetKind, GaussianNoise, FASHION_CLASSES,
    };
    // Not `Result`: evcxr wraps each cell in a function returning
    // `Result<(), EvcxrUserCodeError>`, which a one-parameter alias breaks.
    pub use crate::error::Error;
    pub use crate::exercise;
    pub use crate::latent::{
        grid_2d, interpolate, knn_accuracy, near_zero_share, nearest_neighbours, prior_samples, uniform_samples,
    };
    pub use crate::metrics::{detect, per_image_mse, quantile, roc_auc, roc_curve, Detection};
    pub use crate::models::{Autoencoder, Classifier, ConvAutoencoder, DenseAutoencoder, Judgement, UpConvAutoencoder};
    pub use crate::nn::{
        activation, activity_l1, batch_norm, conv2d, conv_transpose2d, dense, dropout, flatten, gaussian_noise,
        max_pool, reshape, sampling, up_sample, Activation, Model, Padding, Sequential,
    };
    pub use crate::optim::Optimizer;
    pub use crate::reduce::{tsne, Pca};
    pub use crate::runtime::{device, mode, setup, stop_requested, Mode};
    pub use crate::train::{
        binary_cross_entropy, evaluate, fit, kl_divergence, mse, mse_value, predict, pretrained, psnr, training_steps,
        History, Loss, TrainConfig, Trainer,
    };
    pub use crate::viz::{
        denoising_grid, feature_grid, histogram, image_canvas, image_rows, line_chart, reconstruction_grid,
        scatter_by_class, xy_chart, Chart, Png,
    };
    pub use crate::{candle, candle_nn};
    pub use candle_core::{DType, Device, Tensor, Var, D};
    pub use std::time::Duration;
}
