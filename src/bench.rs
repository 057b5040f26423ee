//! The reference workload (the project's BENCH.md): 8 gaussians, MLP 2-128-128-1 SiLU,
//! replay buffer of 10 000, 5 % re-initialisation, K = 20 Langevin steps of size 0.1
//! (T = 1), α = 0.1, Adam lr 1e-3 with betas (0, 0.999), batch 256; steps per second
//! after 20 warm-up steps, and the time of a 256×256 grid evaluation.

use crate::Preset;
use crate::data::{DataSource, DataSpec, ToySet};
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
    /// The data's dimension (2: the reference workload's 8 gaussians; otherwise a mixture
    /// of 8 gaussians in this dimension).
    pub dim: usize,
    /// Where it runs: the CPU (the fast engine) or a GPU (candle autograd).
    pub device: crate::device::DeviceSpec,
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
            dim: 2,
            device: crate::device::DeviceSpec::Cpu,
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
            source: if c.dim == 2 {
                DataSource::Toy(ToySet::EightGaussians)
            } else {
                DataSource::Target(crate::data::target::Target::Mixture {
                    dim: c.dim,
                    components: 8,
                    spread: 1.0,
                    std: 0.5,
                })
            },
            size: 12_000,
            noise: None,
            seed: 1,
            held_out: 1.0 / 6.0,
            ..DataSpec::default()
        },
        model: ModelSpec {
            outputs: 1,
            layers: vec![
                LayerSpec::Linear(c.hidden),
                LayerSpec::Silu,
                LayerSpec::Linear(c.hidden),
                LayerSpec::Silu,
            ],
            gaussian: None,
        },
        sampler: SamplerSpec {
            kind: SamplerKind::Langevin { step_size: 0.1 },
            steps: c.langevin_steps,
            init: Init::ReplayBuffer {
                size: 10_000,
                reinit_prob: 0.05,
            },
            clamp: false,
            target_acceptance: None,
            grad_clip: None,
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
            ..EvalSpec::default()
        },
        device: c.device,
        ..Preset::default()
    }
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub steps_per_sec: f64,
    /// The 256×256 quadrature grid (the plane).
    pub grid_eval_ms: Option<f64>,
    /// One AIS estimate at the default evaluation settings (outside the plane).
    pub ais_eval_ms: Option<f64>,
    pub final_nll: f64,
    /// The engine and the device that ran, and why the device asked for was not used.
    pub engine: String,
    pub device: String,
    pub device_message: Option<String>,
}

/// Runs the workload.
///
/// # Errors
/// A diverged training step.
pub fn run(c: &BenchConfig) -> Result<BenchResult, crate::error::TrainError> {
    let preset = reference_preset(c);
    let mut s = Session::with_data(&preset, crate::data::Dataset::generate(&preset.data));
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
    let plane = s.evaluator().method() == crate::eval::Method::Quadrature;
    for _ in 0..if plane { 5 } else { 3 } {
        let t = Instant::now();
        nll = if plane {
            s.evaluate_grid(256).nll
        } else {
            s.evaluate().nll
        };
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(BenchResult {
        steps_per_sec,
        grid_eval_ms: plane.then_some(median),
        ais_eval_ms: (!plane).then_some(median),
        final_nll: nll,
        engine: s.engine_name(),
        device: s.device_name(),
        device_message: s.device_message.clone(),
    })
}

/// From `(batch, CPU steps/s, device steps/s)` rows: the smallest batch from which the
/// device is faster at that batch and at every larger one measured (`None`: it never
/// is, or it loses again at the largest).
#[must_use]
pub fn device_wins_from(rows: &[(usize, f64, f64)]) -> Option<usize> {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.0);
    let mut from = None;
    for &(batch, cpu, dev) in sorted.iter().rev() {
        if dev > cpu {
            from = Some(batch);
        } else {
            break;
        }
    }
    from
}

