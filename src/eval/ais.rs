//! Annealed importance sampling (Neal, 2001) of log Z in any dimension: from a
//! normalised base q (a Gaussian or a uniform box fitted to the data) along the
//! geometric path f_β(x) = q(x)^(1−β) · exp(−β·E(x)), with MALA transitions (Langevin
//! proposals with a Metropolis correction, so that each leaves its f_β invariant) and
//! an adaptive step size. Forward AIS gives a stochastic lower bound on log Z; run in
//! reverse from exact model samples it gives an upper bound, and the two bracket log Z.

use super::Method;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Something whose energy and input gradient can be evaluated in batches.
pub trait EnergyFn {
    fn dim(&self) -> usize;
    /// E(x) and ∇ₓE(x) for the rows of `x`.
    fn energy_grad(&mut self, x: &[f32], e: &mut [f32], g: &mut [f32]);
}

/// A network with given parameters, through any engine. An engine error leaves the
/// energies infinite (the chains then reject every move); the engine keeps it
/// ([`crate::energy::engine::WithFallback`] reports it, and lets the fast engine stand in).
#[derive(Debug)]
pub struct EngineEnergy<'a> {
    pub engine: &'a mut dyn crate::energy::engine::Engine,
    pub params: &'a [f32],
}

impl<'a> EngineEnergy<'a> {
    pub fn new(engine: &'a mut dyn crate::energy::engine::Engine, params: &'a [f32]) -> Self {
        Self { engine, params }
    }
}

impl EnergyFn for EngineEnergy<'_> {
    fn dim(&self) -> usize {
        self.engine.architecture().input_dim
    }

    fn energy_grad(&mut self, x: &[f32], e: &mut [f32], g: &mut [f32]) {
        if self
            .engine
            .energy_grad_x(self.params, x, None, e, g)
            .is_err()
        {
            e.fill(f32::INFINITY);
            g.fill(0.0);
        }
    }
}

/// The tempered energy E/T of another: the density exp(−E/T) that a sampler at
/// temperature T (SGLD with noise² ≠ 2·step) actually draws from.
pub struct Tempered<F> {
    pub inner: F,
    pub temperature: f32,
}

impl<F: EnergyFn> EnergyFn for Tempered<F> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn energy_grad(&mut self, x: &[f32], e: &mut [f32], g: &mut [f32]) {
        self.inner.energy_grad(x, e, g);
        let inv = 1.0 / self.temperature;
        for v in e.iter_mut().chain(g.iter_mut()) {
            *v *= inv;
        }
    }
}

/// The normalised starting distribution.
#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    /// Independent normals per dimension.
    Gaussian { mean: Vec<f64>, std: Vec<f64> },
    /// Uniform on a box.
    Uniform { lo: Vec<f64>, hi: Vec<f64> },
}

/// Which base to fit to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaseKind {
    /// A gaussian with the data's mean and standard deviation per coordinate: log Z over
    /// the whole space.
    Gaussian,
    /// Uniform on the data's bounding box widened by 10 %.
    Uniform,
    /// Uniform on the session's data box: log Z of the model restricted to the box, which
    /// is the density a sampler that keeps its chains in the box trains (and what
    /// quadrature integrates in the plane).
    DataBox,
}

impl BaseKind {
    /// The base the workbench's AIS uses (the evaluator, the window's Run AIS, `eval`):
    /// the data box where a sampler that keeps its chains in the box (`clamp`) trained
    /// a model without a grid, a gaussian fitted to the data otherwise. In the plane the
    /// grid's box is quadrature's domain already, and AIS beside it estimates the same
    /// whole-space log Z as before.
    #[must_use]
    pub fn for_space(space: crate::data::Space, clamp: bool) -> Self {
        if clamp && Method::for_space(space) == Method::Ais {
            Self::DataBox
        } else {
            Self::Gaussian
        }
    }
}

/// The least deviation of a fitted Gaussian base, as a fraction of the mean deviation.
const FLOOR: f64 = 0.25;

