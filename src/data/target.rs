//! Synthetic targets of any dimension with a known, normalised density: a mixture of
//! isotropic gaussians, Neal's funnel and the many-well (copies of a 2-D double well).
//! Each draws exact samples from a seed, and gives its log-density, its energy and
//! gradient, and log Z, so that a model's (or a sampler's, or AIS's) numbers can be
//! checked against the truth in dimensions where quadrature is out of reach.
//!
//! The methods assume parameters that pass [`Target::check`]; others give meaningless
//! numbers but do not panic.

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::sync::OnceLock;

/// The largest dimension of the mixture and the funnel.
const MAX_DIM: usize = 4096;
/// The most mixture components.
const MAX_COMPONENTS: usize = 1000;

/// A synthetic target with a known density (any dimension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// `components` isotropic gaussians of standard deviation `std`, equal weights, whose
    /// centres are drawn once, uniformly in [−spread, spread]^dim, from `dim` and
    /// `components` alone (not from the data seed: the same parameters always give the
    /// same target; see [`Target::centres`]).
    Mixture {
        dim: usize,
        components: usize,
        spread: f32,
        std: f32,
    },
    /// Neal's funnel: v ~ N(0, 3²), x_i | v ~ N(0, e^v) for i = 1..dim−1 (`dim` counts v
    /// too; the classic is 10). Coordinate 0 is v.
    Funnel { dim: usize },
    /// dim/2 independent copies of the double well
    /// E(x1, x2) = x1⁴ − 6x1² − 0.5x1 + 0.5x2² on the coordinate pairs (0, 1), (2, 3), …
    /// (`dim` even; the classic is 32, log Z = 164.696).
    ManyWell { dim: usize },
}

impl Target {
    #[must_use]
    pub fn dim(&self) -> usize {
        match self {
            Self::Mixture { dim, .. } | Self::Funnel { dim } | Self::ManyWell { dim } => *dim,
        }
    }

    /// "mixture_16d", "funnel_10d", "many_well_32d".
    #[must_use]
    pub fn name(&self) -> String {
        let kind = match self {
            Self::Mixture { .. } => "mixture",
            Self::Funnel { .. } => "funnel",
            Self::ManyWell { .. } => "many_well",
        };
        format!("{kind}_{}d", self.dim())
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// The first bad parameter: its field name (relative to the target) and what it
    /// may be.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let dim_in_range = (2..=MAX_DIM).contains(&self.dim());
        let dim_err = || ("dim", format!("an integer from 2 to {MAX_DIM}"));
        match *self {
            Self::Mixture {
                components,
                spread,
                std,
                ..
            } => {
                if !dim_in_range {
                    return Err(dim_err());
                }
                if !(1..=MAX_COMPONENTS).contains(&components) {
                    return Err(("components", format!("1 to {MAX_COMPONENTS}")));
                }
                if !(spread.is_finite() && spread >= 0.0) {
                    return Err(("spread", "a finite number ≥ 0".to_string()));
                }
                if !(std.is_finite() && std > 0.0) {
                    return Err(("std", "a finite number > 0".to_string()));
                }
            }
            Self::Funnel { .. } => {
                if !dim_in_range {
                    return Err(dim_err());
                }
            }
            Self::ManyWell { dim } => {
                if dim < 2 || !dim.is_multiple_of(2) || dim > 4096 {
                    return Err(("dim", "an even integer from 2 to 4096".to_string()));
                }
            }
        }
        Ok(())
    }

