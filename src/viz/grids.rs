//! Image grids: rows of digits, canvases of decoded codes, weight images;
//! one PNG each, 28-pixel images drawn at twice their size.

use super::Png;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
        return Err(Error::out_of_range(format!(
            "{what}: {n} images asked for, but the tensor holds {have}; show at most {have}"
        )));
    }
    let xs = xs.narrow(0, 0, n)?.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    Ok(xs.to_vec2::<f32>()?)
}

/// Height of a row label's text, in pixels.
const LABEL_PX: u32 = 14;

/// Draws rows of images into one PNG: each row holds up to `cols` images,
/// after its label when `labels` has one per row (a white column on the
/// left, the text in the bundled font).
fn grid_png(rows: &[Vec<Vec<f32>>], cols: usize, labels: &[&str]) -> Result<Png> {
    let side = 28 * SCALE;
    let cols = cols.max(1);
    let n_rows = rows.len().max(1);
    let label_w = label_width(labels)?;
    let width = label_w + cols * side + (cols + 1) * GAP;
    let height = n_rows * side + (n_rows + 1) * GAP;
    let mut px = vec![128u8; width * height]; // grey frame between images
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().take(cols).enumerate() {
            let (x0, y0) = (label_w + GAP + c * (side + GAP), GAP + r * (side + GAP));
            for y in 0..side {
                for x in 0..side {
                    let v = img[(y / SCALE) * 28 + x / SCALE].clamp(0.0, 1.0);
                    px[(y0 + y) * width + x0 + x] = (v * 255.0).round() as u8;
                }
            }
        }
    }
    if label_w > 0 {
        draw_labels(&mut px, (width, height), label_w, labels, side)?;
    }
    Png::encode(&px, width, height, png::ColorType::Grayscale)
}

/// Pixels of the label column: the widest label plus a margin (0 without
/// labels).
fn label_width(labels: &[&str]) -> Result<usize> {
    if labels.iter().all(|l| l.is_empty()) {
        return Ok(0);
    }
    super::charts::register_font()?;
    let font = ("sans-serif", LABEL_PX).into_font();
    let widest = labels
        .iter()
        .map(|l| font.box_size(l).map(|(w, _)| w).unwrap_or(0))
        .max()
        .unwrap_or(0);
    Ok(widest as usize + 12)
}

/// Writes each row's label, right-aligned and centred on its row, into the
/// white column `label_w` pixels wide on the left of the grey pixels `px`.
fn draw_labels(
    px: &mut [u8],
    (width, height): (usize, usize),
    label_w: usize,
    labels: &[&str],
    side: usize,
) -> Result<()> {
    let mut rgb = vec![255u8; label_w * height * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (label_w as u32, height as u32)).into_drawing_area();
        let style = TextStyle::from(("sans-serif", LABEL_PX).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (r, label) in labels.iter().enumerate() {
            let y = GAP + r * (side + GAP) + side / 2;
            root.draw_text(label, &style, ((label_w - 6) as i32, y as i32))
                .map_err(|e| Error::plot("a row label", e))?;
        }
        root.present().map_err(|e| Error::plot("the row labels", e))?;
    }
    for y in 0..height {
        for x in 0..label_w {
            let i = (y * label_w + x) * 3;
            px[y * width + x] = ((rgb[i] as u16 + rgb[i + 1] as u16 + rgb[i + 2] as u16) / 3) as u8;
        }
    }
    Ok(())
}

/// The first `n` images of each tensor, one labelled row per tensor: the
/// label says what the row is (`"original"`, `"reconstruction"`, …) in
/// the figure itself.
///
/// ```no_run
/// # use autoencoders::prelude::*;
/// # fn f(x: &Tensor, r: &Tensor) -> Result<Png, Error> {
/// image_rows(&[("test image", x), ("reconstruction", r)], 10)
/// # }
/// ```
///
/// # Shapes
/// Each tensor: `(N, 784)` or `(N, 1, 28, 28)`.
pub fn image_rows(rows: &[(&str, &Tensor)], n: usize) -> Result<Png> {
    if n == 0 {
        return Err(Error::out_of_range("image_rows: n is 0; show at least 1 image per row"));
    }
    let images = rows
        .iter()
        .map(|(label, t)| images_of(t, n, &format!("image_rows: row {label:?}")))
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<&str> = rows.iter().map(|(l, _)| *l).collect();
    grid_png(&images, n, &labels)
}

/// Originals on top, reconstructions below: the first `n` of each,
/// labelled `original` and `reconstruction`.
pub fn reconstruction_grid(originals: &Tensor, recon: &Tensor, n: usize) -> Result<Png> {
    image_rows(&[("original", originals), ("reconstruction", recon)], n)
}

/// Clean images, noisy inputs, and the model's denoised outputs: three rows,
/// labelled `clean`, `noisy` and `denoised`.
pub fn denoising_grid(clean: &Tensor, noisy: &Tensor, denoised: &Tensor, n: usize) -> Result<Png> {
    image_rows(&[("clean", clean), ("noisy", noisy), ("denoised", denoised)], n)
}

/// The first `rows × cols` images of `xs` on a canvas, row by row.
pub fn image_canvas(xs: &Tensor, rows: usize, cols: usize) -> Result<Png> {
    if rows == 0 || cols == 0 {
        return Err(Error::out_of_range(format!("image_canvas: {rows}×{cols} has no cells")));
    }
    let Some(cells) = rows.checked_mul(cols) else {
        return Err(Error::out_of_range(format!(
            "image_canvas: {rows}×{cols} cells is too many; use a few rows of 10"
        )));
    };
    let imgs = images_of(xs, cells, "image_canvas")?;
    let grid: Vec<Vec<Vec<f32>>> = imgs.chunks(cols).map(|c| c.to_vec()).collect();
    grid_png(&grid, cols, &[])
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
        return Err(Error::out_of_range(format!(
            "feature_grid: {rows}×{cols} cells but the layer has {units} units; ask for at most {units} cells (e.g. {} rows of {cols})",
            units / cols.max(1)
        )));
    }
    let w = weights.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let lo = w.min_keepdim(1)?;
    let range = (w.max_keepdim(1)? - &lo)?.clamp(1e-8f32, f32::MAX)?;
    image_canvas(&w.broadcast_sub(&lo)?.broadcast_div(&range)?, rows, cols)
}
