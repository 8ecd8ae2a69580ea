//! 2-D convolution and transposed convolution, with Keras' `same` and
//! `valid` padding.

use super::activation::activation_setters;
use super::{impl_module, weight_and_bias};
use super::{Activation, Init, Layer, LayerConfig, Pass};
use crate::error::Result;
use crate::kernels;
use candle_core::{Tensor, Var};
use std::sync::Arc;

/// How a convolution treats the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Zeros around the input so that the output side is `⌈side / stride⌉`
    /// (for a convolution) or `side · stride` (for a transposed one).
    Same,
    /// No padding: only positions where the whole kernel fits.
    Valid,
    /// This many zeros on every side.
    Explicit(usize),
}

/// Settings of a [`Conv2d`] layer; made by [`conv2d`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dConfig {
    /// Output channels.
    pub filters: usize,
    /// Side of the square kernel (3).
    pub kernel: usize,
    /// Step between kernel positions (1).
    pub stride: usize,
    /// Border handling (`Same`).
    pub padding: Padding,
    pub activation: Activation,
    pub use_bias: bool,
}

/// Settings of a [`ConvTranspose2d`] layer; made by [`conv_transpose2d`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTranspose2dConfig {
    /// Output channels.
    pub filters: usize,
    /// Side of the square kernel (3).
    pub kernel: usize,
    /// Up-sampling step (2).
    pub stride: usize,
    /// Border handling (`Same`: the output side is `side · stride`).
    pub padding: Padding,
    /// Extra rows and columns on one side, with `Padding::Explicit` only.
    pub output_padding: usize,
    pub activation: Activation,
    pub use_bias: bool,
}

/// A 2-D convolution with `filters` output channels; 3×3, stride 1, `same`
/// padding and linear until set otherwise: `conv2d(16).kernel(3).same().relu()`.
pub fn conv2d(filters: usize) -> Conv2dConfig {
    Conv2dConfig {
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Same,
        activation: Activation::Linear,
        use_bias: true,
    }
}

/// A transposed convolution with `filters` output channels; 3×3, stride 2,
/// `same` padding (doubling the side) and linear until set otherwise:
/// `conv_transpose2d(32).kernel(3).stride(2).same().relu()`.
pub fn conv_transpose2d(filters: usize) -> ConvTranspose2dConfig {
    ConvTranspose2dConfig {
        filters,
        kernel: 3,
        stride: 2,
        padding: Padding::Same,
        output_padding: 0,
        activation: Activation::Linear,
        use_bias: true,
    }
}

/// Geometry setters shared by both convolutions.
macro_rules! geometry_setters {
    ($t:ty) => {
        impl $t {
            /// Side of the square kernel.
            pub fn kernel(mut self, side: usize) -> Self {
                self.kernel = side;
                self
            }
            /// Step between kernel positions.
            pub fn stride(mut self, stride: usize) -> Self {
                self.stride = stride;
                self
            }
            /// Border handling.
            pub fn padding(mut self, padding: Padding) -> Self {
                self.padding = padding;
                self
            }
            /// `padding(Padding::Same)`.
            pub fn same(self) -> Self {
                self.padding(Padding::Same)
            }
            /// `padding(Padding::Valid)`.
            pub fn valid(self) -> Self {
                self.padding(Padding::Valid)
            }
            /// Without a bias.
            pub fn no_bias(mut self) -> Self {
                self.use_bias = false;
                self
            }
        }
    };
}

geometry_setters!(Conv2dConfig);
geometry_setters!(ConvTranspose2dConfig);
activation_setters!(Conv2dConfig);
activation_setters!(ConvTranspose2dConfig);

impl ConvTranspose2dConfig {
    /// Extra rows and columns on one side (with `Padding::Explicit`).
    pub fn output_padding(mut self, extra: usize) -> Self {
        self.output_padding = extra;
        self
    }
}

/// `(c, h, w)` of a convolution's input, or the error naming the fix.
fn chw(input: &[usize], init: &Init) -> Result<(usize, usize, usize)> {
    match *input {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
        _ => Err(init.shape_error("(N, channels, height, width): add reshape(&[1, 28, 28]) before it for flat images")),
    }
}

/// Checks filters, kernel and stride are at least 1.
fn check_settings(init: &Init, filters: usize, kernel: usize, stride: usize) -> Result<()> {
    for (what, v) in [("filters", filters), ("kernel", kernel), ("stride", stride)] {
        if v == 0 {
            return Err(init.setting_error(format!("{what} is 0; use at least 1")));
        }
    }
    Ok(())
}

fn bias(init: &mut Init, use_bias: bool, n: usize) -> Result<Option<Var>> {
    if use_bias {
        Ok(Some(init.constant(&[n], 0.0)?))
    } else {
        Ok(None)
    }
}

