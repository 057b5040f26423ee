//! Samplers of p_θ(x) ∝ exp(−E_θ(x)): SGLD with decoupled step and noise (JEM style),
//! unadjusted Langevin, and the two Metropolis-corrected rules, MALA and HMC, which are
//! exact for p_θ at any step size and report their acceptance rate. Chains start from a
//! persistent replay buffer, from fresh noise (short-run) or from the data batch (CD-k).
//! The inner loop needs only E and ∇ₓE, which the fast engine computes together without
//! any parameter gradient.

pub mod replay_buffer;

use crate::data::DataBox;
use crate::energy::engine::{Engine, EngineResult};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng as _};
use rand_distr::StandardNormal;
use rayon::prelude::*;
pub use replay_buffer::ReplayBuffer;
use serde::{Deserialize, Serialize};

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SamplerKind {
    /// Stochastic gradient Langevin dynamics as most EBM code runs it:
    /// x ← x − step_size·∇ₓE + noise·ε. Its stationary law is p_θ^(1/T) with
    /// T = noise²/(2·step_size); only T = 1 samples p_θ itself.
    Sgld { step_size: f32, noise: f32 },
    /// Unadjusted Langevin: x ← x − η·∇ₓE + √(2η)·ε (T = 1).
    Langevin { step_size: f32 },
    /// Metropolis-adjusted Langevin: the Langevin move y = x − η·∇ₓE(x) + √(2η)·ε is a
    /// proposal, accepted with probability min(1, p(y)·q(x|y) / (p(x)·q(y|x))). The
    /// correction removes the step-size bias of plain Langevin.
    Mala { step_size: f32 },
    /// Hamiltonian Monte Carlo: a fresh momentum p ∼ N(0, I), `leapfrog_steps` leapfrog
    /// steps of size `step_size`, accepted with probability min(1, exp(H₀ − H₁)),
    /// H = E(x) + ½‖p‖². Each of the K steps costs `leapfrog_steps` gradients.
    Hmc {
        step_size: f32,
        leapfrog_steps: usize,
    },
    /// Exact draws from the model on the evaluation grid (2-D): a cell by its
    /// probability softmax(−E), then a point uniformly inside it. The unbiased reference;
    /// `steps` and the start are ignored. On a few bits: draws from every state
    /// enumerated.
    Exact,
    /// Gibbs sampling on bits: each of the K steps is a sweep over the bits in order,
    /// each set to 1 with its conditional probability σ(E(x with 0) − E(x with 1))
    /// given the others. Exact for any energy on bits (no step size, no rejection),
    /// one energy evaluation per bit.
    Gibbs,
    /// Block Gibbs sampling of an RBM: each of the K steps draws every hidden unit given
    /// the visible ones, h ~ Bernoulli(σ(c + Wv)), then every visible unit given those,
    /// v ~ Bernoulli(σ(b + Wᵀh)): the classic CD-k (from the data) and PCD (from
    /// persistent chains). RBMs only.
    BlockGibbs,
    /// Gibbs-with-gradients (Grathwohl et al. 2021) on bits: each of the K steps proposes
    /// flipping one bit, chosen with probability softmax(d(x)/2) where
    /// dᵢ(x) = −(1 − 2xᵢ)·∂E/∂xᵢ estimates E(x) − E(x with bit i flipped) to first order,
    /// and accepts it with the Metropolis-Hastings probability
    /// min(1, exp(E(x) − E(x′))·q(i | x′)/q(i | x)): exact for any differentiable energy
    /// on bits, one gradient per step where Gibbs needs one energy per bit.
    Gwg,
}

impl SamplerKind {
    /// The step size applied to the gradient.
    #[must_use]
    pub fn step_size(&self) -> f32 {
        match *self {
            Self::Sgld { step_size, .. }
            | Self::Langevin { step_size }
            | Self::Mala { step_size }
            | Self::Hmc { step_size, .. } => step_size,
            Self::Exact | Self::Gibbs | Self::BlockGibbs | Self::Gwg => 0.0,
        }
    }

    /// The standard deviation of the noise added per step (of the proposal for MALA; HMC
    /// draws a unit momentum instead).
    #[must_use]
    pub fn noise(&self) -> f32 {
        match *self {
            Self::Sgld { noise, .. } => noise,
            Self::Langevin { step_size } | Self::Mala { step_size } => (2.0 * step_size).sqrt(),
            Self::Hmc { .. } | Self::Exact | Self::Gibbs | Self::BlockGibbs | Self::Gwg => 0.0,
        }
    }

    /// The temperature whose tempered density the chains follow: T = noise²/(2·step) for
    /// SGLD, 1 for every other rule.
    #[must_use]
    pub fn temperature(&self) -> f32 {
        match *self {
            Self::Sgld { step_size, noise } => noise * noise / (2.0 * step_size),
            _ => 1.0,
        }
    }

    /// Whether proposals are accepted or rejected (MALA, HMC): these report an
    /// acceptance rate.
    #[must_use]
    pub fn is_metropolis(&self) -> bool {
        matches!(self, Self::Mala { .. } | Self::Hmc { .. } | Self::Gwg)
    }