    /// `n` exact draws, row-major `n × dim`, and a label per draw: the mixture's
    /// component (0..components); 0 for all of the funnel's and the many-well's
    /// (`classes()` = 0: unlabelled). The same rng state gives the same draws.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> (Vec<f32>, Vec<u32>) {
        let d = self.dim();
        let mut x = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        #[allow(clippy::cast_possible_truncation)]
        match *self {
            Self::Mixture {
                components,
                spread,
                std,
                ..
            } => {
                let m = MixtureParams::new(d, components, spread, std);
                let k_max = components.max(1);
                for _ in 0..n {
                    let k = rng.random_range(0..k_max);
                    for j in 0..d {
                        let z: f64 = rng.sample(StandardNormal);
                        x.push((m.centre(k, j) + f64::from(std) * z) as f32);
                    }
                    labels.push(k as u32);
                }
            }
            Self::Funnel { .. } => {
                for _ in 0..n {
                    let v = 3.0 * rng.sample::<f64, _>(StandardNormal);
                    x.push(v as f32);
                    let s = (0.5 * v).exp();
                    for _ in 1..d {
                        x.push((s * rng.sample::<f64, _>(StandardNormal)) as f32);
                    }
                    labels.push(0);
                }
            }
            Self::ManyWell { .. } => {
                for _ in 0..n {
                    for j in 0..d {
                        let v = if j.is_multiple_of(2) {
                            double_well_x1(rng)
                        } else {
                            rng.sample(StandardNormal)
                        };
                        x.push(v as f32);
                    }
                    labels.push(0);
                }
            }
        }
        (x, labels)
    }

    /// The number of classes the labels name (mixture: components; others 0).
    #[must_use]
    pub fn classes(&self) -> usize {
        match self {
            Self::Mixture { components, .. } => *components,
            Self::Funnel { .. } | Self::ManyWell { .. } => 0,
        }
    }

    /// log p(x) of one point of `dim()` coordinates (the normalised density).
    #[must_use]
    pub fn log_density(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.dim(), "a point of the target's dimension");
        match self {
            Self::Mixture {
                dim,
                components,
                spread,
                std,
            } => MixtureParams::new(*dim, *components, *spread, *std).log_density(x, None),
            Self::Funnel { .. } => -funnel_energy(x, None),
            Self::ManyWell { .. } => -many_well_energy(x, None) - self.log_z(),
        }
    }

    /// The unnormalised energy E(x) of one point, with its gradient ∇ₓE written into
    /// `grad`; p = exp(−E)/Z with Z from [`Target::log_z`]. The mixture and the funnel
    /// take E = −log p (log Z = 0); the many-well its quartic energy.
    pub fn energy_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        debug_assert_eq!(x.len(), self.dim(), "a point of the target's dimension");
        debug_assert_eq!(grad.len(), x.len(), "a gradient per coordinate");
        match self {
            Self::Mixture {
                dim,
                components,
                spread,
                std,
            } => -MixtureParams::new(*dim, *components, *spread, *std).log_density(x, Some(grad)),
            Self::Funnel { .. } => funnel_energy(x, Some(grad)),
            Self::ManyWell { .. } => many_well_energy(x, Some(grad)),
        }
    }

    /// log Z of [`Target::energy_grad`]'s energy: 0 for the mixture and the funnel;
    /// dim/2 · 10.2935… for the many-well (by quadrature of the double well in x1, times
    /// √(2π) for x2).
    #[must_use]
    pub fn log_z(&self) -> f64 {
        match self {
            Self::Mixture { .. } | Self::Funnel { .. } => 0.0,
            #[allow(clippy::cast_precision_loss)]
            Self::ManyWell { dim } => {
                (*dim / 2) as f64 * (double_well_log_z_x1() + 0.5 * (2.0 * PI).ln())
            }
        }
    }

    /// A box holding nearly all of the mass, for uniform initialisation and views: per
    /// coordinate `(lo, hi)`.
    ///
    /// - Mixture: [−spread − 4·std, spread + 4·std] on every coordinate (at most 3.2e−5
    ///   of a coordinate's mass outside, for a centre on the edge).
    /// - Funnel: v in [−9, 9] (±3σ, 99.7 % of v), x_i in [−20, 20]. The funnel's scale
    ///   e^{v/2} runs from 0.01 in the neck to 90 at the mouth, so no box holds all of it
    ///   without being mostly empty; [−20, 20] holds 98.1 % of each x_i (the rest lies in
    ///   the mouth, mostly where v > 5) and keeps the neck visible.
    /// - Many-well: x1 in [−3, 3] (the mass outside is below 1e−15), x2 in [−4, 4]
    ///   (6.3e−5 outside).
    #[must_use]
    pub fn bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let d = self.dim();
        match *self {
            Self::Mixture { spread, std, .. } => {
                let h = spread + 4.0 * std;
                (vec![-h; d], vec![h; d])
            }
            Self::Funnel { .. } => {
                let mut lo = vec![-20.0; d];
                let mut hi = vec![20.0; d];
                if d > 0 {
                    lo[0] = -9.0;
                    hi[0] = 9.0;
                }
                (lo, hi)
            }
            Self::ManyWell { .. } => {
                let half = |j: usize| if j.is_multiple_of(2) { 3.0 } else { 4.0 };
                (
                    (0..d).map(|j| -half(j)).collect(),
                    (0..d).map(half).collect(),
                )
            }
        }
    }

    /// Each mixture component's weight (all equal, 1/K), for mode coverage; `None` for
    /// the others.
    #[must_use]
    pub fn component_weights(&self) -> Option<Vec<f64>> {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Self::Mixture { components, .. } => Some(vec![1.0 / *components as f64; *components]),
            Self::Funnel { .. } | Self::ManyWell { .. } => None,
        }
    }

    /// The mixture component a point most probably belongs to (with equal weights and
    /// standard deviations: the nearest centre), for mode coverage; `None` for the others.
    #[must_use]
    pub fn component_of(&self, x: &[f32]) -> Option<usize> {
        let Self::Mixture {
            dim,
            components,
            spread,
            std,
        } = *self
        else {
            return None;
        };
        let m = &MixtureParams::new(dim, components, spread, std);
        let mut best = (0, f64::INFINITY);
        for k in 0..components {
            let d2: f64 = x
                .iter()
                .enumerate()
                .map(|(j, v)| (f64::from(*v) - m.centre(k, j)).powi(2))
                .sum();
            if d2 < best.1 {
                best = (k, d2);
            }
        }
        Some(best.0)
    }

    /// The mixture's centres, row-major `components × dim`; `None` for the others. They
    /// depend on `dim` and `components` (and scale with `spread`) only.
    #[must_use]
    pub fn centres(&self) -> Option<Vec<f64>> {
        let Self::Mixture {
            dim,
            components,
            spread,
            std,
        } = *self
        else {
            return None;
        };
        let m = &MixtureParams::new(dim, components, spread, std);
        Some(
            (0..components)
                .flat_map(|k| (0..dim).map(move |j| m.centre(k, j)))
                .collect(),
        )
    }
}

