//! Image grids: rows of digits, canvases of decoded codes, weight images;
//! one PNG each, 28-pixel images drawn at twice their size.

use super::Png;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// Pixels of one image side in a grid cell (28 px images drawn at 2×).
const SCALE: usize = 2;
const GAP: usize = 2;

/// Images as `Vec` of 28×28 grey values in `[0, 1]`, from `(N, 784)` or
/// `(N, 1, 28, 28)`.
fn images_of(xs: &Tensor, n: usize, what: &str) -> Result<Vec<Vec<f32>>> {
    let xs =
        crate::data::images_flat(xs).map_err(|_| Error::shape(what, "(N, 784) or (N, 1, 28, 28) images", xs.dims()))?;
    let have = xs.dim(0)?;
    if n > have {
        return Err(Error::invalid(format!(
            "{what}: {n} images asked for, but the tensor holds {have}; show at most {have}"
        )));
    }
    let xs = xs.narrow(0, 0, n)?.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    Ok(xs.to_vec2::<f32>()?)
}

/// Draws rows of images into one PNG: each row holds up to `cols` images.
fn grid_png(rows: &[Vec<Vec<f32>>], cols: usize) -> Result<Png> {
    let side = 28 * SCALE;
    let cols = cols.max(1);
    let n_rows = rows.len().max(1);
    let width = cols * side + (cols + 1) * GAP;
    let height = n_rows * side + (n_rows + 1) * GAP;
    let mut px = vec![128u8; width * height]; // grey frame between images
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().take(cols).enumerate() {
            let (x0, y0) = (GAP + c * (side + GAP), GAP + r * (side + GAP));
            for y in 0..side {
                for x in 0..side {
                    let v = img[(y / SCALE) * 28 + x / SCALE].clamp(0.0, 1.0);
                    px[(y0 + y) * width + x0 + x] = (v * 255.0).round() as u8;
                }
            }
        }
    }
    Png::encode(&px, width, height, png::ColorType::Grayscale)
}

/// The first `n` images of each tensor, one tensor per row.
///
/// # Shapes
/// Each of `rows`: `(N, 784)` or `(N, 1, 28, 28)`.
pub fn image_rows(rows: &[&Tensor], n: usize) -> Result<Png> {
    if n == 0 {
        return Err(Error::invalid("image_rows: n is 0; show at least 1 image per row"));
    }
    let rows = rows
        .iter()
        .enumerate()
        .map(|(i, t)| images_of(t, n, &format!("image_rows: row {i}")))
        .collect::<Result<Vec<_>>>()?;
    grid_png(&rows, n)
}

/// Originals on top, reconstructions below: the first `n` of each.
pub fn reconstruction_grid(originals: &Tensor, recon: &Tensor, n: usize) -> Result<Png> {
    image_rows(&[originals, recon], n)
}

/// Clean images, noisy inputs, and the model's denoised outputs: three rows.
pub fn denoising_grid(clean: &Tensor, noisy: &Tensor, denoised: &Tensor, n: usize) -> Result<Png> {
    image_rows(&[clean, noisy, denoised], n)
}

/// The first `rows × cols` images of `xs` on a canvas, row by row.
pub fn image_canvas(xs: &Tensor, rows: usize, cols: usize) -> Result<Png> {
    if rows == 0 || cols == 0 {
        return Err(Error::invalid(format!("image_canvas: {rows}×{cols} has no cells")));
    }
    let Some(cells) = rows.checked_mul(cols) else {
        return Err(Error::invalid(format!(
            "image_canvas: {rows}×{cols} cells is too many; use a few rows of 10"
        )));
    };
    let imgs = images_of(xs, cells, "image_canvas")?;
    let grid: Vec<Vec<Vec<f32>>> = imgs.chunks(cols).map(|c| c.to_vec()).collect();
    grid_png(&grid, cols)
}

/// The rows of `weights` as images, each scaled to its own range (min
/// black, max white): what each unit of a dense layer looks for in the
/// pixels, `rows × cols` of them.
///
/// # Shapes
/// `weights`: `(units, 784)`, as `model.weight("encoder.dense_1.weight")`.
pub fn feature_grid(weights: &Tensor, rows: usize, cols: usize) -> Result<Png> {
    if weights.rank() != 2 || weights.dim(1)? != 784 {
        return Err(Error::shape(
            "feature_grid: weights",
            "(units, 784): the first dense layer of an encoder of flat images",
            weights.dims(),
        ));
    }
    let units = weights.dim(0)?;
    if rows.saturating_mul(cols) > units {
        return Err(Error::invalid(format!(
            "feature_grid: {rows}×{cols} cells but the layer has {units} units; ask for at most {units} cells (e.g. {} rows of {cols})",
            units / cols.max(1)
        )));
    }
    let w = weights.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let lo = w.min_keepdim(1)?;
    let range = (w.max_keepdim(1)? - &lo)?.clamp(1e-8f32, f32::MAX)?;
    image_canvas(&w.broadcast_sub(&lo)?.broadcast_div(&range)?, rows, cols)
}
