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
//! The hidden states are visited in Gray-code order, so that a(h) changes by one row of W
//! from one state to the next.

use rand::Rng;

/// The most hidden units summed over (2^24 states).
pub const MAX_HIDDEN: usize = 24;

/// The hidden units to sum over where `model` is an RBM on bits whose truth is best had
/// from its hidden layer: at most [`MAX_HIDDEN`] of them, and no more than the visible
/// units (or more visible units than can be enumerated).
#[must_use]
pub fn hidden_sum(space: crate::data::Space, model: &crate::energy::ModelSpec) -> Option<usize> {
    let allows = space.allows();
    let m = model.rbm()?;
    (allows.discrete && m <= MAX_HIDDEN && (m <= space.dim() || !allows.enumeration)).then_some(m)
}

fn softplus(a: f64) -> f64 {
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

/// Visits every hidden state in Gray-code order with its visible pre-activations
/// a(h) = b + Wᵀh (f64): `f(index of h, a)`.
fn for_each_state(params: &[f32], visible: usize, hidden: usize, mut f: impl FnMut(usize, &[f64])) {
    let (w, b, _) = parts(params, visible, hidden);
    let mut a: Vec<f64> = b.iter().map(|v| f64::from(*v)).collect();
    let mut h = 0_usize;
    f(h, &a);
    for t in 1..1_usize << hidden {
        // The bit that changes from Gray code t − 1 to t.
        let j = t.trailing_zeros() as usize;
        let row = &w[j * visible..(j + 1) * visible];
        let sign = if h >> j & 1 == 0 { 1.0 } else { -1.0 };
        for (ak, wk) in a.iter_mut().zip(row) {
            *ak += sign * f64::from(*wk);
        }
        h ^= 1 << j;
        f(h, &a);
    }
}

impl RbmTruth {
    /// Sums over the hidden states of the RBM with `params` ([`crate::energy::rbm`]'s
    /// layout) on `visible` units with `hidden` ≤ [`MAX_HIDDEN`] units.
    ///
    /// # Panics
    /// With more than [`MAX_HIDDEN`] hidden units.
    #[must_use]
    pub fn new(params: &[f32], visible: usize, hidden: usize) -> Self {
        assert!(
            hidden <= MAX_HIDDEN,
            "{hidden} hidden units: at most {MAX_HIDDEN}"
        );
        let (_, _, c) = parts(params, visible, hidden);
        let mut log_weights = vec![0.0_f64; 1 << hidden];
        for_each_state(params, visible, hidden, |h, a| {
            let ch: f64 = (0..hidden)
                .filter(|j| h >> j & 1 == 1)
                .map(|j| f64::from(c[j]))
                .sum();
            log_weights[h] = ch + a.iter().map(|x| softplus(*x)).sum::<f64>();
        });
        let top = log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let log_z = top
            + log_weights
                .iter()
                .map(|l| (l - top).exp())
                .sum::<f64>()
                .ln();
        Self {
            visible,
            hidden,
            log_z,
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
        let (n, m) = (self.visible, self.hidden);
        let p = self.probabilities();
        let mut gw = vec![0.0_f64; m * n];
        let mut gb = vec![0.0_f64; n];
        let mut gc = vec![0.0_f64; m];
        let mut mu = vec![0.0_f64; n];
        for_each_state(params, n, m, |h, a| {
            let ph = p[h];
            if ph < 1e-300 {
                return;
            }
            for (u, x) in mu.iter_mut().zip(a) {
                *u = ph * sigmoid(*x);
            }
            for (g, u) in gb.iter_mut().zip(&mu) {
                *g -= u;
            }
            for j in (0..m).filter(|j| h >> j & 1 == 1) {
                gc[j] -= ph;
                for (g, u) in gw[j * n..(j + 1) * n].iter_mut().zip(&mu) {
                    *g -= u;
                }
            }
        });
        #[allow(clippy::cast_possible_truncation)]
        gw.into_iter()
            .chain(gb)
            .chain(gc)
            .map(|v| v as f32)
            .collect()
    }

    /// Exact draws: a hidden state by p(h), then each visible unit by σ(aₖ(h)). Fills
    /// `out` row-major with 0s and 1s.
    pub fn sample(&self, params: &[f32], out: &mut [f32], rng: &mut impl Rng) {
        let (n, m) = (self.visible, self.hidden);
        let (w, b, _) = parts(params, n, m);
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
                    *ak += f64::from(*wk);
                }
            }
            for (v, ak) in row.iter_mut().zip(&a) {
                *v = if rng.random::<f64>() < sigmoid(*ak) {
                    1.0
                } else {
                    0.0
                };
            }
        }
    }
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
