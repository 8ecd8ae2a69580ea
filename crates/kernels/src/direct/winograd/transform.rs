//! The Winograd F(2×2, 3×3) transforms, tile by tile, with the channels (or
//! filters) across the lanes: `L` values at a time, `L` the variant's
//! vector width, so that each `[f32; L]` below is one register.
//!
//! In one dimension, for a 4-pixel input `d`, a 3-tap kernel `g` and the
//! 2 outputs `y`:
//!
//! ```text
//! input   v = Bᵀ d = (d0 − d2, d1 + d2, d2 − d1, d1 − d3)
//! kernel  u = G g  = (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2)
//! output  y = Aᵀ m = (m0 + m1 + m2, m1 − m2 − m3),   m = u ⊙ v
//! ```
//!
//! and in two, `V = Bᵀ d B`, `U = G g Gᵀ`, `Y = Aᵀ (Σ_channels U ⊙ V) A`.
//! The backward pass runs the same maps transposed: the output gradient
//! `dY` becomes `Ĝ = A dY Aᵀ`, the kernel gradient is `Gᵀ (Σ_tiles V ⊙ Ĝ)
//! G` and the input gradient `B (Σ_filters U ⊙ Ĝ) Bᵀ`, each tile's 4×4
//! added where the tiles overlap.

use crate::rows::Act;

/// `L` values from `s` at `at`.
#[inline(always)]
fn get<const L: usize>(s: &[f32], at: usize) -> [f32; L] {
    s[at..at + L].try_into().expect("L values")
}

#[inline(always)]
fn put<const L: usize>(s: &mut [f32], at: usize, v: [f32; L]) {
    s[at..at + L].copy_from_slice(&v);
}

#[inline(always)]
fn add<const L: usize>(a: [f32; L], b: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| a[i] + b[i])
}

#[inline(always)]
fn sub<const L: usize>(a: [f32; L], b: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| a[i] - b[i])
}

#[inline(always)]
fn neg<const L: usize>(a: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| -a[i])
}

/// `Bᵀ (d0, d1, d2, d3)`.
#[inline(always)]
fn bt<const L: usize>(d: [[f32; L]; 4]) -> [[f32; L]; 4] {
    [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3])]
}

/// `B (z0, z1, z2, z3)`, the transpose of [`bt`].
#[inline(always)]
fn b<const L: usize>(z: [[f32; L]; 4]) -> [[f32; L]; 4] {
    [z[0], add(sub(z[1], z[2]), z[3]), sub(add(z[1], z[2]), z[0]), neg(z[3])]
}

/// `Aᵀ (m0, m1, m2, m3)`.
#[inline(always)]
fn at<const L: usize>(m: [[f32; L]; 4]) -> [[f32; L]; 2] {
    [add(add(m[0], m[1]), m[2]), sub(sub(m[1], m[2]), m[3])]
}

/// `A (y0, y1)`, the transpose of [`at`].
#[inline(always)]
fn a<const L: usize>(y: [[f32; L]; 2]) -> [[f32; L]; 4] {
    [y[0], add(y[0], y[1]), sub(y[0], y[1]), neg(y[1])]
}

/// Where a tile's values sit: its 4×4 pixels in a position-major padded
/// input (`at + i·wp + j`, positions `cp` values apart), and its 16 points
/// in a transform (`(ξ·tiles + t)·cp`).
#[derive(Debug, Clone, Copy)]
pub(super) struct TileAt {
    /// The tile's top-left position in the padded grid.
    pub at: usize,
    /// Positions per padded row.
    pub wp: usize,
    /// The tile's index, and the tiles per point.
    pub t: usize,
    pub tiles: usize,
    /// Values per position and per point: channels rounded up to whole vectors.
    pub cp: usize,
}

/// The 16 vectors of one tile at `l`: `(i, j)` at `at + i·wp + j` of a
/// position-major grid (or, for points, `(p, q)` via [`point`]).
#[inline(always)]
fn pixels<const L: usize>(k: TileAt, s: &[f32], l: usize) -> [[[f32; L]; 4]; 4] {
    let mut d = [[[0f32; L]; 4]; 4];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = get(s, (k.at + i * k.wp + j) * k.cp + l);
        }
    }
    d
}

/// Where point `(p, q)` of the tile sits, at lane offset `l`.
#[inline(always)]
fn point(k: TileAt, p: usize, q: usize, l: usize) -> usize {
    ((p * 4 + q) * k.tiles + k.t) * k.cp + l
}

