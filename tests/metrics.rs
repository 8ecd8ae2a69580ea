//! Scores and code-space helpers of lessons 9 to 12 against values worked
//! out by hand or by brute force.

use autoencoders::prelude::*;

fn t2(rows: &[[f32; 2]]) -> Tensor {
    Tensor::from_vec(
        rows.iter().flatten().copied().collect::<Vec<_>>(),
        (rows.len(), 2),
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn roc_auc_counts_pairs_in_the_right_order() {
    assert_eq!(roc_auc(&[0.1, 0.2], &[0.3, 0.4]).unwrap(), 1.0);
    assert_eq!(roc_auc(&[0.3, 0.4], &[0.1, 0.2]).unwrap(), 0.0);
    assert_eq!(roc_auc(&[0.5, 0.5], &[0.5]).unwrap(), 0.5);
    // Pairs (normal, anomalous): 1 vs 2 ✓, 1 vs 0.5 ✗, 3 vs 2 ✗, 3 vs 0.5 ✗,
    // 2 (tie) vs 2 half: 1.5 of 6.
    let auc = roc_auc(&[1.0, 3.0, 2.0], &[2.0, 0.5]).unwrap();
    assert!((auc - 1.5 / 6.0).abs() < 1e-6, "{auc}");
    // The curve's area (trapezoids) is the same number.
    let (normal, anomalous) = ([0.1, 0.35, 0.4, 0.8, 0.2], [0.3, 0.9, 0.4, 0.7]);
    let curve = roc_curve(&normal, &anomalous).unwrap();
    assert_eq!(curve.first(), Some(&(0.0, 0.0)));
    assert_eq!(curve.last(), Some(&(1.0, 1.0)));
    let area: f32 = curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum();
    let auc = roc_auc(&normal, &anomalous).unwrap();
    assert!((area - auc).abs() < 1e-6, "{area} vs {auc}");
    assert!(roc_auc(&[], &[1.0]).unwrap_err().to_string().contains("no scores"));
    assert!(roc_auc(&[f32::NAN], &[1.0])
        .unwrap_err()
        .to_string()
        .contains("not finite"));
}

#[test]
fn detection_counts_and_quantiles() {
    let d = detect(&[0.1, 0.2, 0.6], &[0.5, 0.7, 0.05, 0.9], 0.4).unwrap();
    assert_eq!((d.true_positives, d.false_positives, d.false_negatives), (3, 1, 1));
    assert!((d.precision - 0.75).abs() < 1e-6 && (d.recall - 0.75).abs() < 1e-6);
    assert!(d.to_string().contains("precision 0.750"));
    assert!(detect(&[0.1], &[0.2], f32::NAN).is_err());
    assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5).unwrap(), 2.0);
    assert_eq!(quantile(&[1.0, 2.0], 0.25).unwrap(), 1.25);
    assert!(quantile(&[1.0], 95.0)
        .unwrap_err()
        .to_string()
        .contains("outside [0, 1]"));
}

#[test]
fn per_image_error_is_the_mean_over_each_image() {
    let a = Tensor::new(&[[0f32, 0.0], [1.0, 1.0]], &Device::Cpu).unwrap();
    let b = Tensor::new(&[[1f32, 0.0], [1.0, 0.0]], &Device::Cpu).unwrap();
    assert_eq!(per_image_mse(&a, &b).unwrap(), vec![0.5, 0.5]);
    assert!(per_image_mse(&a, &b.narrow(0, 0, 1).unwrap()).is_err());
}

