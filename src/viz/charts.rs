//! Charts: lines, histograms and class scatter plots. Each chart is a
//! [`Figure`] drawn by one piece of plotters code on two backends, SVG and
//! bitmap, with the bundled DejaVu Sans font (`fonts/`) so that the PNG
//! has the same text on any machine.

use super::{Chart, Png};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use plotters::coord::types::RangedCoordf32;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// DejaVu Sans (its licence is `fonts/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// Registers the bundled font as plotters' "sans-serif", once per copy of
/// the crate.
pub(super) fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "the bundled font is not a font".to_string())
    })
    .clone()
    .map_err(|e| Error::plot("the bundled font", std::io::Error::other(e)))
}

/// A plotters failure while drawing a chart. Its error type borrows the
/// backend's, which need not be `'static`, so the source is kept as text.
fn plot_err<E: std::error::Error>(e: E) -> Error {
    Error::plot("a chart", std::io::Error::other(e.to_string()))
}

/// What a chart draws, on any backend.
trait Figure {
    /// Pixels of the chart (width, height).
    const SIZE: (u32, u32) = (640, 360);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// The figure as SVG and as PNG.
fn render<F: Figure>(figure: &F) -> Result<Chart> {
    register_font()?;
    let (w, h) = F::SIZE;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Chart {
        svg,
        png: Png::encode(&rgb, w as usize, h as usize, png::ColorType::Rgb)?,
    })
}

type Axes<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

/// A caption and labelled axes over `x` × `y`.
fn axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    (x, y): (Range<f32>, Range<f32>),
) -> Result<Axes<'a, DB>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// The legend of every labelled series, in the chart's upper right.
fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Axes<'a, DB>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
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
        return Err(Error::not_finite(format!(
            "chart {title:?}: values from {lo} to {hi} have no finite range to draw; check them for NaN or overflow"
        )));
    }
    Ok((a, b))
}

/// Line chart of named series against 1, 2, 3, …
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[(&str, &[f32])]) -> Result<Chart> {
    let x_values: Vec<f32> = (1..=series.iter().map(|s| s.1.len()).max().unwrap_or(0))
        .map(|i| i as f32)
        .collect();
    let with_x: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(name, ys)| (*name, x_values.iter().copied().zip(ys.iter().copied()).collect()))
        .collect();
    xy_chart(title, x_label, y_label, &with_x)
}

/// Series longer than this are drawn as lines without point markers.
const MARKERS_UP_TO: usize = 200;

struct Lines<'s> {
    title: &'s str,
    labels: (&'s str, &'s str),
    ranges: (Range<f32>, Range<f32>),
    series: &'s [(&'s str, Vec<(f32, f32)>)],
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let mut chart = axes(root, self.title, self.labels, self.ranges.clone())?;
        for (i, (name, s)) in self.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            // Markers only where they can be told apart (a ROC curve has thousands of points).
            if s.len() <= MARKERS_UP_TO {
                chart
                    .draw_series(s.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(plot_err)?;
            }
        }
        legend(&mut chart)
    }
}

/// Line chart of named `(x, y)` series.
pub fn xy_chart(title: &str, x_label: &str, y_label: &str, series: &[(&str, Vec<(f32, f32)>)]) -> Result<Chart> {
    let pts: Vec<(f32, f32)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    if pts.is_empty() {
        return Err(Error::empty(format!("chart {title:?}: no values to plot")));
    }
    if let Some(bad) = pts.iter().find(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return Err(Error::not_finite(format!(
            "chart {title:?}: value {bad:?} is not finite"
        )));
    }
    let (x0, x1) = bounds(title, pts.iter().map(|p| p.0))?;
    let (y0, y1) = bounds(title, pts.iter().map(|p| p.1))?;
    render(&Lines {
        title,
        labels: (x_label, y_label),
        ranges: (x0..x1, y0..y1),
        series,
    })
}

/// Bars per series in a [`histogram`].
pub const HISTOGRAM_BINS: usize = 40;

struct Bars<'s> {
    title: &'s str,
    x_label: &'s str,
    names: Vec<&'s str>,
    shares: Vec<[f32; HISTOGRAM_BINS]>,
    x: Range<f32>,
    /// Left edge of the first bin, and the bins' width.
    bins: (f32, f32),
    top: f32,
    threshold: Option<f32>,
}

