//! A matrix product for the shapes the sampler's inner loop has (a tile of up to a few
//! hundred rows times a layer's weights), with AVX-512: C = A·B (+ a bias on every row),
//! all three row-major with their own leading dimensions.
//!
//! `gemm` packs both operands into its own layout on every call; here B is read where it
//! lies (the weights for ∇ₓE's backward product, and their transpose packed once per
//! sampler run for the forward one) and A's elements are broadcast from their rows. Each
//! block keeps 4 rows × 64 columns of C in 16 registers through the whole sum over k.
//! On the reference workload the packing was 18 % of the time at batch 1024.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_ps,
    _mm512_fnmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_max_ps,
    _mm512_min_ps, _mm512_mul_ps, _mm512_rcp14_ps, _mm512_reduce_add_ps, _mm512_roundscale_ps,
    _mm512_scalef_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_storeu_ps,
    _mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

/// What a product does with each block of C while it is still in registers, before
/// storing it (the work that would otherwise be a second pass over C in memory).
#[derive(Debug)]
pub enum Epilogue<'a> {
    /// C as computed.
    Store,
    /// SiLU applied to C; with a buffer (laid out as C), SiLU's derivative at C is
    /// written there too.
    Silu(Option<&'a mut [f32]>),
    /// C multiplied element-wise by a matrix laid out as C (an activation's derivative,
    /// in the backward pass).
    Mul(&'a [f32]),
}

/// The epilogue as the blocks see it (here and in [`super::gemm256`]): a kind and a
/// pointer to the matrix it reads or writes, at the block's origin.
#[derive(Clone, Copy)]
pub(super) enum Epi {
    Store,
    Silu,
    SiluDeriv(*mut f32),
    Mul(*const f32),
}

impl Epi {
    pub(super) fn of(epilogue: Epilogue<'_>) -> Self {
        match epilogue {
            Epilogue::Store => Self::Store,
            Epilogue::Silu(None) => Self::Silu,
            Epilogue::Silu(Some(d)) => Self::SiluDeriv(d.as_mut_ptr()),
            Epilogue::Mul(d) => Self::Mul(d.as_ptr()),
        }
    }

    pub(super) fn at(self, offset: usize) -> Self {
        match self {
            Self::Store | Self::Silu => self,
            Self::SiluDeriv(d) => Self::SiluDeriv(d.wrapping_add(offset)),
            Self::Mul(d) => Self::Mul(d.wrapping_add(offset)),
        }
    }
}

/// σ(z) = 1/(1 + e^{−z}) for 16 lanes. e^{−z} = 2⁻ⁿ·e^{−q} with n = round(z·log₂e) and
/// q = z − n·ln2 (|q| ≤ ln2/2), e^{−q} by its degree-6 Taylor polynomial (relative error
/// below 2e-7), 2⁻ⁿ by `vscalefps`; the reciprocal by `vrcp14ps` and one Newton step
/// instead of a division. z is clamped to [−87, 88], as the scalar path clamps: e^{−z}
/// stays finite below, and above, z·log₂e would round too coarsely for q to stay small
/// (the polynomial then overflows, and 1 − ∞·0 in the Newton step is NaN); σ(88) is 1.
///
/// Returns σ(z) with the e^{−c} it was made from and c, z clamped (1 − σ = e^{−c}·σ,
/// without the cancellation of 1 − σ where σ is near 1).
#[target_feature(enable = "avx512f")]
#[inline]
fn sigmoid16(z: __m512) -> (__m512, __m512, __m512) {
    let one = _mm512_set1_ps(1.0);
    let z = _mm512_min_ps(
        _mm512_max_ps(z, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    // −n, rounded to nearest with exceptions suppressed.
    let m =
        _mm512_roundscale_ps::<0x08>(_mm512_mul_ps(z, _mm512_set1_ps(-std::f32::consts::LOG2_E)));
    // q = z − n·ln2 = z + m·ln2, in two parts.
    let q = _mm512_fmadd_ps(m, _mm512_set1_ps(0.693_145_75), z);
    let q = _mm512_fmadd_ps(m, _mm512_set1_ps(1.428_606_8e-6), q);
    let mut p = _mm512_set1_ps(1.0 / 720.0);
    for c in [-1.0 / 120.0, 1.0 / 24.0, -1.0 / 6.0, 0.5, -1.0, 1.0] {
        p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(c));
    }
    let e = _mm512_scalef_ps(p, m);
    let d = _mm512_add_ps(e, one);
    let y = _mm512_rcp14_ps(d);
    (_mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, one), y), e, z)
}

