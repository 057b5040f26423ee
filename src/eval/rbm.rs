//! The truth about an RBM in any visible dimension (DESIGN §8): with few hidden units,
//! summing over the 2^m hidden states instead of the visible ones gives log Z, the exact
//! sample term and exact draws, whatever the number of visible units (Salakhutdinov &
//! Murray 2008 checked AIS on MNIST this way). For hidden state h, with visible
//! pre-activations a(h) = b + Wᵀh,
//! - log Z = log Σₕ exp(cᵀh + Σₖ softplus(aₖ(h))), accumulated in f64;
//! - p(h) = exp(cᵀh + Σₖ softplus(aₖ(h)) − log Z), and v | h ~ Bernoulli(σ(a(h)));
//! - the sample term E_p[∂F/∂θ] = E_p(v,h)[∂E(v,h)/∂θ] with E(v, h) = −bᵀv − cᵀh − hᵀWv,
//!   linear in v for fixed h: −Σₕ p(h)·(h σ(a(h))ᵀ, σ(a(h)), h) for (W, b, c).
//!
//! Gaussian visible units of standard deviation s (E(v, h) = ‖v − b‖²/(2s²) − cᵀh −
//! hᵀWv/s) integrate out as a Gaussian per hidden state: with the mean of v | h,
//! a(h) = b + s·Wᵀh,
//! - log Z = (n/2)·ln(2πs²) + log Σₕ exp(cᵀh + (‖a(h)‖² − ‖b‖²)/(2s²));
//! - v | h ~ N(a(h), s²I);
//! - the sample term −Σₕ p(h)·(h a(h)ᵀ/s, (a(h) − b)/s², h).
//!
//! The hidden states are visited in Gray-code order, so that a(h) changes by one row of W
//! from one state to the next.

use rand::Rng;

/// The most hidden units summed over (2^24 states).
pub const MAX_HIDDEN: usize = 24;

/// The hidden units to sum over where `model` is an RBM on bits whose truth is best had
/// from its hidden layer: at most [`MAX_HIDDEN`] of them, and no more than the visible
/// units (or more visible units than can be enumerated).
///
/// Gaussian visible units: in every space of real vectors but the plane (where
/// quadrature, exact up to its grid, also draws the heat map), with at most
/// [`MAX_HIDDEN`] hidden units.
#[must_use]
pub fn hidden_sum(space: crate::data::Space, model: &crate::energy::ModelSpec) -> Option<usize> {
    let allows = space.allows();
    let m = model.rbm()?;
    if model.rbm_visible()?.sigma().is_some() {
        return (!allows.discrete && !allows.quadrature && m <= MAX_HIDDEN).then_some(m);
    }
    (allows.discrete && m <= MAX_HIDDEN && (m <= space.dim() || !allows.enumeration)).then_some(m)
}

