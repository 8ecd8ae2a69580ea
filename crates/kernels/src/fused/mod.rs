//! `act(conv(x) + bias)` for convolutions and transposed convolutions as one
//! candle op, and the per-channel sum its bias gradient needs.

use super::conv::{Conv2dOp, ConvBackwardData, ConvBackwardFilter, ConvTranspose2dOp};
use super::direct::{self, Isa};
use super::gemm::conv_forward_and_filter;
use super::rows::Rows;
use super::{dims4, f32_slice, FusedAct, Geometry};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

mod transposed;

/// `act(conv(x, kernel) + bias)` (or with a transposed convolution) in one
/// op: the bias and activation are applied while each image's output is
/// still in cache, and the backward pass needs no separate element-wise ops.
#[derive(Debug, Clone, Copy)]
struct ConvBiasActOp {
    stride: usize,
    padding: usize,
    /// `Some(output_padding)` for a transposed convolution.
    transpose: Option<usize>,
    act: FusedAct,
    /// The variant a transposed convolution's channels-last path runs on
    /// (see `direct::Transposed`), if it may.
    isa: Option<Isa>,
}

type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

impl candle_core::CustomOp3 for ConvBiasActOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if let Some(output_padding) = self.transpose {
            let kernel = f32_slice(s2, l2, "conv_transpose2d kernel")?;
            let how = (self.stride, self.padding, output_padding);
            if let Some((t, sizes)) = transposed::plan(self.isa, how, l1, l2, kernel)? {
                let bias = f32_slice(s3, l3, "conv_transpose2d bias")?;
                if bias.len() != sizes.cout {
                    candle_core::bail!("conv_transpose2d: {} biases for {} channels", bias.len(), sizes.cout);
                }
                let x = f32_slice(s1, l1, "conv_transpose2d input")?;
                let y = transposed::forward(&t, &sizes, self.act, x, bias);
                return Ok((
                    CpuStorage::F32(y),
                    Shape::from((sizes.n, sizes.cout, sizes.ho, sizes.wo)),
                ));
            }
        }
        let (storage, shape) = match self.transpose {
            None => Conv2dOp {
                stride: self.stride,
                padding: self.padding,
            }
            .cpu_fwd(s1, l1, s2, l2)?,
            Some(output_padding) => ConvTranspose2dOp {
                stride: self.stride,
                padding: self.padding,
                output_padding,
            }
            .cpu_fwd(s1, l1, s2, l2)?,
        };
        let mut y = match storage {
            CpuStorage::F32(y) => y,
            _ => candle_core::bail!("conv2d-bias-act: expected f32 output"),
        };
        let bias = f32_slice(s3, l3, "conv2d bias")?;
        let (f, plane) = match shape.dims() {
            &[_, f, h, w] => (f, h * w),
            d => candle_core::bail!("conv2d-bias-act: unexpected output shape {d:?}"),
        };
        if bias.len() != f {
            candle_core::bail!("conv2d-bias-act: {} biases for {f} channels", bias.len());
        }
        let (act, rows) = (self.act, Rows::new());
        y.par_chunks_mut(f * plane).for_each(|img| {
            for (ch, &b) in img.chunks_mut(plane).zip(bias) {
                rows.bias_act_in_place(ch, b, act);
            }
        });
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Gradients> {
        if let Some(output_padding) = self.transpose {
            if let Some(grads) = self.channels_last_bwd(x, kernel, res, grad, output_padding)? {
                return Ok(grads);
            }
        }
        // Gradient before the activation, then the bias and convolution parts.
        let pre = res
            .contiguous()?
            .apply_op2_no_bwd(&grad.contiguous()?, &ActBackward { act: self.act })?;
        let dbias = pre.apply_op1_no_bwd(&ChannelSum)?;
        let (dx, dk) = match self.transpose {
            None => {
                let (_, _, h, w) = x.dims4()?;
                let dx = pre.apply_op2_no_bwd(
                    &kernel.contiguous()?,
                    &ConvBackwardData {
                        stride: self.stride,
                        padding: self.padding,
                        h,
                        w,
                    },
                )?;
                let dk = x.contiguous()?.apply_op2_no_bwd(
                    &pre,
                    &ConvBackwardFilter {
                        stride: self.stride,
                        padding: self.padding,
                        k: kernel.dim(2)?,
                    },
                )?;
                (dx, dk)
            }
            Some(_) => {
                // Both gradients read `pre` as a convolution's input: on the
                // gemm path they share one im2col of it (see
                // conv_forward_and_filter, which picks the path).
                let (x, kernel) = (x.contiguous()?, kernel.contiguous()?);
                let (n, cin, h, w) = x.dims4()?;
                let (_, cout, ho, wo) = pre.dims4()?;
                let k = kernel.dim(2)?;
                let g = Geometry::new(n, cout, ho, wo, cin, k, self.stride, self.padding)?;
                let need_dx = x.track_op();
                let (xs, xl) = x.storage_and_layout();
                let (ks, kl) = kernel.storage_and_layout();
                let (ps, pl) = pre.storage_and_layout();
                let (xc, kc, pc) = match (&*xs, &*ks, &*ps) {
                    (candle_core::Storage::Cpu(a), candle_core::Storage::Cpu(b), candle_core::Storage::Cpu(c)) => {
                        (a, b, c)
                    }
                    _ => candle_core::bail!("conv_transpose2d backward: CPU tensors only"),
                };
                let (xv, kv, pv) = (
                    f32_slice(xc, xl, "input")?,
                    f32_slice(kc, kl, "kernel")?,
                    f32_slice(pc, pl, "gradient")?,
                );
                let (dx, dk) = conv_forward_and_filter(&g, pv, kv, xv, need_dx);
                let dev = candle_core::Device::Cpu;
                let dk = Tensor::from_vec(dk, (cin, cout, k, k), &dev)?;
                let dx = match dx {
                    Some(v) => Some(Tensor::from_vec(v, (n, cin, h, w), &dev)?),
                    None => None,
                };
                return Ok((dx, Some(dk), Some(dbias)));
            }
        };
        Ok((Some(dx), Some(dk), Some(dbias)))
    }
}