/// What a preset workload measured.
#[derive(Debug, Clone)]
pub struct PresetWorkload {
    pub preset: String,
    pub engine: String,
    pub device: String,
    pub device_message: Option<String>,
    pub steps_per_sec: f64,
    /// The classifier's accuracy on the last data batch (JEM), a check that it trained.
    pub batch_accuracy: f64,
}

/// The image workloads, by name: the training step of a bundled preset, evaluation off.
/// `mnist-conv` trains mnist_conv_jem.ron on the bundled digits scaled up to 28×28
/// ([`crate::data::images::digits_scaled`], 1 797 images: the speed is the shape's, and
/// the JAX peer makes the same images).
pub const PRESET_WORKLOADS: [(&str, &str); 3] = [
    ("digits-mlp", "digits_jem.ron"),
    ("digits-conv", "digits_conv.ron"),
    ("mnist-conv", "mnist_conv_jem.ron"),
];

/// Runs a named preset workload: `warmup` steps, then `steps` timed ones.
///
/// # Errors
/// An unknown name, or a training step that failed.
pub fn run_preset_workload(
    name: &str,
    warmup: usize,
    steps: usize,
    device: Option<crate::device::DeviceSpec>,
) -> Result<PresetWorkload, String> {
    let file = PRESET_WORKLOADS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<&str> = PRESET_WORKLOADS.iter().map(|(n, _)| *n).collect();
            format!(
                "no workload `{name}`; the workloads are {}",
                names.join(", ")
            )
        })?;
    let text = crate::preset::BUNDLED
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("{file} is not bundled"))?;
    let mut preset = Preset::from_ron(text).map_err(|e| e.to_string())?;
    preset.eval.eval_every = 0;
    if let Some(d) = device {
        preset.device = d;
    }
    let mut s = if name == "mnist-conv" {
        let images = crate::data::images::digits_scaled(1797, 28, 0);
        let data = crate::data::Dataset::of_images(&preset.data, images);
        Session::with_data(&preset, data)
    } else {
        Session::new(&preset).map_err(|e| e.to_string())?
    };
    for _ in 0..warmup {
        s.step().map_err(|e| e.to_string())?;
    }
    let t0 = Instant::now();
    let mut acc = f64::NAN;
    for _ in 0..steps {
        let m = s.step().map_err(|e| e.to_string())?;
        acc = m.batch_accuracy.unwrap_or(f64::NAN);
    }
    #[allow(clippy::cast_precision_loss)]
    let steps_per_sec = steps as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    Ok(PresetWorkload {
        preset: preset.name,
        engine: s.engine_name(),
        device: s.device_name(),
        device_message: s.device_message.clone(),
        steps_per_sec,
        batch_accuracy: acc,
    })
}

