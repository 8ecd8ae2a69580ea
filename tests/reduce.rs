//! PCA and t-SNE bridges on small seeded data.

mod common;

use autoencoders::prelude::*;

/// Two well separated clusters in 6-D, 40 points each.
fn clusters() -> (Tensor, Vec<u32>) {
    let mut v = Vec::new();
    let mut labels = Vec::new();
    for i in 0..80u32 {
        let c = (i % 2) as f32;
        for d in 0..6 {
            let jitter = (((i * 31 + d * 7) % 17) as f32 / 17.0 - 0.5) * 0.2;
            v.push(c * 5.0 + jitter + d as f32 * 0.1);
        }
        labels.push(i % 2);
    }
    (Tensor::from_vec(v, (80, 6), &Device::Cpu).unwrap(), labels)
}

#[test]
fn pca_full_rank_reconstructs_and_ratios_are_shares() {
    let (x, _) = clusters();
    let pca = Pca::fit(&x, 6).unwrap();
    let r = pca.reconstruct(&x).unwrap();
    let err = common::max_diff(&r, &x);
    assert!(err < 1e-4, "{err}");
    let ratio: f32 = pca.explained_variance_ratio().iter().sum();
    assert!((ratio - 1.0).abs() < 1e-3, "{ratio}");
    let pca1 = Pca::fit(&x, 1).unwrap();
    // The cluster split is the dominant direction.
    assert!(pca1.explained_variance_ratio()[0] > 0.9);
    assert_eq!(pca1.transform(&x).unwrap().dims(), &[80, 1]);
    let s = pca.sample(10, 1.0, 0, &Device::Cpu).unwrap();
    assert_eq!(s.dims(), &[10, 6]);
    assert!(Pca::fit(&x, 7).unwrap_err().to_string().contains("n_components 7"));
    assert!(pca
        .transform(&Tensor::zeros((2, 5), DType::F32, &Device::Cpu).unwrap())
        .is_err());
}

#[test]
fn tsne_keeps_clusters_apart() {
    let (x, labels) = clusters();
    let y = tsne(&x, 10.0, 300).unwrap();
    assert_eq!(y.dims(), &[80, 2]);
    let pts = y.to_vec2::<f32>().unwrap();
    let centre = |c: u32| {
        let m: Vec<&Vec<f32>> = pts
            .iter()
            .zip(&labels)
            .filter(|(_, &l)| l == c)
            .map(|(p, _)| p)
            .collect();
        let n = m.len() as f32;
        (
            m.iter().map(|p| p[0]).sum::<f32>() / n,
            m.iter().map(|p| p[1]).sum::<f32>() / n,
        )
    };
    let (a, b) = (centre(0), centre(1));
    let between = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let spread = pts
        .iter()
        .zip(&labels)
        .filter(|(_, &l)| l == 0)
        .map(|(p, _)| ((p[0] - a.0).powi(2) + (p[1] - a.1).powi(2)).sqrt())
        .fold(0f32, f32::max);
    assert!(
        between > spread,
        "clusters overlap: centres {between} apart, spread {spread}"
    );
    assert!(tsne(&x, 40.0, 300).unwrap_err().to_string().contains("perplexity 40"));
}

#[test]
fn pca_handles_constant_columns_and_rejects_nan() {
    use autoencoders::reduce::Pca;
    use candle_core::{Device, Tensor};
    // 3 varying columns and 3 constant ones (two zero, one 0.5), as dead code units give.
    let n = 200;
    let mut v = Vec::with_capacity(n * 6);
    for i in 0..n {
        let t = i as f32 / n as f32;
        v.extend_from_slice(&[0.0, (t * 7.0).sin(), 0.5, t, 0.0, (t * 3.0).cos() + t]);
    }
    let xs = Tensor::from_vec(v, (n, 6), &Device::Cpu).unwrap();
    let pca = Pca::fit(&xs, 6).unwrap();
    assert_eq!(pca.n_components(), 3, "only the varying columns give components");
    let back = pca.reconstruct(&xs).unwrap();
    let err = common::max_diff(&back, &xs);
    assert!(err < 1e-4, "full-rank reconstruction is off by {err}");
    let s = pca.sample(50, 1.0, 1, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
    assert!(
        s.iter().all(|r| r[0] == 0.0 && r[2] == 0.5 && r[4] == 0.0),
        "constant columns keep their value"
    );
    let bad = Tensor::from_vec(vec![f32::NAN, 1.0, 2.0, 3.0], (2, 2), &Device::Cpu).unwrap();
    assert!(Pca::fit(&bad, 1).is_err());
    assert!(Pca::fit(
        &Tensor::zeros((5, 3), candle_core::DType::F32, &Device::Cpu).unwrap(),
        1
    )
    .is_err());
}
