//! The crate's one-pass Adam against candle-nn's `AdamW` (no weight decay),
//! whose rule it follows.

mod common;

use autoencoders::optim::{Adam, Optimizer as CourseOptimizer};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

fn grads_for(vars: &[&Var], seed: f64) -> GradStore {
    // A loss whose gradient is a fixed, varied tensor per variable.
    let mut loss: Option<Tensor> = None;
    for (i, v) in vars.iter().enumerate() {
        let n = v.elem_count();
        let w = Tensor::arange(0f32, n as f32, &Device::Cpu)
            .unwrap()
            .affine(0.37, seed + i as f64)
            .unwrap()
            .sin()
            .unwrap()
            .reshape(v.shape())
            .unwrap();
        let term = (v.as_tensor() * w).unwrap().sum_all().unwrap();
        let term = (term.clone() + term.sqr().unwrap().affine(0.01, 0.0).unwrap()).unwrap();
        loss = Some(match loss {
            Some(l) => (l + term).unwrap(),
            None => term,
        });
    }
    loss.unwrap().backward().unwrap()
}

#[test]
fn adam_matches_candle_nn_adamw() {
    let params = ParamsAdamW {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-7,
        weight_decay: 0.0,
    };
    let init = [
        Tensor::randn(0f32, 1., (7, 5), &Device::Cpu).unwrap(),
        Tensor::randn(0f32, 1., 5, &Device::Cpu).unwrap(),
    ];
    let ours: Vec<Var> = init
        .iter()
        .map(|t| Var::from_tensor(&t.copy().unwrap()).unwrap())
        .collect();
    let theirs: Vec<Var> = init
        .iter()
        .map(|t| Var::from_tensor(&t.copy().unwrap()).unwrap())
        .collect();
    let mut a = Adam::new(ours.clone(), params.clone()).unwrap();
    let mut b = AdamW::new(theirs.clone(), params).unwrap();
    for step in 0..20 {
        a.step(&grads_for(&ours.iter().collect::<Vec<_>>(), step as f64))
            .unwrap();
        b.step(&grads_for(&theirs.iter().collect::<Vec<_>>(), step as f64))
            .unwrap();
    }
    for (x, y) in ours.iter().zip(&theirs) {
        let diff = common::max_diff(x.as_tensor(), y.as_tensor());
        assert!(diff < 1e-5, "after 20 steps the parameters differ by {diff}");
    }
    // And the parameters did move.
    let moved = common::max_diff(ours[0].as_tensor(), &init[0]);
    assert!(moved > 0.01, "Adam left the parameters where they were (moved {moved})");
}

#[test]
fn optimizer_settings_are_checked() {
    let v = Var::from_tensor(&Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    assert!(CourseOptimizer::adam_lr(-1.0).build(vec![v.clone()]).is_err());
    assert!(CourseOptimizer::adam_lr(f64::NAN).build(vec![v]).is_err());
}
