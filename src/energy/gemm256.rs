//! [`super::gemm512`]'s products with AVX2 and FMA, for the x86-64 machines without
//! AVX-512 (AMD before Zen 4, most laptops), with the same epilogues, in 8-lane vectors.
//! A's elements are broadcast from their rows; B is a layer's weights, packed in panels
//! of 16 columns once per sampler run ([`pack_panels`]), not on every call. Each block
//! keeps 6 rows × 16 columns of C in 12 of the 16 registers.
//!
//! Through the `gemm` crate, which packs both operands on every call, the packing was
//! 11 % of the digits-mlp step on an AVX2 machine, and SiLU after each product a second
//! pass over C.

use std::arch::x86_64::{
    __m256, __m256i, _mm256_add_epi32, _mm256_add_ps, _mm256_broadcast_ss, _mm256_castsi256_ps,
    _mm256_cmpgt_epi32, _mm256_cvtps_epi32, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_hadd_ps,
    _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_max_ps, _mm256_min_ps,
    _mm256_mul_ps, _mm256_permute2f128_ps, _mm256_rcp_ps, _mm256_round_ps, _mm256_set1_epi32,
    _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_slli_epi32, _mm256_storeu_ps,
};

use super::gemm512::{Epi, Epilogue};

/// SiLU of 8 lanes and its derivative: (x·σ(x), σ(x)·(1 + x·(1 − σ(x)))).
///
/// gemm512's σ without `vscalefps` (2ⁿ built in the exponent bits) and with `vrcpps`
/// and one Newton step instead of a division. x is clamped to [−87, 88] for σ, as the
/// scalar path clamps. The derivative is σ + y·(1 − σ) with 1 − σ = e^{−x}·σ: where σ
/// rounds an ulp from 1, 1 − σ computed as a difference, times a large x, moved the
/// derivative off 1.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn silu8(x: __m256) -> (__m256, __m256) {
    let one = _mm256_set1_ps(1.0);
    let two = _mm256_set1_ps(2.0);
    let c = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
        _mm256_set1_ps(88.0),
    );
    // e^{−c} = 2^m·e^{−q}, m = round(−c·log₂e), q = c + m·ln2 (|q| ≤ ln2/2).
    let m = _mm256_round_ps::<0x08>(_mm256_mul_ps(c, _mm256_set1_ps(-std::f32::consts::LOG2_E)));
    let q = _mm256_fmadd_ps(m, _mm256_set1_ps(0.693_145_75), c);
    let q = _mm256_fmadd_ps(m, _mm256_set1_ps(1.428_606_8e-6), q);
    let mut p = _mm256_set1_ps(1.0 / 720.0);
    for k in [-1.0 / 120.0, 1.0 / 24.0, -1.0 / 6.0, 0.5, -1.0, 1.0] {
        p = _mm256_fmadd_ps(p, q, _mm256_set1_ps(k));
    }
    // 2^m from its exponent bits (m ≥ −127: at −127 the bits give 0, and σ is 1).
    let pow = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(m),
        _mm256_set1_epi32(127),
    )));
    let e = _mm256_mul_ps(p, pow);
    let d = _mm256_add_ps(e, one);
    let r = _mm256_rcp_ps(d);
    // One Newton step: r·(2 − d·r).
    let s = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, two));
    let y = _mm256_mul_ps(x, s);
    (y, _mm256_fmadd_ps(y, _mm256_mul_ps(e, s), s))
}

/// Rows of C per block.
const MR: usize = 6;
/// Columns of C per block (2 vectors of 8).
const NR: usize = 16;

