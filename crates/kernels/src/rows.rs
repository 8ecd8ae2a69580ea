//! The element-wise work around the convolutions: bias and activation, 2×2
//! max-pooling and its gradient, 2× up-sampling, and the weaving and
//! splitting of the phases of a convolution on an up-sampled grid (see
//! `direct::UpsampledConv`), one row at a time.
//!
//! The rows are short (3 to 30 values: a convolution's output row, a pooled
//! row), too short for the compiler's own vector loops, which take 64 values
//! per turn and leave the rest to a scalar tail. Here each row runs as blocks
//! of 8 values, the last block overlapping the one before where the row is
//! not a multiple of 8 (every op writes outputs that do not alias its
//! inputs, so a value computed twice is the same value), and the blocks are
//! compiled for AVX2/FMA where the CPU has it: one 256-bit vector per block.
//! Rows shorter than 8 run value by value.

use super::{sigmoid, FusedAct};

/// One activation as a type, so that a loop runs it without a `match` per
/// value (see [`with_act!`]).
pub(crate) trait Act {
    fn apply(v: f32) -> f32;
    /// The derivative, written in terms of the activation's output `y`.
    fn slope(y: f32) -> f32;
}

pub(crate) struct Linear;
pub(crate) struct Relu;
pub(crate) struct Sigmoid;

impl Act for Linear {
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn slope(_: f32) -> f32 {
        1.0
    }
}

impl Act for Relu {
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        v.max(0.0)
    }
    #[inline(always)]
    fn slope(y: f32) -> f32 {
        if y > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

impl Act for Sigmoid {
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        sigmoid(v)
    }
    #[inline(always)]
    fn slope(y: f32) -> f32 {
        y * (1.0 - y)
    }
}

/// Runs `$body` with `$a` the [`Act`] type of the [`FusedAct`] `$act`.
macro_rules! with_act {
    ($act:expr, $a:ident => $body:expr) => {
        match $act {
            FusedAct::Linear => {
                type $a = $crate::rows::Linear;
                $body
            }
            FusedAct::Relu => {
                type $a = $crate::rows::Relu;
                $body
            }
            FusedAct::Sigmoid => {
                type $a = $crate::rows::Sigmoid;
                $body
            }
        }
    };
}
pub(crate) use with_act;

/// Values per block: one AVX2 vector of `f32`.
const BLOCK: usize = 8;

/// Runs `$body` with `$j, $len` each block of [`BLOCK`] values covering
/// `0..$n`, the last one overlapping the one before when `$n` is not a
/// multiple of [`BLOCK`]; once with `0, $n` when `$n` is shorter. (A macro,
/// not a function taking a closure: the body must be compiled inside the
/// caller, with the caller's target features.)
macro_rules! cover {
    ($n:expr, |$j:ident, $len:ident| $body:block) => {{
        let n: usize = $n;
        if n < BLOCK {
            let ($j, $len) = (0usize, n);
            $body
        } else {
            let mut start = 0;
            while start + BLOCK <= n {
                let ($j, $len) = (start, BLOCK);
                $body
                start += BLOCK;
            }
            if start < n {
                let ($j, $len) = (n - BLOCK, BLOCK);
                $body
            }
        }
    }};
}

/// The portable bodies; [`Rows`] runs them compiled for AVX2 where it can.
mod body {
    use super::{Act, FusedAct, BLOCK};

    #[inline(always)]
    pub fn bias_act(src: &[f32], b: f32, act: FusedAct, dst: &mut [f32]) {
        let src = &src[..dst.len()];
        with_act!(act, A => cover!(dst.len(), |j, len| {
            for (d, s) in dst[j..j + len].iter_mut().zip(&src[j..j + len]) {
                *d = A::apply(s + b);
            }
        }))
    }

    #[inline(always)]
    pub fn bias_act_in_place(xs: &mut [f32], b: f32, act: FusedAct) {
        with_act!(act, A => {
            let mut blocks = xs.chunks_exact_mut(BLOCK);
            for block in &mut blocks {
                for v in block {
                    *v = A::apply(*v + b);
                }
            }
            for v in blocks.into_remainder() {
                *v = A::apply(*v + b);
            }
        })
    }

