//! Walking the code space: samples of the prior, a regular grid, straight
//! paths between two codes, nearest neighbours and k-NN accuracy of codes,
//! and how sparse codes are.
//!
//! Introduced in `notebooks/09_variational_autoencoder.ipynb`; the
//! neighbours in `notebooks/12_code_size.ipynb`.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// `n` codes of `latent_dim` numbers drawn from the prior `N(0, I)`, the
/// same for the same `seed`.
///
/// # Shapes
/// `-> (n, latent_dim)`.
pub fn prior_samples(n: usize, latent_dim: usize, seed: u64, dev: &Device) -> Result<Tensor> {
    if n == 0 || latent_dim == 0 {
        return Err(Error::empty(format!(
            "prior_samples: {n} samples of {latent_dim} numbers is empty; ask for at least one of each"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * latent_dim).map(|_| StandardNormal.sample(&mut rng)).collect();
    Ok(Tensor::from_vec(v, (n, latent_dim), &Device::Cpu)?.to_device(dev)?)
}

/// `n` codes of `dim` numbers, each drawn uniformly from `[low, high)`, the
/// same for the same `seed`: seed 004's random codes (`[0, 5)`) and its
/// uniform PCA coordinates (`[-7.5, 7.5)`).
///
/// # Shapes
/// `-> (n, dim)`.
pub fn uniform_samples(n: usize, dim: usize, (low, high): (f32, f32), seed: u64, dev: &Device) -> Result<Tensor> {
    if n == 0 || dim == 0 {
        return Err(Error::empty(format!(
            "uniform_samples: {n} samples of {dim} numbers is empty; ask for at least one of each"
        )));
    }
    if !(low.is_finite() && high.is_finite() && low < high) {
        return Err(Error::out_of_range(format!(
            "uniform_samples: the range [{low}, {high}) is empty or not finite; give low < high, e.g. (0.0, 5.0)"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let range =
        rand_distr::Uniform::new(low, high).map_err(|e| Error::out_of_range(format!("uniform_samples: {e}")))?;
    let v: Vec<f32> = (0..n * dim).map(|_| range.sample(&mut rng)).collect();
    Ok(Tensor::from_vec(v, (n, dim), &Device::Cpu)?.to_device(dev)?)
}

/// An `n × n` grid of 2-D codes covering `[-extent, extent]²`, row by row
/// from the top left (`y` falls down the rows, `x` grows along them), for
/// decoding into a manifold of images with `image_canvas(&imgs, n, n)`.
///
/// # Shapes
/// `-> (n·n, 2)`.
pub fn grid_2d(n: usize, extent: f32, dev: &Device) -> Result<Tensor> {
    if n < 2 || !(extent > 0.0 && extent.is_finite()) {
        return Err(Error::out_of_range(format!(
            "grid_2d: n = {n}, extent = {extent}; use n ≥ 2 and a finite extent > 0 (2.0 covers 95 % of N(0, 1))"
        )));
    }
    let at = |i: usize| -extent + 2.0 * extent * i as f32 / (n - 1) as f32;
    let v: Vec<f32> = (0..n)
        .flat_map(|row| (0..n).flat_map(move |col| [at(col), -at(row)]))
        .collect();
    Ok(Tensor::from_vec(v, (n * n, 2), &Device::Cpu)?.to_device(dev)?)
}

/// `steps` codes on the straight line from `a` to `b`, both ends included.
///
/// # Shapes
/// `a`, `b`: `(k,)` or `(1, k)` -> `(steps, k)`.
pub fn interpolate(a: &Tensor, b: &Tensor, steps: usize) -> Result<Tensor> {
    for (name, t) in [("a", a), ("b", b)] {
        let one_row = t.rank() == 1 || (t.rank() == 2 && t.dim(0)? == 1);
        if !one_row {
            return Err(Error::disagree(format!(
                "interpolate: {name} has shape {:?}; pass the code of one image, (k,) or (1, k) (narrow(0, i, 1) picks image i)",
                t.dims()
            )));
        }
    }
    let (a, b) = (a.flatten_all()?, b.flatten_all()?);
    if a.dims() != b.dims() {
        return Err(Error::disagree(format!(
            "interpolate: codes of {} and {} numbers; pass two codes of one model (one image each)",
            a.elem_count(),
            b.elem_count()
        )));
    }
    if steps < 2 {
        return Err(Error::out_of_range(format!(
            "interpolate: {steps} steps cannot hold both ends; use 2 or more (10 is a good row)"
        )));
    }
    let t: Vec<f32> = (0..steps).map(|i| i as f32 / (steps - 1) as f32).collect();
    let t = Tensor::from_vec(t, (steps, 1), a.device())?.to_dtype(a.dtype())?;
    let (a, b) = (a.unsqueeze(0)?, b.unsqueeze(0)?);
    Ok((a.broadcast_add(&t.broadcast_mul(&(b - &a)?)?))?)
}

/// Checks two row sets have the same width and returns them as f32 on the
/// CPU.
fn rows_pair(what: &str, queries: &Tensor, pool: &Tensor) -> Result<(Tensor, Tensor)> {
    let (q, p) = (queries.flatten_from(1)?, pool.flatten_from(1)?);
    if q.dim(1)? != p.dim(1)? || p.dim(0)? == 0 || q.dim(0)? == 0 {
        return Err(Error::disagree(format!(
            "{what}: queries {:?} and pool {:?} must be non-empty rows of one width (codes of one encoder, or images of one size)",
            queries.dims(),
            pool.dims()
        )));
    }
    let cpu = |t: Tensor| -> Result<Tensor> { Ok(t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?) };
    let (q, p) = (cpu(q)?, cpu(p)?);
    for (name, t) in [("queries", &q), ("pool", &p)] {
        check_finite(what, name, t)?;
    }
    Ok((q, p))
}

/// An error when `t` holds NaN or infinite values (a model whose weights
/// are not finite gives such codes; distances to them mean nothing).
fn check_finite(what: &str, name: &str, t: &Tensor) -> Result<()> {
    let bad = t.ne(t)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?
        + t.abs()?
            .eq(f64::INFINITY)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()?;
    if bad > 0.0 {
        return Err(Error::not_finite(format!(
            "{what}: {bad} values of the {name} are NaN or infinite; they come from a model whose weights are not finite: train it again (a lower learning rate) first"
        )));
    }
    Ok(())
}

/// The `k` rows of `pool` nearest to each row of `queries` (Euclidean
/// distance), nearest first: similar-image search when both are codes, or
/// both pixels.
///
/// # Shapes
/// `queries`: `(Q, d…)`, `pool`: `(P, d…)` -> `Q` lists of `k` indices into `pool`.
pub fn nearest_neighbours(queries: &Tensor, pool: &Tensor, k: usize) -> Result<Vec<Vec<usize>>> {
    let (q, p) = rows_pair("nearest_neighbours", queries, pool)?;
    if k == 0 || k > p.dim(0)? {
        return Err(Error::out_of_range(format!(
            "nearest_neighbours: k = {k} with a pool of {} rows; use 1 ≤ k ≤ the pool size",
            p.dim(0)?
        )));
    }
    let p_sq = p.sqr()?.sum(1)?.unsqueeze(0)?; // (1, P)
    let mut out = Vec::with_capacity(q.dim(0)?);
    for start in (0..q.dim(0)?).step_by(256) {
        let chunk = q.narrow(0, start, 256.min(q.dim(0)? - start))?;
        // ‖q − p‖² up to the per-query constant ‖q‖²: ‖p‖² − 2 q·p.
        let d = p_sq.broadcast_sub(&(chunk.matmul(&p.t()?)? * 2.0)?)?;
        for row in d.to_vec2::<f32>()? {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.select_nth_unstable_by(k - 1, |&a, &b| row[a].total_cmp(&row[b]));
            idx.truncate(k);
            idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            out.push(idx);
        }
    }
    Ok(out)
}

/// The share of `queries` whose label wins the vote of their `k` nearest
/// rows of `pool` (ties go to the nearest of the tied labels): how well a
/// code keeps images of a class together, without training any classifier.
///
/// # Shapes
/// `queries`: `(Q, d…)`, `query_labels`: `(Q,)`; `pool`: `(P, d…)`,
/// `pool_labels`: `(P,)`.
pub fn knn_accuracy(
    pool: &Tensor,
    pool_labels: &Tensor,
    queries: &Tensor,
    query_labels: &Tensor,
    k: usize,
) -> Result<f32> {
    let labels = |t: &Tensor| -> Result<Vec<u32>> { Ok(t.to_device(&Device::Cpu)?.to_dtype(DType::U32)?.to_vec1()?) };
    let (pl, ql) = (labels(pool_labels)?, labels(query_labels)?);
    if pl.len() != pool.dim(0)? || ql.len() != queries.dim(0)? {
        return Err(Error::disagree(format!(
            "knn_accuracy: {} pool rows with {} labels, {} queries with {} labels; give one label per row",
            pool.dim(0)?,
            pl.len(),
            queries.dim(0)?,
            ql.len()
        )));
    }
    let neighbours = nearest_neighbours(queries, pool, k)?;
    let mut right = 0;
    for (nb, &truth) in neighbours.iter().zip(&ql) {
        let mut votes = std::collections::HashMap::new();
        for &i in nb {
            *votes.entry(pl[i]).or_insert(0usize) += 1;
        }
        let best = votes.values().copied().max().unwrap_or(0);
        // Nearest-first order breaks ties.
        let winner = nb.iter().map(|&i| pl[i]).find(|l| votes[l] == best);
        if winner == Some(truth) {
            right += 1;
        }
    }
    Ok(right as f32 / ql.len() as f32)
}

/// The share of code values whose size is below `eps`: how sparse an
/// encoder's codes are.
///
/// # Shapes
/// `codes`: `(N, k)`.
pub fn near_zero_share(codes: &Tensor, eps: f32) -> Result<f32> {
    if codes.elem_count() == 0 || !(eps > 0.0 && eps.is_finite()) {
        return Err(Error::out_of_range(format!(
            "near_zero_share: {:?} codes with eps {eps}; pass codes of at least one image and a small eps > 0 (e.g. 0.01)",
            codes.dims()
        )));
    }
    let codes = codes.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    check_finite("near_zero_share", "codes", &codes)?;
    let small = codes.abs()?.lt(eps as f64)?.to_dtype(DType::F32)?;
    Ok(small.mean_all()?.to_device(&Device::Cpu)?.to_scalar::<f32>()?)
}
