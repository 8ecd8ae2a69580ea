//! Helpers shared by the kernels' tests: tensor differences, a seeded
//! generator, the forward-and-gradient comparison.
#![allow(dead_code)] // each test file uses its own share of the helpers

use candle_core::{Device, Tensor, Var};

/// The largest absolute difference between two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Whether this machine can run a test's comparison. Under `CI=true` a
/// missing precondition fails (CI's machine must have what the tests
/// need); elsewhere the test says it skipped. On CPUs without x86's AVX2
/// (arm64) the direct kernels do not exist, by design.
pub fn have(ok: bool, what: &str) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        ok || !ci || !cfg!(target_arch = "x86_64"),
        "{what}; CI=true: a missing precondition fails"
    );
    if !ok {
        eprintln!("SKIPPED: {what}");
    }
    ok
}

/// How many of a test's `n` random cases to run: all of them, or the first
/// two (small shapes) under Miri, whose interpreter is thousands of times
/// slower.
pub fn cases(n: usize) -> usize {
    if cfg!(miri) {
        n.min(2)
    } else {
        n
    }
}

pub fn scale(t: &Tensor) -> f32 {
    t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0)
}

/// A small deterministic generator, so each case is reproducible.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

pub fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
}

/// Forward and both gradients of `fast` and `reference` on (x, k), with a
/// random weighting of the output as the loss.
pub fn compare(
    what: &str,
    x: &Tensor,
    k: &Tensor,
    fast: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    reference: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
) {
    let (xv, kv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(k).unwrap());
    let yf = fast(xv.as_tensor(), kv.as_tensor()).unwrap();
    let yr = reference(xv.as_tensor(), kv.as_tensor()).unwrap();
    let tol = 1e-4 * scale(&yr);
    assert!(
        max_diff(&yf, &yr) <= tol,
        "{what}: forward differs by {}",
        max_diff(&yf, &yr)
    );
    let w = randn(yr.dims());
    let gf = (yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gr = (yr * &w).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("input", &xv), ("kernel", &kv)] {
        let (a, b) = (gf.get(v).unwrap(), gr.get(v).unwrap());
        let tol = 1e-4 * scale(b);
        assert!(
            max_diff(a, b) <= tol,
            "{what}: {name} gradient differs by {}",
            max_diff(a, b)
        );
    }
}

/// Each named variable's gradient in `ga` matches the one in `gb` to 1e-4
/// of the latter's scale.
pub fn assert_same_gradients<const N: usize>(
    ga: &candle_core::backprop::GradStore,
    gb: &candle_core::backprop::GradStore,
    vars: [(&str, &Var); N],
    what: &str,
) {
    for (name, v) in vars {
        let (a, b) = (ga.get(v).unwrap(), gb.get(v).unwrap());
        assert!(
            max_diff(a, b) < 1e-4 * scale(b),
            "{what}: {name} gradient differs by {}",
            max_diff(a, b)
        );
    }
}

/// Checks one path of an op against its reference from the same inputs:
/// the shape, the forward pass (within 1e-4 of its scale), a rounding
/// other than `other`'s (the path under test ran, not the other one), and
/// the gradients under the loss `Σ fast · wt` against the reference's `gb`:
/// of `x` too when `track_x`, none for it otherwise.
#[allow(clippy::too_many_arguments)]
pub fn check_path(
    what: &str,
    fast: Tensor,
    other: &Tensor,
    reference: &Tensor,
    wt: &Tensor,
    gb: &candle_core::backprop::GradStore,
    (x, track_x): (&Var, bool),
    params: [(&str, &Var); 2],
) {
    assert_eq!(fast.dims(), reference.dims(), "{what}: shape");
    let diff = max_diff(&fast, reference);
    assert!(diff < 1e-4 * scale(reference), "{what}: forward differs by {diff}");
    assert!(max_diff(&fast, other) > 0.0, "{what}: the other path ran, not this one");
    let ga = (fast * wt).unwrap().sum_all().unwrap().backward().unwrap();
    let [(a, va), (b, vb)] = params;
    if track_x {
        assert_same_gradients(&ga, gb, [("input", x), (a, va), (b, vb)], what);
    } else {
        assert!(ga.get(x).is_none(), "{what}: an input gradient nobody asked for");
        assert_same_gradients(&ga, gb, [(a, va), (b, vb)], what);
    }
}
