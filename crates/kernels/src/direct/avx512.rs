//! The AVX-512 variant: 16-float vectors, 32 registers; blocks of 48
//! outputs × 8 filters for the forward kernel (24 accumulators, two of the
//! packed 4-filter blocks at a time) and of 3 taps × 4 filters for the
//! kernel gradient (with 8 filters LLVM spills its accumulators to the
//! stack, and it ran at half the speed).
//!
//! Loads go through `packed` structs for the reason given in [`super::avx2`].

use super::avx2;
use super::{Padded, Slots, OBLOCK};
use std::arch::x86_64::{
    __m256, __m512, _mm256_add_ps, _mm256_castpd_ps, _mm512_castps512_ps256, _mm512_castps_pd, _mm512_extractf64x4_pd,
    _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps,
};

#[repr(C, packed)]
struct Vector(__m512);
#[repr(C, packed)]
struct Scalar(f32);

/// Sixteen floats from `p`, any alignment.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load(p: *const f32) -> __m512 {
    (*(p as *const Vector)).0
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store(p: *mut f32, v: __m512) {
    (*(p as *mut Vector)).0 = v;
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn splat(p: *const f32) -> __m512 {
    _mm512_set1_ps((*(p as *const Scalar)).0)
}

/// Lanes `i` and `i + 8` added: the 8-lane partial sums the kernel
/// gradient keeps (`super::reduce_lanes` finishes them).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn fold(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}

/// Filters handled from packed block `b` of `count` filters: 8 (two blocks)
/// where at least five are left, else 4, or 1 for a last lone filter.
fn width(count: usize, b: usize) -> usize {
    match count - b * OBLOCK {
        1 => 1,
        2..=4 => 4,
        _ => 8,
    }
}

/// See `super::correlate_image`, which checks the lengths.
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; `pd.isa` is AVX-512; the slices are
/// as long as `super::correlate_image` asserts.
#[target_feature(enable = "avx512f,avx2,fma")]
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
    for q0 in (0..pd.qp).step_by(48) {
        let mut b = 0;
        while b < cout.div_ceil(OBLOCK) {
            let (wb, o) = (&packed[b * bstride..], &mut out[b * OBLOCK * pd.qp..]);
            let ob = width(cout, b);
            // Three vectors of outputs, or what is left of the plane.
            macro_rules! run {
                ($nv:literal) => {
                    match ob {
                        1 => forward_block::<1, $nv>(xp, plane, cin, taps, wb, bstride, o, pd.qp, q0),
                        4 => forward_block::<4, $nv>(xp, plane, cin, taps, wb, bstride, o, pd.qp, q0),
                        _ => forward_block::<8, $nv>(xp, plane, cin, taps, wb, bstride, o, pd.qp, q0),
                    }
                };
            }
            match (pd.qp - q0) / 16 {
                1 => run!(1),
                2 => run!(2),
                _ => run!(3),
            }
            b += ob.div_ceil(OBLOCK);
        }
    }
}

/// `16·NV` outputs of `OB` filters; filters 4..8 come from the next packed
/// block, `bstride` further on.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_block<const OB: usize, const NV: usize>(
    xp: &[f32],
    plane: usize,
    cin: usize,
    taps: &[usize],
    wb: &[f32],
    bstride: usize,
    out: &mut [f32],
    qp: usize,
    q0: usize,
) {
    debug_assert!(wb.len() >= (OB - 1) / OBLOCK * bstride + cin * taps.len() * OBLOCK);
    debug_assert!(out.len() >= (OB - 1) * qp + q0 + 16 * NV);
    let mut acc = [[_mm512_setzero_ps(); NV]; OB];
    let mut base = xp.as_ptr().wrapping_add(q0);
    let mut wi = wb.as_ptr();
    for _ in 0..cin {
        for &off in taps {
            let p = base.wrapping_add(off);
            let mut xv = [_mm512_setzero_ps(); NV];
            for (j, v) in xv.iter_mut().enumerate() {
                *v = load(p.wrapping_add(16 * j));
            }
            for (ob, a) in acc.iter_mut().enumerate() {
                let wv = splat(wi.wrapping_add(ob / OBLOCK * bstride + ob % OBLOCK));
                for (aj, &xj) in a.iter_mut().zip(&xv) {
                    *aj = _mm512_fmadd_ps(wv, xj, *aj);
                }
            }
            wi = wi.wrapping_add(OBLOCK);
        }
        base = base.wrapping_add(plane);
    }
    let optr = out.as_mut_ptr().wrapping_add(q0);
    for (ob, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            store(optr.wrapping_add(ob * qp + 16 * j), *v);
        }
    }
}

/// See `super::filter_image_taps`, which checks the lengths.
///
/// # Safety
/// The CPU has the features this variant is compiled for; `pd.isa` is
/// this variant; the slices are as long as `super::filter_image_taps`
/// asserts.
#[target_feature(enable = "avx512f,avx2,fma")]
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
            // As in the AVX2 variant: filters c·9·8 apart.
            let d = &mut dw8[(b * OBLOCK * c * 9 + r * 3) * 8..];
            if f - b * OBLOCK == 1 {
                filter_block::<1>(g, slots.pitch, span, xp, offs, d, c * 9 * 8)
            } else {
                filter_block::<OBLOCK>(g, slots.pitch, span, xp, offs, d, c * 9 * 8)
            }
        }
    }
}

#[target_feature(enable = "avx512f,avx2,fma")]
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
    let mut acc = [[_mm512_setzero_ps(); 3]; OB];
    let (mut g, mut x) = (gp.as_ptr(), xp.as_ptr());
    for _ in 0..span / 16 {
        let x0 = load(x.wrapping_add(offs[0]));
        let x1 = load(x.wrapping_add(offs[1]));
        let x2 = load(x.wrapping_add(offs[2]));
        for (ob, a) in acc.iter_mut().enumerate() {
            let gv = load(g.wrapping_add(ob * gstride));
            a[0] = _mm512_fmadd_ps(gv, x0, a[0]);
            a[1] = _mm512_fmadd_ps(gv, x1, a[1]);
            a[2] = _mm512_fmadd_ps(gv, x2, a[2]);
        }
        g = g.wrapping_add(16);
        x = x.wrapping_add(16);
    }
    let d = dw8.as_mut_ptr();
    for (ob, a) in acc.iter().enumerate() {
        for (kx, v) in a.iter().enumerate() {
            let p = d.wrapping_add(ob * fstride + kx * 8);
            avx2::store(p, _mm256_add_ps(avx2::load(p), fold(*v)));
        }
    }
}

// The kernel gradient with the filters across the lanes: 24 accumulators.
super::lanes::lane_kernels!("avx512f,avx2,fma", _mm512_setzero_ps, _mm512_fmadd_ps, 16;
    (1, 1), (1, 2), (1, 4), (1, 8), (2, 1), (2, 2), (2, 4), (3, 1), (3, 2), (4, 1), (4, 2));

// The channels-last products: 24 accumulators.
super::products::tile_gemm_kernels!("avx512f,avx2,fma", _mm512_setzero_ps, _mm512_fmadd_ps, 16;
    (4, 6), (4, 4), (4, 2), (4, 1), (3, 8), (3, 4), (3, 2), (3, 1), (2, 12), (2, 8), (2, 4), (2, 2), (2, 1),
    (1, 24), (1, 16), (1, 8), (1, 4), (1, 2), (1, 1));