/// SiLU of 16 lanes and its derivative: (z·σ(z), σ(z)·(1 + z·(1 − σ(z)))).
///
/// The derivative is σ + y·(1 − σ) with 1 − σ = e^{−z}·σ, as in `gemm256`: where σ rounds
/// to within an ulp or two of 1 (z above about 7), 1 − σ computed as a difference, times
/// z, moved the derivative by up to 5e-7 of itself. The correction is c·σ·(1 − σ) with c
/// the clamped z: past the clamp e^{−c} is not 0 (`vscalefps` keeps it as a subnormal),
/// and a huge z times it would have moved the derivative off 1.
#[target_feature(enable = "avx512f")]
#[inline]
fn silu16(z: __m512) -> (__m512, __m512) {
    let (s, e, c) = sigmoid16(z);
    let y = _mm512_mul_ps(z, s);
    let d = _mm512_fmadd_ps(_mm512_mul_ps(c, s), _mm512_mul_ps(e, s), s);
    (y, d)
}

/// SiLU in place over `z`, and its derivative into `deriv` when given (as long as `z`).
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn silu(z: &mut [f32], mut deriv: Option<&mut [f32]>) {
    if let Some(d) = &deriv {
        assert_eq!(d.len(), z.len(), "one derivative per value");
    }
    let n = z.len();
    let mut i = 0;
    // SAFETY: every access is at i..i+16 < n, or masked to the lanes below n.
    unsafe {
        while i < n {
            let mask: __mmask16 = if n - i >= 16 {
                0xFFFF
            } else {
                (1u16 << (n - i)) - 1
            };
            let zp = z.as_mut_ptr().add(i);
            let (v, d) = silu16(_mm512_maskz_loadu_ps(mask, zp));
            _mm512_mask_storeu_ps(zp, mask, v);
            if let Some(dd) = deriv.as_deref_mut() {
                _mm512_mask_storeu_ps(dd.as_mut_ptr().add(i), mask, d);
            }
            i += 16;
        }
    }
}

/// Rows of C per block.
const MR: usize = 6;
/// A product with fewer columns than this (one vector) goes through [`gemm_narrow`]:
/// a vector across its columns would be mostly empty.
pub const NARROW_BELOW: usize = 16;
/// Columns of C per block (4 vectors of 16).
const NR: usize = 64;