    /// The same rule with another step size (SGLD keeps its noise).
    #[must_use]
    pub fn with_step_size(self, step: f32) -> Self {
        match self {
            Self::Sgld { noise, .. } => Self::Sgld {
                step_size: step,
                noise,
            },
            Self::Langevin { .. } => Self::Langevin { step_size: step },
            Self::Mala { .. } => Self::Mala { step_size: step },
            Self::Hmc { leapfrog_steps, .. } => Self::Hmc {
                step_size: step,
                leapfrog_steps,
            },
            Self::Exact => Self::Exact,
            Self::Gibbs => Self::Gibbs,
            Self::BlockGibbs => Self::BlockGibbs,
            Self::Gwg => Self::Gwg,
        }
    }

    /// Whether the rule flips bits (Gibbs) rather than moving points along ∇ₓE: the
    /// rule for discrete data, and for nothing else.
    #[must_use]
    pub fn is_discrete(&self) -> bool {
        matches!(self, Self::Gibbs | Self::BlockGibbs | Self::Gwg)
    }

    /// Gradient evaluations per sampler step.
    #[must_use]
    pub fn gradients_per_step(&self) -> usize {
        match *self {
            Self::Hmc { leapfrog_steps, .. } => leapfrog_steps,
            Self::Exact | Self::Gibbs | Self::BlockGibbs => 0,
            Self::Gwg => 1,
            _ => 1,
        }
    }

    /// The short name used in the interface.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgld { .. } => "SGLD",
            Self::Langevin { .. } => "Langevin",
            Self::Mala { .. } => "MALA",
            Self::Hmc { .. } => "HMC",
            Self::Exact => "exact",
            Self::Gibbs => "Gibbs",
            Self::BlockGibbs => "block Gibbs (RBM)",
            Self::Gwg => "Gibbs with gradients",
        }
    }
}

/// Where each step's chains start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// A persistent buffer of past samples (PCD); each drawn chain restarts from uniform
    /// noise in the data box with probability `reinit_prob`.
    ReplayBuffer { size: usize, reinit_prob: f32 },
    /// Fresh uniform noise in the data box every step (short-run MCMC).
    Noise,
    /// The data batch itself (contrastive divergence, CD-k).
    Data,
}

impl Init {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReplayBuffer { .. } => "replay buffer",
            Self::Noise => "noise (short-run)",
            Self::Data => "data (CD-k)",
        }
    }
}

/// A whole sampler: rule, number of steps, initialisation and clamping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerSpec {
    pub kind: SamplerKind,
    /// Steps per training step (K).
    pub steps: usize,
    pub init: Init,
    /// Keep the chains in the data box: SGLD and Langevin clamp after every step; MALA
    /// and HMC reject proposals that leave it, so that they sample p_θ restricted to the
    /// box exactly.
    pub clamp: bool,
    /// MALA and HMC: adapt the step size after every training step towards this
    /// acceptance rate (`None`: keep the preset's step size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_acceptance: Option<f32>,
    /// Clip every component of ∇ₓE to [−c, c] before it moves a chain (IGEBM clips at
    /// 0.01 on images). MALA and HMC stay exact: their test uses the clipped drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f32>,
}

impl Default for SamplerSpec {
    fn default() -> Self {
        Self {
            kind: SamplerKind::Langevin { step_size: 0.1 },
            steps: 20,
            init: Init::ReplayBuffer {
                size: 10_000,
                reinit_prob: 0.05,
            },
            clamp: false,
            target_acceptance: None,
            grad_clip: None,
        }
    }
}

/// Step-size adaptation for the Metropolis-corrected rules: after each sampler run the
/// log step size moves by `GAIN·(acceptance − target)`, within [1e-5, 10].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepAdapter {
    /// The preset's step size the adaptation started from (a new one restarts it).
    pub base: f32,
    /// The step size in use.
    pub step: f32,
}

impl StepAdapter {
    pub const GAIN: f32 = 0.2;

    #[must_use]
    pub fn new(base: f32) -> Self {
        Self { base, step: base }
    }

    /// One update from the last run's acceptance rate.
    pub fn update(&mut self, acceptance: f64, target: f32) {
        #[allow(clippy::cast_possible_truncation)]
        let a = acceptance as f32;
        self.step = (self.step * (Self::GAIN * (a - target)).exp()).clamp(1e-5, 10.0);
    }
}

/// A temperature as text: four decimals near 1, scientific notation far from it
/// (JEM's SGLD runs at 5e−5).
#[must_use]
pub fn format_temperature(t: f32) -> String {
    if (0.001..1000.0).contains(&t) {
        format!("{t:.4}")
    } else {
        format!("{t:.2e}")
    }
}

/// How far a temperature may stray from 1 before the user is warned.
#[must_use]
pub fn temperature_warning(t: f32) -> Option<String> {
    if (0.5..=2.0).contains(&t) {
        None
    } else {
        Some(format!(
            "the sampler's implied temperature is T = noise²/(2·step) = {}: its chains follow p_θ^(1/T), not p_θ, so the model learns E/T rather than E (set noise = √(2·step) for T = 1); outside the plane the AIS NLL is that of exp(−E/T)",
            format_temperature(t)
        ))
    }
}

