//! # autoencoders — the support crate of the autoencoder course
//!
//! Notebooks import everything with one line, `use autoencoders::prelude::*;`.
//! One module per course concept:
//!
//! | module | what | introduced in |
//! |---|---|---|
//! | [`device`] | CPU or CUDA, chosen at run time | 01 |
//! | [`mode`] | full or quick (tests) mode | 01 |
//! | [`data`] | MNIST / Fashion-MNIST from IDX files | 01 |
//! | [`model`] | layers, autoencoders, the reference classifier | 01 |
//! | [`loss`] | MSE, binary cross-entropy, KL divergence, PSNR | 01, 07 |
//! | [`optim`] | Adam, RMSprop, Adadelta, SGD | 01 |
//! | [`train`] | `fit`, `predict`, `evaluate`, `History`, `Trainer` | 01 |
//! | [`cells`] | keeps candle's tensor ids apart across evcxr cells | 01 |
//! | [`cpu_ops`] | fast CPU convolution, pooling, up-sampling (forward and backward) | 03 |
//! | [`plot`] | image grids (PNG) and charts (SVG) | 01 |
//! | [`noise`] | gaussian noise for denoising | 04 |
//! | [`reduce`] | PCA and t-SNE through linfa | 05 |
//! | [`exercise`] | checks for the Fashion-MNIST exercises | exercises |

pub mod cells;
pub mod cpu_ops;
pub mod data;
pub mod device;
pub mod error;
pub mod exercise;
pub mod loss;
pub mod mode;
pub mod model;
pub mod noise;
pub mod optim;
pub mod plot;
pub mod reduce;
pub mod train;

pub use error::{Error, Result};
/// candle itself, for the lessons that go below the crate's API.
pub use candle_core as candle;
pub use candle_nn;

/// Everything a notebook needs, in one `use`.
pub mod prelude {
    pub use crate::data::{images_2d, images_flat, Batcher, Dataset, DatasetKind, FASHION_CLASSES};
    pub use crate::device::device;
    // Not `Result`: evcxr wraps each cell in a function returning
    // `Result<(), EvcxrUserCodeError>`, which a one-parameter alias breaks.
    pub use crate::error::Error;
    pub use crate::exercise::{check_denoising, check_generated, check_images, check_reconstruction, Threshold};
    pub use crate::loss::{binary_cross_entropy, kl_divergence, mse, mse_value, psnr, Loss};
    pub use crate::mode::{mode, setup, Mode};
    pub use crate::model::{
        Activation, Autoencoder, Classifier, ConvConfig, DenseConfig, Model, Sequential, UpConvConfig,
    };
    pub use crate::noise::{add_gaussian_noise, GaussianNoise};
    pub use crate::optim::Optimizer;
    pub use crate::plot::{
        denoising_grid, image_canvas, image_rows, line_chart, reconstruction_grid, scatter_by_class, xy_chart,
        Png, Svg,
    };
    pub use crate::reduce::{tsne, Pca};
    pub use crate::train::{evaluate, fit, predict, History, TrainConfig, Trainer};
    pub use crate::{candle, candle_nn};
    pub use candle_core::{DType, Device, Tensor, Var, D};
}
