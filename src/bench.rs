//! The reference workload (the project's BENCH.md): 8 gaussians, MLP 2-128-128-1 SiLU,
//! replay buffer of 10 000, 5 % re-initialisation, K = 20 Langevin steps of size 0.1
//! (T = 1), α = 0.1, Adam lr 1e-3 with betas (0, 0.999), batch 256; steps per second
//! after 20 warm-up steps, and the time of a 256×256 grid evaluation.

use crate::Preset;
use crate::data::{DataSpec, ToySet};
use crate::energy::{LayerSpec, ModelSpec};
use crate::optim::OptimizerSpec;
use crate::preset::{EvalSpec, ObjectiveSpec};
use crate::sampler::{Init, SamplerKind, SamplerSpec};
use crate::train::Session;
use std::time::Instant;

/// The knobs of the workload.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    pub batch: usize,
    pub hidden: usize,
    pub langevin_steps: usize,
    pub warmup: usize,
    pub steps: usize,
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            hidden: 128,
            langevin_steps: 20,
            warmup: 20,
            steps: 200,
            seed: 0,
        }
    }
}

/// The reference workload as a preset.
#[must_use]
pub fn reference_preset(c: &BenchConfig) -> Preset {
    Preset {
        name: "reference workload".into(),
        description: "The speed benchmark's workload.".into(),
        seed: c.seed,
        steps: c.warmup + c.steps,
        batch_size: c.batch,
        data: DataSpec {
            set: ToySet::EightGaussians,
            size: 12_000,
            noise: None,
            seed: 1,
            held_out: 1.0 / 6.0,
        },
        model: ModelSpec {
            layers: vec![
                LayerSpec::Linear(c.hidden),
                LayerSpec::Silu,
                LayerSpec::Linear(c.hidden),
                LayerSpec::Silu,
            ],
        },
        sampler: SamplerSpec {
            kind: SamplerKind::Langevin { step_size: 0.1 },
            steps: c.langevin_steps,
            init: Init::ReplayBuffer {
                size: 10_000,
                reinit_prob: 0.05,
            },
            clamp: false,
        },
        objective: ObjectiveSpec {
            alpha: 0.1,
            ..ObjectiveSpec::default()
        },
        optimizer: OptimizerSpec {
            lr: 1e-3,
            betas: (0.0, 0.999),
            ..OptimizerSpec::default()
        },
        eval: EvalSpec {
            eval_every: 0,
            grid: 256,
        },
        ..Preset::default()
    }
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub steps_per_sec: f64,
    pub grid_eval_ms: f64,
    pub final_nll: f64,
}

/// Runs the workload.
///
/// # Errors
/// A diverged training step.
pub fn run(c: &BenchConfig) -> Result<BenchResult, crate::error::TrainError> {
    let preset = reference_preset(c);
    let mut s = Session::new(&preset);
    for _ in 0..c.warmup {
        s.step()?;
    }
    let t0 = Instant::now();
    for _ in 0..c.steps {
        s.step()?;
    }
    let secs = t0.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let steps_per_sec = c.steps as f64 / secs.max(1e-9);
    let mut times = Vec::new();
    let mut nll = f64::NAN;
    for _ in 0..5 {
        let t = Instant::now();
        nll = s.evaluate_grid(256).nll;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(BenchResult {
        steps_per_sec,
        grid_eval_ms: times[times.len() / 2],
        final_nll: nll,
    })
}
