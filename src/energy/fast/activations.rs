//! The activations and their derivatives, written out by hand (no autograd), each loop
//! compiled for every instruction-set level ([`super::kernels`]).

use super::kernels::dispatch;
use super::*;

/// e^x in f32 without a library call, so that loops over it vectorise: x = n·ln2 + r with
/// |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error below 2e-7), 2^n by
/// building the exponent bits. Inputs are clamped to [−87, 88] (no overflow, no denormals).
#[inline(always)]
pub(super) fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    #[allow(clippy::manual_clamp)] // max/min vectorise to two instructions; clamp adds NaN checks
    let x = x.max(-87.0).min(88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n is a small integer: adding 1.5·2²³ puts it in the low mantissa bits, which
    // vectorises where an `as i32` cast (saturating, NaN-checked) does not.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    let bits = n_bits.wrapping_add(127) << 23;
    f32::from_bits(bits) * p
}

#[inline(always)]
pub(super) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-z))
}

#[inline(always)]
pub(super) fn tanh_fast(z: f32) -> f32 {
    // tanh z = 1 − 2/(e^{2z} + 1), exact at the clamps' ends.
    1.0 - 2.0 / (exp_fast(2.0 * z) + 1.0)
}

/// Applies `a` in place and writes its derivative at the input into `deriv`.
#[inline(always)]
pub(super) fn act_forward_body(a: Activation, z: &mut [f32], deriv: &mut [f32]) {
    match a {
        Activation::Silu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let s = sigmoid(*v);
                *d = s * (1.0 + *v * (1.0 - s));
                *v *= s;
            }
        }
        Activation::Relu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                *d = if *v > 0.0 { 1.0 } else { 0.0 };
                *v = v.max(0.0);
            }
        }
        Activation::LeakyRelu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let pos = *v > 0.0;
                *d = if pos { 1.0 } else { LEAKY_SLOPE };
                *v = if pos { *v } else { *v * LEAKY_SLOPE };
            }
        }
        Activation::Elu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let e = exp_fast(v.min(0.0));
                let pos = *v > 0.0;
                *d = if pos { 1.0 } else { e };
                *v = if pos { *v } else { e - 1.0 };
            }
        }
        Activation::Gelu => {
            const C: f32 = 0.797_884_6; // √(2/π)
            const K: f32 = 0.044_715;
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let x = *v;
                let t = tanh_fast(C * (x + K * x * x * x));
                *d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * K * x * x);
                *v = 0.5 * x * (1.0 + t);
            }
        }
        Activation::Tanh => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let t = tanh_fast(*v);
                *d = 1.0 - t * t;
                *v = t;
            }
        }
        Activation::Softplus => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let x = *v;
                let e = exp_fast(-x.abs());
                // σ(x) from e = e^{−|x|}: 1/(1+e) for x ≥ 0, e/(1+e) otherwise.
                let inv = 1.0 / (1.0 + e);
                *d = if x >= 0.0 { inv } else { e * inv };
                *v = x.max(0.0) + (1.0 + e).ln();
            }
        }
    }
}

/// The activation `a` applied to `z` in place (values only).
pub fn activate(a: Activation, z: &mut [f32]) {
    act_only_body(a, z);
}

/// Only the values (evaluation of the energy alone).
#[inline(always)]
pub(super) fn act_only_body(a: Activation, z: &mut [f32]) {
    match a {
        Activation::Silu => z.iter_mut().for_each(|v| *v *= sigmoid(*v)),
        Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
        _ => {
            let mut scratch = [0.0_f32; 64];
            for chunk in z.chunks_mut(64) {
                act_forward_body(a, chunk, &mut scratch[..chunk.len()]);
            }
        }
    }
}

dispatch!(act_forward_auto, act_forward_body, (a: Activation, z: &mut [f32], deriv: &mut [f32]));
dispatch!(act_only_auto, act_only_body, (a: Activation, z: &mut [f32]));

