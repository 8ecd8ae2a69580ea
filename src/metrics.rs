//! Scoring images by how badly a model reconstructs them, and judging the
//! scores: ROC curve and AUC, precision and recall at a threshold.
//!
//! Introduced in `notebooks/11_anomaly_detection.ipynb`.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// The mean squared error of each image against its reconstruction: the
/// anomaly score of lesson 11.
///
/// # Shapes
/// `recon`, `originals`: `(N, …)`, the same shape -> `N` scores.
pub fn per_image_mse(recon: &Tensor, originals: &Tensor) -> Result<Vec<f32>> {
    if recon.dims() != originals.dims() || recon.rank() == 0 {
        return Err(Error::disagree(format!(
            "per_image_mse: reconstructions {:?} and originals {:?} differ in shape; pass the model's output for exactly these images (predict(&model, &images, 256))",
            recon.dims(),
            originals.dims()
        )));
    }
    let diff = (recon.to_dtype(DType::F32)? - originals.to_dtype(DType::F32)?)?;
    let per = diff.sqr()?.flatten_from(1)?.mean(1)?;
    Ok(per.to_device(&Device::Cpu)?.to_vec1::<f32>()?)
}

/// Checks a score list is non-empty and finite.
fn check_scores(what: &str, scores: &[f32]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::empty(format!("{what}: no scores given")));
    }
    if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
        return Err(Error::not_finite(format!(
            "{what}: score {bad} is not finite; it comes from a model whose weights are not finite: train it again with a lower learning rate"
        )));
    }
    Ok(())
}

/// Both score lists in one, each score marked `true` when anomalous, from
/// the lowest score up.
fn pooled(normal: &[f32], anomalous: &[f32]) -> Vec<(f32, bool)> {
    let mut all: Vec<(f32, bool)> = normal
        .iter()
        .map(|&s| (s, false))
        .chain(anomalous.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all
}

/// The area under the ROC curve: the probability that a random anomalous
/// image scores higher than a random normal one (ties count a half). 1.0
/// separates them perfectly, 0.5 is a coin toss.
pub fn roc_auc(normal: &[f32], anomalous: &[f32]) -> Result<f32> {
    check_scores("roc_auc: normal", normal)?;
    check_scores("roc_auc: anomalous", anomalous)?;
    // Mann-Whitney U from ranks of the pooled scores, ties ranked by their mean.
    let all = pooled(normal, anomalous);
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (n_a, n_n) = (anomalous.len() as f64, normal.len() as f64);
    Ok(((rank_sum - n_a * (n_a + 1.0) / 2.0) / (n_a * n_n)) as f32)
}

/// The ROC curve: `(false positive rate, true positive rate)` as the
/// threshold falls from above every score to below every score.
pub fn roc_curve(normal: &[f32], anomalous: &[f32]) -> Result<Vec<(f32, f32)>> {
    check_scores("roc_curve: normal", normal)?;
    check_scores("roc_curve: anomalous", anomalous)?;
    let mut all = pooled(normal, anomalous);
    all.reverse();
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut curve = vec![(0.0, 0.0)];
    for (k, &(s, is_anomaly)) in all.iter().enumerate() {
        if is_anomaly {
            tp += 1;
        } else {
            fp += 1;
        }
        if all.get(k + 1).is_none_or(|next| next.0 != s) {
            curve.push((fp as f32 / normal.len() as f32, tp as f32 / anomalous.len() as f32));
        }
    }
    Ok(curve)
}

/// The value below which a share `q` of `values` lies (linear interpolation
/// between the sorted values); `q` in `[0, 1]`.
pub fn quantile(values: &[f32], q: f32) -> Result<f32> {
    check_scores("quantile", values)?;
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::out_of_range(format!(
            "quantile: q = {q} is outside [0, 1]; 0.95 means the value 95 % of the scores lie below"
        )));
    }
    let mut v = values.to_vec();
    v.sort_by(f32::total_cmp);
    let pos = q * (v.len() - 1) as f32;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Ok(v[lo] + (v[hi] - v[lo]) * (pos - lo as f32))
}

/// What flagging every score above a threshold finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub threshold: f32,
    /// Anomalies flagged.
    pub true_positives: usize,
    /// Normal images flagged.
    pub false_positives: usize,
    /// Anomalies missed.
    pub false_negatives: usize,
    /// Share of the flagged images that are anomalies (1.0 when none is flagged).
    pub precision: f32,
    /// Share of the anomalies that are flagged.
    pub recall: f32,
}

/// Flags every score above `threshold` as an anomaly and counts what that
/// finds among `normal` and `anomalous` scores.
pub fn detect(normal: &[f32], anomalous: &[f32], threshold: f32) -> Result<Detection> {
    check_scores("detect: normal", normal)?;
    check_scores("detect: anomalous", anomalous)?;
    if !threshold.is_finite() {
        return Err(Error::not_finite(format!(
            "detect: threshold {threshold} is not finite; take one from the normal scores, e.g. quantile(&scores, 0.95)"
        )));
    }
    let tp = anomalous.iter().filter(|&&s| s > threshold).count();
    let fp = normal.iter().filter(|&&s| s > threshold).count();
    let fn_ = anomalous.len() - tp;
    Ok(Detection {
        threshold,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision: if tp + fp == 0 {
            1.0
        } else {
            tp as f32 / (tp + fp) as f32
        },
        recall: tp as f32 / anomalous.len() as f32,
    })
}

impl std::fmt::Display for Detection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "threshold {:.5}: precision {:.3}, recall {:.3} ({} anomalies found, {} missed, {} normal images flagged)",
            self.threshold,
            self.precision,
            self.recall,
            self.true_positives,
            self.false_negatives,
            self.false_positives
        )
    }
}
