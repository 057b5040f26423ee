//! The engine's own kernels: the matrix product (through gemm), the instruction-set
//! level its vector loops use (chosen at run time, with a cap for the tests), the
//! `dispatch!` macro that compiles a loop for each level, and the tiled transpose.

/// `dst[m×n] (+)= scale · lhs[m×k] · rhs[k×n]`, all given by (row stride, column stride).
#[allow(clippy::too_many_arguments, clippy::cast_possible_wrap)]
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, n, dst_rs, dst_cs) < dst.len(),
        "matmul: dst too small"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    assert!(
        last(m, k, lhs_rs, lhs_cs) < lhs.len(),
        "matmul: lhs too small"
    );
    assert!(
        last(k, n, rhs_rs, rhs_cs) < rhs.len(),
        "matmul: rhs too small"
    );
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::float_cmp)] // exactly 1: no scaling asked for
    if !accumulate
        && scale == 1.0
        && (dst_cs, lhs_cs, rhs_cs) == (1, 1, 1)
        && KernelLevel::current() == KernelLevel::Avx512
    {
        // SAFETY: the CPU has AVX-512F (`current` never exceeds the detected level); the
        // asserts above bound every index by the slices' lengths.
        unsafe {
            crate::energy::gemm512::gemm(
                (m, n, k),
                lhs,
                lhs_rs,
                rhs,
                rhs_rs,
                dst,
                dst_rs,
                None,
                Epilogue::Store,
            );
        }
        return;
    }
    // SAFETY: the three asserts above bound every index gemm touches by the slices'
    // lengths; dst is borrowed mutably, so it does not alias lhs or rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use crate::energy::gemm512::{Epilogue, NARROW_BELOW};

/// Whether the engine's own products run at the current level: AVX2 with FMA
/// (`gemm256`), or AVX-512 (`gemm512`).
#[cfg(target_arch = "x86_64")]
pub(super) fn has_own_gemm() -> bool {
    KernelLevel::current() >= KernelLevel::Avx2
}

/// The narrow product (`gemm512::gemm_narrow`, B transposed) at the current level.
///
/// # Safety
/// The CPU has AVX2 and FMA ([`has_own_gemm`] said so), and the indices are as
/// `gemm512::gemm_narrow` requires.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn own_gemm_narrow(
    mnk: (usize, usize, usize),
    a: &[f32],
    lda: usize,
    bt: &[f32],
    ldbt: usize,
    c: &mut [f32],
    ldc: usize,
    bias: Option<&[f32]>,
) {
    use crate::energy::{gemm256, gemm512};
    // SAFETY: the level AVX-512 implies AVX-512F (`current` never exceeds the detected
    // level); AVX2 and FMA are the caller's promise.
    unsafe {
        if KernelLevel::current() == KernelLevel::Avx512 {
            gemm512::gemm_narrow(mnk, a, lda, bt, ldbt, c, ldc, bias);
        } else {
            gemm256::gemm_narrow(mnk, a, lda, bt, ldbt, c, ldc, bias);
        }
    }
}

