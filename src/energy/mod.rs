//! The energy function E_θ(x): its specification, parameters and the two engines that
//! evaluate it (hand-written [`fast`] on the CPU, candle autograd in [`net`]).

pub mod engine;
pub mod fast;
#[cfg(target_arch = "x86_64")]
mod gemm256;
#[cfg(target_arch = "x86_64")]
mod gemm512;
pub mod net;
pub mod rbm;
pub mod spec;
pub mod units;

pub use spec::{Activation, Architecture, LayerSpec, ModelSpec, Visible};

use rand::Rng;

/// Parameters initialised as `torch.nn.Linear` and `torch.nn.Conv2d` do: weight and
/// bias uniform in ±1/√fan_in, fan_in = inputs × kernel area.
pub fn init_params(arch: &Architecture, rng: &mut impl Rng) -> Vec<f32> {
    let mut p = vec![0.0_f32; arch.n_params];
    // A weight's fan-in: everything but its first axis ([out, in] or [out, in, k, k]).
    let fan_in_of = |shape: &[usize]| shape[1..].iter().product::<usize>();
    for e in &arch.params {
        let fan_in = if e.shape.len() == 1 {
            // a bias: its layer's weight gives the fan-in
            arch.params
                .iter()
                .find(|w| w.layer == e.layer && w.shape.len() >= 2)
                .map_or(1, |w| fan_in_of(&w.shape))
        } else {
            fan_in_of(&e.shape)
        };
        #[allow(clippy::cast_precision_loss)]
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        for v in &mut p[e.offset..e.offset + e.len] {
            *v = rng.random_range(-bound..=bound);
        }
    }
    p
}

/// The index and value of the largest entry (the first of equal ones); `(0, −∞)` for an
/// empty slice. A classifier's prediction and its confidence.
#[must_use]
pub fn argmax(v: &[f32]) -> (usize, f32) {
    v.iter().enumerate().fold(
        (0, f32::NEG_INFINITY),
        |b, (i, x)| if *x > b.1 { (i, *x) } else { b },
    )
}
