//! Flat addressing of the zero-bordered planes the direct kernels read and
//! write: how a plane is padded, where a pixel and a tap sit, and the copies
//! into and out of that layout.

use super::Isa;
use crate::rows::Rows;

/// Flat addressing of zero-bordered planes for an `h × w` image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Padded {
    pub h: usize,
    pub w: usize,
    /// Padded row length, `w + 2`.
    pub wp: usize,
    /// Outputs computed per plane, rounded up to whole vectors.
    pub qp: usize,
    /// Distance between consecutive padded input planes (room for the
    /// furthest tap of the last block).
    pub stride: usize,
    /// The kernels that will read and write these planes.
    pub isa: Isa,
}

impl Padded {
    pub fn new(h: usize, w: usize, isa: Isa) -> Self {
        let wp = w + 2;
        let qp = (h * wp).div_ceil(isa.lanes()) * isa.lanes();
        let stride = (qp + 2 * wp + 2).div_ceil(16) * 16;
        Padded {
            h,
            w,
            wp,
            qp,
            stride,
            isa,
        }
    }

    /// Offsets of the nine taps, row-major `(ky, kx)`.
    pub(super) fn taps(&self) -> [usize; 9] {
        let mut t = [0; 9];
        for (i, o) in t.iter_mut().enumerate() {
            *o = (i / 3) * self.wp + i % 3;
        }
        t
    }

    /// Where the taps `(ky, 0..3)` of channel `i` read, for each
    /// `i·3 + ky` of `c` channels' planes `pitch` apart (see
    /// [`super::filter_image_taps`]).
    pub(super) fn rows(&self, c: usize, pitch: usize) -> Vec<[usize; 3]> {
        (0..c * 3)
            .map(|r| {
                let at = (r / 3) * pitch + (r % 3) * self.wp;
                [at, at + 1, at + 2]
            })
            .collect()
    }

    /// Copies the `h × w` outputs of each of `c` planes of `out` `(c, qp)`
    /// (output `(r, col)` at `r·wp + col`) to `dst` `(c, h, w)`.
    pub fn copy_out(&self, out: &[f32], c: usize, dst: &mut [f32]) {
        let (h, w) = (self.h, self.w);
        for o in 0..c {
            for r in 0..h {
                let src = &out[o * self.qp + r * self.wp..][..w];
                dst[(o * h + r) * w..(o * h + r + 1) * w].copy_from_slice(src);
            }
        }
    }

    /// Index, in a padded plane, of pixel `(r, col)`; in an output plane
    /// (`(h, qp)` rows of `wp`), output `(r, col)` is `at(r, col) - wp - 1`.
    #[inline]
    pub fn at(&self, r: usize, col: usize) -> usize {
        (r + 1) * self.wp + col + 1
    }

    /// Copies `planes` `(c, h/f, w/f)` into the interiors of `dst`
    /// `(c, stride)`, each pixel repeated `f × f` times (nearest
    /// up-sampling); the borders stay zero.
    pub fn fill_upsampled(&self, planes: &[f32], c: usize, f: usize, dst: &mut [f32]) {
        if f == 1 {
            return self.fill(planes, c, dst);
        }
        let (hs, ws) = (self.h / f, self.w / f);
        let rows = Rows::new();
        for ch in 0..c {
            let src = &planes[ch * hs * ws..(ch + 1) * hs * ws];
            let d = &mut dst[ch * self.stride..];
            for r in 0..self.h {
                let row = &src[(r / f) * ws..(r / f + 1) * ws];
                let at = self.at(r, 0);
                let out = &mut d[at..at + self.w];
                if f == 2 {
                    rows.repeat2(row, out);
                } else {
                    for (block, &v) in out.chunks_exact_mut(f).zip(row) {
                        block.fill(v);
                    }
                }
            }
        }
    }

    /// Copies `planes` `(c, h, w)` into the interiors of `dst` `(c, stride)`,
    /// whose borders stay zero.
    pub fn fill(&self, planes: &[f32], c: usize, dst: &mut [f32]) {
        self.fill_pitched(planes, c, dst, self.stride);
    }

    /// [`Padded::fill`] with the padded planes `pitch` apart in `dst`.
    pub fn fill_pitched(&self, planes: &[f32], c: usize, dst: &mut [f32], pitch: usize) {
        for ch in 0..c {
            let src = &planes[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            let d = &mut dst[ch * pitch..];
            for r in 0..self.h {
                let at = (r + 1) * self.wp + 1;
                d[at..at + self.w].copy_from_slice(&src[r * self.w..(r + 1) * self.w]);
            }
        }
    }
}
