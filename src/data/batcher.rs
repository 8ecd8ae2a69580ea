//! Mini-batches for hand-written loops, and the two layouts of an image
//! batch: flat `(N, 784)` and `(N, 1, 28, 28)`.

use super::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{Error, Result};
use candle_core::Tensor;

/// The order in which training visits the rows of a data set: `0..n`,
/// shuffled with a generator seeded once at the start of every pass (when
/// `shuffle` is on). [`Batcher`] and `fit` both take their batches from it,
/// so the same seed gives the same batches in both.
pub(crate) struct BatchOrder {
    order: Vec<u32>,
    shuffle: bool,
    rng: rand::rngs::StdRng,
}

impl BatchOrder {
    pub(crate) fn new(n: usize, shuffle: bool, seed: u64) -> Self {
        use rand::SeedableRng;
        BatchOrder {
            order: (0..n as u32).collect(),
            shuffle,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// The order of the next pass over the rows.
    pub(crate) fn next_pass(&mut self) -> &[u32] {
        use rand::seq::SliceRandom;
        if self.shuffle {
            self.order.shuffle(&mut self.rng);
        }
        &self.order
    }

    /// Skips `passes` passes (a training resumed after that many epochs).
    pub(crate) fn skip(&mut self, passes: usize) {
        for _ in 0..passes {
            self.next_pass();
        }
    }
}

/// The `(from, len)` of each batch of `batch_size` rows in a pass over `n`
/// rows; the last one may be smaller.
pub(crate) fn batch_spans(n: usize, batch_size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(batch_size.max(1))
        .map(move |from| (from, batch_size.min(n - from)))
}

/// Endless shuffled mini-batches of rows, reshuffled after each pass (as
/// `tf.data`'s `repeat().shuffle().batch()`), for hand-written loops.
///
/// # Shapes
/// `xs`: `(N, …)`; each batch `(batch_size, …)` (the last of a pass may be
/// smaller).
pub struct Batcher {
    xs: Tensor,
    batch_size: usize,
    order: BatchOrder,
    pass: Vec<u32>,
    pos: usize,
}

impl Batcher {
    /// Batches of `batch_size` rows of `xs`, shuffled with `seed`.
    pub fn new(xs: &Tensor, batch_size: usize, seed: u64) -> Result<Self> {
        let n = xs.dim(0)?;
        if batch_size == 0 || n == 0 {
            return Err(Error::out_of_range(format!(
                "Batcher: batch_size {batch_size} and the {n} rows must both be at least 1"
            )));
        }
        Ok(Batcher {
            xs: xs.clone(),
            batch_size,
            order: BatchOrder::new(n, true, seed),
            pass: Vec::new(),
            pos: 0,
        })
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Tensor> {
        if self.pos >= self.pass.len() {
            self.pass = self.order.next_pass().to_vec();
            self.pos = 0;
        }
        let len = self.batch_size.min(self.pass.len() - self.pos);
        let idx = Tensor::from_slice(&self.pass[self.pos..self.pos + len], len, self.xs.device())?;
        self.pos += len;
        Ok(self.xs.index_select(&idx, 0)?)
    }
}

/// Reshapes flat images `(N, 784)` to `(N, 1, 28, 28)` for convolutional
/// models; images already in that layout pass through.
pub fn images_2d(xs: &Tensor) -> Result<Tensor> {
    match xs.dims() {
        [n, p] if *p == IMAGE_PIXELS => Ok(xs.reshape((*n, 1, IMAGE_SIDE, IMAGE_SIDE))?),
        [_, 1, h, w] if *h == IMAGE_SIDE && *w == IMAGE_SIDE => Ok(xs.clone()),
        d => Err(Error::shape("images_2d", "(N, 784) or (N, 1, 28, 28)", d)),
    }
}

/// Flattens `(N, 1, 28, 28)` (or any `(N, …)`) images to `(N, 784)`.
pub fn images_flat(xs: &Tensor) -> Result<Tensor> {
    let n = xs.dim(0)?;
    let per: usize = xs.dims()[1..].iter().product();
    if per != IMAGE_PIXELS {
        return Err(Error::shape("images_flat", "(N, 784) pixels per image", xs.dims()));
    }
    Ok(xs.reshape((n, IMAGE_PIXELS))?)
}
