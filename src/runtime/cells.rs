//! Notebook cells and candle's tensor ids: the one seam of the workaround.
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
//! The crate enters every graph it builds through [`enter_graph`]: a model's
//! forward pass (with its weights), a loss (with the prediction and target),
//! an optimiser being built (with its variables). It moves the current cell's
//! counter past the ids of the tensors handed in, so every tensor the cell
//! makes from then on is numbered above them. An optimiser remembers where
//! it was built ([`OptimizerCell`]) and refuses to step on a graph of a
//! later cell that entered no graph with its variables (the error names the
//! fix: build it in the loop's cell, or call [`keep_ids_apart`] first).
//!
//! Outside evcxr (one copy of candle) ids are unique anyway and this costs a
//! comparison per call. `AUTOENCODERS_CELL_IDS=off` switches it off, to show
//! what it prevents (the notebook runner's self-test does).
//!
//! What it relies on in candle, pinned by `tests/cells.rs`: ids come from one
//! counter per copy of candle that grows by one per tensor, and `TensorId`'s
//! `Debug` form is `TensorId(n)`.

use candle_core::{DType, Device, Tensor, Var};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The highest id this copy of candle is known to have handed out. One per
/// copy of this crate, that is one per notebook cell under evcxr.
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// Ids below this belong to weights a graph of this copy was entered with:
/// tensors made after that are numbered above them.
static KEPT_BELOW: AtomicUsize = AtomicUsize::new(0);

fn switched_on() -> bool {
    super::settings().keep_ids_apart
}

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

/// Where the crate starts building a graph: moves this copy's id counter
/// past the ids of `weights` (a model's weights, an optimiser's variables)
/// and `others` (inputs, targets, predictions), so that no tensor made from
/// now on shares an id with them. About 0.2 µs per id skipped when the
/// counter moves, a comparison when it does not.
pub fn enter_graph<'a>(weights: impl IntoIterator<Item = &'a Tensor>, others: impl IntoIterator<Item = &'a Tensor>) {
    if !switched_on() {
        return;
    }
    let w = highest_id(weights);
    let highest = w.max(highest_id(others));
    if highest >= PASSED.load(Ordering::Relaxed) {
        let mut seen = 0;
        while seen <= highest {
            let Some(id) = new_id() else { return };
            seen = id;
        }
        PASSED.fetch_max(seen, Ordering::Relaxed);
    }
    KEPT_BELOW.fetch_max(w + 1, Ordering::Relaxed);
}

/// For a hand-written loop on variables and an optimiser made in earlier
/// cells: call it at the top of the loop's cell, before any tensor is made
/// from `tensors` (tensors made before the call keep their ids).
pub fn keep_ids_apart<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) {
    enter_graph(tensors, []);
}

/// Where an optimiser was built, to refuse a step that could mix up
/// gradients (see the module's docs).
#[derive(Debug, Clone, Copy)]
pub struct OptimizerCell {
    highest_id: usize,
    copy: usize,
}

impl OptimizerCell {
    /// Enters a graph with `vars` and remembers this cell.
    pub fn new(vars: &[Var]) -> Self {
        let highest_id = highest_id(vars.iter().map(|v| v.as_tensor()));
        enter_graph(vars.iter().map(|v| v.as_tensor()), []);
        OptimizerCell {
            highest_id,
            copy: copy_key(),
        }
    }

    /// True when a step is safe: in the cell that built the optimiser, or in
    /// a cell that entered a graph with its variables (or with the
    /// workaround switched off).
    pub fn safe_to_step(&self) -> bool {
        !switched_on() || copy_key() == self.copy || KEPT_BELOW.load(Ordering::Relaxed) > self.highest_id
    }
}

/// An address that differs between copies of this crate, that is between
/// notebook cells under evcxr (and never changes outside evcxr).
fn copy_key() -> usize {
    &PASSED as *const AtomicUsize as usize
}