/// The lanes below `n` (0 < n ≤ 8) as a mask for `vmaskmovps`.
#[target_feature(enable = "avx2")]
#[inline]
fn lanes_below(n: usize) -> __m256i {
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// B (k × n, `B[p][j] = src[p·rs + j·cs]`) written to `out` ([`panels_len`] values) in
/// the layout [`gemm_packed`] reads: panels of [`NR`] columns, each k rows of `NR`
/// contiguous values, the last panel padded with zeros.
///
/// Read where it lies, B's rows are a layer's width apart (1 KiB for 256 units): the 16
/// columns of a block then fall in a quarter of L1's sets, and the panel, read once per
/// block of rows, did not stay in L1 (the kernel ran slower than the `gemm` crate,
/// which packs on every call).
pub fn pack_panels(src: &[f32], (rs, cs): (usize, usize), (k, n): (usize, usize), out: &mut [f32]) {
    assert_eq!(out.len(), panels_len((0, n, k)), "room for the panels");
    if k == 0 {
        return;
    }
    for (q, panel) in out.chunks_exact_mut(k * NR).enumerate() {
        let j0 = q * NR;
        let cols = (n - j0).min(NR);
        if cs == 1 {
            // B's rows contiguous (W backward): a row of the panel is a slice of one.
            for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                let from = &src[p * rs + j0..];
                if cols == NR {
                    // A copy of known length: two vector moves, not a call to memmove
                    // for every 16 values.
                    let row: &mut [f32; NR] = row.try_into().expect("NR values");
                    *row = from[..NR].try_into().expect("NR values");
                } else {
                    row[..cols].copy_from_slice(&from[..cols]);
                    row[cols..].fill(0.0);
                }
            }
        } else if rs == 1 {
            // B's columns contiguous (Wᵀ forward: W's rows): a row of the panel at a time,
            // one value from each column, so that the writes go in order (down each
            // column, they went a panel row apart; an iterator stepping by 1 per value
            // made the packing a twentieth of an MLP's step).
            let columns: [&[f32]; NR] = std::array::from_fn(|jj| {
                if jj < cols {
                    &src[(j0 + jj) * cs..][..k]
                } else {
                    &[]
                }
            });
            for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                for (v, column) in row.iter_mut().zip(&columns) {
                    *v = column.get(p).copied().unwrap_or(0.0);
                }
            }
        } else {
            // B's columns strided: each read along its column.
            for jj in 0..NR {
                if jj < cols {
                    let col = &src[(j0 + jj) * cs..];
                    for (p, v) in col[..=(k - 1) * rs].iter().step_by(rs).enumerate() {
                        panel[p * NR + jj] = *v;
                    }
                } else {
                    for p in 0..k {
                        panel[p * NR + jj] = 0.0;
                    }
                }
            }
        }
    }
}

/// How many values [`pack_panels`] writes for the B of an m × n × k product.
#[must_use]
pub fn panels_len((_, n, k): (usize, usize, usize)) -> usize {
    n.div_ceil(NR) * k * NR
}

/// `c[i·ldc + j] = Σₚ a[i·lda + p] · B[p][j] (+ bias[j])` for i < m, j < n, then the
/// epilogue (whose matrix is laid out as C, with the same `ldc`), with B in panels
/// ([`pack_panels`]).
///
/// # Safety
/// The CPU has AVX2 and FMA; `a`, `c`, `bias` and the epilogue's matrix hold every
/// index above, and `b` the n.div_ceil(NR)·k·NR values of the panels.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    bias: Option<&[f32]>,
    epilogue: Epilogue<'_>,
) {
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    let bias = bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
    let epi = Epi::of(epilogue);
    let mut j = 0;
    while j < n {
        let cols = (n - j).min(NR);
        let nv = cols.div_ceil(8);
        let mask = lanes_below(cols - (nv - 1) * 8);
        let full = cols % 8 == 0;
        let bj = b.wrapping_add(j * k);
        let biasj = if bias.is_null() {
            bias
        } else {
            bias.wrapping_add(j)
        };
        let mut i = 0;
        while i < m {
            // Blocks of MR rows; 8 rows left go as 4 + 4 rather than 6 + 2.
            let r = if m - i == 8 { 4 } else { (m - i).min(MR) };
            let (ai, ci) = (a.wrapping_add(i * lda), c.wrapping_add(i * ldc + j));
            let ei = epi.at(i * ldc + j);
            macro_rules! rows {
                ($($r:literal)*) => {
                    match (r, nv, full) {
                        $(
                            // SAFETY: the block's rows i..i+r and columns j..j+cols are
                            // inside the slices, its panel inside b (the caller's
                            // promise), and the CPU has AVX2 and FMA.
                            ($r, 2, true) => unsafe { block::<$r, 2, true>(k, ai, lda, bj, ci, ldc, biasj, mask, ei) },
                            ($r, 2, false) => unsafe { block::<$r, 2, false>(k, ai, lda, bj, ci, ldc, biasj, mask, ei) },
                            ($r, _, true) => unsafe { block::<$r, 1, true>(k, ai, lda, bj, ci, ldc, biasj, mask, ei) },
                            ($r, _, false) => unsafe { block::<$r, 1, false>(k, ai, lda, bj, ci, ldc, biasj, mask, ei) },
                        )*
                        _ => unreachable!("1 ≤ rows ≤ MR"),
                    }
                };
            }
            rows!(1 2 3 4 5 6);
            i += r;
        }
        j += NR;
    }
}