/// SplitMix64's output function of `z` (after its additive step): a bijection of u64 that
/// mixes every input bit into every output bit.
fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The mixture's parameters. Its centres are computed on demand from a hash of (dim,
/// components) and their index — never stored, so that a 1000 × 4096 mixture costs
/// nothing to hold, and stable across versions of `rand` (whose generators may change).
struct MixtureParams {
    key: u64,
    dim: usize,
    components: usize,
    spread: f64,
    std: f64,
}

impl MixtureParams {
    fn new(dim: usize, components: usize, spread: f32, std: f32) -> Self {
        Self {
            key: splitmix64(splitmix64(dim as u64) ^ components as u64),
            dim,
            components,
            spread: f64::from(spread),
            std: f64::from(std),
        }
    }

    /// Coordinate `j` of centre `k`, uniform in [−spread, spread).
    fn centre(&self, k: usize, j: usize) -> f64 {
        let h = splitmix64(self.key ^ splitmix64((k * self.dim + j) as u64));
        // The top 53 bits as a uniform number in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let u = (h >> 11) as f64 * (1.0 / (1_u64 << 53) as f64);
        self.spread * (2.0 * u - 1.0)
    }

    /// log p(x), stably (log-sum-exp over the components); with `grad`, also
    /// ∇ₓ(−log p) = (x − Σₖ rₖ cₖ)/σ², rₖ the components' responsibilities.
    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let var = self.std * self.std;
        let t: Vec<f64> = (0..self.components)
            .map(|k| {
                let d2: f64 = x
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (v - self.centre(k, j)).powi(2))
                    .sum();
                -d2 / (2.0 * var)
            })
            .collect();
        let max = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = t.iter().map(|v| (v - max).exp()).sum();
        #[allow(clippy::cast_precision_loss)]
        let (k, d) = (self.components as f64, x.len() as f64);
        let log_p = max + sum.ln() - k.ln() - 0.5 * d * (2.0 * PI * var).ln();
        if let Some(g) = grad {
            g.copy_from_slice(x);
            for (k, tk) in t.iter().enumerate() {
                let r = (tk - max).exp() / sum;
                if r > 0.0 {
                    for (j, gj) in g.iter_mut().enumerate() {
                        *gj -= r * self.centre(k, j);
                    }
                }
            }
            for gj in g.iter_mut() {
                *gj /= var;
            }
        }
        log_p
    }
}

/// The funnel's −log p(x) (normalised), with its gradient into `grad`.
fn funnel_energy(x: &[f64], grad: Option<&mut [f64]>) -> f64 {
    let Some((&v, rest)) = x.split_first() else {
        return 0.0;
    };
    let inv = (-v).exp();
    let half_log_2pi = 0.5 * (2.0 * PI).ln();
    // v ~ N(0, 9)
    let mut e = v * v / 18.0 + half_log_2pi + 3.0_f64.ln();
    let mut dv = v / 9.0;
    // x_i | v ~ N(0, e^v)
    for xi in rest {
        e += 0.5 * xi * xi * inv + 0.5 * v + half_log_2pi;
        dv += 0.5 - 0.5 * xi * xi * inv;
    }
    if let Some(g) = grad {
        g[0] = dv;
        for (gi, xi) in g[1..].iter_mut().zip(rest) {
            *gi = xi * inv;
        }
    }
    e
}

