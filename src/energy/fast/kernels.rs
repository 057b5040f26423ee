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

/// `t` (cols × rows) = `w` (rows × cols)ᵀ, both row-major, in 16 × 16 tiles: one at a
/// time in cache, where an element-by-element transpose of a layer's weights wrote each
/// value to a different cache line (about 2 ns a value, some 40 µs a pack).
#[cfg(target_arch = "x86_64")]
pub(super) fn transpose(w: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    const TILE: usize = 16;
    assert!(w.len() >= rows * cols && t.len() >= rows * cols);
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                let dst = &mut t[c * rows..c * rows + rows];
                for r in r0..(r0 + TILE).min(rows) {
                    dst[r] = w[r * cols + c];
                }
            }
        }
    }
}

pub(super) use dispatch;
