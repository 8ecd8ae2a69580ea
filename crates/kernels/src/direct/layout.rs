//! The copies between candle's channel-major planes `(c, h·w)` and the
//! position-major rows `(h·w, cp)` the channels-last passes read: a blocked
//! transpose, 8×8 values at a time in AVX2 registers.

/// `dst[j·ds + i] = src[i·ss + j]` for `i < rows`, `j < cols`.
pub(crate) fn transpose(src: &[f32], ss: usize, (rows, cols): (usize, usize), dst: &mut [f32], ds: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        ss >= cols && ds >= rows && src.len() >= (rows - 1) * ss + cols && dst.len() >= (cols - 1) * ds + rows,
        "transpose: {rows}x{cols} values do not fit (source {} at pitch {ss}, destination {} at pitch {ds})",
        src.len(),
        dst.len()
    );
    #[cfg(target_arch = "x86_64")]
    if rows >= 8 && cols >= 8 && crate::avx2_fma() {
        // SAFETY: the CPU has AVX2; every block lies inside both slices
        // (asserted above: blocks start at most at rows − 8, cols − 8).
        unsafe { transpose_avx2(src, ss, (rows, cols), dst, ds) };
        return;
    }
    for i in 0..rows {
        for (j, &v) in src[i * ss..][..cols].iter().enumerate() {
            dst[j * ds + i] = v;
        }
    }
}

/// Starts of the 8-wide blocks covering `0..n` (`n ≥ 8`), the last one
/// overlapping the one before (a value transposed twice is the same value).
#[cfg(target_arch = "x86_64")]
fn blocks(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(8).map(move |s| s.min(n - 8))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose_avx2(src: &[f32], ss: usize, (rows, cols): (usize, usize), dst: &mut [f32], ds: usize) {
    for i0 in blocks(rows) {
        for j0 in blocks(cols) {
            block8(
                src.as_ptr().wrapping_add(i0 * ss + j0),
                ss,
                dst.as_mut_ptr().wrapping_add(j0 * ds + i0),
                ds,
            );
        }
    }
}

/// One 8×8 block: rows `ss` apart at `s` to rows `ds` apart at `d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block8(s: *const f32, ss: usize, d: *mut f32, ds: usize) {
    use super::avx2::{load, store};
    use std::arch::x86_64::{_mm256_permute2f128_ps as lanes, _mm256_shuffle_ps as shuffle};
    use std::arch::x86_64::{_mm256_unpackhi_ps as hi, _mm256_unpacklo_ps as lo};
    let r: [_; 8] = std::array::from_fn(|k| load(s.wrapping_add(k * ss)));
    // Pairs of rows interleaved, then pairs of pairs, then the halves.
    let t = [
        lo(r[0], r[1]),
        hi(r[0], r[1]),
        lo(r[2], r[3]),
        hi(r[2], r[3]),
        lo(r[4], r[5]),
        hi(r[4], r[5]),
        lo(r[6], r[7]),
        hi(r[6], r[7]),
    ];
    let u = [
        shuffle::<0x44>(t[0], t[2]),
        shuffle::<0xEE>(t[0], t[2]),
        shuffle::<0x44>(t[1], t[3]),
        shuffle::<0xEE>(t[1], t[3]),
        shuffle::<0x44>(t[4], t[6]),
        shuffle::<0xEE>(t[4], t[6]),
        shuffle::<0x44>(t[5], t[7]),
        shuffle::<0xEE>(t[5], t[7]),
    ];
    for k in 0..4 {
        store(d.wrapping_add(k * ds), lanes::<0x20>(u[k], u[k + 4]));
        store(d.wrapping_add((k + 4) * ds), lanes::<0x31>(u[k], u[k + 4]));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_every_shape() {
        for (rows, cols) in [(1, 1), (3, 7), (8, 8), (9, 8), (8, 13), (16, 49), (33, 14), (64, 9)] {
            let (ss, ds) = (cols + 3, rows + 5);
            let src: Vec<f32> = (0..rows * ss).map(|v| v as f32).collect();
            let mut dst = vec![f32::NAN; cols * ds];
            super::transpose(&src, ss, (rows, cols), &mut dst, ds);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(dst[j * ds + i], src[i * ss + j], "{rows}x{cols} at ({i}, {j})");
                }
            }
        }
    }
}