pub(super) fn softplus(a: f64) -> f64 {
    a.max(0.0) + (-a.abs()).exp().ln_1p()
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// An RBM's exact distribution over its hidden states.
#[derive(Debug, Clone)]
pub struct RbmTruth {
    pub visible: usize,
    pub hidden: usize,
    pub log_z: f64,
    /// s for Gaussian visible units; `None` for binary ones.
    pub sigma: Option<f64>,
    /// log p(h) + log Z for every hidden state h, indexed by the state's bits
    /// (h_j = (k >> j) & 1).
    log_weights: Vec<f64>,
}

/// (W [hidden × visible], b, c) of an RBM's flat parameters.
fn parts(params: &[f32], visible: usize, hidden: usize) -> (&[f32], &[f32], &[f32]) {
    let (w, rest) = params.split_at(hidden * visible);
    let (b, c) = rest.split_at(visible);
    (w, &b[..visible], &c[..hidden])
}

/// The hidden states are walked in blocks of 2^(m − k) consecutive indices (the top k
/// bits fixed), the blocks in parallel: at most 2^6 of them.
fn block_bits(hidden: usize) -> usize {
    hidden.min(6)
}

/// Visits the hidden states of block `top` (the top `block_bits` bits of the index) in
/// Gray-code order with their visible pre-activations a(h) = b + scale·Wᵀh (f64; scale
/// is 1 for binary units, s for Gaussian ones): `f(index of h, a)`.
fn for_each_in_block(
    params: &[f32],
    (visible, hidden, scale): (usize, usize, f64),
    top: usize,
    mut f: impl FnMut(usize, &[f64]),
) {
    let (w, b, _) = parts(params, visible, hidden);
    let low = hidden - block_bits(hidden);
    let mut h = top << low;
    let mut a: Vec<f64> = b.iter().map(|v| f64::from(*v)).collect();
    for j in (low..hidden).filter(|j| h >> j & 1 == 1) {
        for (ak, wk) in a.iter_mut().zip(&w[j * visible..(j + 1) * visible]) {
            *ak += scale * f64::from(*wk);
        }
    }
    f(h, &a);
    for t in 1..1_usize << low {
        // The bit that changes from Gray code t − 1 to t.
        let j = t.trailing_zeros() as usize;
        let row = &w[j * visible..(j + 1) * visible];
        let sign = if h >> j & 1 == 0 { scale } else { -scale };
        for (ak, wk) in a.iter_mut().zip(row) {
            *ak += sign * f64::from(*wk);
        }
        h ^= 1 << j;
        f(h, &a);
    }
}

/// Every hidden state once, as [`for_each_in_block`], one block after another.
#[cfg(test)]
fn for_each_state(params: &[f32], visible: usize, hidden: usize, mut f: impl FnMut(usize, &[f64])) {
    for top in 0..1_usize << block_bits(hidden) {
        for_each_in_block(params, (visible, hidden, 1.0), top, &mut f);
    }
}

impl RbmTruth {
    /// Sums over the hidden states of the RBM with binary visible units, `params`
    /// ([`crate::energy::rbm`]'s layout) on `visible` units with `hidden` ≤
    /// [`MAX_HIDDEN`] units.
    ///
    /// # Panics
    /// With more than [`MAX_HIDDEN`] hidden units.
    #[must_use]
    pub fn new(params: &[f32], visible: usize, hidden: usize) -> Self {
        Self::with_units(params, visible, hidden, crate::energy::Visible::Bernoulli)
    }

    /// As [`RbmTruth::new`], with the visible units `units` (binary or Gaussian).
    ///
    /// # Panics
    /// With more than [`MAX_HIDDEN`] hidden units.
    #[must_use]
    pub fn with_units(
        params: &[f32],
        visible: usize,
        hidden: usize,
        units: crate::energy::Visible,
    ) -> Self {
        assert!(
            hidden <= MAX_HIDDEN,
            "{hidden} hidden units: at most {MAX_HIDDEN}"
        );
        use rayon::prelude::*;
        let sigma = units.sigma().map(f64::from);
        let (_, b, c) = parts(params, visible, hidden);
        let b_sq: f64 = b.iter().map(|v| f64::from(*v).powi(2)).sum();
        let mut log_weights = vec![0.0_f64; 1 << hidden];
        let per_block = 1_usize << (hidden - block_bits(hidden));
        log_weights
            .par_chunks_mut(per_block)
            .enumerate()
            .for_each(|(top, out)| {
                let shape = (visible, hidden, sigma.unwrap_or(1.0));
                for_each_in_block(params, shape, top, |h, a| {
                    let ch: f64 = (0..hidden)
                        .filter(|j| h >> j & 1 == 1)
                        .map(|j| f64::from(c[j]))
                        .sum();
                    out[h - top * per_block] = ch
                        + match sigma {
                            None => a.iter().map(|x| softplus(*x)).sum::<f64>(),
                            Some(s) => {
                                (a.iter().map(|x| x * x).sum::<f64>() - b_sq) / (2.0 * s * s)
                            }
                        };
                });
            });
        let top = log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        #[allow(clippy::cast_precision_loss)]
        let gaussian = sigma.map_or(0.0, |s| {
            0.5 * visible as f64 * (2.0 * std::f64::consts::PI * s * s).ln()
        });
        let log_z = top
            + log_weights
                .iter()
                .map(|l| (l - top).exp())
                .sum::<f64>()
                .ln()
            + gaussian;
        // log_weights hold log p(h) + log Z: the Gaussian integral's constant goes in too.
        for l in &mut log_weights {
            *l += gaussian;
        }
        Self {
            visible,
            hidden,
            log_z,
            sigma,
            log_weights,
        }
    }

    /// p(h) for every hidden state.
    fn probabilities(&self) -> Vec<f64> {
        self.log_weights
            .iter()
            .map(|l| (l - self.log_z).exp())
            .collect()
    }

    /// The exact sample term E_p[∂F/∂θ] in the parameters' layout (W, b, c).
    #[must_use]
    pub fn sample_term(&self, params: &[f32]) -> Vec<f32> {
        use rayon::prelude::*;
        let (n, m) = (self.visible, self.hidden);
        let p = self.probabilities();
        let (_, b, _) = parts(params, n, m);
        // W's term takes a(h)/s, b's (a(h) − b)/s² for Gaussian units; both σ(a(h)) for
        // binary ones.
        let shape = (n, m, self.sigma.unwrap_or(1.0));
        // Per block (W, b, c) partial sums, added in block order: the same result on any
        // number of threads.
        let blocks: Vec<Vec<f64>> = (0..1_usize << block_bits(m))
            .into_par_iter()
            .map(|top| {
                let mut g = vec![0.0_f64; m * n + n + m];
                let mut mu_w = vec![0.0_f64; n];
                let mut mu_b = vec![0.0_f64; n];
                for_each_in_block(params, shape, top, |h, a| {
                    let ph = p[h];
                    if ph < 1e-300 {
                        return;
                    }
                    match self.sigma {
                        None => {
                            for ((u, ub), x) in mu_w.iter_mut().zip(&mut mu_b).zip(a) {
                                *u = ph * sigmoid(*x);
                                *ub = *u;
                            }
                        }
                        Some(s) => {
                            for (((u, ub), x), bk) in mu_w.iter_mut().zip(&mut mu_b).zip(a).zip(b) {
                                *u = ph * x / s;
                                *ub = ph * (x - f64::from(*bk)) / (s * s);
                            }
                        }
                    }
                    let (gw, rest) = g.split_at_mut(m * n);
                    let (gb, gc) = rest.split_at_mut(n);
                    for (gk, u) in gb.iter_mut().zip(&mu_b) {
                        *gk -= u;
                    }
                    for j in (0..m).filter(|j| h >> j & 1 == 1) {
                        gc[j] -= ph;
                        for (gk, u) in gw[j * n..(j + 1) * n].iter_mut().zip(&mu_w) {
                            *gk -= u;
                        }
                    }
                });
                g
            })
            .collect();
        let mut total = vec![0.0_f64; m * n + n + m];
        for g in blocks {
            for (t, v) in total.iter_mut().zip(g) {
                *t += v;
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        total.into_iter().map(|v| v as f32).collect()
    }

    /// Exact draws: a hidden state by p(h), then each visible unit by σ(aₖ(h)) (binary
    /// units: 0s and 1s) or N(aₖ(h), s²) (Gaussian ones). Fills `out` row-major.
    pub fn sample(&self, params: &[f32], out: &mut [f32], rng: &mut impl Rng) {
        let (n, m) = (self.visible, self.hidden);
        let (w, b, _) = parts(params, n, m);
        let scale = self.sigma.unwrap_or(1.0);
        let mut cdf = Vec::with_capacity(self.log_weights.len());
        let mut acc = 0.0;
        for p in self.probabilities() {
            acc += p;
            cdf.push(acc);
        }
        let mut a = vec![0.0_f64; n];
        for row in out.chunks_exact_mut(n) {
            let u = rng.random::<f64>() * acc;
            let h = cdf.partition_point(|c| *c < u).min(cdf.len() - 1);
            for (ak, bk) in a.iter_mut().zip(b) {
                *ak = f64::from(*bk);
            }
            for j in (0..m).filter(|j| h >> j & 1 == 1) {
                for (ak, wk) in a.iter_mut().zip(&w[j * n..(j + 1) * n]) {
                    *ak += scale * f64::from(*wk);
                }
            }
            #[allow(clippy::cast_possible_truncation)]
            for (v, ak) in row.iter_mut().zip(&a) {
                *v = match self.sigma {
                    None => {
                        if rng.random::<f64>() < sigmoid(*ak) {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Some(s) => {
                        let z: f64 = rng.sample(rand_distr::StandardNormal);
                        (ak + s * z) as f32
                    }
                };
            }
        }
    }
}

/// log Z of an RBM by annealed importance sampling (Salakhutdinov & Murray 2008), for
/// RBMs whose hidden units are too many to sum over: from the base RBM with visible
/// biases `base` (b_A, e.g. the logits of the data's marginals), no weights and the same
/// hidden units, whose log Z = Σₖ softplus(b_A,k) + m·ln 2 is known and whose draws are
/// exact, along f_β(v, h) ∝ exp((1 − β)·b_A·v + β·(bᵀv + cᵀh + hᵀWv)), with one block
/// Gibbs step (h given v, then v given h, at β) per intermediate distribution. Returns
/// the estimate with its bootstrap standard error and its weights' effective sample size
/// (`acceptance` is 1: block Gibbs rejects nothing).
#[must_use]
pub fn ais_log_z(
    params: &[f32],
    visible: usize,
    hidden: usize,
    base: &[f64],
    chains: usize,
    temperatures: usize,
    rng: &mut impl Rng,
) -> super::ais::AisEstimate {
    use rand::SeedableRng as _;
    use rayon::prelude::*;
    let (n, m) = (visible, hidden);
    let (w, b, c) = parts(params, n, m);
    let betas = super::ais::betas(temperatures.max(1));
    #[allow(clippy::cast_precision_loss)]
    let log_z_base =
        base.iter().map(|a| softplus(*a)).sum::<f64>() + m as f64 * std::f64::consts::LN_2;
    // Each chain on its own stream (the same result on any number of threads).
    let seeds: Vec<u64> = (0..chains).map(|_| rng.random()).collect();
    let log_w: Vec<f64> = seeds
        .par_iter()
        .map(|seed| {
            let mut r = rand::rngs::SmallRng::seed_from_u64(*seed);
            let mut v: Vec<f64> = base
                .iter()
                .map(|a| {
                    if r.random::<f64>() < sigmoid(*a) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut a = vec![0.0_f64; m];
            let mut h = vec![false; m];
            let mut lw = 0.0;
            for pair in betas.windows(2) {
                let (b0, b1) = (pair[0], pair[1]);
                // log f_β(v) = (1 − β)·b_A·v + β·b·v + Σⱼ softplus(β·aⱼ), a = c + Wv.
                let (mut base_v, mut b_v) = (0.0, 0.0);
                for ((vk, ak), bk) in v.iter().zip(base).zip(b) {
                    base_v += vk * ak;
                    b_v += vk * f64::from(*bk);
                }
                for (j, aj) in a.iter_mut().enumerate() {
                    *aj = f64::from(c[j])
                        + w[j * n..(j + 1) * n]
                            .iter()
                            .zip(&v)
                            .map(|(x, y)| f64::from(*x) * y)
                            .sum::<f64>();
                }
                let log_f = |beta: f64| {
                    (1.0 - beta) * base_v
                        + beta * b_v
                        + a.iter().map(|aj| softplus(beta * aj)).sum::<f64>()
                };
                lw += log_f(b1) - log_f(b0);
                // One block Gibbs step at β₁: h given v, then v given h.
                for (hj, aj) in h.iter_mut().zip(&a) {
                    *hj = r.random::<f64>() < sigmoid(b1 * aj);
                }
                for (k, vk) in v.iter_mut().enumerate() {
                    let mut x = f64::from(b[k]);
                    for (j, _) in h.iter().enumerate().filter(|(_, on)| **on) {
                        x += f64::from(w[j * n + k]);
                    }
                    let logit = (1.0 - b1) * base[k] + b1 * x;
                    *vk = if r.random::<f64>() < sigmoid(logit) {
                        1.0
                    } else {
                        0.0
                    };
                }
            }
            lw
        })
        .collect();
    let (lme, stderr, ess) = super::ais::log_mean_exp(&log_w);
    super::ais::AisEstimate {
        log_z: lme + log_z_base,
        stderr,
        ess,
        acceptance: 1.0,
    }
}

/// The base of [`ais_log_z`] for data rows: the logits of each visible unit's mean,
/// kept within [1e-3, 1 − 1e-3].
#[must_use]
pub fn base_biases(data: &[f32], visible: usize) -> Vec<f64> {
    let rows = (data.len() / visible.max(1)).max(1);
    #[allow(clippy::cast_precision_loss)]
    (0..visible)
        .map(|k| {
            let mean = data
                .iter()
                .skip(k)
                .step_by(visible)
                .map(|v| f64::from(*v))
                .sum::<f64>()
                / rows as f64;
            let p = mean.clamp(1e-3, 1.0 - 1e-3);
            (p / (1.0 - p)).ln()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    /// The Gray-code walk reaches every state once with its own pre-activations.
    #[test]
    fn every_hidden_state_is_visited_once_with_its_preactivations() {
        let (n, m) = (3, 4);
        let params: Vec<f32> = (0..m * n + n + m).map(|i| i as f32 * 0.1 - 0.7).collect();
        let (w, b, _) = parts(&params, n, m);
        let mut seen = vec![false; 1 << m];
        for_each_state(&params, n, m, |h, a| {
            assert!(!seen[h]);
            seen[h] = true;
            for k in 0..n {
                let want: f64 = f64::from(b[k])
                    + (0..m)
                        .filter(|j| h >> j & 1 == 1)
                        .map(|j| f64::from(w[j * n + k]))
                        .sum::<f64>();
                assert!((a[k] - want).abs() < 1e-9);
            }
        });
        assert!(seen.iter().all(|s| *s));
        let t = RbmTruth::new(&params, n, m);
        let mut out = vec![0.0_f32; 30];
        t.sample(&params, &mut out, &mut rand::rngs::StdRng::seed_from_u64(1));
        assert!(out.iter().all(|v| *v == 0.0 || *v == 1.0));
    }
}
