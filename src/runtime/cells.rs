//! Notebook cells and candle's tensor ids.
//!
//! evcxr compiles every cell into its own shared library, and links a copy of
//! every dependency into each one, candle included. candle numbers tensors
//! with a counter that is a `static`, so each cell has its own counter and
//! starts again at 1 (`Tensor::id()` prints `TensorId(1)` for the first
//! tensor of every cell). A variable made in one cell can then carry the same
//! id as a tensor the next cell makes, and candle's backward pass, which keys
//! gradients by id, mixes the two: "shape mismatch in add", or, when the
//! shapes happen to agree, silently wrong gradients.
//!
//! The crate keeps ids apart: before it builds a graph (`nn::Sequential`'s
//! forward pass, `train::Loss`'s functions, building an optimiser) it moves the
//! current cell's counter past the ids of the tensors it was handed, so every
//! tensor the cell makes from then on is numbered above them. A hand-written
//! loop that builds its graph from variables of an earlier cell gets the same
//! protection by building its optimiser in the loop's cell, or by calling
//! [`keep_ids_apart`] on the variables at the top of the cell. An optimiser
//! built in an earlier cell refuses to step on a graph of a later cell that
//! did neither (the error says so), rather than apply mixed-up gradients.
//!
//! Outside evcxr (one copy of candle) ids are unique anyway and this costs a
//! comparison per call.
//!

use candle_core::{DType, Device, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The highest id this copy of candle is known to have handed out. One per
/// copy of this crate, that is one per notebook cell under evcxr.
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// Ids below this were handed to [`keep_ids_apart`] in this copy: tensors
/// made after that call are numbered above them.
static KEPT_BELOW: AtomicUsize = AtomicUsize::new(0);

/// The number inside a tensor's id (`TensorId` keeps it private; its `Debug`
/// form is `TensorId(n)`).
pub fn id_number(t: &Tensor) -> usize {
    struct Digits(usize);
    impl std::fmt::Write for Digits {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes().filter(u8::is_ascii_digit) {
                self.0 = self.0.wrapping_mul(10).wrapping_add((b - b'0') as usize);
            }
            Ok(())
        }
    }
    let mut d = Digits(0);
    let _ = std::fmt::write(&mut d, format_args!("{:?}", t.id()));
    d.0
}

/// A fresh tensor's id: makes (and drops) the smallest tensor there is.
fn new_id() -> Option<usize> {
    Tensor::zeros((), DType::U8, &Device::Cpu).ok().map(|t| id_number(&t))
}

/// The id the next tensor made in this cell gets (it makes one to find out).
pub fn next_id() -> usize {
    new_id().map_or(0, |id| id + 1)
}

/// The highest id among `tensors` (0 for none).
pub fn highest_id<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> usize {
    tensors.into_iter().map(id_number).max().unwrap_or(0)
}

/// Makes every tensor created from now on in the calling cell get an id
/// above those of `tensors`, so a graph built from them cannot hold two
/// tensors with one id. Cheap when nothing needs to move: a comparison per
/// tensor. When something does, it costs about 0.2 µs per id skipped
/// (tensors made and dropped).
///
/// Call it at the top of a cell, before any tensor is made from `tensors`:
/// tensors made before the call keep their ids.
pub fn keep_ids_apart<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) {
    keep_above(highest_id(tensors));
}

/// [`keep_ids_apart`] for tensors whose highest id is `highest`.
pub(crate) fn keep_above(highest: usize) {
    move_above(highest);
    KEPT_BELOW.fetch_max(highest + 1, Ordering::Relaxed);
}

/// Whether [`keep_ids_apart`] has been called in this cell on tensors with
/// ids up to `id`.
pub fn kept_apart(id: usize) -> bool {
    KEPT_BELOW.load(Ordering::Relaxed) > id
}

/// An address that differs between copies of this crate, that is between
/// notebook cells under evcxr (and never changes outside evcxr).
pub fn copy_key() -> usize {
    &PASSED as *const AtomicUsize as usize
}

/// [`keep_ids_apart`] for tensors that may already be part of a graph (a
/// loss's prediction): moves the counter but does not count as the call at
/// the top of the cell.
pub(crate) fn move_past<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) {
    move_above(highest_id(tensors));
}

/// Moves this copy's counter above `highest`.
fn move_above(highest: usize) {
    if highest < PASSED.load(Ordering::Relaxed) {
        return;
    }
    let mut seen = 0;
    while seen <= highest {
        let Some(id) = new_id() else { return };
        seen = id;
    }
    PASSED.fetch_max(seen, Ordering::Relaxed);
}
