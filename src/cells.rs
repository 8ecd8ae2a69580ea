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
//! The crate keeps ids apart: before it builds a graph ([`Sequential`]'s
//! forward pass, [`Loss`]'s functions, building an optimiser) it moves the
//! current cell's counter past the ids of the tensors it was handed, so every
//! tensor the cell makes from then on is numbered above them. A hand-written
//! loop that builds its graph from variables of an earlier cell gets the same
//! protection by building its optimiser in the loop's cell, or by calling
//! [`keep_ids_apart`] there.
//!
//! Outside evcxr (one copy of candle) ids are unique anyway and this costs a
//! comparison per call.
//!
//! [`Sequential`]: crate::model::Sequential
//! [`Loss`]: crate::loss::Loss

use candle_core::{DType, Device, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The highest id this copy of candle is known to have handed out. One per
/// copy of this crate, that is one per notebook cell under evcxr.
static PASSED: AtomicUsize = AtomicUsize::new(0);

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

/// The id the next tensor made in this cell gets (it makes one to find out).
pub fn next_id() -> usize {
    match Tensor::zeros((), DType::U8, &Device::Cpu) {
        Ok(t) => id_number(&t) + 1,
        Err(_) => 0,
    }
}

/// Makes every tensor created from now on in the calling cell get an id
/// above those of `tensors`, so a graph built from them cannot hold two
/// tensors with one id. Cheap when nothing needs to move: a comparison per
/// tensor. When something does, it costs about 0.1 µs per id skipped
/// (tensors made and dropped).
pub fn keep_ids_apart<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) {
    let highest = tensors.into_iter().map(id_number).max().unwrap_or(0);
    if highest < PASSED.load(Ordering::Relaxed) {
        return;
    }
    let mut seen = 0;
    while seen <= highest {
        let Ok(t) = Tensor::zeros((), DType::U8, &Device::Cpu) else { return };
        seen = id_number(&t);
    }
    PASSED.fetch_max(seen, Ordering::Relaxed);
}
