//! Figures for notebooks: pixels as PNG ([`Png`], one encoded image per
//! grid, `grids.rs`) and charts drawn with plotters (`charts.rs`), each a
//! [`Chart`]: an SVG for live sessions and its PNG rendering in the same
//! output, for viewers that do not show SVG (an untrusted notebook in
//! Jupyter, GitHub, nbviewer, VS Code). Both show inline in Jupyter through
//! their `evcxr_display` method and can be saved to a file.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

mod charts;
mod grids;

pub use charts::{histogram, line_chart, scatter_by_class, xy_chart, CLASS_COLORS, HISTOGRAM_BINS};
pub use grids::{denoising_grid, feature_grid, image_canvas, image_rows, reconstruction_grid};

use crate::error::{Error, Result};
use crate::io::write_atomic;
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
    /// Encodes 8-bit pixels, one byte per pixel (`Grayscale`) or three
    /// (`Rgb`), row by row.
    fn encode(pixels: &[u8], width: usize, height: usize, color: png::ColorType) -> Result<Png> {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
            enc.set_color(color);
            enc.set_depth(png::BitDepth::Eight);
            // Charts are mostly flat colour: the best compression with
            // per-row filters makes them several times smaller.
            enc.set_compression(png::Compression::Best);
            enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
            let mut w = enc.write_header().map_err(|e| Error::plot("a PNG header", e))?;
            w.write_image_data(pixels).map_err(|e| Error::plot("PNG pixels", e))?;
        }
        Ok(Png {
            bytes,
            width: width as u32,
            height: height as u32,
        })
    }

    /// Shows the image in a notebook.
    pub fn evcxr_display(&self) {
        evcxr_runtime::mime_type("image/png").bytes(&self.bytes);
    }

    /// Writes the PNG to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path, &self.bytes)
    }
}

/// A chart, drawn twice by the same code: as SVG (`svg`, sharp at any size)
/// and as PNG (`png`, shown where SVG is not).
#[derive(Clone)]
pub struct Chart {
    pub svg: String,
    pub png: Png,
}

impl std::fmt::Debug for Chart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chart(SVG {} bytes, {:?})", self.svg.len(), self.png)
    }
}

impl Chart {
    /// Shows the chart in a notebook: one output holding the SVG and the
    /// PNG; Jupyter shows the SVG where it trusts the notebook, the PNG
    /// elsewhere.
    pub fn evcxr_display(&self) {
        evcxr_runtime::mime_type("image/svg+xml").text(&self.svg);
        evcxr_runtime::mime_type("image/png").bytes(&self.png.bytes);
    }

    /// Writes the chart to `path` (atomically): SVG for a `.svg` name, PNG
    /// for a `.png` one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => write_atomic(path, self.svg.as_bytes()),
            Some("png") => self.png.save(path),
            _ => Err(Error::invalid(format!(
                "Chart::save({}): name the file .svg (the vector chart) or .png (its pixels)",
                path.display()
            ))),
        }
    }
}
