//! Mini-batches for hand-written loops, and the two layouts of an image
//! batch: flat `(N, 784)` and `(N, 1, 28, 28)`.

use super::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{Error, Result};
use candle_core::Tensor;

/// Endless shuffled mini-batches of rows, reshuffled after each pass (as
/// `tf.data`'s `repeat().shuffle().batch()`), for hand-written loops.
///
/// # Shapes
/// `xs`: `(N, …)`; each batch `(batch_size, …)` (the last of a pass may be
/// smaller).
pub struct Batcher {
    xs: Tensor,
    batch_size: usize,
    order: Vec<u32>,
    pos: usize,
    rng: rand::rngs::StdRng,
}

impl Batcher {
    /// Batches of `batch_size` rows of `xs`, shuffled with `seed`.
    pub fn new(xs: &Tensor, batch_size: usize, seed: u64) -> Result<Self> {
        use rand::SeedableRng;
        let n = xs.dim(0)?;
        if batch_size == 0 || n == 0 {
            return Err(Error::invalid(format!(
                "Batcher: batch_size {batch_size} and the {n} rows must both be at least 1"
            )));
        }
        let mut b = Batcher {
            xs: xs.clone(),
            batch_size,
            order: (0..n as u32).collect(),
            pos: n,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        };
        b.pos = b.order.len();
        Ok(b)
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Tensor> {
        use rand::seq::SliceRandom;
        if self.pos >= self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
        }
        let len = self.batch_size.min(self.order.len() - self.pos);
        let idx = Tensor::from_slice(&self.order[self.pos..self.pos + len], len, self.xs.device())?;
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