/// The tile's 16 points at `l`.
#[inline(always)]
fn points<const L: usize>(k: TileAt, s: &[f32], l: usize) -> [[[f32; L]; 4]; 4] {
    let mut m = [[[0f32; L]; 4]; 4];
    for (p, row) in m.iter_mut().enumerate() {
        for (q, v) in row.iter_mut().enumerate() {
            *v = get(s, point(k, p, q, l));
        }
    }
    m
}

/// `t` transposed: `out[j][i] = t[i][j]`.
#[inline(always)]
fn flip<const L: usize, const N: usize, const M: usize>(t: [[[f32; L]; M]; N]) -> [[[f32; L]; N]; M] {
    let mut out = [[[0f32; L]; N]; M];
    for (i, row) in t.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            out[j][i] = *v;
        }
    }
    out
}

/// `V = Bᵀ d B` of one tile: `x` the padded input, position-major.
#[inline(always)]
pub(super) fn input_tile<const L: usize>(k: TileAt, x: &[f32], v: &mut [f32]) {
    for l in (0..k.cp).step_by(L) {
        // Down the columns (`cols[j][p]`), then along the rows.
        let d = flip(pixels::<L>(k, x, l));
        let cols = [bt(d[0]), bt(d[1]), bt(d[2]), bt(d[3])];
        let rows = flip(cols);
        for (p, r) in rows.into_iter().enumerate() {
            for (q, val) in bt(r).into_iter().enumerate() {
                put(v, point(k, p, q, l), val);
            }
        }
    }
}

/// Adds `B Z Bᵀ` of one tile to the padded, position-major input gradient
/// `dx`: the transpose of [`input_tile`].
#[inline(always)]
pub(super) fn input_grad_tile<const L: usize>(k: TileAt, z: &[f32], dx: &mut [f32]) {
    for l in (0..k.cp).step_by(L) {
        let zt = flip(points::<L>(k, z, l));
        let cols = [b(zt[0]), b(zt[1]), b(zt[2]), b(zt[3])];
        let rows = flip(cols);
        for (i, r) in rows.into_iter().enumerate() {
            for (j, val) in b(r).into_iter().enumerate() {
                let o = (k.at + i * k.wp + j) * k.cp + l;
                put(dx, o, add(get(dx, o), val));
            }
        }
    }
}

/// `Y = Aᵀ M A` of one tile, `[[y00, y01], [y10, y11]]`, from the product
/// `m` (points of `k.cp` filters).
#[inline(always)]
fn output_tile<const L: usize>(k: TileAt, m: &[f32], l: usize) -> [[[f32; L]; 2]; 2] {
    let mt = flip(points::<L>(k, m, l));
    let cols = flip([at(mt[0]), at(mt[1]), at(mt[2]), at(mt[3])]);
    [at(cols[0]), at(cols[1])]
}

/// One tile's outputs with bias and activation, written at the positions
/// `pos[i·2 + j]` of the rows `out` (`k.cp` values each; `None`: outside
/// the image).
#[inline(always)]
pub(super) fn output_plain<const L: usize, A: Act>(
    k: TileAt,
    m: &[f32],
    bias: &[f32],
    out: &mut [f32],
    pos: [Option<usize>; 4],
) {
    for l in (0..k.cp).step_by(L) {
        let y = output_tile::<L>(k, m, l);
        let b = get::<L>(bias, l);
        for (q, at) in pos.into_iter().enumerate() {
            if let Some(at) = at {
                let v = y[q / 2][q % 2];
                put::<L>(
                    out,
                    at * k.cp + l,
                    std::array::from_fn(|lane| A::apply(v[lane] + b[lane])),
                );
            }
        }
    }
}

/// One tile's 2×2 max-pool with bias and activation: `out[f]`, and which
/// output won, `win[f]` (0, 1 top left and right, 2, 3 bottom: the first
/// maximum in that order, as `Rows::pool_bias_act` picks it).
#[inline(always)]
pub(super) fn output_pooled<const L: usize, A: Act>(
    k: TileAt,
    m: &[f32],
    bias: &[f32],
    out: &mut [f32],
    win: &mut [u8],
) {
    for l in (0..k.cp).step_by(L) {
        let y = output_tile::<L>(k, m, l);
        for lane in 0..L {
            let (t0, t1, u0, u1) = (y[0][0][lane], y[0][1][lane], y[1][0][lane], y[1][1][lane]);
            let (mt, it) = if t1 > t0 { (t1, 1u8) } else { (t0, 0u8) };
            let (mu, iu) = if u1 > u0 { (u1, 3u8) } else { (u0, 2u8) };
            let (best, i) = if mu > mt { (mu, iu) } else { (mt, it) };
            out[l + lane] = A::apply(best + bias[l + lane]);
            win[l + lane] = i;
        }
    }
}

