//! `fit`'s time budget (it stops cleanly after the batch that uses it up,
//! with the weights of exactly that batch, and says so) and checkpoints (a
//! resumed run ends with the weights of an uninterrupted one, for every
//! optimiser; other settings are refused).

mod common;

use autoencoders::prelude::*;
use common::{small_model as model, uniform_images as data, weights};

#[test]
fn a_spent_time_budget_stops_after_the_batch_with_its_weights() {
    let xs = data(64 * 5);
    let cfg = TrainConfig::default().with_epochs(3).with_batch_size(64);
    // A budget of zero is used up by the first batch.
    let stopped = model();
    let h = fit(&stopped, &xs, &xs, None, &cfg.clone().with_time_budget(Duration::ZERO)).unwrap();
    assert_eq!(h.loss.len(), 1, "one (partial) epoch recorded");
    let why = h.stopped.clone().expect("the history says it stopped");
    assert!(why.contains("epoch 1 of 3, after batch 1 of 5"), "{why}");
    // The same single step by hand, in the order fit shuffled the data into.
    let by_hand = model();
    let mut order: Vec<u32> = (0..xs.dim(0).unwrap() as u32).collect();
    use rand::{seq::SliceRandom, SeedableRng};
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(cfg.seed));
    let first = Tensor::new(&order[..64], &Device::Cpu).unwrap();
    let batch = xs.index_select(&first, 0).unwrap();
    let mut t = Trainer::new(&by_hand, cfg.optimizer, cfg.loss)
        .unwrap()
        .with_seed(cfg.seed);
    t.step(&by_hand, &batch, &batch).unwrap();
    assert_eq!(weights(&stopped), weights(&by_hand), "the weights of exactly one batch");
    assert_ne!(weights(&stopped), weights(&model()), "the batch was trained");
    // A budget that is not reached changes nothing.
    let h = fit(
        &model(),
        &xs,
        &xs,
        None,
        &cfg.with_time_budget(Duration::from_secs(3600)),
    )
    .unwrap();
    assert_eq!((h.loss.len(), h.stopped), (3, None));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let xs = data(64 * 4);
    for (name, optimizer) in [
        ("adam", Optimizer::adam()),
        ("rmsprop", Optimizer::rmsprop()),
        ("adadelta", Optimizer::adadelta()),
        ("sgd", Optimizer::Sgd { lr: 0.1 }),
    ] {
        let cfg = |epochs| {
            TrainConfig::default()
                .with_epochs(epochs)
                .with_batch_size(64)
                .with_optimizer(optimizer)
        };
        let whole = model();
        let h_whole = fit(&whole, &xs, &xs, Some((&xs, &xs)), &cfg(4)).unwrap();
        // Two epochs, then a new kernel: the model built again, the same cell run again.
        let dir = scratch(&format!("resume-{name}"));
        fit(&model(), &xs, &xs, Some((&xs, &xs)), &cfg(2).with_checkpoints(&dir, 1)).unwrap();
        let resumed = model();
        let h = fit(&resumed, &xs, &xs, Some((&xs, &xs)), &cfg(4).with_checkpoints(&dir, 1)).unwrap();
        assert_eq!(weights(&resumed), weights(&whole), "{name}: resumed weights differ");
        assert_eq!((&h.loss, &h.val_loss), (&h_whole.loss, &h_whole.val_loss), "{name}");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["checkpoint.json", "optimizer-4.safetensors", "weights-4.safetensors"],
            "{name}"
        );
        // Run once more: nothing left to train, the weights stay.
        let again = model();
        let h = fit(&again, &xs, &xs, Some((&xs, &xs)), &cfg(4).with_checkpoints(&dir, 1)).unwrap();
        assert_eq!((h.loss.len(), weights(&again)), (4, weights(&whole)), "{name}");
    }
}

#[test]
fn a_checkpoint_of_other_settings_is_refused_and_the_model_left_alone() {
    let xs = data(64 * 2);
    let dir = scratch("refuse");
    let cfg = TrainConfig::default().with_epochs(1).with_batch_size(64);
    fit(&model(), &xs, &xs, None, &cfg.clone().with_checkpoints(&dir, 1)).unwrap();
    let fresh = model();
    let before = weights(&fresh);
    let other = cfg.clone().with_batch_size(32).with_epochs(2).with_checkpoints(&dir, 1);
    let e = fit(&fresh, &xs, &xs, None, &other).unwrap_err().to_string();
    assert!(
        e.contains("batch_size = 64") && e.contains("batch_size = 32") && e.contains("delete this one"),
        "{e}"
    );
    assert_eq!(weights(&fresh), before);
    // A damaged index names the file and the way out.
    std::fs::write(dir.join("checkpoint.json"), "{ not json").unwrap();
    let e = fit(&fresh, &xs, &xs, None, &cfg.clone().with_checkpoints(&dir, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint.json") && e.contains("delete its folder"), "{e}");
    // Other data of the same size, other validation data, fewer epochs than saved.
    let dir = scratch("refuse-data");
    let two = cfg.clone().with_epochs(2);
    fit(&model(), &xs, &xs, None, &two.clone().with_checkpoints(&dir, 1)).unwrap();
    let three = cfg.clone().with_epochs(3).with_checkpoints(&dir, 1);
    let other_xs = data(64 * 2);
    let e = fit(&fresh, &other_xs, &other_xs, None, &three).unwrap_err().to_string();
    assert!(e.contains("data = "), "{e}");
    let e = fit(&fresh, &xs, &xs, Some((&xs, &xs)), &three).unwrap_err().to_string();
    assert!(e.contains("validation = "), "{e}");
    let e = fit(&fresh, &xs, &xs, None, &cfg.clone().with_checkpoints(&dir, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds 2 epochs, more than the 1"), "{e}");
    assert_eq!(
        weights(&fresh),
        before,
        "a refused checkpoint leaves the model as it was"
    );
    let e = fit(&fresh, &xs, &xs, None, &cfg.with_checkpoints(scratch("every0"), 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("every 0 epochs"), "{e}");
}