    #[inline(always)]
    pub fn pool_bias_act(top: &[f32], bottom: &[f32], b: f32, act: FusedAct, dst: &mut [f32], win: &mut [u8]) {
        let n = dst.len();
        let (top, bottom, win) = (&top[..2 * n], &bottom[..2 * n], &mut win[..n]);
        with_act!(act, A => cover!(n, |j, len| {
            let (t, u) = (&top[2 * j..2 * (j + len)], &bottom[2 * j..2 * (j + len)]);
            for (k, (d, w)) in dst[j..j + len].iter_mut().zip(&mut win[j..j + len]).enumerate() {
                // The first maximum in the order top-left, top-right,
                // bottom-left, bottom-right: each row's first, then the top
                // row's unless the bottom's is larger.
                let (t0, t1, u0, u1) = (t[2 * k], t[2 * k + 1], u[2 * k], u[2 * k + 1]);
                let (mt, it) = if t1 > t0 { (t1, 1u8) } else { (t0, 0u8) };
                let (mu, iu) = if u1 > u0 { (u1, 3u8) } else { (u0, 2u8) };
                let (m, i) = if mu > mt { (mu, iu) } else { (mt, it) };
                *d = A::apply(m + b);
                *w = i;
            }
        }))
    }

    #[inline(always)]
    pub fn act_grad(g: &[f32], y: &[f32], act: FusedAct, dst: &mut [f32]) {
        let (g, y) = (&g[..dst.len()], &y[..dst.len()]);
        with_act!(act, A => cover!(dst.len(), |j, len| {
            for ((d, g), y) in dst[j..j + len].iter_mut().zip(&g[j..j + len]).zip(&y[j..j + len]) {
                *d = g * A::slope(*y);
            }
        }))
    }

    #[inline(always)]
    pub fn pool_grad(g: &[f32], y: &[f32], win: &[u8], act: FusedAct, top: &mut [f32], bottom: &mut [f32]) {
        let n = g.len();
        let (y, win, top, bottom) = (&y[..n], &win[..n], &mut top[..2 * n], &mut bottom[..2 * n]);
        with_act!(act, A => cover!(n, |j, len| {
            let (t, u) = (&mut top[2 * j..2 * (j + len)], &mut bottom[2 * j..2 * (j + len)]);
            for (k, ((g, y), &w)) in g[j..j + len].iter().zip(&y[j..j + len]).zip(&win[j..j + len]).enumerate() {
                let v = g * A::slope(*y);
                t[2 * k] = if w == 0 { v } else { 0.0 };
                t[2 * k + 1] = if w == 1 { v } else { 0.0 };
                u[2 * k] = if w == 2 { v } else { 0.0 };
                u[2 * k + 1] = if w == 3 { v } else { 0.0 };
            }
        }))
    }

    #[inline(always)]
    pub fn interleave_bias_act(even: &[f32], odd: &[f32], b: f32, act: FusedAct, dst: &mut [f32]) {
        let n = dst.len() / 2;
        let (even, odd, dst) = (&even[..n], &odd[..n], &mut dst[..2 * n]);
        with_act!(act, A => cover!(n, |j, len| {
            let d = &mut dst[2 * j..2 * (j + len)];
            for (k, (e, o)) in even[j..j + len].iter().zip(&odd[j..j + len]).enumerate() {
                d[2 * k] = A::apply(e + b);
                d[2 * k + 1] = A::apply(o + b);
            }
        }))
    }