impl ConvBiasActOp {
    /// The gradients of a transposed convolution on its channels-last path,
    /// where that path runs (`None` elsewhere).
    fn channels_last_bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        res: &Tensor,
        grad: &Tensor,
        output_padding: usize,
    ) -> candle_core::Result<Option<Gradients>> {
        let (x, kernel, res, grad) = (
            x.contiguous()?,
            kernel.contiguous()?,
            res.contiguous()?,
            grad.contiguous()?,
        );
        let need_dx = x.track_op();
        let (xs, xl) = x.storage_and_layout();
        let (ks, kl) = kernel.storage_and_layout();
        let (rs, rl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (xc, kc, rc, gc) = match (&*xs, &*ks, &*rs, &*gs) {
            (Storage::Cpu(a), Storage::Cpu(b), Storage::Cpu(c), Storage::Cpu(e)) => (a, b, c, e),
            _ => candle_core::bail!("conv_transpose2d backward: CPU tensors only"),
        };
        let kv = f32_slice(kc, kl, "conv_transpose2d kernel")?;
        let how = (self.stride, self.padding, output_padding);
        let Some((t, s)) = transposed::plan(self.isa, how, xl, kl, kv)? else {
            return Ok(None);
        };
        let (dx, dk, db) = transposed::backward(
            &t,
            &s,
            self.act,
            f32_slice(xc, xl, "conv_transpose2d input")?,
            f32_slice(rc, rl, "conv_transpose2d output")?,
            f32_slice(gc, gl, "conv_transpose2d gradient")?,
            need_dx,
        );
        let dev = candle_core::Device::Cpu;
        let dx = match dx {
            Some(v) => Some(Tensor::from_vec(v, (s.n, s.cin, s.h, s.w), &dev)?),
            None => None,
        };
        let dk = Tensor::from_vec(dk, (s.cin, s.cout, 3, 3), &dev)?;
        Ok(Some((dx, Some(dk), Some(Tensor::from_vec(db, s.cout, &dev)?))))
    }
}