/// The many-well's quartic energy Σ (x1⁴ − 6x1² − 0.5x1 + 0.5x2²) over the pairs, with
/// its gradient into `grad`.
fn many_well_energy(x: &[f64], grad: Option<&mut [f64]>) -> f64 {
    let e = x
        .chunks_exact(2)
        .map(|p| double_well_x1_energy(p[0]) + 0.5 * p[1] * p[1])
        .sum();
    if let Some(g) = grad {
        for (gp, p) in g.chunks_exact_mut(2).zip(x.chunks_exact(2)) {
            gp[0] = 4.0 * p[0].powi(3) - 12.0 * p[0] - 0.5;
            gp[1] = p[1];
        }
    }
    e
}

/// The double well's energy in x1: x⁴ − 6x² − 0.5x.
fn double_well_x1_energy(x: f64) -> f64 {
    let x2 = x * x;
    x2 * x2 - 6.0 * x2 - 0.5 * x
}

/// log ∫ exp(−(x⁴ − 6x² − 0.5x)) dx by composite Simpson's rule on [−6, 6] (the
/// integrand is below e^{−1000} of its peak outside; 24 000 intervals of 5e−4 resolve
/// the wells, whose width is about 0.2, to far better than 1e−10): 9.3746… Computed once.
fn double_well_log_z_x1() -> f64 {
    static LOG_Z: OnceLock<f64> = OnceLock::new();
    *LOG_Z.get_or_init(|| {
        let (a, b, n) = (-6.0_f64, 6.0_f64, 24_000_usize);
        #[allow(clippy::cast_precision_loss)]
        let h = (b - a) / n as f64;
        // Shift by the deepest energy, at x ≈ 1.7526, for range.
        let shift = double_well_x1_energy(1.752_6);
        let sum: f64 = (0..=n)
            .map(|i| {
                let w = if i == 0 || i == n {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                #[allow(clippy::cast_precision_loss)]
                let x = a + h * i as f64;
                w * (-(double_well_x1_energy(x) - shift)).exp()
            })
            .sum();
        (sum * h / 3.0).ln() - shift
    })
}

/// One exact draw of x1 from p(x1) ∝ exp(−(x1⁴ − 6x1² − 0.5x1)), by rejection.
///
/// With x⁴ − 6x² = (x² − 3)² − 9 and (x² − 3)² = (x − √3)²(x + √3)², where for x ≥ 0
/// (x + √3)² ≥ 3 and for x ≤ 0 (x − √3)² ≥ 3:
/// −E(x) ≤ 9 + 0.5x − 3(x ∓ √3)² = c± − 3(x − m±)² on either half-line, with
/// m± = ±√3 + 1/12 and c± = 9 ± √3/2 + 1/48. Their sum h(x) = e^{c₊−3(x−m₊)²} +
/// e^{c₋−3(x−m₋)²} bounds exp(−E) everywhere, and is (up to a constant) a mixture of two
/// normals of variance 1/6 weighted by e^{c±}: draw from it, accept with exp(−E(x))/h(x).
/// About half of the proposals are accepted (Z ≈ e^{9.375} against h's mass ≈ e^{10.08}).
fn double_well_x1(rng: &mut impl Rng) -> f64 {
    let r3 = 3.0_f64.sqrt();
    let (m_plus, m_minus) = (r3 + 1.0 / 12.0, -r3 + 1.0 / 12.0);
    let (c_plus, c_minus) = (9.0 + 0.5 * r3 + 1.0 / 48.0, 9.0 - 0.5 * r3 + 1.0 / 48.0);
    // P(the right-hand normal) = e^{c₊} / (e^{c₊} + e^{c₋})
    let p_plus = 1.0 / (1.0 + (c_minus - c_plus).exp());
    let sd = (1.0_f64 / 6.0).sqrt();
    loop {
        let m = if rng.random::<f64>() < p_plus {
            m_plus
        } else {
            m_minus
        };
        let x = m + sd * rng.sample::<f64, _>(StandardNormal);
        let (a, b) = (
            c_plus - 3.0 * (x - m_plus).powi(2),
            c_minus - 3.0 * (x - m_minus).powi(2),
        );
        let log_h = a.max(b) + (-(a - b).abs()).exp().ln_1p();
        let log_accept = -double_well_x1_energy(x) - log_h;
        // 1 − u in (0, 1]: ln never sees 0.
        if (1.0 - rng.random::<f64>()).ln() < log_accept {
            return x;
        }
    }
}