/// Fills `x` with uniform points in the box (for bits, uniform over its corners: fair
/// coin flips).
pub fn uniform_in_box(b: &DataBox, x: &mut [f32], rng: &mut impl Rng) {
    if b.bits {
        for v in x.iter_mut() {
            *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
        }
        return;
    }
    for row in x.chunks_exact_mut(b.dim().max(1)) {
        for (v, (lo, hi)) in row.iter_mut().zip(b.lo.iter().zip(&b.hi)) {
            *v = rng.random_range(*lo..*hi);
        }
    }
}

/// Chains are processed in tiles of this many rows, each tile through all K steps on
/// its own (chains are independent), in parallel across cores. The tiling depends on
/// the number of chains alone (see [`chain_tile`]), not on the number of cores, so a
/// seed gives the same chains on any machine.
pub const CHAIN_TILE: usize = 128;

/// The rows per tile for `rows` chains: [`CHAIN_TILE`], or for fewer than two such
/// tiles half the chains (rounded up to a multiple of 8), so that a small batch (JEM's
/// 64) still runs on two cores.
#[must_use]
pub fn chain_tile(rows: usize) -> usize {
    if rows >= 2 * CHAIN_TILE {
        CHAIN_TILE
    } else {
        rows.div_ceil(2).next_multiple_of(8).max(8)
    }
}

/// One tile's buffers, and its own copy of the engine.
#[derive(Debug, Clone)]
struct Lane {
    engine: Box<dyn Engine>,
    energies: Vec<f32>,
    grad: Vec<f32>,
    path: Vec<f32>,
    /// Proposal, its energies and gradients, and the momenta (MALA, HMC).
    prop: Vec<f32>,
    prop_energies: Vec<f32>,
    prop_grad: Vec<f32>,
    momentum: Vec<f32>,
    stats: Acceptance,
    /// The class whose conditional the chains sample (`None`: the model).
    class: Option<usize>,
    /// The clip on ∇ₓE's components.
    clip: Option<f32>,
}

/// Accepted and proposed moves of the Metropolis-corrected rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acceptance {
    pub accepted: usize,
    pub proposed: usize,
}

impl Acceptance {
    /// The fraction accepted (`None` when nothing was proposed).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn rate(&self) -> Option<f64> {
        (self.proposed > 0).then(|| self.accepted as f64 / self.proposed as f64)
    }
}

/// Clips every component of `g` to [−c, c].
fn clip_grad(g: &mut [f32], clip: Option<f32>) {
    if let Some(c) = clip {
        for v in g {
            *v = v.clamp(-c, c);
        }
    }
}

/// Gibbs with gradients' proposal logits for one row of bits `x` with gradient `g`:
/// dᵢ/2, where dᵢ = −(1 − 2xᵢ)·gᵢ estimates E(x) − E(x with bit i flipped).
fn gwg_half_gains(x: &[f32], g: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(g)
        .map(|(v, gi)| -0.5 * f64::from((1.0 - 2.0 * v) * gi))
        .collect()
}

/// Whether `row` lies in the box.
fn in_box(row: &[f32], b: &DataBox) -> bool {
    b.contains(row)
}

/// The Metropolis test for one chain: accept when u < exp(log_ratio), never for a
/// non-finite ratio. `u` is drawn whatever the outcome, so the random stream does not
/// depend on the decisions.
fn metropolis_accepts(log_ratio: f64, u: f32) -> bool {
    log_ratio.is_finite() && f64::from(u).ln() < log_ratio
}

impl Lane {
    fn new(engine: Box<dyn Engine>) -> Self {
        Self {
            engine,
            energies: Vec::new(),
            grad: Vec::new(),
            path: Vec::new(),
            prop: Vec::new(),
            prop_energies: Vec::new(),
            prop_grad: Vec::new(),
            momentum: Vec::new(),
            stats: Acceptance::default(),
            class: None,
            clip: None,
        }
    }

    fn dim(&self) -> usize {
        self.engine.architecture().input_dim
    }

    /// E and ∇ₓE at `x` into `energies` and `grad`: of the model, or for a classifier of
    /// the class-conditional p(x | y) ∝ exp(f_y(x)) (`class` `Some(y)`).
    fn eval_current(&mut self, params: &[f32], x: &[f32]) -> EngineResult<()> {
        self.engine
            .energy_grad_x(params, x, self.class, &mut self.energies, &mut self.grad)?;
        clip_grad(&mut self.grad, self.clip);
        Ok(())
    }

    /// E and ∇ₓE at the proposal `prop` into `prop_energies` and `prop_grad`.
    fn eval_proposal(&mut self, params: &[f32]) -> EngineResult<()> {
        self.engine.energy_grad_x(
            params,
            &self.prop,
            self.class,
            &mut self.prop_energies,
            &mut self.prop_grad,
        )?;
        clip_grad(&mut self.prop_grad, self.clip);
        Ok(())
    }

    fn run(
        &mut self,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        seed: u64,
        record: usize,
    ) -> EngineResult<()> {
        // The same parameters for every step: the engine prepares them once.
        self.engine.hold(params);
        let ran = self.steps(spec, params, x, data_box, seed, record);
        self.engine.release();
        ran
    }

