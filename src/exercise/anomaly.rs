//! Exercise 5, anomaly detection: a model of Fashion-MNIST without one class
//! (the anomaly: ankle boots) scores held-out images by their reconstruction
//! error. The check grades the score (ROC AUC on the held-out half of the
//! test set) and a threshold picked on training data only: the student
//! hands in a quantile, and the check takes that quantile of the model's
//! scores on normal training images, so the threshold cannot see a test
//! image.

use super::{mode_note, Report};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::metrics::{detect, per_image_mse, quantile, roc_auc};
use crate::nn::Model;
use crate::train::predict;

/// The anomalous class: ankle boots (class 9).
pub const ANOMALY: u32 = 9;

/// What the check requires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Smallest ROC AUC of the score, anomalies against normal held-out images.
    pub min_auc: f32,
    /// Smallest precision at the threshold.
    pub min_precision: f32,
    /// Smallest recall at the threshold.
    pub min_recall: f32,
}

/// Full runs. Measured (2026-12-02, `calibrate -- anomaly`): the solution's
/// dense model scores ROC AUC 0.799, one trained on every class 0.578; at
/// quantile 0.8 precision 0.249 and recall 0.591, at 0.85 0.274 and 0.503,
/// at 0.9 0.310 and 0.377, at lesson 11's 0.95 0.344 and 0.205.
pub const FULL: Limits = Limits {
    min_auc: 0.75,
    min_precision: 0.24,
    min_recall: 0.45,
};
/// Quick mode (2,000 images, 2 epochs).
pub const QUICK: Limits = Limits {
    min_auc: 0.60,
    min_precision: 0.0,
    min_recall: 0.0,
};

/// The limits that apply now.
pub fn limits() -> Limits {
    super::by_mode(FULL, QUICK)
}

/// Each image's mean squared reconstruction error: the anomaly score.
fn scores(model: &impl Model, images: &candle_core::Tensor) -> Result<Vec<f32>> {
    per_image_mse(&predict(model, images, 256)?, images)
}

/// The model's score on the held-out half of the test set, and the
/// threshold at quantile `q` of its scores on the first 10,000 normal
/// training images.
pub fn check(model: &impl Model, q: f32) -> Result<Report> {
    let data = super::held_out()?;
    check_with(model, q, &data, &limits())
}

/// [`check`] on a given data set (its test split held out) and limits (for tests).
pub fn check_with(model: &impl Model, q: f32, data: &Dataset, limits: &Limits) -> Result<Report> {
    if !(0.5..1.0).contains(&q) {
        return Err(Error::out_of_range(format!(
            "anomaly check: quantile {q}; pick one in [0.5, 1), e.g. 0.95 flags about 5 % of normal images"
        )));
    }
    let normal_classes: Vec<u32> = (0..10).filter(|&c| c != ANOMALY).collect();
    let normal = data.only_classes(&normal_classes)?;
    let anomalies = data.only_classes(&[ANOMALY])?;
    let mut r = Report::default();
    let (s_normal, s_anomaly) = (
        scores(model, &normal.test_images)?,
        scores(model, &anomalies.test_images)?,
    );
    let auc = roc_auc(&s_normal, &s_anomaly)?;
    r.add(
        "the score ranks anomalies above normal images",
        auc >= limits.min_auc,
        format!(
            "ROC AUC {auc:.3} on {} normal held-out images and {} ankle boots",
            s_normal.len(),
            s_anomaly.len()
        ),
        format!("≥ {:.2}{}", limits.min_auc, mode_note()),
        "train on normal images only (every class but the anomaly): a model that has seen the anomaly rebuilds it too",
    );
    let n_fit = normal.train_len().min(10_000);
    let threshold = quantile(&scores(model, &normal.train_images.narrow(0, 0, n_fit)?)?, q)?;
    let found = detect(&s_normal, &s_anomaly, threshold)?;
    r.add(
        "precision at your threshold",
        found.precision >= limits.min_precision,
        format!("{:.3} ({q} quantile of training scores, {found})", found.precision),
        format!("≥ {:.2}{}", limits.min_precision, mode_note()),
        "a higher quantile flags fewer normal images: fewer false alarms, better precision",
    );
    r.add(
        "recall at your threshold",
        found.recall >= limits.min_recall,
        format!("{:.3}", found.recall),
        format!("≥ {:.2}{}", limits.min_recall, mode_note()),
        "a lower quantile catches more anomalies; a model that rebuilds normal images better separates the two",
    );
    r.verdict("exercise 5, anomaly detection")
}