    #[inline(always)]
    pub fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
        let n = even.len();
        let (src, odd) = (&src[..2 * n], &mut odd[..n]);
        cover!(n, |j, len| {
            let s = &src[2 * j..2 * (j + len)];
            for (k, (e, o)) in even[j..j + len].iter_mut().zip(&mut odd[j..j + len]).enumerate() {
                *e = s[2 * k];
                *o = s[2 * k + 1];
            }
        })
    }

    #[inline(always)]
    pub fn repeat2(src: &[f32], dst: &mut [f32]) {
        let n = src.len();
        let dst = &mut dst[..2 * n];
        cover!(n, |j, len| {
            let d = &mut dst[2 * j..2 * (j + len)];
            for (k, &v) in src[j..j + len].iter().enumerate() {
                d[2 * k] = v;
                d[2 * k + 1] = v;
            }
        })
    }

    #[inline(always)]
    pub fn sum(xs: &[f32]) -> f32 {
        let mut acc = [0f32; BLOCK];
        let blocks = xs.chunks_exact(BLOCK);
        let tail: f32 = blocks.remainder().iter().sum();
        for block in blocks {
            for (a, v) in acc.iter_mut().zip(block) {
                *a += v;
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

/// Defines each op as a [`Rows`] method that runs its [`body`] compiled for
/// AVX2/FMA where the CPU has it, portably elsewhere.
macro_rules! rows_ops {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {
        #[cfg(target_arch = "x86_64")]
        mod avx2 {
            use super::{body, FusedAct};
            $(
                #[target_feature(enable = "avx2,fma")]
                pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                    body::$name($($arg),*)
                }
            )*
        }

        impl Rows {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $name(self, $($arg: $ty),*) $(-> $ret)? {
                    #[cfg(target_arch = "x86_64")]
                    if self.avx2 {
                        // SAFETY: `Rows::new` found AVX2 and FMA on this CPU.
                        return unsafe { avx2::$name($($arg),*) };
                    }
                    body::$name($($arg),*)
                }
            )*
        }
    };
}

/// The row ops, run as AVX2 vectors where the CPU has AVX2 and FMA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx2: bool,
}

impl Rows {
    /// Checks the CPU (a cached lookup: cheap enough per call of an op).
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        let avx2 = crate::avx2_fma();
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Rows { avx2 }
    }

    /// The portable code, whatever the CPU has (for tests).
    #[cfg(test)]
    fn portable() -> Self {
        Rows { avx2: false }
    }
}

rows_ops! {
    /// `dst[j] = act(src[j] + b)` for every `j` of `dst`.
    fn bias_act(src: &[f32], b: f32, act: FusedAct, dst: &mut [f32]);
    /// `xs[j] = act(xs[j] + b)` (whole blocks, then value by value).
    fn bias_act_in_place(xs: &mut [f32], b: f32, act: FusedAct);
    /// 2×2 max-pooling of the row pair `top`, `bottom` (each `2·n` long at
    /// least) into `dst` (`n`), then bias and activation; `win[j]` is which of
    /// window `j`'s inputs won: 0, 1 top left and right, 2, 3 bottom (the
    /// first maximum in that order).
    fn pool_bias_act(top: &[f32], bottom: &[f32], b: f32, act: FusedAct, dst: &mut [f32], win: &mut [u8]);
    /// `dst[j] = g[j] · act'(y[j])`, the derivative from the output `y`.
    fn act_grad(g: &[f32], y: &[f32], act: FusedAct, dst: &mut [f32]);
    /// The gradient of [`Rows::pool_bias_act`]: `g[j] · act'(y[j])` at window
    /// `j`'s winner in `top`, `bottom` (`2·n` each, `n = g.len()`), zeros at
    /// the three others.
    fn pool_grad(g: &[f32], y: &[f32], win: &[u8], act: FusedAct, top: &mut [f32], bottom: &mut [f32]);
    /// `dst[2j] = act(even[j] + b)`, `dst[2j + 1] = act(odd[j] + b)`: a row
    /// from two phases' rows (`dst.len()` even).
    fn interleave_bias_act(even: &[f32], odd: &[f32], b: f32, act: FusedAct, dst: &mut [f32]);
    /// `even[j] = src[2j]`, `odd[j] = src[2j + 1]` (`n = even.len()`, as
    /// `odd`'s).
    fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]);
    /// `dst[2j] = dst[2j + 1] = src[j]`: one row of 2× nearest up-sampling.
    fn repeat2(src: &[f32], dst: &mut [f32]);
    /// The sum of `xs`, in eight running sums.
    fn sum(xs: &[f32]) -> f32;
}