#[test]
fn neighbours_match_brute_force_and_knn_votes() {
    let pool = t2(&[[0.0, 0.0], [10.0, 0.0], [0.0, 1.0], [9.0, 1.0], [5.0, 5.0]]);
    let queries = t2(&[[0.1, 0.2], [9.6, 0.4]]);
    let nn = nearest_neighbours(&queries, &pool, 3).unwrap();
    assert_eq!(nn, vec![vec![0, 2, 4], vec![1, 3, 4]]);
    let pool_labels = Tensor::new(&[0u32, 1, 0, 1, 1], &Device::Cpu).unwrap();
    let right = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
    let wrong = Tensor::new(&[1u32, 1], &Device::Cpu).unwrap();
    assert_eq!(knn_accuracy(&pool, &pool_labels, &queries, &right, 3).unwrap(), 1.0);
    assert_eq!(knn_accuracy(&pool, &pool_labels, &queries, &wrong, 3).unwrap(), 0.5);
    // A 2-2 tie goes to the label of the nearest neighbour.
    assert_eq!(knn_accuracy(&pool, &pool_labels, &queries, &right, 4).unwrap(), 1.0);
    assert!(nearest_neighbours(&queries, &pool, 6)
        .unwrap_err()
        .to_string()
        .contains("k = 6"));
    let wide = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(nearest_neighbours(&wide, &pool, 1).is_err());
    assert!(knn_accuracy(&pool, &right, &queries, &right, 1)
        .unwrap_err()
        .to_string()
        .contains("one label per row"));
}

#[test]
fn code_space_paths_grids_and_samples() {
    let dev = Device::Cpu;
    let a = Tensor::new(&[0f32, 2.0], &dev).unwrap();
    let b = Tensor::new(&[[4f32, -2.0]], &dev).unwrap();
    let path = interpolate(&a, &b, 5).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(
        path,
        vec![
            vec![0.0, 2.0],
            vec![1.0, 1.0],
            vec![2.0, 0.0],
            vec![3.0, -1.0],
            vec![4.0, -2.0]
        ]
    );
    assert!(interpolate(&a, &b, 1).is_err());
    assert!(interpolate(&a, &Tensor::new(&[1f32], &dev).unwrap(), 3).is_err());
    let g = grid_2d(3, 2.0, &dev).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(g[0], vec![-2.0, 2.0]);
    assert_eq!(g[4], vec![0.0, 0.0]);
    assert_eq!(g[8], vec![2.0, -2.0]);
    assert!(grid_2d(1, 2.0, &dev).is_err() && grid_2d(5, f32::NAN, &dev).is_err());
    let s = prior_samples(4000, 3, 9, &dev).unwrap();
    assert_eq!(
        s.to_vec2::<f32>().unwrap(),
        prior_samples(4000, 3, 9, &dev).unwrap().to_vec2::<f32>().unwrap()
    );
    let (m, v) = (
        s.mean_all().unwrap().to_scalar::<f32>().unwrap(),
        s.sqr().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap(),
    );
    assert!(m.abs() < 0.05 && (v - 1.0).abs() < 0.05, "mean {m}, second moment {v}");
    let codes = Tensor::new(&[[0f32, 0.005, 1.0, -0.002]], &dev).unwrap();
    assert_eq!(near_zero_share(&codes, 0.01).unwrap(), 0.75);
    assert!(near_zero_share(&codes, 0.0).is_err());
}

#[test]
fn figures_refuse_what_they_cannot_draw() {
    let svg = histogram(
        "scores",
        "MSE",
        &[("normal", &[0.1, 0.2, 0.2]), ("anomalous", &[0.5])],
        Some(0.3),
    )
    .unwrap();
    assert!(svg.svg.contains("threshold 0.3000") && svg.svg.contains("anomalous"));
    assert!(histogram("empty", "x", &[("a", &[])], None).is_err());
    assert!(histogram("nan", "x", &[("a", &[f32::NAN])], None).is_err());
    let w = Tensor::randn(0f32, 1.0, (4, 784), &Device::Cpu).unwrap();
    assert_eq!(
        feature_grid(&w, 2, 2).unwrap().width,
        feature_grid(&w, 2, 2).unwrap().width
    );
    let e = feature_grid(&w.narrow(1, 0, 100).unwrap(), 2, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("(units, 784)"), "{e}");
}

