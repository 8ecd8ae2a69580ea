//! Convolution and transposed convolution as candle custom ops, forward and
//! backward, on the kernels of [`super::gemm`].

use super::gemm::{conv_backward_data, conv_backward_filter, conv_forward};
use super::{dims4, f32_slice, Geometry};
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// 2-D convolution `x (n, c, h, w)` ⊛ `kernel (f, c, k, k)` with stride and padding.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv2dOp {
    pub(super) stride: usize,
    pub(super) padding: usize,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "fast-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "conv2d input")?;
        let (f, c2, k, k2) = dims4(l2, "conv2d kernel")?;
        if c != c2 || k != k2 {
            candle_core::bail!("conv2d: input has {c} channels, kernel {f}x{c2}x{k}x{k2}");
        }
        let g = Geometry::new(n, c, h, w, f, k, self.stride, self.padding)?;
        let y = conv_forward(
            &g,
            f32_slice(s1, l1, "conv2d input")?,
            f32_slice(s2, l2, "conv2d kernel")?,
        );
        Ok((CpuStorage::F32(y), Shape::from((n, f, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, h, w) = x.dims4()?;
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(
            &kernel.contiguous()?,
            &ConvBackwardData {
                stride: self.stride,
                padding: self.padding,
                h,
                w,
            },
        )?;
        let dk = x.contiguous()?.apply_op2_no_bwd(
            &grad,
            &ConvBackwardFilter {
                stride: self.stride,
                padding: self.padding,
                k: kernel.dim(2)?,
            },
        )?;
        Ok((Some(dx), Some(dk)))
    }
}

/// `grad (n, f, ho, wo)`, `kernel (f, c, k, k)` → `(n, c, h, w)`: a
/// convolution's input gradient, or a transposed convolution's forward pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvBackwardData {
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) h: usize,
    pub(super) w: usize,
}

impl CustomOp2 for ConvBackwardData {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-data"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, f, ho, wo) = dims4(l1, "conv2d gradient")?;
        let (f2, c, k, k2) = dims4(l2, "conv2d kernel")?;
        if k != k2 {
            candle_core::bail!("conv2d: the fast ops take square kernels, got {k}x{k2}");
        }
        if f != f2 {
            candle_core::bail!("conv2d backward: gradient has {f} channels, kernel {f2}");
        }
        let g = Geometry::new(n, c, self.h, self.w, f, k, self.stride, self.padding)?;
        if (g.ho, g.wo) != (ho, wo) {
            candle_core::bail!(
                "conv2d backward: gradient is {ho}x{wo}, geometry gives {}x{}",
                g.ho,
                g.wo
            );
        }
        let dx = conv_backward_data(&g, f32_slice(s1, l1, "gradient")?, f32_slice(s2, l2, "kernel")?);
        Ok((CpuStorage::F32(dx), Shape::from((n, c, self.h, self.w))))
    }
}

/// `x (n, c, h, w)`, `grad (n, f, ho, wo)` → the kernel gradient `(f, c, k, k)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvBackwardFilter {
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) k: usize,
}

impl CustomOp2 for ConvBackwardFilter {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-filter"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "conv2d input")?;
        let (n2, f, ho, wo) = dims4(l2, "conv2d gradient")?;
        let g = Geometry::new(n, c, h, w, f, self.k, self.stride, self.padding)?;
        if n != n2 || (g.ho, g.wo) != (ho, wo) {
            candle_core::bail!(
                "conv2d filter gradient: shapes {:?} and {:?} do not match",
                l1.dims(),
                l2.dims()
            );
        }
        let dk = conv_backward_filter(&g, f32_slice(s1, l1, "input")?, f32_slice(s2, l2, "gradient")?);
        Ok((CpuStorage::F32(dk), Shape::from((f, c, self.k, self.k))))
    }
}

/// Transposed convolution `x (n, c_in, h, w)` with `kernel (c_in, c_out, k, k)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvTranspose2dOp {
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) output_padding: usize,
}

impl ConvTranspose2dOp {
    pub(super) fn out_side(&self, side: usize, k: usize) -> candle_core::Result<usize> {
        let full = (side - 1) * self.stride + k + self.output_padding;
        if full < 2 * self.padding + 1 {
            candle_core::bail!("conv_transpose2d: padding {} leaves no output", self.padding);
        }
        Ok(full - 2 * self.padding)
    }
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "fast-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, cin, h, w) = dims4(l1, "conv_transpose2d input")?;
        let (cin2, cout, k, k2) = dims4(l2, "conv_transpose2d kernel")?;
        if k != k2 {
            candle_core::bail!("conv_transpose2d: the fast ops take square kernels, got {k}x{k2}");
        }
        if cin != cin2 {
            candle_core::bail!("conv_transpose2d: input has {cin} channels, kernel expects {cin2}");
        }
        let (ho, wo) = (self.out_side(h, k)?, self.out_side(w, k)?);
        // The forward pass is the input gradient of the convolution that maps
        // (cout, ho, wo) to (cin, h, w) with this kernel read as (f=cin, c=cout).
        let g = Geometry::new(n, cout, ho, wo, cin, k, self.stride, self.padding)?;
        let y = conv_backward_data(&g, f32_slice(s1, l1, "input")?, f32_slice(s2, l2, "kernel")?);
        Ok((CpuStorage::F32(y), Shape::from((n, cout, ho, wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(
            &kernel.contiguous()?,
            &Conv2dOp {
                stride: self.stride,
                padding: self.padding,
            },
        )?;
        let dk = grad.apply_op2_no_bwd(
            &x.contiguous()?,
            &ConvBackwardFilter {
                stride: self.stride,
                padding: self.padding,
                k: kernel.dim(2)?,
            },
        )?;
        Ok((Some(dx), Some(dk)))
    }
}

/// Convolution `(n, c, h, w) ⊛ (f, c, k, k)` with a square kernel.
pub fn conv2d(xs: &Tensor, kernel: &Tensor, stride: usize, padding: usize) -> candle_core::Result<Tensor> {
    xs.contiguous()?
        .apply_op2(&kernel.contiguous()?, Conv2dOp { stride, padding })
}

/// Transposed convolution `(n, c_in, h, w)` with kernel `(c_in, c_out, k, k)`.
pub fn conv_transpose2d(
    xs: &Tensor,
    kernel: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> candle_core::Result<Tensor> {
    if output_padding >= stride.max(1) {
        candle_core::bail!(
            "conv_transpose2d: output_padding {output_padding} must be smaller than the stride {stride}"
        );
    }
    xs.contiguous()?.apply_op2(
        &kernel.contiguous()?,
        ConvTranspose2dOp {
            stride,
            padding,
            output_padding,
        },
    )
}