/// `c[i·ldc + j] = Σₚ a[i·lda + p] · b[p·ldb + j] (+ bias[j])` for i < m, j < n, then
/// the epilogue (whose matrix is laid out as C, with the same `ldc`).
///
/// # Safety
/// The CPU has AVX-512F, and every index above is inside its slice (the caller checks),
/// the epilogue's matrix's too.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
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
        let nv = cols.div_ceil(16);
        let rem = cols - (nv - 1) * 16;
        let mask: __mmask16 = if rem == 16 { 0xFFFF } else { (1u16 << rem) - 1 };
        let bj = b.wrapping_add(j);
        let biasj = if bias.is_null() {
            bias
        } else {
            bias.wrapping_add(j)
        };
        let mut i = 0;
        while i < m {
            // Blocks of MR rows; 8 rows left go as 4 + 4 rather than 6 + 2 (a block of
            // two rows loads B for 8 multiply-adds where one of four does for 16).
            let r = if m - i == 8 { 4 } else { (m - i).min(MR) };
            let (ai, ci) = (a.wrapping_add(i * lda), c.wrapping_add(i * ldc + j));
            let ei = epi.at(i * ldc + j);
            macro_rules! rows {
                ($($r:literal)*) => {
                    match (r, nv) {
                        $(
                            // SAFETY: the block's rows i..i+r and columns j..j+cols are
                            // inside the slices (the caller's promise), and the CPU has
                            // AVX-512F.
                            ($r, 4) => unsafe { block::<$r, 4>(k, ai, lda, bj, ldb, ci, ldc, biasj, mask, ei) },
                            ($r, 3) => unsafe { block::<$r, 3>(k, ai, lda, bj, ldb, ci, ldc, biasj, mask, ei) },
                            ($r, 2) => unsafe { block::<$r, 2>(k, ai, lda, bj, ldb, ci, ldc, biasj, mask, ei) },
                            ($r, _) => unsafe { block::<$r, 1>(k, ai, lda, bj, ldb, ci, ldc, biasj, mask, ei) },
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

/// The product for a narrow C (a few columns: an energy output, ∇ₓE of 2-D points),
/// where a vector across the columns would be mostly empty: `c[i·ldc + j] = Σₚ a[i·lda +
/// p] · bt[j·ldbt + p] (+ bias[j])`, B given transposed, the sum vectorised along p.
/// Rows go 16 at a time: B's vector is loaded once for the 16, and the 16 sums are
/// reduced together ([`sum16`]) instead of one horizontal sum per row.
///
/// # Safety
/// As [`gemm`].
#[target_feature(enable = "avx512f")]
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
    let full = k / 16;
    let rem = k % 16;
    let tail: __mmask16 = if rem == 0 { 0 } else { (1u16 << rem) - 1 };
    let (a, bt, c) = (a.as_ptr(), bt.as_ptr(), c.as_mut_ptr());
    // SAFETY: rows i < m of a, rows j < n of bt (k long each) and c[i·ldc + j] are inside
    // the slices (the caller's promise); the masked loads touch only p < k.
    unsafe {
        let mut i = 0;
        while i + 16 <= m {
            for j in 0..n {
                let bj = bt.add(j * ldbt);
                let mut acc = [_mm512_setzero_ps(); 16];
                for q in 0..full {
                    let bv = _mm512_loadu_ps(bj.add(16 * q));
                    for (r, x) in acc.iter_mut().enumerate() {
                        let av = _mm512_loadu_ps(a.add((i + r) * lda + 16 * q));
                        *x = _mm512_fmadd_ps(av, bv, *x);
                    }
                }
                if rem > 0 {
                    let bv = _mm512_maskz_loadu_ps(tail, bj.add(16 * full));
                    for (r, x) in acc.iter_mut().enumerate() {
                        let av = _mm512_maskz_loadu_ps(tail, a.add((i + r) * lda + 16 * full));
                        *x = _mm512_fmadd_ps(av, bv, *x);
                    }
                }
                let sums = _mm512_add_ps(sum16(&acc), _mm512_set1_ps(bias.map_or(0.0, |b| b[j])));
                if n == 1 && ldc == 1 {
                    _mm512_storeu_ps(c.add(i + j), sums);
                } else {
                    let mut out = [0.0_f32; 16];
                    _mm512_storeu_ps(out.as_mut_ptr(), sums);
                    for (r, v) in out.iter().enumerate() {
                        *c.add((i + r) * ldc + j) = *v;
                    }
                }
            }
            i += 16;
        }
        for i in i..m {
            let ai = a.add(i * lda);
            for j in 0..n {
                let bj = bt.add(j * ldbt);
                let mut acc = _mm512_setzero_ps();
                for q in 0..full {
                    acc = _mm512_fmadd_ps(
                        _mm512_loadu_ps(ai.add(16 * q)),
                        _mm512_loadu_ps(bj.add(16 * q)),
                        acc,
                    );
                }
                if rem > 0 {
                    acc = _mm512_fmadd_ps(
                        _mm512_maskz_loadu_ps(tail, ai.add(16 * full)),
                        _mm512_maskz_loadu_ps(tail, bj.add(16 * full)),
                        acc,
                    );
                }
                *c.add(i * ldc + j) = _mm512_reduce_add_ps(acc) + bias.map_or(0.0, |b| b[j]);
            }
        }
    }
}

/// Lane r of the result is the sum of the 16 lanes of `x[r]`: a transpose by halves
/// (pairs of rows, then quadruples within each 128-bit lane, then the 128-bit lanes),
/// adding as it goes; 30 instructions for the 16 sums.
#[target_feature(enable = "avx512f")]
#[inline]
fn sum16(x: &[__m512; 16]) -> __m512 {
    // Per 128-bit lane, rows (2p, 2p+1) as [a, b, a, b].
    let pairs: [__m512; 8] = std::array::from_fn(|p| {
        let (u, v) = (x[2 * p], x[2 * p + 1]);
        _mm512_add_ps(_mm512_unpacklo_ps(u, v), _mm512_unpackhi_ps(u, v))
    });
    // Per 128-bit lane, rows 4p..4p+4 as [a, b, c, d]: sums over that lane's 4 elements.
    let quads: [__m512; 4] = std::array::from_fn(|p| {
        let (u, v) = (
            _mm512_castps_pd(pairs[2 * p]),
            _mm512_castps_pd(pairs[2 * p + 1]),
        );
        _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(u, v)),
            _mm512_castpd_ps(_mm512_unpackhi_pd(u, v)),
        )
    });
    // 128-bit lane p of the result: the four 128-bit lanes of quads[p] added.
    let half = |u: __m512, v: __m512| {
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(u, v),
            _mm512_shuffle_f32x4::<0xEE>(u, v),
        )
    };
    let (u01, u23) = (half(quads[0], quads[1]), half(quads[2], quads[3]));
    _mm512_add_ps(
        _mm512_shuffle_f32x4::<0x88>(u01, u23),
        _mm512_shuffle_f32x4::<0xDD>(u01, u23),
    )
}

/// One block: `R` rows and `V` vectors of columns, the last one under `mask`.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const R: usize, const V: usize>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    bias: *const f32,
    mask: __mmask16,
    epi: Epi,
) {
    // SAFETY: every pointer below is inside its slice (see `gemm`); the masked loads and
    // stores touch only the lanes of columns that exist.
    unsafe {
        let load = |p: *const f32, v: usize| -> __m512 {
            if v + 1 == V {
                _mm512_maskz_loadu_ps(mask, p.add(16 * v))
            } else {
                _mm512_loadu_ps(p.add(16 * v))
            }
        };
        // Every row starts from the bias (or zero). Built as copies of one row, not by
        // writing into a zeroed array: that the compiler made into a memset of the
        // accumulators on the stack for every block (1 % of the time at batch 1024).
        let start: [__m512; V] = if bias.is_null() {
            [_mm512_setzero_ps(); V]
        } else {
            std::array::from_fn(|v| load(bias, v))
        };
        let mut acc = [start; R];
        for p in 0..k {
            let bp = b.add(p * ldb);
            let mut bv = [_mm512_setzero_ps(); V];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = load(bp, v);
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * lda + p));
                for v in 0..V {
                    row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
                }
            }
        }
        let store = |p: *mut f32, v: usize, x: __m512| {
            if v + 1 == V {
                _mm512_mask_storeu_ps(p.add(16 * v), mask, x);
            } else {
                _mm512_storeu_ps(p.add(16 * v), x);
            }
        };
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            for (v, x) in row.iter().enumerate() {
                let x = match epi {
                    Epi::Store => *x,
                    Epi::Silu => silu16(*x).0,
                    Epi::SiluDeriv(d) => {
                        let (y, dy) = silu16(*x);
                        store(d.add(r * ldc), v, dy);
                        y
                    }
                    Epi::Mul(d) => _mm512_mul_ps(*x, load(d.add(r * ldc), v)),
                };
                store(cr, v, x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Whether the kernels can run here (a test without them says it was skipped).
    fn has_avx512() -> bool {
        let has = std::arch::is_x86_feature_detected!("avx512f");
        if !has {
            eprintln!("skipped: this CPU has no AVX-512F");
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

    #[test]
    fn products_of_every_shape_match_the_plain_sum() {
        if !has_avx512() {
            return;
        }
        let mut next = uniform(1);
        for &(m, n, k) in &[
            (1, 1, 1),
            (4, 64, 3),
            (5, 17, 2),
            (7, 130, 9),
            (128, 128, 128),
            (3, 2, 128),
            (9, 65, 33),
            (130, 48, 16),
            (37, 3, 130),
            (48, 1, 128),
        ] {
            // Leading dimensions wider than the rows, to catch a stride mixed up.
            let (lda, ldb, ldc) = (k + 3, n + 5, n + 2);
            let a: Vec<f32> = (0..m * lda).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * ldb).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            for with_bias in [false, true] {
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the CPU has AVX-512F; the slices hold every index.
                unsafe {
                    super::gemm(
                        (m, n, k),
                        &a,
                        lda,
                        &b,
                        ldb,
                        &mut c,
                        ldc,
                        with_bias.then_some(&bias[..]),
                        super::Epilogue::Store,
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
                    super::gemm_narrow(
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
                    for j in 0..n {
                        let (x, y) = (c[i * ldc + j], c2[i * ldc + j]);
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
        if !has_avx512() {
            return;
        }
        // An energy output: n = 1 with ldc = 1 (16 rows stored as one vector), and a
        // tail of rows past the last 16.
        let (m, k) = (35, 21);
        let a: Vec<f32> = (0..m * k).map(|v| ((v * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k).map(|v| (v % 5) as f32 * 0.5 - 1.0).collect();
        let mut c = vec![f32::NAN; m + 1];
        // SAFETY: the CPU has AVX-512F; the slices hold every index.
        unsafe { super::gemm_narrow((m, 1, k), &a, k, &b, k, &mut c, 1, Some(&[0.25])) };
        for i in 0..m {
            let want: f32 = 0.25 + (0..k).map(|p| a[i * k + p] * b[p]).sum::<f32>();
            assert!((c[i] - want).abs() < 1e-4, "row {i}: {} vs {want}", c[i]);
        }
        assert!(c[m].is_nan(), "wrote past the last row");
    }

    /// σ as the scalar path computes it, in f64.
    fn silu_ref(z: f64) -> (f64, f64) {
        let s = 1.0 / (1.0 + (-z).exp());
        (z * s, s * (1.0 + z * (1.0 - s)))
    }

    #[test]
    fn silu_matches_its_definition_over_the_whole_range() {
        if !has_avx512() {
            return;
        }
        // Across the clamps, around 0, and a length that leaves a masked tail.
        let z: Vec<f32> = (0..4001).map(|i| (i as f32 - 2000.0) * 0.06).collect();
        let mut v = z.clone();
        let mut d = vec![f32::NAN; z.len()];
        // SAFETY: the CPU has AVX-512F.
        unsafe { super::silu(&mut v, Some(&mut d)) };
        for ((zv, vv), dv) in z.iter().zip(&v).zip(&d) {
            let (want_v, want_d) = silu_ref(f64::from(*zv));
            assert!(
                (f64::from(*vv) - want_v).abs() <= 2e-6 * (1.0 + want_v.abs()),
                "silu({zv}) = {vv}, want {want_v}"
            );
            assert!(
                (f64::from(*dv) - want_d).abs() <= 2e-6,
                "silu'({zv}) = {dv}, want {want_d}"
            );
        }
        // Huge finite inputs (a blowing-up run) stay finite, as in the scalar path:
        // SiLU(z) = z and its derivative 1 above, 0 and 0 far below.
        let big = [1e15_f32, 2e14, 1e20, 3e38, f32::MAX, -1e15, -1e20];
        let mut v = big;
        let mut d = [f32::NAN; 7];
        // SAFETY: as above.
        unsafe { super::silu(&mut v, Some(&mut d)) };
        for ((z, y), dy) in big.iter().zip(&v).zip(&d) {
            assert!(y.is_finite() && dy.is_finite(), "silu({z}) = {y}, {dy}");
            if *z > 0.0 {
                assert_eq!((*y, *dy), (*z, 1.0), "silu({z})");
            } else {
                assert!(
                    y.abs() < 1e-15 * z.abs() && dy.abs() < 1e-12,
                    "silu({z}) = {y}, {dy}"
                );
            }
        }
        // A NaN stays a NaN (a diverging run must be seen).
        let mut nan = [f32::NAN];
        // SAFETY: as above.
        unsafe { super::silu(&mut nan, None) };
        assert!(nan[0].is_nan());
    }

    #[test]
    fn silus_derivative_stays_exact_where_the_sigmoid_rounds_to_one() {
        // From z ≈ 7, σ(z) is within a few ulps of 1: 1 − σ computed as a difference is
        // then mostly rounding, and z times it moved the derivative (≈ 1) by up to 5e-7 of
        // itself (at z = 7.45: 1.0037451 against 1.0037456); with 1 − σ = e^{−z}·σ it
        // stays within a few ulps. The negative side, where σ is tiny, and both clamps too.
        if !has_avx512() {
            return;
        }
        let z: Vec<f32> = (0..1600)
            .map(|i| (i as f32 - 800.0) * 0.05)
            .chain([87.5, 88.0, 100.0, -86.0, -87.0, -100.0])
            .collect();
        let mut v = z.clone();
        let mut d = vec![f32::NAN; z.len()];
        // SAFETY: the CPU has AVX-512F; `d` is as long as `v`.
        unsafe { super::silu(&mut v, Some(&mut d)) };
        for (i, &x) in z.iter().enumerate() {
            let (want_v, want_d) = silu_ref(f64::from(x));
            let rel = |got: f32, want: f64| (f64::from(got) - want).abs() / want.abs().max(1e-30);
            // Where SiLU's value or derivative is near zero (z near 0 for the value, the
            // derivative's root near −1.28), the error is absolute.
            let ok =
                |got: f32, want: f64| rel(got, want) < 5e-7 || (f64::from(got) - want).abs() < 1e-7;
            assert!(ok(v[i], want_v), "SiLU({x}) = {} against {want_v}", v[i]);
            assert!(ok(d[i], want_d), "SiLU'({x}) = {} against {want_d}", d[i]);
        }
    }

    #[test]
    fn epilogues_apply_silu_or_multiply_the_block_in_place() {
        if !has_avx512() {
            return;
        }
        let mut next = uniform(7);
        for &(m, n, k) in &[(9, 130, 33), (4, 64, 128), (5, 17, 2)] {
            let ldc = n + 3;
            let a: Vec<f32> = (0..m * k).map(|_| 4.0 * next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let mul: Vec<f32> = (0..m * ldc).map(|_| next()).collect();
            let run = |epi: super::Epilogue<'_>| {
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the CPU has AVX-512F; the slices hold every index.
                unsafe {
                    super::gemm((m, n, k), &a, k, &b, n, &mut c, ldc, Some(&bias), epi);
                }
                c
            };
            let plain = run(super::Epilogue::Store);
            let mut deriv = vec![f32::NAN; m * ldc];
            let silu = run(super::Epilogue::Silu(Some(&mut deriv)));
            let silu_only = run(super::Epilogue::Silu(None));
            let product = run(super::Epilogue::Mul(&mul));
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