impl Base {
    /// A base fitted to data rows (`dim` columns): mean and standard deviation per
    /// dimension, or the bounding box widened by 10 %.
    #[must_use]
    pub fn fit(kind: BaseKind, data: &[f32], dim: usize) -> Self {
        let n = (data.len() / dim).max(1);
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        let col = |j: usize| data.iter().skip(j).step_by(dim).map(|v| f64::from(*v));
        match kind {
            BaseKind::Gaussian => {
                let mean: Vec<f64> = (0..dim).map(|j| col(j).sum::<f64>() / nf).collect();
                let std: Vec<f64> = (0..dim)
                    .map(|j| (col(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / nf).sqrt())
                    .collect();
                // A dimension the data hold constant (an image's border pixels) gets a
                // quarter of the mean deviation, not none: AIS narrows a wide base well
                // and widens a narrow one badly (the weights then fall on one chain).
                #[allow(clippy::cast_precision_loss)]
                let floor = (FLOOR * std.iter().sum::<f64>() / dim.max(1) as f64).max(1e-3);
                let std = std.into_iter().map(|s| s.max(floor)).collect();
                Self::Gaussian { mean, std }
            }
            BaseKind::Uniform | BaseKind::DataBox => {
                let lo: Vec<f64> = (0..dim)
                    .map(|j| col(j).fold(f64::INFINITY, f64::min))
                    .collect();
                let hi: Vec<f64> = (0..dim)
                    .map(|j| col(j).fold(f64::NEG_INFINITY, f64::max))
                    .collect();
                let (lo, hi) = lo
                    .iter()
                    .zip(&hi)
                    .map(|(l, h)| {
                        let pad = 0.05 * (h - l).max(1e-3);
                        (l - pad, h + pad)
                    })
                    .unzip();
                Self::Uniform { lo, hi }
            }
        }
    }

    fn dim(&self) -> usize {
        match self {
            Self::Gaussian { mean, .. } => mean.len(),
            Self::Uniform { lo, .. } => lo.len(),
        }
    }

    fn sample(&self, x: &mut [f32], rng: &mut impl Rng) {
        let d = self.dim();
        for row in x.chunks_exact_mut(d) {
            for (j, v) in row.iter_mut().enumerate() {
                #[allow(clippy::cast_possible_truncation)]
                {
                    *v = match self {
                        Self::Gaussian { mean, std } => {
                            (mean[j] + std[j] * rng.sample::<f64, _>(StandardNormal)) as f32
                        }
                        Self::Uniform { lo, hi } => rng.random_range(lo[j]..hi[j]) as f32,
                    };
                }
            }
        }
    }

    /// log q(x) of one row and its gradient (added into `grad`, scaled by `scale`).
    fn log_q(&self, x: &[f32], grad: Option<(&mut [f32], f64)>) -> f64 {
        match self {
            Self::Gaussian { mean, std } => {
                let mut lq = 0.0;
                let mut g = grad;
                for (j, v) in x.iter().enumerate() {
                    let z = (f64::from(*v) - mean[j]) / std[j];
                    lq += -0.5 * z * z - std[j].ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
                    if let Some((g, s)) = g.as_mut() {
                        #[allow(clippy::cast_possible_truncation)]
                        {
                            g[j] += (*s * (-z / std[j])) as f32;
                        }
                    }
                }
                lq
            }
            Self::Uniform { lo, hi } => {
                let inside = x
                    .iter()
                    .enumerate()
                    .all(|(j, v)| (lo[j]..=hi[j]).contains(&f64::from(*v)));
                if inside {
                    -lo.iter().zip(hi).map(|(l, h)| (h - l).ln()).sum::<f64>()
                } else {
                    f64::NEG_INFINITY
                }
            }
        }
    }
}

/// AIS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AisSpec {
    pub chains: usize,
    /// Intermediate distributions.
    pub temperatures: usize,
    /// MALA steps per temperature.
    pub steps_per_temperature: usize,
    pub base: BaseKind,
}

impl Default for AisSpec {
    fn default() -> Self {
        Self {
            chains: 256,
            temperatures: 500,
            steps_per_temperature: 2,
            base: BaseKind::Gaussian,
        }
    }
}

