//! What the per-cell id workaround (`runtime::cells`) relies on in candle,
//! pinned so that a change in candle fails here rather than in a notebook.
//! The cross-cell case itself needs evcxr: the notebook runner's self-test
//! trains weights made in an earlier cell (`cross_cell_training.ipynb`) and
//! requires that notebook to fail with the workaround switched off
//! (`AUTOENCODERS_CELL_IDS=off`).

use autoencoders::runtime::cells::{enter_graph, id_number, next_id};
use autoencoders::runtime::Settings;
use candle_core::{DType, Device, Tensor, Var};

/// One test, so that no other thread of this binary makes tensors while it
/// counts ids.
#[test]
fn candle_numbers_tensors_with_one_counter_and_the_seam_moves_past_them() {
    let zeros = || Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    // `TensorId`'s Debug form is `TensorId(n)`: the only way to read it.
    let a = zeros();
    assert_eq!(format!("{:?}", a.id()), format!("TensorId({})", id_number(&a)));
    // One counter, one step per tensor made: ten tensors, ten consecutive ids.
    let ids: Vec<usize> = (0..10).map(|_| id_number(&zeros())).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "candle's tensor ids are not consecutive: {ids:?}"
    );
    // next_id tells the next one without taking two.
    let predicted = next_id();
    assert_eq!(
        id_number(&zeros()),
        predicted,
        "next_id names the id the next tensor gets"
    );
    // Gradients are keyed by id: a variable's gradient is found by its id.
    let v = Var::from_tensor(&zeros()).unwrap();
    let g = (v.as_tensor() * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get_id(v.id()).unwrap().to_vec1::<f32>().unwrap(), vec![3.0, 3.0]);
    // The seam moves the counter past the ids it is shown and no further:
    // with those ids already behind the counter it makes at most one probe
    // tensor, and none once it has seen the counter pass them.
    let before = next_id();
    enter_graph([&a], [&v.as_tensor().clone()]);
    let after = next_id();
    assert!(
        after <= before + 2,
        "entering a graph of old tensors moved the counter from {before} to {after}"
    );
    enter_graph([&a], [&v.as_tensor().clone()]);
    assert_eq!(next_id(), after + 1, "entering the same graph again moved the counter");
}

#[test]
fn the_workaround_has_a_switch() {
    let on = Settings::from_lookup(|_| None);
    assert!(on.keep_ids_apart);
    let off = Settings::from_lookup(|k| (k == "AUTOENCODERS_CELL_IDS").then(|| "off".to_string()));
    assert!(!off.keep_ids_apart);
}
