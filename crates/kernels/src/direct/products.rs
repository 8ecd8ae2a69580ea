//! The matrix products of the channels-last passes (Winograd's, the
//! transposed convolutions'): `out (rows, nv vectors) (+)=
//! a (rows, k) · b (k, nv vectors)`, the columns of `out` and `b` across
//! the vector lanes and `a` read one value at a time (broadcast), at any
//! row and column strides. The forward pass reads `a` row-major (tiles ×
//! channels), the kernel gradient column-major (the same values, channels
//! × tiles): strides let one kernel serve both without a copy.

use super::Isa;

/// One call of a variant's `tile_gemm`: `MR` rows of `NV` vectors.
#[cfg(target_arch = "x86_64")]
pub(in crate::direct) struct GemmTile {
    /// `a` at the tile's first row, column 0.
    pub a: *const f32,
    /// Distance in `a` between rows, and between columns.
    pub a_row: usize,
    pub a_k: usize,
    /// `b` at row 0 and the tile's first vector; rows `b_k` apart.
    pub b: *const f32,
    pub b_k: usize,
    /// `out` at the tile's first row and vector; rows `out_row` apart.
    pub out: *mut f32,
    pub out_row: usize,
    /// Columns of `a` (rows of `b`) summed over.
    pub k: usize,
    /// Adds to `out` instead of overwriting it.
    pub add: bool,
}

/// Writes a variant's `tile_gemm(nv, mr, tile)` and the `gemm_block`
/// kernels it dispatches to, for the `(nv, mr)` pairs listed; the invoking
/// module has `load`, `store` and `splat` for its vectors.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_gemm_kernels {
    ($features:literal, $zero:ident, $fma:ident, $lanes:literal; $(($v:literal, $r:literal)),*) => {
        /// See `super::products::gemm`, which checks the lengths and
        /// picks `nv` and `mr` from the pairs this variant has.
        ///
        /// # Safety
        /// The CPU has this variant's features; `t`'s pointers reach every
        /// value its strides, `k`, `nv` and `mr` address.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn tile_gemm(nv: usize, mr: usize, t: &super::products::GemmTile) {
            match (nv, mr) {
                $(($v, $r) => gemm_block::<$v, $r>(t),)*
                _ => unreachable!("winograd gemm: no kernel for {nv} vectors × {mr} rows"),
            }
        }

        /// `MR` rows of `NV` vectors of `out`.
        #[target_feature(enable = $features)]
        unsafe fn gemm_block<const NV: usize, const MR: usize>(t: &super::products::GemmTile) {
            let mut acc = [[$zero(); NV]; MR];
            if t.add {
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, a) in row.iter_mut().enumerate() {
                        *a = load(t.out.wrapping_add(i * t.out_row + $lanes * v));
                    }
                }
            }
            let (mut a, mut b) = (t.a, t.b);
            for _ in 0..t.k {
                let mut bv = [$zero(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = load(b.wrapping_add($lanes * v));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let s = splat(a.wrapping_add(i * t.a_row));
                    for (acc_v, &x) in row.iter_mut().zip(&bv) {
                        *acc_v = $fma(s, x, *acc_v);
                    }
                }
                a = a.wrapping_add(t.a_k);
                b = b.wrapping_add(t.b_k);
            }
            for (i, row) in acc.iter().enumerate() {
                for (v, a) in row.iter().enumerate() {
                    store(t.out.wrapping_add(i * t.out_row + $lanes * v), *a);
                }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(in crate::direct) use tile_gemm_kernels;

/// One matrix product: `out[i][j] (+)= Σ_k a[i·a_row + k·a_k] · b[k·b_k +
/// j]` for `i < rows`, `j < nv·lanes`, `k < k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product {
    pub rows: usize,
    pub k: usize,
    /// Vectors per row of `out` and `b`.
    pub nv: usize,
    pub a_row: usize,
    pub a_k: usize,
    pub b_k: usize,
    pub out_row: usize,
    pub add: bool,
}

/// Vectors per tile at most, and the row counts each vector count has
/// kernels for, largest first: 24 accumulators with AVX-512's 32
/// registers, 12 with AVX2's 16 (the vectors of `b` and the broadcast take
/// the rest).
fn tiles(isa: Isa, nv: usize) -> &'static [usize] {
    match (isa, nv) {
        (Isa::Avx512, 4) => &[6, 4, 2, 1],
        (Isa::Avx512, 3) => &[8, 4, 2, 1],
        (Isa::Avx512, 2) => &[12, 8, 4, 2, 1],
        (Isa::Avx512, _) => &[24, 16, 8, 4, 2, 1],
        (Isa::Avx2, 2) => &[6, 4, 2, 1],
        (Isa::Avx2, _) => &[12, 8, 4, 2, 1],
    }
}

fn widest(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 4,
        Isa::Avx2 => 2,
    }
}

/// Runs `p` on the kernels of `isa`.
// Elsewhere than x86-64 no variant exists (`on_cpu` is false, the assert
// stops the call).
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) fn gemm(isa: Isa, p: &Product, a: &[f32], b: &[f32], out: &mut [f32]) {
    let lanes = isa.lanes();
    let last = |rows: usize, row: usize, cols: usize, col: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * row + (cols - 1) * col + 1
        }
    };
    assert!(
        isa.on_cpu()
            && a.len() >= last(p.rows, p.a_row, p.k, p.a_k)
            && b.len() >= last(p.k, p.b_k, 1, 0) + p.nv * lanes - 1
            && out.len() >= last(p.rows, p.out_row, 1, 0) + p.nv * lanes - 1,
        "winograd gemm: buffers too short for {p:?} (a {}, b {}, out {})",
        a.len(),
        b.len(),
        out.len()
    );
    let mut v0 = 0;
    while v0 < p.nv {
        let nv = (p.nv - v0).min(widest(isa));
        let mut r0 = 0;
        while r0 < p.rows {
            let mr = tiles(isa, nv).iter().copied().find(|&m| m <= p.rows - r0).unwrap_or(1);
            #[cfg(target_arch = "x86_64")]
            {
                let tile = GemmTile {
                    a: a.as_ptr().wrapping_add(r0 * p.a_row),
                    a_row: p.a_row,
                    a_k: p.a_k,
                    b: b.as_ptr().wrapping_add(v0 * lanes),
                    b_k: p.b_k,
                    out: out.as_mut_ptr().wrapping_add(r0 * p.out_row + v0 * lanes),
                    out_row: p.out_row,
                    k: p.k,
                    add: p.add,
                };
                // SAFETY: the CPU has the variant (asserted); the tile reads
                // rows r0..r0 + mr ≤ rows of `a` and of `out`, columns
                // below k, and vectors v0..v0 + nv ≤ nv of `b` and `out`,
                // all inside the slices (asserted above).
                unsafe {
                    match isa {
                        Isa::Avx2 => super::avx2::tile_gemm(nv, mr, &tile),
                        Isa::Avx512 => super::avx512::tile_gemm(nv, mr, &tile),
                    }
                }
            }
            r0 += mr;
        }
        v0 += nv;
    }
}