/// One AIS estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AisEstimate {
    pub log_z: f64,
    /// Standard error of `log_z`: the spread of the estimate over bootstrap resamples of
    /// the chains (NaN for a single chain). Unlike the delta method, whose value tends to
    /// exactly 1 when one chain carries all the weight, it grows with the gap between the
    /// heaviest log weights.
    pub stderr: f64,
    /// The effective sample size of the chains' importance weights, (Σw)²/Σw²: the number
    /// of chains there are in effect (1 when one chain carries all the weight; the
    /// estimate means little when this is a small fraction of the chains).
    pub ess: f64,
    /// Mean MALA acceptance rate.
    pub acceptance: f64,
}

/// Forward and, where model samples were given, reverse estimates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AisResult {
    pub forward: AisEstimate,
    pub reverse: Option<AisEstimate>,
}

/// log mean exp of the log weights `v`, its standard error and the weights' effective
/// sample size.
///
/// The standard error is the standard deviation of the estimate over [`BOOTSTRAP`]
/// resamples of the chains (drawn with a fixed seed, so the figure is a function of the
/// weights alone and the caller's random stream is untouched). The delta method,
/// sd(w)/(√n·mean w), cannot exceed 1 whatever the weights: when one chain carries all
/// the weight it is exactly 1, beside estimates that are off by hundreds of nats.
pub(crate) fn log_mean_exp(v: &[f64]) -> (f64, f64, f64) {
    use rand::SeedableRng as _;
    let n = v.len();
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return (m, f64::NAN, 0.0);
    }
    // The weights relative to the largest: their sum gives the estimate, and with the
    // sum of their squares the ESS.
    let (s1, s2) = v.iter().fold((0.0, 0.0), |(a, b), x| {
        let w = (x - m).exp();
        (a + w, b + w * w)
    });
    let (estimate, ess) = (m + (s1 / nf).ln(), s1 * s1 / s2);
    if n < 2 {
        return (estimate, f64::NAN, ess);
    }
    let lme = |xs: &[f64]| -> f64 {
        let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !m.is_finite() {
            return m;
        }
        m + (xs.iter().map(|x| (x - m).exp()).sum::<f64>() / nf).ln()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xA15_B007);
    let mut resample = vec![0.0_f64; n];
    let reps: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            for r in &mut resample {
                *r = v[rng.random_range(0..n)];
            }
            lme(&resample)
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let b = BOOTSTRAP as f64;
    let mean = reps.iter().sum::<f64>() / b;
    let var = reps.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (b - 1.0);
    (estimate, var.sqrt(), ess)
}

/// Bootstrap resamples behind an AIS standard error.
pub const BOOTSTRAP: usize = 400;

/// The schedule β_t, t = 0..=T: quadratic, finer near the base.
pub(crate) fn betas(t: usize) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    (0..=t).map(|k| (k as f64 / t as f64).powi(2)).collect()
}

struct Chains<'a, E: EnergyFn> {
    energy: &'a mut E,
    base: &'a Base,
    dim: usize,
    x: Vec<f32>,
    e: Vec<f32>,
    g: Vec<f32>,
    prop: Vec<f32>,
    pe: Vec<f32>,
    pg: Vec<f32>,
    h: f64,
    accepted: usize,
    proposed: usize,
}

