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
//!
//! After 2× nearest up-sampling (`UP`), the 4 pixels a tile reads are 3
//! pixels of the small input with the middle one twice, `d = P x`, and
//! `Bᵀ P` has a zero row: `v = (x0 − x1, 2·x1, 0, x1 − x2)`. Point 2 of each
//! axis is always zero, so such a tile has 9 points (slots `(p, q)` for
//! `p, q` in 0, 1, 3), reads a 3×3 patch of the small input and writes a
//! 2×2 block of the up-sampled output.
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

/// Where a tile's values sit: its pixels in a position-major padded input
/// (`at + i·wp + j`, positions `cp` values apart), and its points in a
/// transform (slot `(p, q)` at `(slot·tiles + t)·cp`, see [`point`]).
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

/// Points per tile: 16, or 9 after up-sampling.
pub(super) const fn point_count(up: bool) -> usize {
    if up {
        9
    } else {
        16
    }
}

/// The slot of point `(p, q)`: `p·4 + q`, or after up-sampling (where `p`
/// and `q` are never 2) the place of `(p, q)` among the nine.
#[inline(always)]
pub(super) const fn slot<const UP: bool>(p: usize, q: usize) -> usize {
    const NINE: [usize; 4] = [0, 1, 0, 2];
    if UP {
        NINE[p] * 3 + NINE[q]
    } else {
        p * 4 + q
    }
}

/// True for the points a tile stores.
#[inline(always)]
const fn stored<const UP: bool>(p: usize, q: usize) -> bool {
    !UP || (p != 2 && q != 2)
}

/// The `N×N` vectors of one tile at `l`: `(i, j)` at `at + i·wp + j` of a
/// position-major grid.
#[inline(always)]
fn pixels<const L: usize, const N: usize>(k: TileAt, s: &[f32], l: usize) -> [[[f32; L]; N]; N] {
    let mut d = [[[0f32; L]; N]; N];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = get(s, (k.at + i * k.wp + j) * k.cp + l);
        }
    }
    d
}

/// Where point `(p, q)` of the tile sits, at lane offset `l`.
#[inline(always)]
fn point<const UP: bool>(k: TileAt, p: usize, q: usize, l: usize) -> usize {
    (slot::<UP>(p, q) * k.tiles + k.t) * k.cp + l
}

/// The tile's points at `l`, `(p, q)`; the points not stored are zero.
#[inline(always)]
fn points<const L: usize, const UP: bool>(k: TileAt, s: &[f32], l: usize) -> [[[f32; L]; 4]; 4] {
    let mut m = [[[0f32; L]; 4]; 4];
    for (p, row) in m.iter_mut().enumerate() {
        for (q, v) in row.iter_mut().enumerate() {
            if stored::<UP>(p, q) {
                *v = get(s, point::<UP>(k, p, q, l));
            }
        }
    }
    m
}

