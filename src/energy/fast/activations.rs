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

/// `a` applied in place, its derivative into `deriv`; SiLU with AVX-512 through the
/// hand-vectorised kernel (no division), the rest as the compiler vectorises them.
pub(super) fn act_forward(a: Activation, z: &mut [f32], deriv: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu && KernelLevel::current() == KernelLevel::Avx512 {
        // SAFETY: the level implies AVX-512F.
        unsafe { crate::energy::gemm512::silu(z, Some(deriv)) };
        return;
    }
    act_forward_auto(a, z, deriv);
}

/// `a` applied in place (values only).
pub(super) fn act_only(a: Activation, z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu && KernelLevel::current() == KernelLevel::Avx512 {
        // SAFETY: the level implies AVX-512F.
        unsafe { crate::energy::gemm512::silu(z, None) };
        return;
    }
    act_only_auto(a, z);
}