#[cfg(test)]
mod tests {
    use super::{FusedAct, Rows};

    /// Values with ties and signs, from a small LCG.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 20) % 9) as f32 * 0.5 - 2.0
            })
            .collect()
    }

    /// Every op on every row length from 1 to 40, on the CPU's code and the
    /// portable code, against a plain loop.
    #[test]
    fn rows_match_plain_loops() {
        for rows in [Rows::new(), Rows::portable()] {
            for n in 1..=40 {
                for act in [FusedAct::Linear, FusedAct::Relu, FusedAct::Sigmoid] {
                    check_row(rows, n, act);
                }
            }
        }
    }

    fn check_row(rows: Rows, n: usize, act: FusedAct) {
        let (top, bottom) = (values(2 * n, n as u32), values(2 * n, 7 * n as u32 + 1));
        let mut dst = vec![f32::NAN; n];
        rows.bias_act(&top, 0.25, act, &mut dst);
        let want: Vec<f32> = top[..n].iter().map(|v| act.apply(v + 0.25)).collect();
        assert_eq!(dst, want, "bias_act n={n} {act:?}");
        let mut inplace = top[..n].to_vec();
        rows.bias_act_in_place(&mut inplace, 0.25, act);
        assert_eq!(inplace, want, "bias_act_in_place n={n} {act:?}");

        let mut win = vec![9u8; n];
        rows.pool_bias_act(&top, &bottom, -0.5, act, &mut dst, &mut win);
        for j in 0..n {
            let window = [top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]];
            let first = (0..4).fold(0, |best, i| if window[i] > window[best] { i } else { best });
            assert_eq!(win[j] as usize, first, "pool winner n={n} j={j} {window:?}");
            assert_eq!(dst[j], act.apply(window[first] - 0.5), "pool n={n} j={j}");
        }

        let (g, y) = (values(n, 3 * n as u32), dst.clone());
        rows.act_grad(&g, &y, act, &mut dst);
        let want: Vec<f32> = g.iter().zip(&y).map(|(g, y)| g * act.grad_from_output(*y)).collect();
        assert_eq!(dst, want, "act_grad n={n} {act:?}");

        let (mut t, mut u) = (vec![f32::NAN; 2 * n], vec![f32::NAN; 2 * n]);
        rows.pool_grad(&g, &y, &win, act, &mut t, &mut u);
        for j in 0..n {
            let got = [t[2 * j], t[2 * j + 1], u[2 * j], u[2 * j + 1]];
            let mut want = [0f32; 4];
            want[win[j] as usize] = g[j] * act.grad_from_output(y[j]);
            assert_eq!(got, want, "pool_grad n={n} j={j}");
        }

        let mut woven = vec![f32::NAN; 2 * n];
        rows.interleave_bias_act(&top, &bottom, 0.5, act, &mut woven);
        for j in 0..n {
            assert_eq!(
                [woven[2 * j], woven[2 * j + 1]],
                [act.apply(top[j] + 0.5), act.apply(bottom[j] + 0.5)]
            );
        }

        let (mut even, mut odd) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        rows.deinterleave(&top, &mut even, &mut odd);
        assert!(
            (0..n).all(|j| even[j] == top[2 * j] && odd[j] == top[2 * j + 1]),
            "deinterleave n={n}"
        );

        let mut wide = vec![f32::NAN; 2 * n];
        rows.repeat2(&g, &mut wide);
        assert!(
            wide.chunks(2).zip(&g).all(|(p, v)| p[0] == *v && p[1] == *v),
            "repeat2 n={n}"
        );

        let exact: f32 = top.iter().map(|&v| v as f64).sum::<f64>() as f32;
        assert_eq!(rows.sum(&top), exact, "sum n={n} (halves are exact)");
    }
}