/// `a` applied in place, its derivative into `deriv`; SiLU with AVX-512 or AVX2 through
/// the hand-vectorised kernels (no division), the rest as the compiler vectorises them.
pub(super) fn act_forward(a: Activation, z: &mut [f32], deriv: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu {
        match KernelLevel::current() {
            // SAFETY: the level implies AVX-512F.
            KernelLevel::Avx512 => return unsafe { crate::energy::gemm512::silu(z, Some(deriv)) },
            // SAFETY: the level implies AVX2 and FMA.
            KernelLevel::Avx2 => return unsafe { silu_avx2(z, Some(deriv)) },
            KernelLevel::Baseline => {}
        }
    }
    act_forward_auto(a, z, deriv);
}

/// `a` applied in place (values only).
pub(super) fn act_only(a: Activation, z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu {
        match KernelLevel::current() {
            // SAFETY: the level implies AVX-512F.
            KernelLevel::Avx512 => return unsafe { crate::energy::gemm512::silu(z, None) },
            // SAFETY: the level implies AVX2 and FMA.
            KernelLevel::Avx2 => return unsafe { silu_avx2(z, None) },
            KernelLevel::Baseline => {}
        }
    }
    act_only_auto(a, z);
}

/// SiLU in place over `z` (and its derivative into `deriv`) with AVX2, 8 lanes at a time
/// (`gemm256::silu8`, the epilogue of the AVX2 product: no division; the compiler's loop
/// divided, and SiLU was an eighth of mnist-conv's step on an AVX2 machine). The tail
/// takes the scalar path.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_avx2(z: &mut [f32], mut deriv: Option<&mut [f32]>) {
    use std::arch::x86_64::{_mm256_loadu_ps, _mm256_storeu_ps};
    if let Some(d) = &deriv {
        assert_eq!(d.len(), z.len(), "one derivative per value");
    }
    let n = z.len();
    let body = n - n % 8;
    // SAFETY: every access is at i..i+8 ≤ body ≤ n.
    unsafe {
        let mut i = 0;
        while i < body {
            let zp = z.as_mut_ptr().add(i);
            let (y, g) = crate::energy::gemm256::silu8(_mm256_loadu_ps(zp));
            _mm256_storeu_ps(zp, y);
            if let Some(dd) = deriv.as_deref_mut() {
                _mm256_storeu_ps(dd.as_mut_ptr().add(i), g);
            }
            i += 8;
        }
    }
    match deriv {
        Some(d) => act_forward_body(Activation::Silu, &mut z[body..], &mut d[body..]),
        None => act_only_body(Activation::Silu, &mut z[body..]),
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The AVX2 SiLU against the scalar one, its derivative too, from −120 to 120 (both
    /// clamps, and zero), with a length that leaves a tail for the scalar path.
    #[test]
    fn silu_avx2_matches_the_scalar_silu() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let z: Vec<f32> = (0..4803).map(|i| -120.0 + i as f32 * 0.05).collect();
        let (mut want, mut want_d) = (z.clone(), vec![0.0; z.len()]);
        act_forward_body(Activation::Silu, &mut want, &mut want_d);
        let (mut got, mut got_d) = (z.clone(), vec![0.0; z.len()]);
        // SAFETY: checked above.
        unsafe { silu_avx2(&mut got, Some(&mut got_d)) };
        let mut only = z.clone();
        // SAFETY: as above.
        unsafe { silu_avx2(&mut only, None) };
        for i in 0..z.len() {
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 * (1.0 + b.abs());
            assert!(
                close(got[i], want[i]),
                "SiLU({}) = {} against {}",
                z[i],
                got[i],
                want[i]
            );
            assert!(
                close(got_d[i], want_d[i]),
                "SiLU'({}) = {} against {}",
                z[i],
                got_d[i],
                want_d[i]
            );
            assert_eq!(only[i].to_bits(), got[i].to_bits());
        }
    }
}