/// One block: `R` rows and `V` vectors of columns of C, from a panel of B (`NR` values a
/// row, zero past the last column), C's last vector stored under `mask` unless `FULL`.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const R: usize, const V: usize, const FULL: bool>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    bias: *const f32,
    mask: __m256i,
    epi: Epi,
) {
    // SAFETY: every pointer below is inside its slice (see `gemm_packed`); the masked
    // loads and stores touch only the lanes of columns that exist.
    unsafe {
        let load = |p: *const f32, v: usize| -> __m256 {
            if !FULL && v + 1 == V {
                _mm256_maskload_ps(p.add(8 * v), mask)
            } else {
                _mm256_loadu_ps(p.add(8 * v))
            }
        };
        let start: [__m256; V] = if bias.is_null() {
            [_mm256_setzero_ps(); V]
        } else {
            std::array::from_fn(|v| load(bias, v))
        };
        let mut acc = [start; R];
        for p in 0..k {
            let bp = b.add(p * NR);
            let bv: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(bp.add(8 * v)));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                for v in 0..V {
                    row[v] = _mm256_fmadd_ps(av, bv[v], row[v]);
                }
            }
        }
        let store = |p: *mut f32, v: usize, x: __m256| {
            if !FULL && v + 1 == V {
                _mm256_maskstore_ps(p.add(8 * v), mask, x);
            } else {
                _mm256_storeu_ps(p.add(8 * v), x);
            }
        };
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            for (v, x) in row.iter().enumerate() {
                let x = match epi {
                    Epi::Store => *x,
                    Epi::Silu => silu8(*x).0,
                    Epi::SiluDeriv(d) => {
                        let (y, dy) = silu8(*x);
                        store(d.add(r * ldc), v, dy);
                        y
                    }
                    Epi::Mul(d) => _mm256_mul_ps(*x, load(d.add(r * ldc), v)),
                };
                store(cr, v, x);
            }
        }
    }
}

/// The product for a narrow C (a few columns: an energy output, ten logits, ∇ₓE of 2-D
/// points), where a vector across the columns would be mostly empty: `c[i·ldc + j] =
/// Σₚ a[i·lda + p] · bt[j·ldbt + p] (+ bias[j])`, B given transposed, the sum vectorised
/// along p. Rows go 8 at a time: B's vector is loaded once for the 8, and the 8 sums are
/// reduced together ([`sum8`]).
///
/// # Safety
/// As [`gemm_packed`], with `bt` holding rows j < n of B transposed (k long each).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_narrow(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    bt: &[f32],
    ldbt: usize,
    c: &mut [f32],
    ldc: usize,
    bias: Option<&[f32]>,
) {
    let full = k / 8;
    let rem = k % 8;
    let tail = lanes_below(rem.max(1));
    let (a, bt, c) = (a.as_ptr(), bt.as_ptr(), c.as_mut_ptr());
    // SAFETY: rows i < m of a, rows j < n of bt (k long each) and c[i·ldc + j] are inside
    // the slices (the caller's promise); the masked loads touch only p < k.
    unsafe {
        let mut i = 0;
        while i + 8 <= m {
            for j in 0..n {
                let bj = bt.add(j * ldbt);
                let mut acc = [_mm256_setzero_ps(); 8];
                for q in 0..full {
                    let bv = _mm256_loadu_ps(bj.add(8 * q));
                    for (r, x) in acc.iter_mut().enumerate() {
                        let av = _mm256_loadu_ps(a.add((i + r) * lda + 8 * q));
                        *x = _mm256_fmadd_ps(av, bv, *x);
                    }
                }
                if rem > 0 {
                    let bv = _mm256_maskload_ps(bj.add(8 * full), tail);
                    for (r, x) in acc.iter_mut().enumerate() {
                        let av = _mm256_maskload_ps(a.add((i + r) * lda + 8 * full), tail);
                        *x = _mm256_fmadd_ps(av, bv, *x);
                    }
                }
                let sums = _mm256_add_ps(sum8(&acc), _mm256_set1_ps(bias.map_or(0.0, |b| b[j])));
                if n == 1 && ldc == 1 {
                    _mm256_storeu_ps(c.add(i + j), sums);
                } else {
                    let mut out = [0.0_f32; 8];
                    _mm256_storeu_ps(out.as_mut_ptr(), sums);
                    for (r, v) in out.iter().enumerate() {
                        *c.add((i + r) * ldc + j) = *v;
                    }
                }
            }
            i += 8;
        }
        for i in i..m {
            let ai = a.add(i * lda);
            for j in 0..n {
                let bj = bt.add(j * ldbt);
                let mut acc = _mm256_setzero_ps();
                for q in 0..full {
                    acc = _mm256_fmadd_ps(
                        _mm256_loadu_ps(ai.add(8 * q)),
                        _mm256_loadu_ps(bj.add(8 * q)),
                        acc,
                    );
                }
                if rem > 0 {
                    acc = _mm256_fmadd_ps(
                        _mm256_maskload_ps(ai.add(8 * full), tail),
                        _mm256_maskload_ps(bj.add(8 * full), tail),
                        acc,
                    );
                }
                let mut lanes = [0.0_f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
                *c.add(i * ldc + j) = lanes.iter().sum::<f32>() + bias.map_or(0.0, |b| b[j]);
            }
        }
    }
}

/// Lane r of the result is the sum of the 8 lanes of `x[r]`: pairwise horizontal adds
/// within the 128-bit halves, then the two halves added.
#[target_feature(enable = "avx2")]
#[inline]
fn sum8(x: &[__m256; 8]) -> __m256 {
    // Per half: [x0, x0, x1, x1] sums of pairs, then of quadruples.
    let t0 = _mm256_hadd_ps(x[0], x[1]);
    let t1 = _mm256_hadd_ps(x[2], x[3]);
    let t2 = _mm256_hadd_ps(x[4], x[5]);
    let t3 = _mm256_hadd_ps(x[6], x[7]);
    // Low half: rows 0..4 over their low halves; high half: rows 0..4 over their high ones.
    let u0 = _mm256_hadd_ps(t0, t1);
    let u1 = _mm256_hadd_ps(t2, t3);
    _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(u0, u1),
        _mm256_permute2f128_ps::<0x31>(u0, u1),
    )
}

