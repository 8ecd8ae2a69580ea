//! Jupyter's stop button, as the course's kernel signals it (`runtime::stop`):
//! the relay's files written by hand here. `fit` stops after the batch with
//! that batch's weights and says so, the stop stands for the rest of the
//! cell (`predict` ends with its error, a hand-written loop ends), a stale
//! stop of an earlier cell changes nothing, a new cell starts afresh, and a
//! stop pressed in the middle of an epoch stops there.
//!
//! One test: the stop folder is a setting, read once per process.

mod common;

use autoencoders::prelude::*;
use common::{small_model as model, uniform_images as data, weights};
use std::path::Path;
use std::time::Duration;

/// What the relay writes: the cell now running, and a stop for a cell.
fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    // Past the crate's 30 ms between two reads of the folder.
    std::thread::sleep(Duration::from_millis(40));
}

#[test]
fn the_stop_button_stops_training_and_keeps_the_model() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::env::set_var("AUTOENCODERS_STOP_DIR", &dir);
    assert_eq!(
        autoencoders::runtime::settings().stop_dir.as_deref(),
        Some(dir.as_path())
    );
    let xs = data(64 * 5);
    let cfg = TrainConfig::default().with_epochs(2).with_batch_size(64).quiet();

    // Cell 1 runs; a stop left from cell 0 is stale: everything trains.
    write(&dir, "execution", "1");
    write(&dir, "stop", "0");
    let h = fit(&model(), &xs, &xs, None, &cfg).unwrap();
    assert_eq!((h.loss.len(), h.stopped), (2, None), "a stale stop changed nothing");
    assert!(!stop_requested());
    assert!(!dir.join("listening").exists(), "no loop listens once fit returned");

    // Pressed in cell 1 before fit started: fit stops after its first batch,
    // with that batch's weights, and says so.
    write(&dir, "stop", "1");
    let stopped = model();
    let h = fit(&stopped, &xs, &xs, None, &cfg).unwrap();
    assert_eq!(h.loss.len(), 1);
    let why = h.stopped.clone().expect("the history says it stopped");
    assert!(
        why.contains("the stop button was pressed in epoch 1 of 2, after batch 1 of 5"),
        "{why}"
    );
    assert!(why.contains("keeps the weights of that batch"), "{why}");
    assert!(
        dir.join("taken").exists() && !dir.join("stop").exists(),
        "the stop was taken"
    );
    let by_hand = model();
    let mut order: Vec<u32> = (0..xs.dim(0).unwrap() as u32).collect();
    use rand::{seq::SliceRandom, SeedableRng};
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(cfg.seed));
    let batch = xs
        .index_select(&Tensor::new(&order[..64], &Device::Cpu).unwrap(), 0)
        .unwrap();
    let mut t = Trainer::new(&by_hand, cfg.optimizer, cfg.loss)
        .unwrap()
        .with_seed(cfg.seed);
    t.step(&by_hand, &batch, &batch).unwrap();
    assert_eq!(weights(&stopped), weights(&by_hand), "the weights of exactly one batch");

    // The stop stands for the rest of cell 1: predict ends with its error
    // after a batch, a hand-written loop after its first step.
    let err = predict(&stopped, &xs, 64).unwrap_err();
    assert!(matches!(err, Error::Stopped(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("predict: stopped by the stop button after 1 of 5 batches") && msg.contains("intact"),
        "{msg}"
    );
    assert_eq!(training_steps(10).collect::<Vec<_>>(), vec![1]);
    let err = evaluate(&stopped, &xs, &xs, Loss::Mse, 64).unwrap_err();
    assert!(matches!(err, Error::Stopped(_)), "{err}");

    // Cell 2: the model trained so far is there and works.
    write(&dir, "execution", "2");
    let _ = std::fs::remove_file(dir.join("taken"));
    assert_eq!(predict(&stopped, &xs, 64).unwrap().dims(), &[320, 784]);
    assert_eq!(training_steps(3).count(), 3);

    // Pressed in the middle of an epoch: a longer fit stops there.
    let long = data(64 * 200);
    let cfg = cfg.with_epochs(20);
    let d = dir.clone();
    let presser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        assert!(d.join("listening").exists(), "fit listens while it trains");
        std::fs::write(d.join("stop"), "2").unwrap();
    });
    let ae = model();
    let h = fit(&ae, &long, &long, None, &cfg).unwrap();
    presser.join().unwrap();
    let why = h.stopped.expect("stopped by the button");
    assert!(why.contains("the stop button was pressed in epoch"), "{why}");
    assert!(
        h.loss.iter().all(|l| l.is_finite()) && h.loss.len() < 20,
        "{:?}",
        h.loss
    );
    assert_ne!(weights(&ae), weights(&model()), "trained up to the stop");
    let _ = std::fs::remove_dir_all(&dir);
}
