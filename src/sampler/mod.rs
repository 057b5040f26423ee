//! Samplers of p_θ(x) ∝ exp(−E_θ(x)): SGLD with decoupled step and noise (JEM style) and
//! unadjusted Langevin, started from a persistent replay buffer, from fresh noise
//! (short-run) or from the data batch (CD-k). The inner loop needs only ∇ₓE, which the
//! fast engine computes without any parameter gradient.

pub mod replay_buffer;

use crate::data::DataBox;
use crate::energy::fast::Workspace;
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
    /// Exact draws from the model on the evaluation grid (2-D): a cell by its
    /// probability softmax(−E), then a point uniformly inside it. The unbiased reference;
    /// `steps` and the start are ignored.
    Exact,
}

impl SamplerKind {
    /// The step size applied to the gradient.
    #[must_use]
    pub fn step_size(&self) -> f32 {
        match *self {
            Self::Sgld { step_size, .. } | Self::Langevin { step_size } => step_size,
            Self::Exact => 0.0,
        }
    }

    /// The standard deviation of the noise added per step.
    #[must_use]
    pub fn noise(&self) -> f32 {
        match *self {
            Self::Sgld { noise, .. } => noise,
            Self::Langevin { step_size } => (2.0 * step_size).sqrt(),
            Self::Exact => 0.0,
        }
    }

    /// The temperature whose tempered density the chains follow: T = noise²/(2·step).
    #[must_use]
    pub fn temperature(&self) -> f32 {
        if *self == Self::Exact {
            return 1.0;
        }
        let s = self.noise();
        s * s / (2.0 * self.step_size())
    }

    /// The short name used in the interface.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgld { .. } => "SGLD",
            Self::Langevin { .. } => "Langevin",
            Self::Exact => "exact (grid)",
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
    /// Clamp the chains to the data box after every step.
    pub clamp: bool,
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
        }
    }
}

/// How far a temperature may stray from 1 before the user is warned.
#[must_use]
pub fn temperature_warning(t: f32) -> Option<String> {
    if (0.5..=2.0).contains(&t) {
        None
    } else {
        Some(format!(
            "the sampler's implied temperature is T = noise²/(2·step) = {t:.3}: its chains follow p_θ^(1/T), not p_θ, so the model learns E/T rather than E (set noise = √(2·step) for T = 1)"
        ))
    }
}

/// Fills `x` with uniform points in the box.
pub fn uniform_in_box(b: &DataBox, x: &mut [f32], rng: &mut impl Rng) {
    for row in x.chunks_exact_mut(2) {
        row[0] = rng.random_range(b.lo[0]..b.hi[0]);
        row[1] = rng.random_range(b.lo[1]..b.hi[1]);
    }
}

/// Chains are processed in tiles of this many rows, each tile through all K steps on
/// its own (chains are independent), in parallel across cores. The tiling is fixed, not
/// tied to the number of cores, so a seed gives the same chains on any machine.
pub const CHAIN_TILE: usize = 128;

/// One tile's buffers.
#[derive(Debug, Clone)]
struct Lane {
    ws: Workspace,
    energies: Vec<f32>,
    grad: Vec<f32>,
    path: Vec<f32>,
}

impl Lane {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        seed: u64,
        record: usize,
    ) {
        let dim = self.ws.architecture().input_dim;
        let rows = x.len() / dim;
        let mut rng = SmallRng::seed_from_u64(seed);
        self.energies.resize(rows, 0.0);
        self.grad.resize(rows * dim, 0.0);
        self.path.clear();
        let a = spec.kind.step_size();
        let s = spec.kind.noise();
        for _ in 0..spec.steps {
            self.ws
                .energy_grad_x(params, x, &mut self.energies, &mut self.grad);
            for (xv, g) in x.iter_mut().zip(&self.grad) {
                let eps: f32 = rng.sample(StandardNormal);
                *xv += -a * g + s * eps;
            }
            if spec.clamp {
                for row in x.chunks_exact_mut(dim) {
                    for (j, v) in row.iter_mut().enumerate().take(2) {
                        *v = v.clamp(data_box.lo[j], data_box.hi[j]);
                    }
                }
            }
            if record > 0 {
                self.path.extend_from_slice(&x[..record.min(rows) * dim]);
            }
        }
    }
}

/// Runs chains with the fast engine; owns its buffers.
#[derive(Debug, Clone)]
pub struct Sampler {
    ws: Workspace,
    lanes: Vec<Lane>,
}

impl Sampler {
    #[must_use]
    pub fn new(ws: Workspace) -> Self {
        Self {
            ws,
            lanes: Vec::new(),
        }
    }

    /// Runs `spec.steps` steps of the rule on the rows of `x` in place. With `path`,
    /// the positions of the first `path.0` chains are appended after every step.
    pub fn run(
        &mut self,
        spec: &SamplerSpec,
        params: &[f32],
        x: &mut [f32],
        data_box: &DataBox,
        rng: &mut impl Rng,
        path: Option<(usize, &mut Vec<f32>)>,
    ) {
        let dim = self.ws.architecture().input_dim;
        let rows = x.len() / dim;
        let tiles = rows.div_ceil(CHAIN_TILE);
        while self.lanes.len() < tiles {
            self.lanes.push(Lane {
                ws: self.ws.clone(),
                energies: Vec::new(),
                grad: Vec::new(),
                path: Vec::new(),
            });
        }
        let seeds: Vec<u64> = (0..tiles).map(|_| rng.random()).collect();
        let record = path.as_ref().map_or(0, |p| p.0.min(CHAIN_TILE));
        x.par_chunks_mut(CHAIN_TILE * dim)
            .zip(self.lanes.par_iter_mut())
            .zip(seeds.par_iter())
            .enumerate()
            .for_each(|(i, ((xc, lane), seed))| {
                lane.run(
                    spec,
                    params,
                    xc,
                    data_box,
                    *seed,
                    if i == 0 { record } else { 0 },
                );
            });
        if let Some((_, p)) = path {
            p.extend_from_slice(&self.lanes[0].path);
        }
    }
}