/// Writes the tile's points `m` at `l` (those it stores).
#[inline(always)]
fn put_points<const L: usize, const UP: bool>(k: TileAt, m: [[[f32; L]; 4]; 4], l: usize, s: &mut [f32]) {
    for (p, row) in m.into_iter().enumerate() {
        for (q, v) in row.into_iter().enumerate() {
            if stored::<UP>(p, q) {
                put(s, point::<UP>(k, p, q, l), v);
            }
        }
    }
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

/// `Bᵀ P (x0, x1, x2)`: [`bt`] of the up-sampled `(x0, x1, x1, x2)`.
#[inline(always)]
fn bt_up<const L: usize>(x: [[f32; L]; 3]) -> [[f32; L]; 4] {
    [sub(x[0], x[1]), add(x[1], x[1]), [0.0; L], sub(x[1], x[2])]
}

/// `Pᵀ B (z0, z1, z2, z3)`, the transpose of [`bt_up`] (`z2` unused).
#[inline(always)]
fn b_up<const L: usize>(z: [[f32; L]; 4]) -> [[f32; L]; 3] {
    [z[0], add(sub(add(z[1], z[1]), z[0]), z[3]), neg(z[3])]
}

/// `V = Bᵀ d B` of one tile: `x` the padded input, position-major (with
/// `UP`, the small input's 3×3 patch, up-sampled on the way).
#[inline(always)]
pub(super) fn input_tile<const L: usize, const UP: bool>(k: TileAt, x: &[f32], v: &mut [f32]) {
    for l in (0..k.cp).step_by(L) {
        // Down the columns (`cols[j][p]`), then along the rows.
        let m = if UP {
            let d = flip(pixels::<L, 3>(k, x, l));
            let rows = flip([bt_up(d[0]), bt_up(d[1]), bt_up(d[2])]);
            [bt_up(rows[0]), bt_up(rows[1]), bt_up(rows[2]), bt_up(rows[3])]
        } else {
            let d = flip(pixels::<L, 4>(k, x, l));
            let rows = flip([bt(d[0]), bt(d[1]), bt(d[2]), bt(d[3])]);
            [bt(rows[0]), bt(rows[1]), bt(rows[2]), bt(rows[3])]
        };
        put_points::<L, UP>(k, m, l, v);
    }
}

/// Adds `B Z Bᵀ` of one tile to the padded, position-major input gradient
/// `dx`: the transpose of [`input_tile`].
#[inline(always)]
pub(super) fn input_grad_tile<const L: usize, const UP: bool>(k: TileAt, z: &[f32], dx: &mut [f32]) {
    for l in (0..k.cp).step_by(L) {
        let zt = flip(points::<L, UP>(k, z, l));
        if UP {
            let rows = flip([b_up(zt[0]), b_up(zt[1]), b_up(zt[2]), b_up(zt[3])]);
            add_pixels(k, [b_up(rows[0]), b_up(rows[1]), b_up(rows[2])], l, dx);
        } else {
            let rows = flip([b(zt[0]), b(zt[1]), b(zt[2]), b(zt[3])]);
            add_pixels(k, [b(rows[0]), b(rows[1]), b(rows[2]), b(rows[3])], l, dx);
        }
    }
}

/// Adds `d[i][j]` to the tile's pixel `(i, j)` at `l`.
#[inline(always)]
fn add_pixels<const L: usize, const N: usize>(k: TileAt, d: [[[f32; L]; N]; N], l: usize, dx: &mut [f32]) {
    for (i, row) in d.into_iter().enumerate() {
        for (j, val) in row.into_iter().enumerate() {
            let o = (k.at + i * k.wp + j) * k.cp + l;
            put(dx, o, add(get(dx, o), val));
        }
    }
}

/// `Y = Aᵀ M A` of one tile, `[[y00, y01], [y10, y11]]`, from the product
/// `m` (points of `k.cp` filters).
#[inline(always)]
fn output_tile<const L: usize, const UP: bool>(k: TileAt, m: &[f32], l: usize) -> [[[f32; L]; 2]; 2] {
    let mt = flip(points::<L, UP>(k, m, l));
    let cols = flip([at(mt[0]), at(mt[1]), at(mt[2]), at(mt[3])]);
    [at(cols[0]), at(cols[1])]
}

/// One tile's outputs with bias and activation, written at the positions
/// `pos[i·2 + j]` of the rows `out` (`k.cp` values each; `None`: outside
/// the image).
#[inline(always)]
pub(super) fn output_plain<const L: usize, A: Act, const UP: bool>(
    k: TileAt,
    m: &[f32],
    bias: &[f32],
    out: &mut [f32],
    pos: [Option<usize>; 4],
) {
    for l in (0..k.cp).step_by(L) {
        let y = output_tile::<L, UP>(k, m, l);
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
pub(super) fn output_pooled<const L: usize, A: Act, const UP: bool>(
    k: TileAt,
    m: &[f32],
    bias: &[f32],
    out: &mut [f32],
    win: &mut [u8],
) {
    for l in (0..k.cp).step_by(L) {
        let y = output_tile::<L, UP>(k, m, l);
        // Lane by lane in simple loops, so that each is one vector op.
        let (mut best, mut won) = ([0f32; L], [0u32; L]);
        for lane in 0..L {
            let right = y[0][1][lane] > y[0][0][lane];
            best[lane] = if right { y[0][1][lane] } else { y[0][0][lane] };
            won[lane] = right as u32;
        }
        for lane in 0..L {
            let right = y[1][1][lane] > y[1][0][lane];
            let bottom = if right { y[1][1][lane] } else { y[1][0][lane] };
            let below = bottom > best[lane];
            best[lane] = if below { bottom } else { best[lane] };
            won[lane] = if below { 2 + right as u32 } else { won[lane] };
        }
        let b = get::<L>(bias, l);
        put::<L>(out, l, std::array::from_fn(|lane| A::apply(best[lane] + b[lane])));
        for (w, &i) in win[l..l + L].iter_mut().zip(&won) {
            *w = i as u8;
        }
    }
}

/// `Ĝ = A dY Aᵀ` of one tile, written at its points in `ghat`: `dy[i][j]`
/// is output `(i, j)`'s gradient, `L` filters from `l`.
#[inline(always)]
fn grad_tile<const L: usize, const UP: bool>(k: TileAt, dy: [[[f32; L]; 2]; 2], l: usize, ghat: &mut [f32]) {
    let dt = flip(dy);
    let rows = flip([a(dt[0]), a(dt[1])]);
    put_points::<L, UP>(k, [a(rows[0]), a(rows[1]), a(rows[2]), a(rows[3])], l, ghat);
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
pub(super) fn grad_pooled<const L: usize, A: Act, const UP: bool>(
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
        grad_tile::<L, UP>(k, dy, l, ghat);
    }
}

/// `Ĝ` of one tile without pooling: its outputs sit at the positions
/// `pos[i·2 + j]` of the rows `g`, `y` (gradient and value after the
/// activation; `None`: outside the image, gradient 0); the gradient is
/// added to `db`.
#[inline(always)]
pub(super) fn grad_plain<const L: usize, A: Act, const UP: bool>(
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
        grad_tile::<L, UP>(k, dy, l, ghat);
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