impl LayerConfig for Conv2dConfig {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let (c, h, w) = chw(input, init)?;
        let (f, k, s) = (self.filters, self.kernel, self.stride);
        check_settings(init, f, k, s)?;
        let padding = match self.padding {
            Padding::Same if k % 2 == 1 => (k - 1) / 2,
            Padding::Same => {
                return Err(init.setting_error(format!(
                    "'same' padding needs an odd kernel (got {k}); use kernel 3 or 5, or Padding::Explicit"
                )))
            }
            Padding::Valid => 0,
            Padding::Explicit(p) => p,
        };
        if h + 2 * padding < k || w + 2 * padding < k {
            return Err(init.shape_error(format!(
                "maps of at least {k}x{k} (with padding {padding}) for its {k}x{k} kernel"
            )));
        }
        let (ho, wo) = ((h + 2 * padding - k) / s + 1, (w + 2 * padding - k) / s + 1);
        let weight = init.glorot(&[f, c, k, k], k * k * c, k * k * f)?;
        let layer = Conv2d {
            weight,
            bias: bias(init, self.use_bias, f)?,
            stride: s,
            padding,
            activation: self.activation,
        };
        Ok((Arc::new(layer), vec![f, ho, wo]))
    }
}

impl LayerConfig for ConvTranspose2dConfig {
    fn kind(&self) -> &'static str {
        "Conv2DTranspose"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let (c, h, w) = chw(input, init)?;
        let (f, k, s) = (self.filters, self.kernel, self.stride);
        check_settings(init, f, k, s)?;
        // Output side: (side - 1)·s + k - 2·padding + output_padding.
        let (padding, output_padding) = match self.padding {
            Padding::Same => {
                let p = k.saturating_sub(s).div_ceil(2);
                (p, s + 2 * p - k)
            }
            Padding::Valid => (0, 0),
            Padding::Explicit(p) => (p, self.output_padding),
        };
        if output_padding >= s {
            return Err(init.setting_error(format!(
                "output_padding {output_padding} must be smaller than the stride {s}"
            )));
        }
        let side = |x: usize| {
            ((x - 1) * s + k + output_padding)
                .checked_sub(2 * padding)
                .filter(|&v| v > 0)
        };
        let (Some(ho), Some(wo)) = (side(h), side(w)) else {
            return Err(init.shape_error(format!("maps large enough that padding {padding} leaves an output")));
        };
        let weight = init.glorot(&[c, f, k, k], k * k * f, k * k * c)?;
        let layer = ConvTranspose2d {
            weight,
            bias: bias(init, self.use_bias, f)?,
            stride: s,
            padding,
            output_padding,
            activation: self.activation,
        };
        Ok((Arc::new(layer), vec![f, ho, wo]))
    }
}

/// A 2-D convolution with a square kernel.
///
/// # Shapes
/// `(N, C, H, W) -> (N, filters, H', W')`; `weight`: `(filters, C, k, k)`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub weight: Var,
    pub bias: Option<Var>,
    pub stride: usize,
    /// Zeros on every side.
    pub padding: usize,
    pub activation: Activation,
}

/// A transposed 2-D convolution with a square kernel; the output side is
/// `(side - 1)·stride + k - 2·padding + output_padding`.
///
/// # Shapes
/// `(N, C, H, W) -> (N, filters, H', W')`; `weight`: `(C, filters, k, k)`.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    pub weight: Var,
    pub bias: Option<Var>,
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
    pub activation: Activation,
}

/// Adds a per-channel bias `(C,)` to `(N, C, H, W)`.
fn add_channel_bias(ys: Tensor, bias: &Option<Var>) -> Result<Tensor> {
    Ok(match bias {
        Some(b) => ys.broadcast_add(&b.as_tensor().reshape((1, b.dim(0)?, 1, 1))?)?,
        None => ys,
    })
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        let (w, s, p) = (self.weight.as_tensor(), self.stride, self.padding);
        if !kernels::enabled(xs) {
            return self
                .activation
                .apply(&add_channel_bias(xs.conv2d(w, p, s, 1, 1)?, &self.bias)?);
        }
        // On the CPU: convolution, bias and activation as one op where it can.
        match (&self.bias, self.activation.fused()) {
            (Some(b), Some(act)) => Ok(kernels::conv2d_bias_act(xs, w, b.as_tensor(), s, p, act)?),
            _ => self
                .activation
                .apply(&add_channel_bias(kernels::conv2d(xs, w, s, p)?, &self.bias)?),
        }
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}

impl Layer for ConvTranspose2d {
    fn kind(&self) -> &'static str {
        "Conv2DTranspose"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        let (w, s, p, op) = (self.weight.as_tensor(), self.stride, self.padding, self.output_padding);
        if !kernels::enabled(xs) {
            let ys = xs.conv_transpose2d(w, p, op, s, 1)?;
            return self.activation.apply(&add_channel_bias(ys, &self.bias)?);
        }
        match (&self.bias, self.activation.fused()) {
            (Some(b), Some(act)) => Ok(kernels::conv_transpose2d_bias_act(xs, w, b.as_tensor(), s, p, op, act)?),
            _ => {
                let ys = kernels::conv_transpose2d(xs, w, s, p, op)?;
                self.activation.apply(&add_channel_bias(ys, &self.bias)?)
            }
        }
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}

impl_module!(Conv2d);

impl_module!(ConvTranspose2d);