#[cfg(test)]
mod tests {
    use super::{Epilogue, gemm_narrow, gemm_packed, pack_panels, panels_len};

    /// Whether the kernels can run here (a test without them says it was skipped).
    fn has_avx2() -> bool {
        let has = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if !has {
            eprintln!("skipped: this CPU has no AVX2 and FMA");
        }
        has
    }

    /// A repeatable stream of values in [−0.5, 0.5).
    fn uniform(mut seed: u32) -> impl FnMut() -> f32 {
        move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        }
    }

    /// B (k × n, row-major with `ldb`) in panels, packed from it and from its transpose
    /// (the two ways the engine packs a layer's weights); both must agree.
    fn panels(b: &[f32], ldb: usize, (k, n): (usize, usize)) -> Vec<f32> {
        let mut from_rows = vec![f32::NAN; panels_len((0, n, k))];
        pack_panels(b, (ldb, 1), (k, n), &mut from_rows);
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * ldb + i / k]).collect();
        let mut from_cols = vec![f32::NAN; from_rows.len()];
        pack_panels(&bt, (1, k), (k, n), &mut from_cols);
        assert_eq!(
            from_rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            from_cols.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{k}×{n}: the two packings differ"
        );
        from_rows
    }

    #[test]
    fn products_of_every_shape_match_the_plain_sum() {
        if !has_avx2() {
            return;
        }
        let mut next = uniform(1);
        for &(m, n, k) in &[
            (1, 1, 1),
            (4, 16, 3),
            (5, 17, 2),
            (7, 130, 9),
            (128, 128, 128),
            (3, 2, 128),
            (9, 65, 33),
            (130, 48, 16),
            (37, 3, 130),
            (48, 1, 128),
            (8, 24, 7),
            (6, 12, 64),
        ] {
            // Leading dimensions wider than the rows, to catch a stride mixed up.
            let (lda, ldb, ldc) = (k + 3, n + 5, n + 2);
            let a: Vec<f32> = (0..m * lda).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * ldb).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let bp = panels(&b, ldb, (k, n));
            for with_bias in [false, true] {
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the CPU has AVX2 and FMA; the slices hold every index.
                unsafe {
                    gemm_packed(
                        (m, n, k),
                        &a,
                        lda,
                        &bp,
                        &mut c,
                        ldc,
                        with_bias.then_some(&bias[..]),
                        Epilogue::Store,
                    );
                }
                for i in 0..m {
                    for j in 0..n {
                        let mut want = if with_bias { f64::from(bias[j]) } else { 0.0 };
                        for p in 0..k {
                            want += f64::from(a[i * lda + p]) * f64::from(b[p * ldb + j]);
                        }
                        let got = f64::from(c[i * ldc + j]);
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{m}×{n}×{k} at ({i}, {j}): {got} vs {want}"
                        );
                    }
                    // The padding between rows is not written.
                    for j in n..ldc {
                        assert!(
                            c[i * ldc + j].is_nan(),
                            "{m}×{n}×{k}: wrote past column {n}"
                        );
                    }
                }
                // The narrow product from B transposed gives the same.
                let ldbt = k + 7;
                let mut bt = vec![f32::NAN; n * ldbt];
                for p in 0..k {
                    for j in 0..n {
                        bt[j * ldbt + p] = b[p * ldb + j];
                    }
                }
                let mut c2 = vec![f32::NAN; m * ldc];
                // SAFETY: as above.
                unsafe {
                    gemm_narrow(
                        (m, n, k),
                        &a,
                        lda,
                        &bt,
                        ldbt,
                        &mut c2,
                        ldc,
                        with_bias.then_some(&bias[..]),
                    );
                }
                for i in 0..m {
                    for j in 0..ldc {
                        let (x, y) = (c[i * ldc + j], c2[i * ldc + j]);
                        if j >= n {
                            assert!(y.is_nan(), "narrow {m}×{n}×{k}: wrote past column {n}");
                            continue;
                        }
                        assert!(
                            (x - y).abs() < 1e-4 * (1.0 + x.abs()),
                            "narrow {m}×{n}×{k} at ({i}, {j}): {y} vs {x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_narrow_product_into_one_column_writes_its_rows_side_by_side() {
        if !has_avx2() {
            return;
        }
        // An energy output: n = 1 with ldc = 1 (8 rows stored as one vector), and a
        // tail of rows past the last 8.
        let (m, k) = (35, 21);
        let a: Vec<f32> = (0..m * k).map(|v| ((v * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k).map(|v| (v % 5) as f32 * 0.5 - 1.0).collect();
        let mut c = vec![f32::NAN; m + 1];
        // SAFETY: the CPU has AVX2 and FMA; the slices hold every index.
        unsafe { gemm_narrow((m, 1, k), &a, k, &b, k, &mut c, 1, Some(&[0.25])) };
        for i in 0..m {
            let want: f32 = 0.25 + (0..k).map(|p| a[i * k + p] * b[p]).sum::<f32>();
            assert!((c[i] - want).abs() < 1e-4, "row {i}: {} vs {want}", c[i]);
        }
        assert!(c[m].is_nan(), "wrote past the last row");
    }

    /// SiLU and its derivative as the scalar path computes them, in f64.
    fn silu_ref(z: f64) -> (f64, f64) {
        let s = 1.0 / (1.0 + (-z).exp());
        (z * s, s * (1.0 + z * (1.0 - s)))
    }

    #[test]
    fn epilogues_apply_silu_or_multiply_the_block_in_place() {
        if !has_avx2() {
            return;
        }
        let mut next = uniform(7);
        for &(m, n, k) in &[(9, 130, 33), (4, 64, 128), (5, 17, 2), (7, 12, 5)] {
            let ldc = n + 3;
            let a: Vec<f32> = (0..m * k).map(|_| 4.0 * next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let mul: Vec<f32> = (0..m * ldc).map(|_| next()).collect();
            let bp = panels(&b, n, (k, n));
            let run = |epi: Epilogue<'_>| {
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the CPU has AVX2 and FMA; the slices hold every index.
                unsafe { gemm_packed((m, n, k), &a, k, &bp, &mut c, ldc, Some(&bias), epi) };
                c
            };
            let plain = run(Epilogue::Store);
            let mut deriv = vec![f32::NAN; m * ldc];
            let silu = run(Epilogue::Silu(Some(&mut deriv)));
            let silu_only = run(Epilogue::Silu(None));
            let product = run(Epilogue::Mul(&mul));
            for i in 0..m {
                for j in 0..ldc {
                    let at = i * ldc + j;
                    if j >= n {
                        // Nothing is written past the last column, in C or the derivative.
                        assert!(silu[at].is_nan() && deriv[at].is_nan() && product[at].is_nan());
                        continue;
                    }
                    let (want_v, want_d) = silu_ref(f64::from(plain[at]));
                    assert!(
                        (f64::from(silu[at]) - want_v).abs() < 1e-5,
                        "{m}×{n}×{k} ({i}, {j})"
                    );
                    assert!((f64::from(deriv[at]) - want_d).abs() < 1e-5);
                    assert_eq!(silu[at].to_bits(), silu_only[at].to_bits());
                    assert_eq!(product[at].to_bits(), (plain[at] * mul[at]).to_bits());
                }
            }
        }
    }
}
