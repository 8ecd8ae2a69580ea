//! Figures for notebooks: pixels as PNG ([`Png`], one encoded image per
//! grid), charts as SVG ([`Svg`], drawn with plotters). Both show inline in
//! Jupyter through their `evcxr_display` method and can be saved to a file.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{write_atomic, Error, Result};
use candle_core::{DType, Device, Tensor};
use plotters::coord::types::RangedCoordf32;
use plotters::prelude::*;
use std::path::Path;

/// An encoded PNG image.
#[derive(Clone)]
pub struct Png {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Png {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Png({}×{}, {} bytes)", self.width, self.height, self.bytes.len())
    }
}

impl Png {
    /// Shows the image in a notebook.
    pub fn evcxr_display(&self) {
        evcxr_runtime::mime_type("image/png").bytes(&self.bytes);
    }

    /// Writes the PNG to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path, &self.bytes)
    }
}

/// An SVG document.
#[derive(Clone)]
pub struct Svg(pub String);

impl std::fmt::Debug for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Svg({} bytes)", self.0.len())
    }
}

impl Svg {
    /// Shows the chart in a notebook.
    pub fn evcxr_display(&self) {
        evcxr_runtime::mime_type("image/svg+xml").text(&self.0);
    }

    /// Writes the SVG to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path, self.0.as_bytes())
    }
}

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
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| Error::Plot(e.to_string()))?;
        w.write_image_data(&px).map_err(|e| Error::Plot(e.to_string()))?;
    }
    Ok(Png {
        bytes,
        width: width as u32,
        height: height as u32,
    })
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

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Plot(e.to_string())
}

/// Line chart of named series against 1, 2, 3, …
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[(&str, &[f32])]) -> Result<Svg> {
    let x_values: Vec<f32> = (1..=series.iter().map(|s| s.1.len()).max().unwrap_or(0))
        .map(|i| i as f32)
        .collect();
    let with_x: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(name, ys)| (*name, x_values.iter().copied().zip(ys.iter().copied()).collect()))
        .collect();
    xy_chart(title, x_label, y_label, &with_x)
}

