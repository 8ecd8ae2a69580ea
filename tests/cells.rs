//! Tensor ids across notebook cells (src/cells.rs). The cross-cell case
//! itself needs evcxr: `tests/fixtures/cross_cell_training.ipynb`, run by the
//! notebook runner, builds a model in one cell and trains it in the next.

use autoencoders::runtime::cells::{id_number, keep_ids_apart, next_id};
use candle_core::{DType, Device, Tensor};

#[test]
fn id_number_reads_candle_ids() {
    let a = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    assert!(id_number(&a) > 0);
    assert!(id_number(&b) > id_number(&a), "ids are handed out in increasing order");
    assert_eq!(format!("{:?}", a.id()), format!("TensorId({})", id_number(&a)));
}

#[test]
fn keep_ids_apart_moves_forward_only_when_needed() {
    let t = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    keep_ids_apart([&t]);
    let before = next_id();
    keep_ids_apart([&t]);
    let after = next_id();
    // next_id itself makes one tensor; another thread may add a few.
    assert!(
        after - before < 50,
        "an id already passed moved the counter by {}",
        after - before
    );
}