/// The instruction sets the engine's own vector loops may use (gemm chooses its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelLevel {
    /// The baseline target (SSE2 on x86-64; whatever the target has elsewhere).
    Baseline,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl KernelLevel {
    pub const ALL: [Self; 3] = [Self::Baseline, Self::Avx2, Self::Avx512];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    /// The best level this CPU supports.
    #[must_use]
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }

    /// The level the engine uses now: the detected one, capped by
    /// [`KernelLevel::set_cap`].
    #[must_use]
    pub fn current() -> Self {
        let cap = KERNEL_CAP.load(std::sync::atomic::Ordering::Relaxed);
        let detected = Self::detected();
        Self::ALL
            .into_iter()
            .find(|l| *l as u8 == cap)
            .map_or(detected, |c| c.min(detected))
    }

    /// Caps the level for the whole process (`None`: the best the CPU has), so that
    /// every path can be run and checked on a machine that has a better one.
    pub fn set_cap(cap: Option<Self>) {
        KERNEL_CAP.store(
            cap.map_or(u8::MAX, |c| c as u8),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

pub(super) static KERNEL_CAP: std::sync::atomic::AtomicU8 =
    std::sync::atomic::AtomicU8::new(u8::MAX);

/// Compiles `$body` for AVX-512 and AVX2+FMA as well as the baseline, and picks the best
/// at run time (the default x86-64 target has only SSE2), within the cap.
macro_rules! dispatch {
    ($name:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        pub(super) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx512($($arg: $ty),*) {
                    $body($($arg),*);
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*);
                }
                match KernelLevel::current() {
                    // SAFETY: the CPU has the features this copy was compiled for
                    // (`current` never exceeds the detected level).
                    KernelLevel::Avx512 => unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    KernelLevel::Avx2 => unsafe { avx2($($arg),*) },
                    KernelLevel::Baseline => $body($($arg),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            $body($($arg),*);
        }
    };
}

#[inline(always)]
pub(super) fn mul_body(g: &mut [f32], d: &[f32]) {
    for (gv, dv) in g.iter_mut().zip(d) {
        *gv *= dv;
    }
}

dispatch!(mul_in_place, mul_body, (g: &mut [f32], d: &[f32]));

/// `*out += Σ v`, in 16 running sums (a single running sum is a chain of dependent scalar
/// additions the compiler may not reorder: a conv's bias gradient over a 28×28 plane
/// and a batch was a tenth of the backward pass).
#[inline(always)]
pub(super) fn add_sum_body(v: &[f32], out: &mut f32) {
    let mut acc = [0.0_f32; 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    *out += acc.iter().sum::<f32>() + rest.iter().sum::<f32>();
}

dispatch!(add_sum, add_sum_body, (v: &[f32], out: &mut f32));

/// `t` (cols × rows) = `w` (rows × cols)ᵀ, both row-major: 8 × 8 blocks in AVX registers
/// where the CPU has AVX2 (every level the packing runs at), the edges and other CPUs
/// value by value in 16 × 16 tiles. Value by value, the packing of digits_jem's weights
/// was 4 % of its training step on an AVX-512 machine (about 0.5 ns a value, four packs
/// a step).
#[cfg(target_arch = "x86_64")]
pub(super) fn transpose(w: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    assert!(w.len() >= rows * cols && t.len() >= rows * cols);
    let (full_r, full_c) = if KernelLevel::current() >= KernelLevel::Avx2 {
        // SAFETY: the CPU has AVX2 (`current` never exceeds the detected level); the
        // blocks are inside the slices (checked above).
        unsafe { transpose8(w, rows, cols, t) };
        (rows / 8 * 8, cols / 8 * 8)
    } else {
        (0, 0)
    };
    // What the blocks left: the columns past the last whole block on every row, and
    // the rows past the last whole block.
    transpose_tiles(w, (rows, cols), (0..full_r, full_c..cols), t);
    transpose_tiles(w, (rows, cols), (full_r..rows, 0..cols), t);
}

/// The value-by-value transpose of rows `r` × columns `c` of `w`, in 16 × 16 tiles (one at
/// a time in cache: element by element, each value went to a different cache line).
#[cfg(target_arch = "x86_64")]
fn transpose_tiles(
    w: &[f32],
    (rows, cols): (usize, usize),
    (r, c): (std::ops::Range<usize>, std::ops::Range<usize>),
    t: &mut [f32],
) {
    const TILE: usize = 16;
    for r0 in r.clone().step_by(TILE) {
        for c0 in c.clone().step_by(TILE) {
            for cc in c0..(c0 + TILE).min(c.end) {
                let dst = &mut t[cc * rows..cc * rows + rows];
                for rr in r0..(r0 + TILE).min(r.end) {
                    dst[rr] = w[rr * cols + cc];
                }
            }
        }
    }
}

/// The whole 8 × 8 blocks of [`transpose`], each through eight AVX registers.
///
/// # Safety
/// The CPU has AVX2, and `w` and `t` hold `rows × cols` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(w: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    use std::arch::x86_64::{
        _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    let (wp, tp) = (w.as_ptr(), t.as_mut_ptr());
    for r0 in (0..rows / 8 * 8).step_by(8) {
        for c0 in (0..cols / 8 * 8).step_by(8) {
            // SAFETY: rows r0..r0+8 and columns c0..c0+8 are inside both matrices.
            unsafe {
                let row = |i: usize| _mm256_loadu_ps(wp.add((r0 + i) * cols + c0));
                let (r0_, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                let (r4, r5, r6, r7) = (row(4), row(5), row(6), row(7));
                // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
                let (t0, t1) = (_mm256_unpacklo_ps(r0_, r1), _mm256_unpackhi_ps(r0_, r1));
                let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                let q0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let q1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let q2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let q3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let q4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let q5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let q6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let q7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let out = [
                    _mm256_permute2f128_ps::<0x20>(q0, q4),
                    _mm256_permute2f128_ps::<0x20>(q1, q5),
                    _mm256_permute2f128_ps::<0x20>(q2, q6),
                    _mm256_permute2f128_ps::<0x20>(q3, q7),
                    _mm256_permute2f128_ps::<0x31>(q0, q4),
                    _mm256_permute2f128_ps::<0x31>(q1, q5),
                    _mm256_permute2f128_ps::<0x31>(q2, q6),
                    _mm256_permute2f128_ps::<0x31>(q3, q7),
                ];
                for (k, v) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(tp.add((c0 + k) * rows + r0), v);
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Checks `t` against the definition; `blocks_only`: only the whole 8 × 8 blocks.
    fn check(w: &[f32], t: &[f32], rows: usize, cols: usize, blocks_only: bool) {
        let (rr, cc) = if blocks_only {
            (rows / 8 * 8, cols / 8 * 8)
        } else {
            (rows, cols)
        };
        for r in 0..rr {
            for c in 0..cc {
                assert_eq!(
                    t[c * rows + r].to_bits(),
                    w[r * cols + c].to_bits(),
                    "{rows}×{cols} at ({r}, {c})"
                );
            }
        }
    }

    #[test]
    fn the_transpose_is_exact_in_blocks_value_by_value_and_together() {
        // Whole 8 × 8 blocks, edges on either side, a single row or column, empty. (The
        // level is not capped here: the cap is the whole process's, and this binary's
        // other tests run beside this one; each path is called directly instead.)
        let shapes = [
            (8, 8),
            (64, 256),
            (256, 10),
            (13, 29),
            (1, 17),
            (17, 1),
            (9, 16),
            (0, 5),
        ];
        for (rows, cols) in shapes {
            let w: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
            let fresh = || vec![f32::NAN; rows * cols];
            let mut t = fresh();
            transpose(&w, rows, cols, &mut t);
            check(&w, &t, rows, cols, false);
            let mut t = fresh();
            transpose_tiles(&w, (rows, cols), (0..rows, 0..cols), &mut t);
            check(&w, &t, rows, cols, false);
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut t = fresh();
                // SAFETY: the CPU has AVX2; both slices hold rows × cols values.
                unsafe { transpose8(&w, rows, cols, &mut t) };
                check(&w, &t, rows, cols, true);
            }
        }
    }
}

pub(super) use dispatch;