impl<E: EnergyFn> Chains<'_, E> {
    /// log f_β per row and its gradient ∇ log f_β into `grad`.
    fn log_f(&self, beta: f64, x: &[f32], e: &[f32], g: &[f32], grad: &mut [f32]) -> Vec<f64> {
        let d = self.dim;
        let mut out = Vec::with_capacity(e.len());
        for (i, ((row, ev), gr)) in x.chunks_exact(d).zip(e).zip(g.chunks_exact(d)).enumerate() {
            let gout = &mut grad[i * d..(i + 1) * d];
            for (o, gv) in gout.iter_mut().zip(gr) {
                #[allow(clippy::cast_possible_truncation)]
                {
                    *o = (-beta * f64::from(*gv)) as f32;
                }
            }
            let lq = self.base.log_q(row, Some((gout, 1.0 - beta)));
            let lq_term = if beta < 1.0 { (1.0 - beta) * lq } else { 0.0 };
            out.push(-beta * f64::from(*ev) + lq_term);
        }
        out
    }

    fn refresh(&mut self) {
        self.energy.energy_grad(&self.x, &mut self.e, &mut self.g);
    }

    /// −E(x) − log q(x) per row (the increment of the log weight per unit of β).
    fn log_ratio(&self) -> Vec<f64> {
        self.x
            .chunks_exact(self.dim)
            .zip(&self.e)
            .map(|(row, e)| -f64::from(*e) - self.base.log_q(row, None))
            .collect()
    }

    fn mala(&mut self, beta: f64, rng: &mut impl Rng) {
        let d = self.dim;
        let n = self.e.len();
        let mut grad = vec![0.0_f32; n * d];
        let lf = self.log_f(beta, &self.x, &self.e, &self.g, &mut grad);
        let h = self.h;
        #[allow(clippy::cast_possible_truncation)]
        for ((p, xv), gv) in self.prop.iter_mut().zip(&self.x).zip(&grad) {
            let xi: f64 = rng.sample(StandardNormal);
            *p = (f64::from(*xv) + h * f64::from(*gv) + (2.0 * h).sqrt() * xi) as f32;
        }
        self.energy
            .energy_grad(&self.prop, &mut self.pe, &mut self.pg);
        let mut pgrad = vec![0.0_f32; n * d];
        let lfp = self.log_f(beta, &self.prop, &self.pe, &self.pg, &mut pgrad);
        for i in 0..n {
            let r = i * d..(i + 1) * d;
            // log q(x | x') − log q(x' | x) for the Langevin proposal
            let mut fwd = 0.0;
            let mut bwd = 0.0;
            for j in r.clone() {
                let (x, y) = (f64::from(self.x[j]), f64::from(self.prop[j]));
                fwd += (y - x - h * f64::from(grad[j])).powi(2);
                bwd += (x - y - h * f64::from(pgrad[j])).powi(2);
            }
            let log_a = lfp[i] - lf[i] + (fwd - bwd) / (4.0 * h);
            self.proposed += 1;
            if lfp[i].is_finite() && rng.random::<f64>().ln() < log_a {
                self.accepted += 1;
                self.x[r.clone()].copy_from_slice(&self.prop[r.clone()]);
                self.g[r.clone()].copy_from_slice(&self.pg[r]);
                self.e[i] = self.pe[i];
            }
        }
    }
}