impl Figure for Bars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let labels = (self.x_label, "share of the series");
        let mut chart = axes(root, self.title, labels, (self.x.clone(), 0f32..self.top))?;
        let (start, width) = self.bins;
        for (i, (name, share)) in self.names.iter().zip(&self.shares).enumerate() {
            let color = Palette99::pick(i).to_rgba().mix(0.45);
            let bars = share.iter().enumerate().map(|(b, &h)| {
                let left = start + b as f32 * width;
                Rectangle::new([(left, 0.0), (left + width, h)], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        if let Some(t) = self.threshold {
            chart
                .draw_series(LineSeries::new([(t, 0.0), (t, self.top)], BLACK.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("threshold {t:.4}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        }
        legend(&mut chart)
    }
}

/// Histograms of named series on one axis, each as the share of its values
/// per bin (so series of different sizes compare), with an optional
/// vertical line at `threshold`.
pub fn histogram(title: &str, x_label: &str, series: &[(&str, &[f32])], threshold: Option<f32>) -> Result<Chart> {
    let all: Vec<f32> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .chain(threshold)
        .collect();
    if series.iter().any(|s| s.1.is_empty()) || all.is_empty() {
        return Err(Error::empty(format!("histogram {title:?}: a series has no values")));
    }
    if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
        return Err(Error::not_finite(format!(
            "histogram {title:?}: value {bad} is not finite"
        )));
    }
    // The bins span the values exactly (no bar reaches below the smallest
    // value, say below an MSE of 0); the axis adds a margin around them.
    let (lo, hi) = all
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let width = ((hi - lo) / HISTOGRAM_BINS as f32).max(1e-6);
    let (x0, x1) = bounds(title, [lo, lo + width * HISTOGRAM_BINS as f32].into_iter())?;
    let shares: Vec<[f32; HISTOGRAM_BINS]> = series
        .iter()
        .map(|(_, vs)| {
            let mut share = [0f32; HISTOGRAM_BINS];
            for v in vs.iter() {
                share[(((v - lo) / width) as usize).min(HISTOGRAM_BINS - 1)] += 1.0 / vs.len() as f32;
            }
            share
        })
        .collect();
    let top = (shares.iter().flatten().copied().fold(0f32, f32::max) * 1.1).max(1e-3);
    render(&Bars {
        title,
        x_label,
        names: series.iter().map(|s| s.0).collect(),
        shares,
        x: x0..x1,
        bins: (lo, width),
        top,
        threshold,
    })
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

struct Scatter<'s> {
    title: &'s str,
    points: Vec<Vec<f32>>,
    labels: Vec<u32>,
    class_names: &'s [&'s str],
    ranges: (Range<f32>, Range<f32>),
}

impl Figure for Scatter<'_> {
    const SIZE: (u32, u32) = (640, 480);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (x, y) = self.ranges.clone();
        // Room on the right for the legend.
        let x = x.start..x.end + (x.end - x.start) * 0.25;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(x, y)
            .map_err(plot_err)?;
        chart.configure_mesh().draw().map_err(plot_err)?;
        for (class, name) in self.class_names.iter().enumerate().take(10) {
            let (r, g, b) = CLASS_COLORS[class];
            let color = RGBColor(r, g, b);
            let members: Vec<(f32, f32)> = self
                .points
                .iter()
                .zip(&self.labels)
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
        legend(&mut chart)
    }
}

/// A scatter plot of 2-D points coloured by class, with a legend naming each
/// class.
///
/// # Shapes
/// `points`: `(N, 2)`; `labels`: `(N,)` u32 in `0..class_names.len()`.
pub fn scatter_by_class(title: &str, points: &Tensor, labels: &Tensor, class_names: &[&str]) -> Result<Chart> {
    if points.rank() != 2 || points.dim(1)? != 2 {
        return Err(Error::shape("scatter_by_class: points", "(N, 2)", points.dims()));
    }
    let pts = points.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let labels = labels.to_device(&Device::Cpu)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    if pts.len() != labels.len() {
        return Err(Error::disagree(format!(
            "scatter_by_class: {} points but {} labels",
            pts.len(),
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= class_names.len().min(10)) {
        return Err(Error::out_of_range(format!(
            "scatter_by_class: label {bad} has no name (names given: {})",
            class_names.len()
        )));
    }
    if pts.is_empty() {
        return Err(Error::empty("scatter_by_class: no points"));
    }
    let bad = pts.iter().filter(|p| !p[0].is_finite() || !p[1].is_finite()).count();
    if bad > 0 {
        return Err(Error::not_finite(format!(
            "scatter_by_class {title:?}: {bad} of {} points are NaN or infinite; they come from a model whose weights are not finite: train it again (a lower learning rate) before plotting its codes",
            pts.len()
        )));
    }
    let (x0, x1) = bounds(title, pts.iter().map(|p| p[0]))?;
    let (y0, y1) = bounds(title, pts.iter().map(|p| p[1]))?;
    render(&Scatter {
        title,
        points: pts,
        labels,
        class_names,
        ranges: (x0..x1, y0..y1),
    })
}