    /// `spec.steps` steps of the rule on the rows of `x`, from the random stream `seed`.
    fn steps(
        &mut self,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        seed: u64,
        record: usize,
    ) -> EngineResult<()> {
        let dim = self.dim();
        let rows = x.len() / dim;
        let mut rng = SmallRng::seed_from_u64(seed);
        self.energies.resize(rows, 0.0);
        self.grad.resize(rows * dim, 0.0);
        self.path.clear();
        self.stats = Acceptance::default();
        if spec.kind.is_metropolis() && spec.steps > 0 {
            self.prop.resize(rows * dim, 0.0);
            self.prop_energies.resize(rows, 0.0);
            self.prop_grad.resize(rows * dim, 0.0);
            self.momentum.resize(rows * dim, 0.0);
            self.eval_current(params, x)?;
        }
        if spec.kind == SamplerKind::Gibbs && spec.steps > 0 {
            self.prop.resize(rows * dim, 0.0);
            self.prop_energies.resize(rows, 0.0);
            self.prop.copy_from_slice(x);
            self.energies_of_prop(params)?;
            self.energies.copy_from_slice(&self.prop_energies);
        }
        let a = spec.kind.step_size();
        let s = spec.kind.noise();
        for _ in 0..spec.steps {
            match spec.kind {
                SamplerKind::Mala { step_size } => {
                    self.mala_step(params, x, data_box, spec.clamp, step_size, &mut rng)?;
                }
                SamplerKind::Hmc {
                    step_size,
                    leapfrog_steps,
                } => self.hmc_step(
                    params,
                    x,
                    data_box,
                    spec.clamp,
                    (step_size, leapfrog_steps),
                    &mut rng,
                )?,
                SamplerKind::Gibbs => self.gibbs_sweep(params, x, &mut rng)?,
                SamplerKind::BlockGibbs => self.block_gibbs_step(params, x, &mut rng)?,
                SamplerKind::Gwg => self.gwg_step(params, x, &mut rng)?,
                _ => {
                    self.eval_current(params, x)?;
                    for (xv, g) in x.iter_mut().zip(&self.grad) {
                        let eps: f32 = rng.sample(StandardNormal);
                        *xv += -a * g + s * eps;
                    }
                    if spec.clamp {
                        for row in x.chunks_exact_mut(dim) {
                            for (j, v) in row.iter_mut().enumerate() {
                                *v = v.clamp(data_box.lo[j], data_box.hi[j]);
                            }
                        }
                    }
                }
            }
            if record > 0 {
                self.path.extend_from_slice(&x[..record.min(rows) * dim]);
            }
        }
        Ok(())
    }

    /// E at `prop` into `prop_energies`: of the model, or of the class-conditional
    /// p(x | y) for a classifier's `class`.
    fn energies_of_prop(&mut self, params: &[f32]) -> EngineResult<()> {
        match self.class {
            None => self
                .engine
                .energy(params, &self.prop, &mut self.prop_energies),
            Some(_) => {
                self.prop_grad.resize(self.prop.len(), 0.0);
                self.engine.energy_grad_x(
                    params,
                    &self.prop,
                    self.class,
                    &mut self.prop_energies,
                    &mut self.prop_grad,
                )
            }
        }
    }

    /// One Gibbs sweep over the bits of every row, in order: bit j is flipped with
    /// probability σ(E(x) − E(x with bit j flipped)), which sets it to 1 with its
    /// conditional probability given the other bits. `energies` holds E at `x`, and
    /// `prop` a copy of `x` (both kept so). One uniform per row and bit.
    fn gibbs_sweep(
        &mut self,
        params: &[f32],
        x: &mut [f32],
        rng: &mut SmallRng,
    ) -> EngineResult<()> {
        let dim = self.dim();
        let rows = x.len() / dim;
        for j in 0..dim {
            for r in 0..rows {
                let v = &mut self.prop[r * dim + j];
                *v = 1.0 - *v;
            }
            self.energies_of_prop(params)?;
            for r in 0..rows {
                let u: f64 = rng.random();
                let gain = f64::from(self.energies[r]) - f64::from(self.prop_energies[r]);
                let k = r * dim + j;
                if u < 1.0 / (1.0 + (-gain).exp()) {
                    x[k] = self.prop[k];
                    self.energies[r] = self.prop_energies[r];
                } else {
                    self.prop[k] = x[k];
                }
            }
        }
        Ok(())
    }

