//! The weights shipped in `weights/` load into the lessons' models and
//! reproduce the validation losses their training run recorded; damaged
//! files, unknown names and other architectures are refused.

mod common;

use autoencoders::data::{data_dir, DatasetKind};
use autoencoders::prelude::*;
use autoencoders::train::{pretrained_in, pretrained_names, weights_dir};

/// The model each shipped name belongs to, its validation pair and loss, as
/// `course-bench` trained it (full data, whatever the mode).
fn lesson(name: &str, mnist: &Dataset) -> (Autoencoder, Tensor, Tensor, Loss) {
    let dev = Device::Cpu;
    let test = mnist.test_images.clone();
    match name {
        "seed000" => (
            DenseAutoencoder::seed000().build(&dev).unwrap(),
            test.clone(),
            test,
            Loss::Mse,
        ),
        "conv" => (
            ConvAutoencoder::default().build(&dev).unwrap(),
            test.clone(),
            test,
            Loss::BinaryCrossEntropy,
        ),
        "upconv" => (
            UpConvAutoencoder::default().build(&dev).unwrap(),
            test.clone(),
            test,
            Loss::BinaryCrossEntropy,
        ),
        "denoise" => (
            UpConvAutoencoder::default().build(&dev).unwrap(),
            GaussianNoise::new(0.5).with_seed(2).apply(&test).unwrap(),
            test,
            Loss::BinaryCrossEntropy,
        ),
        "generate" => {
            let sevens = mnist.only_classes(&[7]).unwrap().test_images;
            (
                DenseAutoencoder::single_layer(10).build(&dev).unwrap(),
                sevens.clone(),
                sevens,
                Loss::BinaryCrossEntropy,
            )
        }
        other => panic!("weights/{other}.safetensors is shipped but this test does not know its lesson: add it here"),
    }
}

#[test]
fn shipped_weights_reproduce_their_recorded_validation_losses() {
    let names = pretrained_names();
    for want in ["seed000", "conv", "upconv", "denoise", "generate"] {
        assert!(
            names.contains(&want),
            "weights/{want}.safetensors is not shipped ({names:?})"
        );
    }
    let mnist = Dataset::load_checked(DatasetKind::Mnist, data_dir().join("mnist")).unwrap();
    for name in names {
        let (model, vx, vy, loss) = lesson(name, &mnist);
        let untrained = evaluate(&model, &vx, &vy, loss, 256).unwrap();
        let history = pretrained(&model, name).unwrap();
        let recorded = history.last_val_loss().unwrap();
        let measured = evaluate(&model, &vx, &vy, loss, 256).unwrap();
        eprintln!(
            "{name}: recorded {recorded:.5} after {} epochs, measured {measured:.5} (untrained {untrained:.5})",
            history.loss.len()
        );
        assert!(
            (measured - recorded).abs() <= 1e-4 * recorded.max(1e-3),
            "{name}: the loaded weights give {measured}, the record says {recorded}"
        );
        assert!(
            measured < 0.8 * untrained,
            "{name}: {measured} is no better than untrained {untrained}"
        );
    }
}

#[test]
fn damaged_unknown_and_mismatched_weights_are_refused() {
    let dev = Device::Cpu;
    // Unknown name: the error lists the shipped ones.
    let conv = ConvAutoencoder::default().build(&dev).unwrap();
    let err = pretrained(&conv, "convv").unwrap_err().to_string();
    assert!(err.contains("convv") && err.contains("\"conv\""), "{err}");
    // Another architecture: refused, weights untouched.
    let dense = DenseAutoencoder::classic().build(&dev).unwrap();
    let before = dense.weight(&dense.named_params()[0].0).unwrap();
    assert!(pretrained(&dense, "conv").is_err());
    let after = dense.weight(&dense.named_params()[0].0).unwrap();
    assert_eq!(common::max_diff(&before, &after), 0.0);
    // A copy with one byte changed: refused by its checksum, naming the file.
    let copy = std::env::temp_dir().join(format!("ae-weights-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["conv.safetensors", "conv.json"] {
        std::fs::copy(weights_dir().join(f), copy.join(f)).unwrap();
    }
    let ok = pretrained_in(&copy, &conv, "conv");
    let mut bytes = std::fs::read(copy.join("conv.safetensors")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(copy.join("conv.safetensors"), bytes).unwrap();
    let err = pretrained_in(&copy, &conv, "conv").unwrap_err();
    std::fs::remove_dir_all(&copy).unwrap();
    assert!(ok.is_ok(), "an intact copy loads: {ok:?}");
    assert!(
        matches!(err, Error::WeightsChecksum { .. }) && err.to_string().contains("conv.safetensors"),
        "{err}"
    );
}

#[test]
fn lesson_3s_hand_built_models_take_the_shipped_weights() {
    // Lesson 3 builds both models layer by layer, as below; the weights saved
    // from the presets must fit them by name and shape.
    let dev = Device::Cpu;
    let encoder = Sequential::input(&[1, 28, 28], &dev)
        .add(conv2d(16).kernel(3).same().relu())
        .and_then(|s| s.add(max_pool(2)))
        .and_then(|s| s.add(conv2d(32).kernel(3).same().relu()))
        .and_then(|s| s.add(max_pool(2)))
        .and_then(|s| s.add(conv2d(64).kernel(3).same().relu()))
        .and_then(|s| s.add(max_pool(2)))
        .unwrap();
    let decoder = Sequential::input(&encoder.output_shape(), &dev)
        .add(conv_transpose2d(32).kernel(3).stride(2).valid().relu())
        .and_then(|s| s.add(conv_transpose2d(16).kernel(3).stride(2).same().relu()))
        .and_then(|s| s.add(conv_transpose2d(1).kernel(3).stride(2).same().sigmoid()))
        .unwrap();
    pretrained(&Autoencoder::new(encoder, decoder).unwrap(), "conv").unwrap();
    let encoder = Sequential::input(&[1, 28, 28], &dev)
        .add(conv2d(32).kernel(3).same().relu())
        .and_then(|s| s.add(max_pool(2)))
        .and_then(|s| s.add(conv2d(32).kernel(3).same().relu()))
        .and_then(|s| s.add(max_pool(2)))
        .unwrap();
    let decoder = Sequential::input(&encoder.output_shape(), &dev)
        .add(conv2d(32).kernel(3).same().relu())
        .and_then(|s| s.add(up_sample(2)))
        .and_then(|s| s.add(conv2d(32).kernel(3).same().relu()))
        .and_then(|s| s.add(up_sample(2)))
        .and_then(|s| s.add(conv2d(1).kernel(3).same().sigmoid()))
        .unwrap();
    pretrained(&Autoencoder::new(encoder, decoder).unwrap(), "upconv").unwrap();
}
