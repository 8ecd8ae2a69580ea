//! `fit`'s time budget: it stops cleanly after the batch that uses it up,
//! with the weights of exactly that batch, and says so.

use autoencoders::prelude::*;

fn data(n: usize) -> Tensor {
    Tensor::rand(0f32, 1f32, (n, 784), &Device::Cpu).unwrap()
}

fn model() -> Autoencoder {
    let dev = Device::Cpu;
    Autoencoder::new(
        Sequential::input(&[784], &dev).add(dense(16).relu()).unwrap(),
        Sequential::input(&[16], &dev).add(dense(784).sigmoid()).unwrap(),
    )
    .unwrap()
}

fn weights(ae: &Autoencoder) -> Vec<Vec<f32>> {
    ae.vars()
        .iter()
        .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

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
