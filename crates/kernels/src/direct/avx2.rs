//! The AVX2/FMA variant: 8-float vectors, 16 registers; blocks of 24
//! outputs × 4 filters (forward) and 3 taps × 4 filters (kernel gradient).
//!
//! The kernels run inside the notebooks' builds, which keep debug
//! assertions on (evcxr's profile): they use wrapping pointer arithmetic and
//! loads through `packed` structs, which compile to plain unaligned loads
//! without the per-access checks that `ptr::add` and `_mm256_loadu_ps`
//! (a checked `copy_nonoverlapping`) carry in such builds.

use super::{Padded, Slots, OBLOCK};
use std::arch::x86_64::{__m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps};

#[repr(C, packed)]
struct Vector(__m256);
#[repr(C, packed)]
struct Scalar(f32);

/// Eight floats from `p`, any alignment.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn load(p: *const f32) -> __m256 {
    (*(p as *const Vector)).0
}

/// Stores eight floats at `p`, any alignment.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn store(p: *mut f32, v: __m256) {
    (*(p as *mut Vector)).0 = v;
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn splat(p: *const f32) -> __m256 {
    _mm256_set1_ps((*(p as *const Scalar)).0)
}

/// See `super::correlate_image`, which checks the lengths.
///
/// # Safety
/// The CPU has AVX2 and FMA; `pd.isa` is AVX2; the slices are as long as
/// `super::correlate_image` asserts.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn conv_image(
    pd: &Padded,
    cin: usize,
    cout: usize,
    xp: &[f32],
    plane: usize,
    taps: &[usize],
    packed: &[f32],
    out: &mut [f32],
) {
    let bstride = cin * taps.len() * OBLOCK;
    for q0 in (0..pd.qp).step_by(24) {
        for b in 0..cout.div_ceil(OBLOCK) {
            let (wb, o) = (&packed[b * bstride..], &mut out[b * OBLOCK * pd.qp..]);
            let one = cout - b * OBLOCK == 1;
            // Three vectors of outputs, or what is left of the plane.
            macro_rules! run {
                ($nv:literal) => {
                    if one {
                        forward_block::<1, $nv>(xp, plane, cin, taps, wb, o, pd.qp, q0)
                    } else {
                        forward_block::<OBLOCK, $nv>(xp, plane, cin, taps, wb, o, pd.qp, q0)
                    }
                };
            }
            match (pd.qp - q0) / 8 {
                1 => run!(1),
                2 => run!(2),
                _ => run!(3),
            }
        }
    }
}

/// `8·NV` outputs of `OB` filters.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_block<const OB: usize, const NV: usize>(
    xp: &[f32],
    plane: usize,
    cin: usize,
    taps: &[usize],
    wb: &[f32],
    out: &mut [f32],
    qp: usize,
    q0: usize,
) {
    debug_assert!(wb.len() >= cin * taps.len() * OBLOCK && out.len() >= (OB - 1) * qp + q0 + 8 * NV);
    let mut acc = [[_mm256_setzero_ps(); NV]; OB];
    let mut base = xp.as_ptr().wrapping_add(q0);
    let mut wi = wb.as_ptr();
    for _ in 0..cin {
        for &off in taps {
            let p = base.wrapping_add(off);
            let mut xv = [_mm256_setzero_ps(); NV];
            for (j, v) in xv.iter_mut().enumerate() {
                *v = load(p.wrapping_add(8 * j));
            }
            for (ob, a) in acc.iter_mut().enumerate() {
                let wv = splat(wi.wrapping_add(ob));
                for (aj, &xj) in a.iter_mut().zip(&xv) {
                    *aj = _mm256_fmadd_ps(wv, xj, *aj);
                }
            }
            wi = wi.wrapping_add(OBLOCK);
        }
        base = base.wrapping_add(plane);
    }
    let optr = out.as_mut_ptr().wrapping_add(q0);
    for (ob, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            store(optr.wrapping_add(ob * qp + 8 * j), *v);
        }
    }
}

/// See `super::filter_image_taps`, which checks the lengths.
///
/// # Safety
/// The CPU has the features this variant is compiled for; `pd.isa` is
/// this variant; the slices are as long as `super::filter_image_taps`
/// asserts.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn filter_image(
    pd: &Padded,
    slots: Slots,
    c: usize,
    f: usize,
    gpad: &[f32],
    xp: &[f32],
    rows: &[[usize; 3]],
    dw8: &mut [f32],
) {
    let span = slots.span(pd);
    for b in 0..f.div_ceil(OBLOCK) {
        let g = &gpad[b * OBLOCK * slots.pitch + pd.wp + 1..];
        for (r, offs) in rows.iter().enumerate() {
            // Partial sums of filter o = b·OBLOCK + ob, taps 3r..3r + 3 (row
            // r = i·3 + ky of the kernel): at (o·c·9 + 3r)·8, filters c·9·8 apart.
            let d = &mut dw8[(b * OBLOCK * c * 9 + r * 3) * 8..];
            if f - b * OBLOCK == 1 {
                filter_block::<1>(g, slots.pitch, span, xp, offs, d, c * 9 * 8)
            } else {
                filter_block::<OBLOCK>(g, slots.pitch, span, xp, offs, d, c * 9 * 8)
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn filter_block<const OB: usize>(
    gp: &[f32],
    gstride: usize,
    span: usize,
    xp: &[f32],
    offs: &[usize; 3],
    dw8: &mut [f32],
    fstride: usize,
) {
    debug_assert!(gp.len() >= (OB - 1) * gstride + span && xp.len() >= span + offs.iter().max().unwrap());
    debug_assert!(dw8.len() >= (OB - 1) * fstride + 24);
    let mut acc = [[_mm256_setzero_ps(); 3]; OB];
    let (mut g, mut x) = (gp.as_ptr(), xp.as_ptr());
    for _ in 0..span / 8 {
        let x0 = load(x.wrapping_add(offs[0]));
        let x1 = load(x.wrapping_add(offs[1]));
        let x2 = load(x.wrapping_add(offs[2]));
        for (ob, a) in acc.iter_mut().enumerate() {
            let gv = load(g.wrapping_add(ob * gstride));
            a[0] = _mm256_fmadd_ps(gv, x0, a[0]);
            a[1] = _mm256_fmadd_ps(gv, x1, a[1]);
            a[2] = _mm256_fmadd_ps(gv, x2, a[2]);
        }
        g = g.wrapping_add(8);
        x = x.wrapping_add(8);
    }
    let d = dw8.as_mut_ptr();
    for (ob, a) in acc.iter().enumerate() {
        for (kx, v) in a.iter().enumerate() {
            let p = d.wrapping_add(ob * fstride + kx * 8);
            store(p, _mm256_add_ps(load(p), *v));
        }
    }
}

// The kernel gradient with the filters across the lanes: 12 accumulators.
super::lanes::lane_kernels!("avx2,fma", _mm256_setzero_ps, _mm256_fmadd_ps, 8;
    (1, 1), (1, 2), (1, 4), (2, 1), (2, 2));

// The channels-last products: 12 accumulators.
super::products::tile_gemm_kernels!("avx2,fma", _mm256_setzero_ps, _mm256_fmadd_ps, 8;
    (2, 6), (2, 4), (2, 2), (2, 1), (1, 12), (1, 8), (1, 4), (1, 2), (1, 1));