/// Line chart of named `(x, y)` series.
pub fn xy_chart(title: &str, x_label: &str, y_label: &str, series: &[(&str, Vec<(f32, f32)>)]) -> Result<Svg> {
    let pts: Vec<(f32, f32)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    if pts.is_empty() {
        return Err(Error::invalid(format!("chart {title:?}: no values to plot")));
    }
    if let Some(bad) = pts.iter().find(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return Err(Error::invalid(format!("chart {title:?}: value {bad:?} is not finite")));
    }
    let (x0, x1) = bounds(title, pts.iter().map(|p| p.0))?;
    let (y0, y1) = bounds(title, pts.iter().map(|p| p.1))?;
    axes_chart(title, x_label, y_label, (x0..x1, y0..y1), |chart| {
        for (i, (name, s)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart
                .draw_series(s.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// The drawing area of [`axes_chart`].
type Axes<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

/// A 640×360 SVG chart: caption, labelled axes over `ranges`, whatever
/// `draw` puts on them, and the legend of what it labelled.
fn axes_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    ranges: (std::ops::Range<f32>, std::ops::Range<f32>),
    draw: impl FnOnce(&mut Axes<'_, '_>) -> Result<()>,
) -> Result<Svg> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(ranges.0, ranges.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(plot_err)?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Svg(out))
}

/// Bars per series in a [`histogram`].
pub const HISTOGRAM_BINS: usize = 40;

/// Histograms of named series on one axis, each as the share of its values
/// per bin (so series of different sizes compare), with an optional
/// vertical line at `threshold`.
pub fn histogram(title: &str, x_label: &str, series: &[(&str, &[f32])], threshold: Option<f32>) -> Result<Svg> {
    let all: Vec<f32> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .chain(threshold)
        .collect();
    if series.iter().any(|s| s.1.is_empty()) || all.is_empty() {
        return Err(Error::invalid(format!("histogram {title:?}: a series has no values")));
    }
    if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "histogram {title:?}: value {bad} is not finite"
        )));
    }
    let (x0, x1) = bounds(title, all.iter().copied())?;
    let width = (x1 - x0) / HISTOGRAM_BINS as f32;
    let shares: Vec<Vec<f32>> = series
        .iter()
        .map(|(_, vs)| {
            let mut counts = [0f32; HISTOGRAM_BINS];
            for v in vs.iter() {
                counts[(((v - x0) / width) as usize).min(HISTOGRAM_BINS - 1)] += 1.0;
            }
            counts.iter().map(|c| c / vs.len() as f32).collect()
        })
        .collect();
    let y1 = (shares.iter().flatten().copied().fold(0f32, f32::max) * 1.1).max(1e-3);
    axes_chart(title, x_label, "share of the series", (x0..x1, 0f32..y1), |chart| {
        for (i, ((name, _), share)) in series.iter().zip(&shares).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let bars = share.iter().enumerate().map(|(b, &h)| {
                let left = x0 + b as f32 * width;
                Rectangle::new([(left, 0.0), (left + width, h)], color.mix(0.45).filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(0.45).filled()));
        }
        if let Some(t) = threshold {
            chart
                .draw_series(LineSeries::new([(t, 0.0), (t, y1)], BLACK.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("threshold {t:.4}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        }
        Ok(())
    })
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
    let w = weights.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let lo = w.min_keepdim(1)?;
    let range = (w.max_keepdim(1)? - &lo)?.clamp(1e-8f32, f32::MAX)?;
    image_canvas(&w.broadcast_sub(&lo)?.broadcast_div(&range)?, rows, cols)
}

/// The axis range of `values` with a 5 % margin; an error for values whose
/// range is not a finite number (plotters' axis code loops for ever on one).
fn bounds(title: &str, values: impl Iterator<Item = f32>) -> Result<(f32, f32)> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let (a, b) = (lo - pad, hi + pad);
    if !(a.is_finite() && b.is_finite() && (b - a).is_finite()) {
        return Err(Error::invalid(format!(
            "chart {title:?}: values from {lo} to {hi} have no finite range to draw; check them for NaN or overflow"
        )));
    }
    Ok((a, b))
}

/// Colours of the ten classes (a qualitative palette, as matplotlib's tab10).
pub const CLASS_COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// A scatter plot of 2-D points coloured by class, with a legend naming each
/// class.
///
/// # Shapes
/// `points`: `(N, 2)`; `labels`: `(N,)` u32 in `0..class_names.len()`.
pub fn scatter_by_class(title: &str, points: &Tensor, labels: &Tensor, class_names: &[&str]) -> Result<Svg> {
    if points.rank() != 2 || points.dim(1)? != 2 {
        return Err(Error::shape("scatter_by_class: points", "(N, 2)", points.dims()));
    }
    let pts = points.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let labels = labels.to_device(&Device::Cpu)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    if pts.len() != labels.len() {
        return Err(Error::invalid(format!(
            "scatter_by_class: {} points but {} labels",
            pts.len(),
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= class_names.len().min(10)) {
        return Err(Error::invalid(format!(
            "scatter_by_class: label {bad} has no name (names given: {})",
            class_names.len()
        )));
    }
    if pts.is_empty() {
        return Err(Error::invalid("scatter_by_class: no points"));
    }
    let bad = pts.iter().filter(|p| !p[0].is_finite() || !p[1].is_finite()).count();
    if bad > 0 {
        return Err(Error::invalid(format!(
            "scatter_by_class {title:?}: {bad} of {} points are NaN or infinite; they come from a model whose weights are not finite: train it again (a lower learning rate) before plotting its codes",
            pts.len()
        )));
    }
    let (x0, x1) = bounds(title, pts.iter().map(|p| p[0]))?;
    let (y0, y1) = bounds(title, pts.iter().map(|p| p[1]))?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .right_y_label_area_size(0)
            .build_cartesian_2d(x0..x1 + (x1 - x0) * 0.25, y0..y1)
            .map_err(plot_err)?;
        chart.configure_mesh().draw().map_err(plot_err)?;
        for (class, name) in class_names.iter().enumerate().take(10) {
            let (r, g, b) = CLASS_COLORS[class];
            let color = RGBColor(r, g, b);
            let members: Vec<(f32, f32)> = pts
                .iter()
                .zip(&labels)
                .filter(|(_, &l)| l as usize == class)
                .map(|(p, _)| (p[0], p[1]))
                .collect();
            if members.is_empty() {
                continue;
            }
            chart
                .draw_series(members.into_iter().map(|p| Circle::new(p, 2, color.filled())))
                .map_err(plot_err)?
                .label(name.to_string())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Svg(out))
}
