//! Layers without weights that change a batch's shape: max-pooling,
//! up-sampling, flattening and reshaping.

use super::{batch_shape, impl_module, Init, Layer, LayerConfig, Pass};
use crate::error::{Error, Result};
use crate::kernels;
use candle_core::Tensor;
use std::sync::Arc;

/// Max-pooling over `size × size` windows with stride `size` (the side is
/// divided by `size`, rounding down); made by [`max_pool`].
///
/// # Shapes
/// `(N, C, H, W) -> (N, C, H / size, W / size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    pub size: usize,
}

/// Nearest-neighbour up-sampling: each pixel becomes a `factor × factor`
/// block; made by [`up_sample`].
///
/// # Shapes
/// `(N, C, H, W) -> (N, C, H · factor, W · factor)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpSample2d {
    pub factor: usize,
}

/// Flattens each sample: `(N, …) -> (N, product of …)`; made by [`flatten`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

/// Reshapes each sample to `shape` (same number of values); made by
/// [`reshape`].
///
/// # Shapes
/// `(N, …) -> (N, shape…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

/// Max-pooling over `size × size` windows (Keras' `MaxPooling2D((size, size))`).
pub fn max_pool(size: usize) -> MaxPool2d {
    MaxPool2d { size }
}

/// Up-sampling by `factor` (Keras' `UpSampling2D((factor, factor))`).
pub fn up_sample(factor: usize) -> UpSample2d {
    UpSample2d { factor }
}

/// Flattening.
pub fn flatten() -> Flatten {
    Flatten
}

/// Reshaping each sample to `shape`, e.g. `reshape(&[1, 28, 28])`.
pub fn reshape(shape: &[usize]) -> Reshape {
    Reshape { shape: shape.to_vec() }
}

fn map_dims(input: &[usize], init: &Init) -> Result<(usize, usize, usize)> {
    match *input {
        [c, h, w] => Ok((c, h, w)),
        _ => {
            Err(init
                .shape_error("(N, channels, height, width) maps: add reshape(&[1, 28, 28]) before it for flat images"))
        }
    }
}

impl LayerConfig for MaxPool2d {
    fn kind(&self) -> &'static str {
        "MaxPooling2D"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let (c, h, w) = map_dims(input, init)?;
        if self.size == 0 {
            return Err(init.setting_error("pool size is 0; use at least 1 (the lessons use 2)"));
        }
        if self.size > h || self.size > w {
            return Err(init.shape_error(format!("maps of at least {0}x{0} for its {0}x{0} window", self.size)));
        }
        Ok((Arc::new(*self), vec![c, h / self.size, w / self.size]))
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "MaxPooling2D"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        if kernels::enabled(xs) {
            return Ok(kernels::max_pool2d(xs, self.size)?);
        }
        Ok(xs.max_pool2d(self.size)?)
    }
}

impl LayerConfig for UpSample2d {
    fn kind(&self) -> &'static str {
        "UpSampling2D"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let (c, h, w) = map_dims(input, init)?;
        if self.factor == 0 {
            return Err(init.setting_error("up-sampling factor is 0; use at least 1 (the lessons use 2)"));
        }
        Ok((Arc::new(*self), vec![c, h * self.factor, w * self.factor]))
    }
}

impl Layer for UpSample2d {
    fn kind(&self) -> &'static str {
        "UpSampling2D"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        if kernels::enabled(xs) {
            return Ok(kernels::upsample_nearest2d(xs, self.factor)?);
        }
        let (_, _, h, w) = xs.dims4()?;
        Ok(xs.upsample_nearest2d(h * self.factor, w * self.factor)?)
    }
}

impl LayerConfig for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn build(&self, input: &[usize], _: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        Ok((Arc::new(Flatten), vec![input.iter().product()]))
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        Ok(xs.flatten_from(1)?)
    }
}

impl LayerConfig for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let (have, want) = (input.iter().product::<usize>(), self.shape.iter().product::<usize>());
        if have != want || self.shape.is_empty() {
            return Err(init.shape_error(format!(
                "{have} values per sample to fill {} ({want} values)",
                batch_shape(&self.shape)
            )));
        }
        Ok((Arc::new(self.clone()), self.shape.clone()))
    }
}

impl Layer for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        let mut dims = vec![xs.dim(0)?];
        dims.extend_from_slice(&self.shape);
        if xs.elem_count() != dims.iter().product::<usize>() {
            return Err(Error::shape("reshape", batch_shape(&self.shape), xs.dims()));
        }
        Ok(xs.reshape(dims)?)
    }
}

impl_module!(MaxPool2d);
impl_module!(UpSample2d);
impl_module!(Flatten);
impl_module!(Reshape);
