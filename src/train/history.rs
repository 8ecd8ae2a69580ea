//! What [`super::fit`] measured, epoch by epoch.

use crate::error::Result;
use crate::viz::{line_chart, Chart};
use serde::{Deserialize, Deserializer, Serialize};

/// What [`super::fit`] measured, epoch by epoch. Saved as JSON with
/// checkpoints and beside the shipped weights (non-finite values as `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Mean training loss of each epoch (over its batches, weighted by size),
    /// extra terms included, as Keras reports it.
    #[serde(deserialize_with = "floats")]
    pub loss: Vec<f32>,
    /// Validation loss after each epoch, extra terms included (empty without
    /// validation data).
    #[serde(deserialize_with = "floats")]
    pub val_loss: Vec<f32>,
    /// The extra loss terms the model's layers added (a VAE's `kl`, a sparse
    /// autoencoder's `l1_activity`), each with its mean per epoch.
    #[serde(deserialize_with = "named_floats")]
    pub terms: Vec<(String, Vec<f32>)>,
    /// Wall-clock seconds of each epoch (training and validation).
    #[serde(deserialize_with = "floats")]
    pub seconds: Vec<f32>,
    /// The loss function's Keras name.
    pub loss_name: String,
    /// Why and where training stopped before its last epoch (a time budget
    /// used up, the stop button); `None` when every epoch ran. The last
    /// epoch's figures then cover the batches it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Numbers where JSON has `null` for NaN (serde_json writes non-finite
/// values so).
fn floats<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f32>, D::Error> {
    let v: Vec<Option<f32>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect())
}

fn named_floats<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<(String, Vec<f32>)>, D::Error> {
    let v: Vec<(String, Vec<Option<f32>>)> = Deserialize::deserialize(d)?;
    Ok(v.into_iter()
        .map(|(name, xs)| (name, xs.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect()))
        .collect())
}

impl History {
    /// The last validation loss, if there was validation data.
    pub fn last_val_loss(&self) -> Option<f32> {
        self.val_loss.last().copied()
    }

    /// The last training loss.
    pub fn last_loss(&self) -> Option<f32> {
        self.loss.last().copied()
    }

    /// The per-epoch means of the extra loss term `name`, if a layer added it.
    pub fn term(&self, name: &str) -> Option<Vec<f32>> {
        self.terms.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    /// Median seconds per epoch.
    pub fn median_epoch_seconds(&self) -> Option<f32> {
        let mut s = self.seconds.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_by(|a, b| a.total_cmp(b));
        Some(s[s.len() / 2])
    }

    /// Loss curves (training, validation and any extra terms) as an SVG chart.
    pub fn plot(&self) -> Result<Chart> {
        let mut series: Vec<(&str, &[f32])> = vec![("loss", &self.loss)];
        if !self.val_loss.is_empty() {
            series.push(("val_loss", &self.val_loss));
        }
        for (name, values) in &self.terms {
            series.push((name, values));
        }
        let y = if self.loss_name.is_empty() {
            "loss"
        } else {
            &self.loss_name
        };
        line_chart("Loss per epoch", "epoch", y, &series)
    }

    /// Shows the loss curves in a notebook.
    pub fn evcxr_display(&self) {
        match self.plot() {
            Ok(svg) => svg.evcxr_display(),
            Err(e) => eprintln!("{e}"),
        }
    }
}