#[test]
fn a_model_names_its_weights() {
    let dev = Device::Cpu;
    let net = Sequential::input(&[784], &dev).named("encoder").add(dense(8)).unwrap();
    assert_eq!(net.weight("encoder.dense_1.weight").unwrap().dims(), &[8, 784]);
    let e = net.weight("dense_1.weight").unwrap_err().to_string();
    assert!(e.contains("encoder.dense_1.weight"), "{e}");
}

#[test]
fn the_classifier_judges_sharpness_and_variety() {
    let dev = Device::Cpu;
    let clf = Classifier::new(1, &dev).unwrap();
    let blank = Tensor::zeros((50, 784), DType::F32, &dev).unwrap();
    let j = clf.judge(&blank).unwrap();
    // An untrained classifier reads nothing with confidence.
    assert_eq!((j.images, j.confident, j.classes), (50, 0.0, 0));
    assert!(j.to_string().contains("0 of 10 classes"));
    assert!(clf.judge(&blank.narrow(0, 0, 0).unwrap()).is_err());
}

/// Decodes a PNG to (width, height, RGB or grey bytes).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn every_chart_carries_a_png_of_the_same_figure() {
    let line = xy_chart(
        "ROC curve",
        "false positive rate",
        "true positive rate",
        &[("score", vec![(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)])],
    )
    .unwrap();
    let hist = histogram(
        "scores",
        "MSE",
        &[("normal", &[0.1, 0.2, 0.2]), ("bags", &[0.5])],
        Some(0.3),
    )
    .unwrap();
    let pts = Tensor::new(&[[0f32, 1.0], [1.0, 0.0], [0.5, 0.5]], &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u32, 1, 1], &Device::Cpu).unwrap();
    let scatter = scatter_by_class("codes", &pts, &labels, &["zero", "one"]).unwrap();
    for (chart, (w, h)) in [(&line, (640, 360)), (&hist, (640, 360)), (&scatter, (640, 480))] {
        assert!(chart.svg.starts_with("<svg"));
        let (pw, ph, px) = decode(&chart.png.bytes);
        assert_eq!((pw, ph, chart.png.width, chart.png.height), (w, h, w, h));
        // Text, axes and series drew dark and coloured pixels on the white page.
        let dark = px.chunks(3).filter(|p| p.iter().all(|&c| c < 80)).count();
        let coloured = px
            .chunks(3)
            .filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 60)
            .count();
        assert!(dark > 1_000 && coloured > 100, "dark {dark}, coloured {coloured}");
    }
    if let Ok(dir) = std::env::var("CHART_PNG_DIR") {
        line.save(format!("{dir}/line.png")).unwrap();
        hist.save(format!("{dir}/hist.png")).unwrap();
        scatter.save(format!("{dir}/scatter.png")).unwrap();
    }
    assert!(line.save("/tmp/x.pdf").unwrap_err().to_string().contains(".svg"));
}

#[test]
fn code_helpers_refuse_nan_codes_and_more_than_one_code() {
    let dev = Device::Cpu;
    let nan = Tensor::new(&[[f32::NAN, 0.0], [1.0, 1.0]], &dev).unwrap();
    let ok = Tensor::new(&[[0f32, 0.0], [1.0, 1.0]], &dev).unwrap();
    let e = nearest_neighbours(&ok, &nan, 1).unwrap_err().to_string();
    assert!(e.contains("NaN or infinite") && e.contains("pool"), "{e}");
    let inf = Tensor::new(&[[f32::INFINITY, 0.0]], &dev).unwrap();
    assert!(nearest_neighbours(&inf, &ok, 1)
        .unwrap_err()
        .to_string()
        .contains("queries"));
    assert!(near_zero_share(&nan, 0.01).is_err());
    let e = interpolate(&ok, &ok.narrow(0, 0, 1).unwrap(), 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[2, 2]") && e.contains("one image"), "{e}");
    let w = Tensor::zeros((4, 784), DType::F32, &dev).unwrap();
    let e = feature_grid(&w, 3, 3).unwrap_err().to_string();
    assert!(e.contains("3×3") && e.contains("4 units"), "{e}");
}