/// One AIS pass: forward from the base (`start` = None) or reverse from model samples.
fn run_pass<E: EnergyFn>(
    energy: &mut E,
    base: &Base,
    spec: &AisSpec,
    start: Option<&[f32]>,
    rng: &mut impl Rng,
) -> AisEstimate {
    let dim = energy.dim();
    // Every given sample starts a reverse chain (one is enough for an estimate; its
    // standard error is then unknown, NaN); forward runs at least one chain.
    let n = start.map_or(spec.chains, |s| s.len() / dim).max(1);
    if n * dim > start.map_or(usize::MAX, <[f32]>::len) {
        // No complete sample row: nothing to run backwards from.
        return AisEstimate {
            log_z: f64::NAN,
            stderr: f64::NAN,
            ess: 0.0,
            acceptance: 0.0,
        };
    }
    let mut x = vec![0.0_f32; n * dim];
    match start {
        Some(s) => x.copy_from_slice(&s[..n * dim]),
        None => base.sample(&mut x, rng),
    }
    let h0 = match base {
        Base::Gaussian { std, .. } => {
            0.1 * std.iter().copied().fold(f64::INFINITY, f64::min).powi(2)
        }
        Base::Uniform { lo, hi } => {
            0.01 * lo
                .iter()
                .zip(hi)
                .map(|(l, h)| h - l)
                .fold(f64::INFINITY, f64::min)
                .powi(2)
        }
    };
    let mut c = Chains {
        energy,
        base,
        dim,
        x,
        e: vec![0.0; n],
        g: vec![0.0; n * dim],
        prop: vec![0.0; n * dim],
        pe: vec![0.0; n],
        pg: vec![0.0; n * dim],
        h: h0,
        accepted: 0,
        proposed: 0,
    };
    c.refresh();
    let b = betas(spec.temperatures);
    let mut logw = vec![0.0_f64; n];
    let t_max = spec.temperatures;
    for step in 1..=t_max {
        // Forward: β goes b[t−1] → b[t]; reverse: b[T−t+1] → b[T−t].
        let (from, to) = if start.is_none() {
            (b[step - 1], b[step])
        } else {
            (b[t_max - step + 1], b[t_max - step])
        };
        for (w, r) in logw.iter_mut().zip(c.log_ratio()) {
            *w += (to - from) * r;
        }
        let (acc0, prop0) = (c.accepted, c.proposed);
        for _ in 0..spec.steps_per_temperature {
            c.mala(to, rng);
        }
        // Adapt the step towards an acceptance rate near 0.6.
        #[allow(clippy::cast_precision_loss)]
        let rate = (c.accepted - acc0) as f64 / (c.proposed - prop0).max(1) as f64;
        c.h *= if rate > 0.6 { 1.1 } else { 0.9 };
    }
    let (lme, se, ess) = log_mean_exp(&logw);
    #[allow(clippy::cast_precision_loss)]
    let acceptance = c.accepted as f64 / c.proposed.max(1) as f64;
    AisEstimate {
        // Reverse AIS estimates 1/Z.
        log_z: if start.is_none() { lme } else { -lme },
        stderr: se,
        ess,
        acceptance,
    }
}

/// log Z by AIS; with `model_samples` (exact draws from the model) also in reverse.
pub fn log_z<E: EnergyFn>(
    energy: &mut E,
    base: &Base,
    spec: &AisSpec,
    model_samples: Option<&[f32]>,
    rng: &mut impl Rng,
) -> AisResult {
    let forward = run_pass(energy, base, spec, None, rng);
    let reverse = model_samples.map(|s| run_pass(energy, base, spec, Some(s), rng));
    AisResult { forward, reverse }
}

#[cfg(test)]
mod tests {
    use super::log_mean_exp;

    /// One chain far heavier than the rest: the delta method reads exactly 1 here
    /// whatever the gap; the bootstrap's error grows with the gap, and the ESS is 1.
    #[test]
    fn one_chain_carrying_the_weight_has_a_large_error_and_an_ess_of_one() {
        for gap in [20.0, 200.0] {
            let mut v = vec![-gap; 100];
            v[7] = 0.0;
            v[30] = -gap + 1.0;
            let (lme, se, ess) = log_mean_exp(&v);
            assert!((lme - (-(100.0_f64).ln())).abs() < 1e-6, "{lme}");
            assert!(se > 0.2 * gap, "gap {gap}: standard error {se}");
            assert!((ess - 1.0).abs() < 1e-6, "ESS {ess}");
        }
    }

    /// Weights of equal size give the plain standard error of a mean: with log weights
    /// N(0, 0.1²) over 1 000 chains, about 0.1/√1000, and an ESS near 1 000·e^(−0.01).
    #[test]
    fn balanced_weights_have_the_standard_error_of_a_mean() {
        use rand::SeedableRng as _;
        use rand_distr::{Distribution as _, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let v: Vec<f64> = (0..1000)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                0.1 * z
            })
            .collect();
        let (_, se, ess) = log_mean_exp(&v);
        let expected = 0.1 / 1000.0_f64.sqrt();
        assert!(
            (se / expected - 1.0).abs() < 0.15,
            "{se} against {expected}"
        );
        assert!(
            (ess / (1000.0 * (-0.01_f64).exp()) - 1.0).abs() < 0.02,
            "{ess}"
        );
        assert!(log_mean_exp(&[0.5]).1.is_nan());
    }
}
