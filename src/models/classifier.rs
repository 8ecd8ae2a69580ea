//! The reference classifier that judges generated images.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{dense, Model, Pass, Sequential, Summary};
use crate::train::{fit, predict, Loss, TrainConfig};
use candle_core::{Device, Tensor, Var};

/// A small classifier, 784-256-10 (relu, then logits), built like any other
/// model from layers; used to judge generated images objectively.
///
/// # Shapes
/// `(N, 784) -> (N, 10)` logits.
#[derive(Clone)]
pub struct Classifier {
    net: Sequential,
}

impl Classifier {
    /// A fresh classifier with seeded weights.
    pub fn new(seed: u64, dev: &Device) -> Result<Self> {
        let net = Sequential::input(&[784], dev)
            .seed(seed)
            .named("classifier")
            .add(dense(256).relu())?
            .add(dense(10))?;
        Ok(Classifier { net })
    }

    /// A classifier trained on `data` for `epochs` (Adam, cross-entropy);
    /// prints its test accuracy. About 97 % on MNIST after 3 full epochs (97.2 % in the lessons' runs).
    pub fn trained_on(data: &Dataset, epochs: usize, dev: &Device) -> Result<Self> {
        let clf = Classifier::new(7, dev)?;
        let cfg = TrainConfig::default()
            .with_epochs(epochs)
            .with_loss(Loss::CrossEntropy)
            .quiet();
        fit(&clf, &data.train_images, &data.train_labels, None, &cfg)?;
        let acc = clf.accuracy(&data.test_images, &data.test_labels)?;
        println!(
            "reference classifier (784-256-10): {:.1} % of {} test images right",
            100.0 * acc,
            data.test_len()
        );
        Ok(clf)
    }

    /// The predicted class of each image: `(N, 784) -> (N,)` u32.
    pub fn predict_classes(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(predict(self, xs, 1024)?.argmax(1)?)
    }

    /// Share of `xs` classified as one of `classes`, in `[0, 1]`.
    pub fn share_of(&self, xs: &Tensor, classes: &[u32]) -> Result<f32> {
        let pred = self.predict_classes(xs)?.to_vec1::<u32>()?;
        if pred.is_empty() {
            return Err(Error::empty("share_of: no images given"));
        }
        let hits = pred.iter().filter(|p| classes.contains(p)).count();
        Ok(hits as f32 / pred.len() as f32)
    }

    /// Share of `xs` whose predicted class equals `labels`.
    pub fn accuracy(&self, xs: &Tensor, labels: &Tensor) -> Result<f32> {
        let pred = self.predict_classes(xs)?.to_vec1::<u32>()?;
        let labels = labels.to_vec1::<u32>()?;
        if pred.len() != labels.len() || pred.is_empty() {
            return Err(Error::disagree(format!(
                "accuracy: {} images but {} labels; give one label per image",
                pred.len(),
                labels.len()
            )));
        }
        let hits = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
        Ok(hits as f32 / pred.len() as f32)
    }
}

/// The softmax probability from which a reading counts as confident.
pub const CONFIDENT: f32 = 0.9;

/// How the reference classifier reads a set of images (generated ones,
/// usually): how many it reads confidently and how many classes they cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Number of images judged.
    pub images: usize,
    /// Share read as some class with probability ≥ [`CONFIDENT`].
    pub confident: f32,
    /// Confident readings per class.
    pub per_class: [usize; 10],
    /// Classes that appear: at least 1 % of the images (and one image)
    /// confidently read as that class.
    pub classes: usize,
}

impl std::fmt::Display for Judgement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} % of {} images read confidently (p ≥ {CONFIDENT}); {} of 10 classes appear; confident readings per class {:?}",
            100.0 * self.confident,
            self.images,
            self.classes,
            self.per_class
        )
    }
}

impl Classifier {
    /// Reads `xs` and says how many are read confidently as some class and
    /// how many classes appear among them: sharp images read confidently,
    /// diverse ones cover many classes.
    ///
    /// # Shapes
    /// `xs`: `(N, 784)` or `(N, 1, 28, 28)`.
    pub fn judge(&self, xs: &Tensor) -> Result<Judgement> {
        let n = xs.dim(0)?;
        if n == 0 {
            return Err(Error::empty("judge: no images given; decode some codes first"));
        }
        let probs = candle_nn::ops::softmax_last_dim(&predict(self, xs, 1024)?)?;
        let best = probs.max(1)?.to_vec1::<f32>()?;
        let class = probs.argmax(1)?.to_vec1::<u32>()?;
        let mut per_class = [0usize; 10];
        for (p, c) in best.iter().zip(&class) {
            if *p >= CONFIDENT {
                per_class[*c as usize] += 1;
            }
        }
        let need = n.div_ceil(100);
        Ok(Judgement {
            images: n,
            confident: per_class.iter().sum::<usize>() as f32 / n as f32,
            per_class,
            classes: per_class.iter().filter(|&&c| c >= need).count(),
        })
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Classifier(784-256-10, {} parameters)", self.param_count())
    }
}

impl Model for Classifier {
    fn forward_pass(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        self.net.forward_pass(xs, pass)
    }

    fn named_params(&self) -> Vec<(String, Var)> {
        self.net.named_params()
    }

    fn device(&self) -> Device {
        self.net.device()
    }

    fn summary(&self) -> Result<Summary> {
        self.net.summary()
    }
}