/// `Ĝ = A dY Aᵀ` of one tile, written at its points in `ghat`: `dy[i][j]`
/// is output `(i, j)`'s gradient, `L` filters from `l`.
#[inline(always)]
fn grad_tile<const L: usize>(k: TileAt, dy: [[[f32; L]; 2]; 2], l: usize, ghat: &mut [f32]) {
    let dt = flip(dy);
    let rows = flip([a(dt[0]), a(dt[1])]);
    for (p, r) in rows.into_iter().enumerate() {
        for (q, val) in a(r).into_iter().enumerate() {
            put(ghat, point(k, p, q, l), val);
        }
    }
}

/// The gradient before the activation, `g · act'(y)`, of `L` values,
/// added to the bias gradient `db`.
#[inline(always)]
fn through_act<const L: usize, A: Act>(g: &[f32], y: &[f32], at: usize, db: &mut [f32], l: usize) -> [f32; L] {
    let (g, y) = (get::<L>(g, at), get::<L>(y, at));
    let v: [f32; L] = std::array::from_fn(|lane| g[lane] * A::slope(y[lane]));
    put(db, l, add(get(db, l), v));
    v
}

/// `Ĝ` of one pooled tile: `g`, `y` the gradient and value of its pooled
/// output after the activation (`k.cp` filters), `win[f]` the output that
/// won (the others' gradient is 0); the gradient is added to `db`.
#[inline(always)]
pub(super) fn grad_pooled<const L: usize, A: Act>(
    k: TileAt,
    (g, y): (&[f32], &[f32]),
    win: &[u8],
    db: &mut [f32],
    ghat: &mut [f32],
) {
    for l in (0..k.cp).step_by(L) {
        let v = through_act::<L, A>(g, y, l, db, l);
        let w: &[u8; L] = win[l..l + L].try_into().expect("L winners");
        let mut dy = [[[0f32; L]; 2]; 2];
        for q in 0..4 {
            for lane in 0..L {
                dy[q / 2][q % 2][lane] = if w[lane] as usize == q { v[lane] } else { 0.0 };
            }
        }
        grad_tile::<L>(k, dy, l, ghat);
    }
}

/// `Ĝ` of one tile without pooling: its outputs sit at the positions
/// `pos[i·2 + j]` of the rows `g`, `y` (gradient and value after the
/// activation; `None`: outside the image, gradient 0); the gradient is
/// added to `db`.
#[inline(always)]
pub(super) fn grad_plain<const L: usize, A: Act>(
    k: TileAt,
    (g, y): (&[f32], &[f32]),
    pos: [Option<usize>; 4],
    db: &mut [f32],
    ghat: &mut [f32],
) {
    for l in (0..k.cp).step_by(L) {
        let mut dy = [[[0f32; L]; 2]; 2];
        for (q, at) in pos.into_iter().enumerate() {
            if let Some(at) = at {
                dy[q / 2][q % 2] = through_act::<L, A>(g, y, at * k.cp + l, db, l);
            }
        }
        grad_tile::<L>(k, dy, l, ghat);
    }
}

/// `Gᵀ s G`, the 3×3 kernel gradient from the 16 sums `s` of one filter and
/// channel.
pub(super) fn kernel_grad(s: [f32; 16]) -> [f32; 9] {
    let gt = |v: [f32; 4]| {
        [
            v[0] + 0.5 * (v[1] + v[2]),
            0.5 * (v[1] - v[2]),
            0.5 * (v[1] + v[2]) + v[3],
        ]
    };
    let cols: [[f32; 3]; 4] = std::array::from_fn(|q| gt([s[q], s[4 + q], s[8 + q], s[12 + q]]));
    let mut out = [0f32; 9];
    for ky in 0..3 {
        let row = gt([cols[0][ky], cols[1][ky], cols[2][ky], cols[3][ky]]);
        out[ky * 3..ky * 3 + 3].copy_from_slice(&row);
    }
    out
}

/// `U = G g Gᵀ`, the 16 points of one filter's 3×3 kernel `g` for one
/// channel.
pub(super) fn kernel_points(g: &[f32]) -> [f32; 16] {
    let gg = |v: [f32; 3]| [v[0], 0.5 * (v[0] + v[1] + v[2]), 0.5 * (v[0] - v[1] + v[2]), v[2]];
    let rows: [[f32; 4]; 3] = std::array::from_fn(|ky| gg([g[ky * 3], g[ky * 3 + 1], g[ky * 3 + 2]]));
    let mut u = [0f32; 16];
    for q in 0..4 {
        let col = gg([rows[0][q], rows[1][q], rows[2][q]]);
        for (p, v) in col.into_iter().enumerate() {
            u[p * 4 + q] = v;
        }
    }
    u
}
