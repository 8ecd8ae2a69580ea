//! Optimiser settings are checked before training starts.

use autoencoders::optim::Optimizer as CourseOptimizer;
use candle_core::{Device, Tensor, Var};

#[test]
fn optimizer_settings_are_checked() {
    let v = Var::from_tensor(&Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    assert!(CourseOptimizer::adam_lr(-1.0).build(vec![v.clone()]).is_err());
    assert!(CourseOptimizer::adam_lr(f64::NAN).build(vec![v]).is_err());
}