/// Timings and agreement of the fast engine against candle autograd on the workload's
/// network and batch.
#[derive(Debug, Clone)]
pub struct CompareResult {
    /// One Langevin inner step (E and ∇ₓE) on the batch, in µs.
    pub fast_inner_us: f64,
    pub autograd_inner_us: f64,
    /// Both gradient terms (one pass over x⁺ and one over x⁻), in µs.
    pub fast_terms_us: f64,
    pub autograd_terms_us: f64,
    /// Max relative differences (∞-norm, relative to the largest magnitude).
    pub grad_x_rel_diff: f32,
    pub data_term_rel_diff: f32,
    pub sample_term_rel_diff: f32,
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0_f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// Times the fast path against the autograd path and checks that they agree.
///
/// # Errors
/// A candle error of the autograd path.
pub fn compare_autograd(c: &BenchConfig) -> candle_core::Result<CompareResult> {
    use crate::energy::fast::{RowWeights, Workspace};
    use crate::energy::net::EnergyNet;
    use crate::energy::{Architecture, init_params};
    use candle_core::{Device, Tensor};
    use rand::{Rng as _, SeedableRng as _};

    let preset = reference_preset(c);
    let d = c.dim;
    let arch = Architecture::new(&preset.model, d);
    let mut rng = rand::rngs::StdRng::seed_from_u64(c.seed);
    let params = init_params(&arch, &mut rng);
    let b = c.batch;
    let x_pos: Vec<f32> = (0..d * b).map(|_| rng.random_range(-3.0..3.0)).collect();
    let x_neg: Vec<f32> = (0..d * b).map(|_| rng.random_range(-4.0..4.0)).collect();
    let reps = 20;
    #[allow(clippy::cast_precision_loss)]
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / reps as f64;

    // Fast path.
    let mut ws = Workspace::new(&arch);
    let mut e = vec![0.0; b];
    let mut gx = vec![0.0; d * b];
    let t = Instant::now();
    for _ in 0..reps {
        ws.energy_grad_x(&params, &x_neg, &mut e, &mut gx);
    }
    let fast_inner_us = per(t);
    #[allow(clippy::cast_precision_loss)]
    let inv_b = 1.0 / b as f32;
    let mut g_data = vec![0.0; arch.n_params];
    let mut g_sample = vec![0.0; arch.n_params];
    let mut ws2 = Workspace::new(&arch);
    let t = Instant::now();
    for _ in 0..reps {
        g_data.fill(0.0);
        g_sample.fill(0.0);
        let mut e1 = vec![0.0; b];
        let mut e2 = vec![0.0; b];
        let range = || RowWeights::Range {
            rows: 0..b,
            scale: inv_b,
        };
        let (gd, gs): (&mut [f32], &mut [f32]) = (&mut g_data, &mut g_sample);
        rayon::join(
            || ws.param_grads(&params, &x_pos, &mut e1, &mut [(range(), gd)]),
            || ws2.param_grads(&params, &x_neg, &mut e2, &mut [(range(), gs)]),
        );
    }
    let fast_terms_us = per(t);

    // Autograd path.
    let dev = Device::Cpu;
    let net = EnergyNet::new(&arch, &params, &dev)?;
    let xp = Tensor::from_slice(&x_pos, (b, d), &dev)?;
    let xn = Tensor::from_slice(&x_neg, (b, d), &dev)?;
    let t = Instant::now();
    let mut gx_ref = Vec::new();
    for _ in 0..reps {
        let (_, g) = net.energy_grad_x(&xn)?;
        gx_ref = g.flatten_all()?.to_vec1::<f32>()?;
    }
    let autograd_inner_us = per(t);
    let w = Tensor::full(inv_b, b, &dev)?;
    let t = Instant::now();
    let (mut gd_ref, mut gs_ref) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        gd_ref = net.weighted_param_grad(&xp, &w)?;
        gs_ref = net.weighted_param_grad(&xn, &w)?;
    }
    let autograd_terms_us = per(t);
    Ok(CompareResult {
        fast_inner_us,
        autograd_inner_us,
        fast_terms_us,
        autograd_terms_us,
        grad_x_rel_diff: max_rel(&gx, &gx_ref),
        data_term_rel_diff: max_rel(&g_data, &gd_ref),
        sample_term_rel_diff: max_rel(&g_sample, &gs_ref),
    })
}

#[cfg(test)]
mod tests {
    use super::device_wins_from;

    #[test]
    fn the_device_wins_from_the_first_batch_after_which_it_stays_ahead() {
        // (batch, CPU, device): the device loses at small batches, then wins.
        let rows = [
            (8192, 12.0, 300.0),
            (64, 2000.0, 150.0),
            (1024, 190.0, 260.0),
            (256, 690.0, 240.0),
        ];
        assert_eq!(device_wins_from(&rows), Some(1024));
        // Ahead at 256 but behind again at 1024: it wins only from 4096.
        let rows = [
            (256, 600.0, 610.0),
            (1024, 190.0, 180.0),
            (4096, 50.0, 200.0),
        ];
        assert_eq!(device_wins_from(&rows), Some(4096));
        // Never ahead, behind at the largest, or nothing measured.
        assert_eq!(device_wins_from(&[(256, 600.0, 100.0)]), None);
        assert_eq!(
            device_wins_from(&[(256, 10.0, 600.0), (1024, 200.0, 100.0)]),
            None
        );
        assert_eq!(device_wins_from(&[]), None);
    }
}