/// `grad · act'(y)` from the activation's output `y`.
#[derive(Debug, Clone, Copy)]
struct ActBackward {
    act: FusedAct,
}

impl CustomOp2 for ActBackward {
    fn name(&self) -> &'static str {
        "fast-activation-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, "activation output")?;
        let g = f32_slice(s2, l2, "activation gradient")?;
        if y.len() != g.len() {
            candle_core::bail!("activation backward: {} outputs, {} gradients", y.len(), g.len());
        }
        let (act, rows) = (self.act, Rows::new());
        let mut out = crate::zeros(y.len());
        out.par_chunks_mut(1 << 14)
            .zip(y.par_chunks(1 << 14).zip(g.par_chunks(1 << 14)))
            .for_each(|(o, (y, g))| rows.act_grad(g, y, act, o));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `act(conv2d(x, kernel) + bias)`: `(n, c, h, w)`, kernel `(f, c, k, k)`,
/// bias `(f,)`.
pub fn conv2d_bias_act(
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op3(
        &kernel.contiguous()?,
        &bias.contiguous()?,
        ConvBiasActOp {
            stride,
            padding,
            transpose: None,
            act,
            isa: None,
        },
    )
}

/// `act(conv_transpose2d(x, kernel) + bias)`: `(n, c_in, h, w)`, kernel
/// `(c_in, c_out, k, k)`, bias `(c_out,)`. With the direct kernels, a 3×3
/// stride-2 layer of 8 channels or more in and out runs channels-last
/// (`direct::Transposed`).
pub fn conv_transpose2d_bias_act(
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    let how = (stride, padding, output_padding);
    conv_transpose2d_bias_act_with(direct::active(), xs, kernel, bias, how, act)
}

/// [`conv_transpose2d_bias_act`] with `(stride, padding, output_padding)`,
/// its channels-last path on the variant `isa` (which the CPU must have),
/// or, with `None`, without it (to compare the two).
pub fn conv_transpose2d_bias_act_with(
    isa: Option<Isa>,
    xs: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    (stride, padding, output_padding): (usize, usize, usize),
    act: FusedAct,
) -> candle_core::Result<Tensor> {
    if let Some(isa) = isa.filter(|i| !i.on_cpu()) {
        candle_core::bail!(
            "conv_transpose2d: this CPU lacks {} (it has {:?})",
            isa.name(),
            Isa::available()
        );
    }
    if output_padding >= stride.max(1) {
        candle_core::bail!(
            "conv_transpose2d: output_padding {output_padding} must be smaller than the stride {stride}"
        );
    }
    xs.contiguous()?.apply_op3(
        &kernel.contiguous()?,
        &bias.contiguous()?,
        ConvBiasActOp {
            stride,
            padding,
            transpose: Some(output_padding),
            act,
            isa,
        },
    )
}

/// Sums `(n, c, h, w)` over everything but the channel: `(c,)`, the bias
/// gradient of a convolution (candle's reduction over dims 0, 2, 3 walks
/// the tensor with strided reads).
#[derive(Debug, Clone, Copy)]
struct ChannelSum;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "fast-channel-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "channel sum input")?;
        let x = f32_slice(s, l, "channel sum input")?;
        let plane = h * w;
        let sums: Vec<f32> = (0..c)
            .into_par_iter()
            .map(|ch| {
                // Eight f32 lanes per plane (vectorised), planes added in f64.
                let mut acc = 0f64;
                for i in 0..n {
                    let p = &x[(i * c + ch) * plane..(i * c + ch + 1) * plane];
                    let mut lanes = [0f32; 8];
                    let chunks = p.chunks_exact(8);
                    let tail: f32 = chunks.remainder().iter().sum();
                    for ch8 in chunks {
                        for (l, v) in lanes.iter_mut().zip(ch8) {
                            *l += v;
                        }
                    }
                    acc += (lanes.iter().sum::<f32>() + tail) as f64;
                }
                acc as f32
            })
            .collect();
        Ok((CpuStorage::F32(sums), Shape::from(c)))
    }
}