    /// One Gibbs-with-gradients step on every row; `energies` and `grad` hold E and ∇ₓE
    /// at `x`. Per row: one uniform for the bit, one for the test.
    fn gwg_step(&mut self, params: &[f32], x: &mut [f32], rng: &mut SmallRng) -> EngineResult<()> {
        let dim = self.dim();
        let rows = x.len() / dim;
        // log q(i | x) = dᵢ/2 − logsumexp(d/2).
        let log_q = |xr: &[f32], gr: &[f32], i: usize| -> f64 {
            let half = gwg_half_gains(xr, gr);
            let top = half.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            half[i] - top - half.iter().map(|h| (h - top).exp()).sum::<f64>().ln()
        };
        let mut flips = vec![0_usize; rows];
        self.prop.copy_from_slice(x);
        for (r, flip) in flips.iter_mut().enumerate() {
            let (xr, gr) = (
                &x[r * dim..(r + 1) * dim],
                &self.grad[r * dim..(r + 1) * dim],
            );
            let half = gwg_half_gains(xr, gr);
            let top = half.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = half.iter().map(|h| (h - top).exp()).collect();
            let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
            *flip = weights
                .iter()
                .position(|w| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(dim - 1);
            let k = r * dim + *flip;
            self.prop[k] = 1.0 - self.prop[k];
        }
        self.eval_proposal(params)?;
        let ratios: Vec<f64> = (0..rows)
            .map(|r| {
                let c = r * dim..(r + 1) * dim;
                f64::from(self.energies[r]) - f64::from(self.prop_energies[r])
                    + log_q(&self.prop[c.clone()], &self.prop_grad[c.clone()], flips[r])
                    - log_q(&x[c.clone()], &self.grad[c], flips[r])
            })
            .collect();
        let data_box = DataBox::bits(dim);
        self.accept_rows(x, &ratios, &data_box, false, rng);
        Ok(())
    }

    /// One block Gibbs step of an RBM on every row: the hidden units given the visible
    /// ones, then the visible units given the hidden ones. Two uniforms per hidden and
    /// visible unit of each row, drawn in that order.
    fn block_gibbs_step(
        &mut self,
        params: &[f32],
        x: &mut [f32],
        rng: &mut SmallRng,
    ) -> EngineResult<()> {
        let arch = self.engine.architecture();
        let Some(m) = arch.rbm else {
            return Err("block Gibbs samples an RBM; this energy is not one".into());
        };
        let n = arch.input_dim;
        // Gaussian visible units of deviation s: h | v by σ(c + Wv/s), v | h ~ N(b + sWᵀh, s²).
        let sigma = arch.visible.sigma();
        let scale = sigma.unwrap_or(1.0);
        let (w, rest) = params.split_at(m * n);
        let (b, c) = rest.split_at(n);
        let sigmoid = |a: f32| 1.0 / (1.0 + (-a).exp());
        let mut h = vec![0.0_f32; m];
        for v in x.chunks_exact_mut(n) {
            for (j, hj) in h.iter_mut().enumerate() {
                let a = c[j]
                    + w[j * n..(j + 1) * n]
                        .iter()
                        .zip(&*v)
                        .map(|(p, q)| p * q)
                        .sum::<f32>()
                        / scale;
                *hj = if rng.random::<f32>() < sigmoid(a) {
                    1.0
                } else {
                    0.0
                };
            }
            for (k, vk) in v.iter_mut().enumerate() {
                let a = h
                    .iter()
                    .enumerate()
                    .map(|(j, hj)| hj * w[j * n + k])
                    .sum::<f32>();
                *vk = match sigma {
                    None => {
                        if rng.random::<f32>() < sigmoid(b[k] + a) {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Some(s) => b[k] + s * a + s * rng.sample::<f32, _>(StandardNormal),
                };
            }
        }
        Ok(())
    }

    /// Accepts or rejects each row's proposal given the log of its acceptance ratio;
    /// accepted rows take the proposal's position, energy and gradient.
    fn accept_rows(
        &mut self,
        x: &mut [f32],
        log_ratio: &[f64],
        data_box: &DataBox,
        clamp: bool,
        rng: &mut SmallRng,
    ) {
        let dim = self.dim();
        for (r, ratio) in log_ratio.iter().enumerate() {
            let u: f32 = rng.random();
            let cols = r * dim..(r + 1) * dim;
            let inside = !clamp || in_box(&self.prop[cols.clone()], data_box);
            self.stats.proposed += 1;
            if inside && metropolis_accepts(*ratio, u) {
                self.stats.accepted += 1;
                x[cols.clone()].copy_from_slice(&self.prop[cols.clone()]);
                self.grad[cols.clone()].copy_from_slice(&self.prop_grad[cols]);
                self.energies[r] = self.prop_energies[r];
            }
        }
    }

    /// One MALA step on every row; `energies` and `grad` hold E and ∇ₓE at `x`.
    fn mala_step(
        &mut self,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        clamp: bool,
        eta: f32,
        rng: &mut SmallRng,
    ) -> EngineResult<()> {
        let dim = self.dim();
        let s = (2.0 * eta).sqrt();
        for ((y, xv), g) in self.prop.iter_mut().zip(x.iter()).zip(&self.grad) {
            let eps: f32 = rng.sample(StandardNormal);
            *y = xv - eta * g + s * eps;
        }
        self.eval_proposal(params)?;
        let xs: &[f32] = x;
        // log q(b|a) = −‖b − a + η∇E(a)‖² / (4η)
        let log_q = |to: &[f32], from: &[f32], g_from: &[f32]| -> f64 {
            let sq: f64 = to
                .iter()
                .zip(from)
                .zip(g_from)
                .map(|((t, f), g)| f64::from(t - f + eta * g).powi(2))
                .sum();
            -sq / (4.0 * f64::from(eta))
        };
        let ratios: Vec<f64> = (0..xs.len() / dim)
            .map(|r| {
                let c = r * dim..(r + 1) * dim;
                let (xr, yr) = (&xs[c.clone()], &self.prop[c.clone()]);
                f64::from(self.energies[r]) - f64::from(self.prop_energies[r])
                    + log_q(xr, yr, &self.prop_grad[c.clone()])
                    - log_q(yr, xr, &self.grad[c])
            })
            .collect();
        self.accept_rows(x, &ratios, data_box, clamp, rng);
        Ok(())
    }

    /// One HMC step (a fresh momentum, L leapfrog steps, the Metropolis test) on every
    /// row; `energies` and `grad` hold E and ∇ₓE at `x`.
    fn hmc_step(
        &mut self,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        clamp: bool,
        (eps, leapfrog): (f32, usize),
        rng: &mut SmallRng,
    ) -> EngineResult<()> {
        let dim = self.dim();
        let rows = x.len() / dim;
        for p in &mut self.momentum {
            *p = rng.sample(StandardNormal);
        }
        let kinetic = |m: &[f32], r: usize| -> f64 {
            0.5 * m[r * dim..(r + 1) * dim]
                .iter()
                .map(|v| f64::from(*v).powi(2))
                .sum::<f64>()
        };
        let h0: Vec<f64> = (0..rows)
            .map(|r| f64::from(self.energies[r]) + kinetic(&self.momentum, r))
            .collect();
        self.prop.copy_from_slice(x);
        self.prop_grad.copy_from_slice(&self.grad);
        self.prop_energies.copy_from_slice(&self.energies);
        for (p, g) in self.momentum.iter_mut().zip(&self.prop_grad) {
            *p -= 0.5 * eps * g;
        }
        for l in 0..leapfrog.max(1) {
            for (y, p) in self.prop.iter_mut().zip(&self.momentum) {
                *y += eps * p;
            }
            self.eval_proposal(params)?;
            let k = if l + 1 == leapfrog.max(1) { 0.5 } else { 1.0 };
            for (p, g) in self.momentum.iter_mut().zip(&self.prop_grad) {
                *p -= k * eps * g;
            }
        }
        let log_ratio: Vec<f64> = (0..rows)
            .map(|r| h0[r] - f64::from(self.prop_energies[r]) - kinetic(&self.momentum, r))
            .collect();
        self.accept_rows(x, &log_ratio, data_box, clamp, rng);
        Ok(())
    }
}

/// Runs chains through an engine; owns its buffers. The chains are cut into tiles of
/// [`chain_tile`] rows, each with its own random stream and its own copy of the engine,
/// run in parallel: every step asks the engine for E and ∇ₓE of a tile
/// ([`Engine::energy_grad_x`]), so any engine samples, candle on the CPU included (on
/// digits-conv, `bench --workload digits-conv`, lanes ran 8.04 and 7.92 steps/s where
/// candle's own tensor loop ran 5.76 and 5.80). On a GPU candle's chains stay on the
/// device as tensors instead ([`run_autograd`], the same random numbers): there a step
/// is a few large tensor ops, and copying the chains to the host and back at every step
/// would cost more than the step.
#[derive(Debug, Clone)]
pub struct Sampler {
    engine: Box<dyn Engine>,
    lanes: Vec<Lane>,
    /// Why candle's run failed, when the engine's stand-in ran the chains instead.
    failure: Option<String>,
}

impl Sampler {
    #[must_use]
    pub fn new(engine: &dyn Engine) -> Self {
        Self {
            engine: engine.box_clone(),
            lanes: Vec::new(),
            failure: None,
        }
    }

    /// Why the engine failed in the last run, when its stand-in ran the chains instead.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// Runs `spec.steps` steps of the rule on the rows of `x` in place (none for the
    /// exact sampler, whose draws are made elsewhere). With `path`, its vector is
    /// replaced by the starts of the first `path.0` chains and their positions after
    /// every step. Returns the moves accepted and proposed (zero for the rules without
    /// a Metropolis test).
    ///
    /// # Errors
    /// The engine's.
    pub fn run(
        &mut self,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        rng: &mut impl Rng,
        path: Option<(usize, &mut Vec<f32>)>,
    ) -> EngineResult<Acceptance> {
        self.run_for(None, spec, params, x, data_box, rng, path)
    }

    /// As [`Sampler::run`], for a classifier's class-conditional p(x | y) ∝ exp(f_y(x))
    /// when `class` is `Some(y)`.
    ///
    /// # Errors
    /// The engine's.
    #[allow(clippy::too_many_arguments)]
    pub fn run_for(
        &mut self,
        class: Option<usize>,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        rng: &mut impl Rng,
        path: Option<(usize, &mut Vec<f32>)>,
    ) -> EngineResult<Acceptance> {
        let dim = self.engine.architecture().input_dim;
        // Gibbs flips bits through the engine's energies on the host, on any device.
        if let Some(candle) = self
            .engine
            .as_candle()
            .filter(|c| !c.on_cpu() && !spec.kind.is_discrete())
        {
            let start = self.engine.stand_in().map(|_| x.to_vec());
            let mut path = path.map(|(n, p)| {
                p.clear();
                p.extend_from_slice(&x[..x.len().min(n * dim)]);
                (n, p)
            });
            let ran = candle.net(params).and_then(|net| {
                let path = path.as_mut().map(|(n, p)| (*n, &mut **p));
                run_autograd(spec, &net, class, x, data_box, rng, path)
                    .map_err(|e| crate::device::error_message(&e))
            });
            return match (ran, self.engine.stand_in(), start) {
                (Err(m), Some(stand_in), Some(start)) => {
                    // The stand-in (the fast engine) runs the chains from their starts.
                    self.failure = Some(m);
                    x.copy_from_slice(&start);
                    let mut instead = Sampler::new(stand_in);
                    instead.run_for(class, spec, params, x, data_box, rng, path)
                }
                (ran, ..) => ran,
            };
        }
        let mut spec = spec.clone();
        if spec.kind == SamplerKind::Exact {
            spec.steps = 0;
        }
        let rows = x.len() / dim;
        let tile = chain_tile(rows);
        let tiles = rows.div_ceil(tile);
        while self.lanes.len() < tiles {
            self.lanes.push(Lane::new(self.engine.box_clone()));
        }
        let seeds: Vec<u64> = (0..tiles).map(|_| rng.random()).collect();
        let record = path.as_ref().map_or(0, |p| p.0.min(tile));
        let path = path.map(|(_, p)| {
            p.clear();
            p.extend_from_slice(&x[..x.len().min(record * dim)]);
            p
        });
        x.par_chunks_mut(tile * dim)
            .zip(self.lanes.par_iter_mut())
            .zip(seeds.par_iter())
            .enumerate()
            .map(|(i, ((xc, lane), seed))| {
                lane.class = class;
                lane.clip = spec.grad_clip;
                lane.run(
                    &spec,
                    params,
                    xc,
                    data_box,
                    *seed,
                    if i == 0 { record } else { 0 },
                )
            })
            .collect::<EngineResult<Vec<()>>>()?;
        if let Some(p) = path {
            p.extend_from_slice(&self.lanes[0].path);
        }
        Ok(self.lanes[..tiles]
            .iter()
            .fold(Acceptance::default(), |acc, l| Acceptance {
                accepted: acc.accepted + l.stats.accepted,
                proposed: acc.proposed + l.stats.proposed,
            }))
    }
}

/// The random numbers one run of `spec` over `rows` chains uses, drawn exactly as the
/// fast sampler draws them (per tile of [`chain_tile`] rows and per step: the normals,
/// then one uniform per row for MALA and HMC), so that both engines follow the same
/// chains. Returns the normals `[step][row][dim]` and the uniforms `[step][row]`.
fn draws_like_the_fast_sampler(
    spec: &SamplerSpec,
    steps: usize,
    rows: usize,
    dim: usize,
    rng: &mut impl Rng,
) -> (Vec<f32>, Vec<f32>) {
    let tile_rows = chain_tile(rows);
    let tiles = rows.div_ceil(tile_rows);
    let seeds: Vec<u64> = (0..tiles).map(|_| rng.random()).collect();
    let metropolis = spec.kind.is_metropolis();
    let mut normals = vec![0.0_f32; steps * rows * dim];
    let mut uniforms = vec![0.0_f32; if metropolis { steps * rows } else { 0 }];
    for (t, seed) in seeds.iter().enumerate() {
        let mut r = SmallRng::seed_from_u64(*seed);
        let tile = (t * tile_rows)..((t + 1) * tile_rows).min(rows);
        for k in 0..steps {
            for v in
                &mut normals[k * rows * dim + tile.start * dim..k * rows * dim + tile.end * dim]
            {
                *v = r.sample(StandardNormal);
            }
            if metropolis {
                for u in &mut uniforms[k * rows + tile.start..k * rows + tile.end] {
                    *u = r.random();
                }
            }
        }
    }
    (normals, uniforms)
}

/// Runs `spec` on the rows of `x` with candle autograd on the network's device (the
/// engine for layers the fast engine lacks, and for GPUs), drawing the same random
/// numbers as [`Sampler::run`]. With `path`, the positions of the first `path.0` chains
/// are appended after every step. Returns the moves accepted and proposed.
///
/// # Errors
/// Any candle error.
#[allow(clippy::too_many_lines)]
pub fn run_autograd(
    spec: &SamplerSpec,
    net: &crate::energy::net::EnergyNet,
    class: Option<usize>,
    x: &mut [f32],
    data_box: &DataBox,
    rng: &mut impl Rng,
    mut path: Option<(usize, &mut Vec<f32>)>,
) -> candle_core::Result<Acceptance> {
    use candle_core::{D, Tensor};
    // The model's energy, or with `class` the class-conditional one −f_y(x); the
    // gradient clipped as the preset asks.
    let energy_grad = |t: &Tensor| -> candle_core::Result<(Tensor, Tensor)> {
        let (e, g) = match class {
            None => net.energy_grad_x(t),
            Some(y) => net.class_energy_grad_x(t, y),
        }?;
        match spec.grad_clip {
            Some(c) => Ok((e, g.clamp(-c, c)?)),
            None => Ok((e, g)),
        }
    };
    let dev = net.device().clone();
    let dim = net.architecture().input_dim;
    let rows = x.len() / dim;
    if spec.kind.is_discrete() {
        return Err(candle_core::Error::Msg(
            "Gibbs flips bits through the engine's energies on the host (Sampler::run)".into(),
        ));
    }
    let steps = if spec.kind == SamplerKind::Exact {
        0
    } else {
        spec.steps
    };
    let (normals, uniforms) = draws_like_the_fast_sampler(spec, steps, rows, dim, rng);
    let mut stats = Acceptance::default();
    // The box as (1, dim) bounds.
    let bound = |v: &[f32]| Tensor::from_slice(v, (1, dim), &dev);
    let (lo, hi) = (bound(&data_box.lo)?, bound(&data_box.hi)?);
    let sq_norms = |t: &Tensor| -> candle_core::Result<Vec<f64>> {
        Ok(t.sqr()?
            .sum(D::Minus1)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect())
    };
    let to_f64 = |t: &Tensor| -> candle_core::Result<Vec<f64>> {
        Ok(t.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
    };
    let mut xt = Tensor::from_slice(x, (rows, dim), &dev)?;
    let mut current = if spec.kind.is_metropolis() && steps > 0 {
        Some(energy_grad(&xt)?)
    } else {
        None
    };
    for k in 0..steps {
        let eps = Tensor::from_slice(
            &normals[k * rows * dim..(k + 1) * rows * dim],
            (rows, dim),
            &dev,
        )?;
        let (proposal, log_ratio) = match (spec.kind, current.as_ref()) {
            (SamplerKind::Mala { step_size }, Some((e, g))) => {
                let eta = f64::from(step_size);
                let y = ((&xt - (g * eta)?)? + (eps * (2.0 * eta).sqrt())?)?.detach();
                let (ey, gy) = energy_grad(&y)?;
                let fwd = sq_norms(&((&y - &xt)? + (g * eta)?)?)?;
                let bwd = sq_norms(&((&xt - &y)? + (&gy * eta)?)?)?;
                let (e0, e1) = (to_f64(e)?, to_f64(&ey)?);
                let ratio = (0..rows)
                    .map(|r| e0[r] - e1[r] + (fwd[r] - bwd[r]) / (4.0 * eta))
                    .collect::<Vec<f64>>();
                (Some((y, ey, gy)), ratio)
            }
            (
                SamplerKind::Hmc {
                    step_size,
                    leapfrog_steps,
                },
                Some((e, g)),
            ) => {
                let h = f64::from(step_size);
                let k0 = sq_norms(&eps)?;
                let mut p = (eps - (g * (0.5 * h))?)?;
                let mut y = xt.clone();
                let mut last = (e.clone(), g.clone());
                let l_max = leapfrog_steps.max(1);
                for l in 0..l_max {
                    y = (&y + (&p * h)?)?.detach();
                    last = energy_grad(&y)?;
                    let c = if l + 1 == l_max { 0.5 } else { 1.0 };
                    p = (&p - (&last.1 * (c * h))?)?;
                }
                let k1 = sq_norms(&p)?;
                let (e0, e1) = (to_f64(e)?, to_f64(&last.0)?);
                let ratio = (0..rows)
                    .map(|r| e0[r] + 0.5 * k0[r] - e1[r] - 0.5 * k1[r])
                    .collect::<Vec<f64>>();
                (Some((y, last.0, last.1)), ratio)
            }
            _ => {
                let (_, g) = energy_grad(&xt)?;
                let a = f64::from(spec.kind.step_size());
                let s = f64::from(spec.kind.noise());
                xt = ((&xt - (g * a)?)? + (eps * s)?)?.detach();
                if spec.clamp {
                    xt = xt.broadcast_maximum(&lo)?.broadcast_minimum(&hi)?;
                }
                (None, Vec::new())
            }
        };
        if let (Some((y, ey, gy)), Some((e, g))) = (proposal, current.as_mut()) {
            let inside: Vec<bool> = if spec.clamp {
                y.to_vec2::<f32>()?
                    .iter()
                    .map(|row| in_box(row, data_box))
                    .collect()
            } else {
                vec![true; rows]
            };
            let accept: Vec<u8> = (0..rows)
                .map(|r| {
                    u8::from(inside[r] && metropolis_accepts(log_ratio[r], uniforms[k * rows + r]))
                })
                .collect();
            stats.proposed += rows;
            stats.accepted += accept.iter().map(|a| usize::from(*a)).sum::<usize>();
            let m = Tensor::from_vec(accept, rows, &dev)?;
            let m2 = m.unsqueeze(1)?.broadcast_as((rows, dim))?.contiguous()?;
            xt = m2.where_cond(&y, &xt)?;
            *g = m2.where_cond(&gy, g)?;
            *e = m.where_cond(&ey, e)?;
        }
        if let Some((n, p)) = path.as_mut() {
            let n = (*n).min(rows);
            p.extend(xt.narrow(0, 0, n)?.flatten_all()?.to_vec1::<f32>()?);
        }
    }
    x.copy_from_slice(&xt.flatten_all()?.to_vec1::<f32>()?);
    Ok(stats)
}
