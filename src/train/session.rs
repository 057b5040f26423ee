//! A training session: one experiment's data, parameters, optimiser and sampler state.
//! Synchronous: `step()` runs one training step and returns its metrics. The command line
//! and the tests call it directly; the window's worker thread wraps it.

use super::metrics::{LayerTerms, StepMetrics};
use crate::data::Dataset;
use crate::device::DeviceSpec;
use crate::energy::engine::{CandleEngine, Engine, FastEngine};
use crate::energy::fast::{RowWeights, Workspace};
use crate::energy::{Architecture, init_params};
use crate::error::{DataError, TrainError};
use crate::eval::exact;
use crate::eval::reference::ReferenceChains;
use crate::eval::{Evaluator, Method};
use crate::optim::Optimizer;
use crate::preset::Engine as EngineKind;
use crate::preset::Preset;
use crate::sampler::{Acceptance, Init, ReplayBuffer, Sampler, SamplerKind, uniform_in_box};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng as _, SeedableRng as _};
use std::time::Instant;

/// Energies beyond this magnitude count as divergence.
pub const ENERGY_LIMIT: f64 = 1e6;

/// The result of evaluating the model: log Z by the session's evaluator and the held-out
/// NLL, with the energy grid in the plane.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// log Z: by quadrature over the data box (the plane) or AIS (elsewhere).
    pub log_z: f64,
    /// Its standard error (0 for quadrature).
    pub stderr: f64,
    pub method: Method,
    /// Mean NLL of the held-out split, nats (its standard error is `stderr`).
    pub nll: f64,
    /// E on the grid (row-major, x fastest), `grid × grid`; empty outside the plane.
    pub energies: Vec<f32>,
    pub grid: usize,
}

/// How well the classifier (JEM) does on held-out points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The fraction whose most probable class is the label.
    pub accuracy: f64,
    /// Expected calibration error over 15 equal-width confidence bins:
    /// Σ_bins (n_bin/N)·|accuracy_bin − mean confidence_bin|.
    pub ece: f64,
}

impl Classification {
    /// From class probabilities (`n × k`, rows summing to 1) and labels.
    #[must_use]
    pub fn from_probs(probs: &[f32], labels: &[u32], k: usize) -> Self {
        const BINS: usize = 15;
        let mut count = [0_usize; BINS];
        let mut hits = [0_usize; BINS];
        let mut conf = [0.0_f64; BINS];
        let mut correct = 0;
        for (p, y) in probs.chunks_exact(k).zip(labels) {
            let (best, c) = crate::energy::argmax(p);
            let hit = best == *y as usize;
            correct += usize::from(hit);
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let bin = ((f64::from(c) * BINS as f64) as usize).min(BINS - 1);
            count[bin] += 1;
            hits[bin] += usize::from(hit);
            conf[bin] += f64::from(c);
        }
        #[allow(clippy::cast_precision_loss)]
        let n = labels.len().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let ece = (0..BINS)
            .filter(|&i| count[i] > 0)
            .map(|i| {
                let m = count[i] as f64;
                (m / n) * (hits[i] as f64 / m - conf[i] / m).abs()
            })
            .sum();
        #[allow(clippy::cast_precision_loss)]
        Self {
            accuracy: correct as f64 / n,
            ece,
        }
    }
}

/// Everything that changes as a model trains, for rolling back: the parameters, the
/// optimiser's moments, the persistent chains and the adapted step size.
#[derive(Debug, Clone)]
struct Snapshot {
    params: Vec<f32>,
    opt: Optimizer,
    buffer: Option<ReplayBuffer>,
    adapter: Option<crate::sampler::StepAdapter>,
    step: usize,
}

#[derive(Debug, Clone)]
pub struct Session {
    preset: Preset,
    data: Dataset,
    arch: Architecture,
    params: Vec<f32>,
    opt: Optimizer,
    sampler: Sampler,
    buffer: Option<ReplayBuffer>,
    grad_ws: Workspace,
    grad_ws_neg: Workspace,
    /// The engine the preset chose, for everything but the training step's own passes:
    /// evaluation, AIS, classification, class-conditional sampling, reference chains.
    engine: Box<dyn Engine>,
    rng: StdRng,
    step: usize,
    x_pos: Vec<f32>,
    /// The labels of the data batch (JEM).
    y_pos: Vec<u32>,
    /// The cross-entropy's gradient (JEM), scaled by its weight.
    g_ce: Vec<f32>,
    x_neg: Vec<f32>,
    energies: Vec<f32>,
    g_data: Vec<f32>,
    g_sample: Vec<f32>,
    g_reg: Vec<f32>,
    g_reg_sample: Vec<f32>,
    g_total: Vec<f32>,
    last_good: Snapshot,
    true_nll: Option<f64>,
    /// The candle device when the autograd engine runs the sampler and the terms.
    candle_device: Option<candle_core::Device>,
    /// Why the requested device was not used, if it was not.
    pub device_message: Option<String>,
    /// Positions of a few chains over the last step's sampler run (for chain paths).
    pub chain_paths: Option<(usize, Vec<f32>)>,
    /// Moves accepted and proposed in the last step's sampler run (MALA, HMC).
    acceptance: Acceptance,
    /// The adapted step size of MALA or HMC, when the preset asks for a target
    /// acceptance rate.
    adapter: Option<crate::sampler::StepAdapter>,
    /// How log Z is obtained, chosen once from the data's space.
    evaluator: Evaluator,
    /// Long MALA chains for the reference sample term (outside the plane), kept from one
    /// evaluation to the next.
    reference: Option<ReferenceChains>,
    /// Random numbers of evaluation (AIS, the reference chains), apart from training's,
    /// so that evaluating does not change the run.
    eval_rng: StdRng,
}

/// The engine for `arch`: candle on `device` when there is one, the fast engine otherwise.
fn make_engine(arch: &Architecture, device: Option<&candle_core::Device>) -> Box<dyn Engine> {
    match device {
        Some(d) => Box::new(CandleEngine::new(arch, d.clone())),
        None => Box::new(FastEngine::new(arch)),
    }
}

/// The candle device when the preset asks for the autograd engine or a device other than
/// the CPU, with the message explaining a fallback.
fn candle_device_for(p: &Preset) -> (Option<candle_core::Device>, Option<String>) {
    if p.engine == EngineKind::Autograd || p.device != DeviceSpec::Cpu {
        let (d, m) = crate::device::resolve(p.device);
        (Some(d), m)
    } else {
        (None, None)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

fn mean(v: &[f32]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = v.len().max(1) as f64;
    v.iter().map(|x| f64::from(*x)).sum::<f64>() / n
}

impl Session {
    /// A fresh session: the data drawn or read, the parameters initialised from
    /// `preset.seed`.
    ///
    /// # Errors
    /// The preset's data file cannot be read or is not a table of points.
    pub fn new(preset: &Preset) -> Result<Self, DataError> {
        let data = Dataset::load(&preset.data)?;
        preset.check_against(&data)?;
        Ok(Self::with_data(preset, data))
    }

    /// A fresh session on data already loaded (`data` must be what `preset.data`
    /// describes).
    #[must_use]
    pub fn with_data(preset: &Preset, data: Dataset) -> Self {
        let mut rng = StdRng::seed_from_u64(preset.seed);
        let arch = Architecture::new(&preset.model, data.dim);
        let params = init_params(&arch, &mut rng);
        Self::with_params(preset, data, arch, params, rng)
    }

    /// A session that starts from given parameters (a loaded model).
    ///
    /// # Errors
    /// The preset's data file cannot be read or is not a table of points, or the data's
    /// dimension does not fit the parameters.
    pub fn from_params(preset: &Preset, params: Vec<f32>) -> Result<Self, DataError> {
        let rng = StdRng::seed_from_u64(preset.seed);
        let data = Dataset::load(&preset.data)?;
        preset.check_against(&data)?;
        let arch = Architecture::new(&preset.model, data.dim);
        if params.len() != arch.n_params {
            return Err(DataError::new(
                std::path::Path::new(&preset.data.name()),
                None,
                format!(
                    "the model has {} parameters, but its network on these {} needs {}: the data do not fit the model's input",
                    params.len(),
                    data.space.describe(),
                    arch.n_params
                ),
            ));
        }
        Ok(Self::with_params(preset, data, arch, params, rng))
    }

    fn with_params(
        preset: &Preset,
        data: Dataset,
        arch: Architecture,
        params: Vec<f32>,
        mut rng: StdRng,
    ) -> Self {
        let buffer = match preset.sampler.init {
            Init::ReplayBuffer { size, .. } => {
                Some(ReplayBuffer::new(size, &data.data_box, &mut rng))
            }
            Init::Noise | Init::Data => None,
        };
        let n = arch.n_params;
        let opt = Optimizer::new(n);
        let (candle_device, device_message) = candle_device_for(preset);
        let space = data.space;
        Self {
            preset: preset.clone(),
            sampler: Sampler::new(Workspace::new(&arch)),
            grad_ws: Workspace::new(&arch),
            grad_ws_neg: Workspace::new(&arch),
            engine: make_engine(&arch, candle_device.as_ref()),
            last_good: Snapshot {
                params: params.clone(),
                opt: opt.clone(),
                buffer: buffer.clone(),
                adapter: None,
                step: 0,
            },
            true_nll: data.true_nll(),
            candle_device,
            device_message,
            data,
            arch,
            params,
            opt,
            buffer,
            rng,
            step: 0,
            x_pos: Vec::new(),
            y_pos: Vec::new(),
            g_ce: vec![0.0; n],
            x_neg: Vec::new(),
            energies: Vec::new(),
            g_data: vec![0.0; n],
            g_sample: vec![0.0; n],
            g_reg: vec![0.0; n],
            g_reg_sample: vec![0.0; n],
            g_total: vec![0.0; n],
            chain_paths: None,
            acceptance: Acceptance::default(),
            adapter: None,
            evaluator: Evaluator::for_space(space, preset),
            reference: None,
            eval_rng: StdRng::seed_from_u64(preset.seed ^ 0xE7A1_5EED),
        }
    }

    #[must_use]
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    #[must_use]
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    #[must_use]
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    #[must_use]
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Steps taken so far.
    #[must_use]
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The sampler's output of the last step (row-major `batch × 2`).
    #[must_use]
    pub fn samples(&self) -> &[f32] {
        &self.x_neg
    }

    /// The last data batch.
    #[must_use]
    pub fn data_batch(&self) -> &[f32] {
        &self.x_pos
    }

    #[must_use]
    pub fn replay_buffer(&self) -> Option<&ReplayBuffer> {
        self.buffer.as_ref()
    }

    /// The last step's g_data and g_sample (flat, parameter-shaped).
    #[must_use]
    pub fn terms(&self) -> (&[f32], &[f32]) {
        (&self.g_data, &self.g_sample)
    }

    /// The gradient the optimiser received in the last step, before clipping.
    #[must_use]
    pub fn last_gradient(&self) -> &[f32] {
        &self.g_total
    }

    /// Applies the settings that are safe to change between steps (sampler rule and
    /// steps, clamping, objective, optimiser, evaluation, steps). Returns `false` (and
    /// changes nothing) when the change needs a fresh session: another network, data
    /// set, initialisation or batch size.
    pub fn apply_live(&mut self, p: &Preset) -> bool {
        let same_init = std::mem::discriminant(&p.sampler.init)
            == std::mem::discriminant(&self.preset.sampler.init)
            && match (p.sampler.init, self.preset.sampler.init) {
                (Init::ReplayBuffer { size: a, .. }, Init::ReplayBuffer { size: b, .. }) => a == b,
                _ => true,
            };
        if p.model != self.preset.model
            || p.data != self.preset.data
            || p.batch_size != self.preset.batch_size
            || p.seed != self.preset.seed
            || !same_init
        {
            return false;
        }
        if p.engine != self.preset.engine || p.device != self.preset.device {
            (self.candle_device, self.device_message) = candle_device_for(p);
            self.engine = make_engine(&self.arch, self.candle_device.as_ref());
        }
        if p.eval != self.preset.eval || p.sampler.clamp != self.preset.sampler.clamp {
            self.evaluator = Evaluator::for_space(self.data.space, p);
        }
        self.preset = p.clone();
        true
    }

    /// The engine evaluation goes through: `fast` or `candle (CPU)`, …
    #[must_use]
    pub fn engine_name(&self) -> String {
        self.engine.name()
    }

    /// Energies of rows of `x` (row-major, `n × dim`), by the preset's engine.
    pub fn energy(&mut self, x: &[f32]) -> Vec<f32> {
        let mut e = vec![0.0; x.len() / self.data.dim];
        if let Err(m) = self.engine.energy(&self.params, x, &mut e) {
            self.engine_failed(&m);
            FastEngine::new(&self.arch)
                .energy(&self.params, x, &mut e)
                .ok();
        }
        e
    }

    /// Says that the preset's engine failed (once), and the fast engine stood in.
    fn engine_failed(&mut self, m: &str) {
        if self.device_message.is_none() {
            self.device_message = Some(format!(
                "the {} engine failed ({m}); the fast engine computed it instead",
                self.engine.name()
            ));
        }
    }

    /// The model on a `g × g` grid over the data box (the plane), by the preset's engine.
    fn grid_model(&mut self, g: usize) -> exact::GridModel {
        match exact::grid_model_with(self.engine.as_mut(), &self.params, &self.data.data_box, g) {
            Ok(m) => m,
            Err(m) => {
                self.engine_failed(&m);
                exact::grid_model(&self.arch, &self.params, &self.data.data_box, g)
            }
        }
    }

    /// How this session obtains log Z.
    #[must_use]
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// log Z by the session's evaluator (quadrature in the plane, AIS elsewhere), the
    /// held-out NLL and, in the plane, the energy grid.
    pub fn evaluate(&mut self) -> Evaluation {
        match self.evaluator.clone() {
            Evaluator::Quadrature { grid } => self.evaluate_grid(grid),
            Evaluator::Ais(spec) => {
                let mut rng = self.eval_rng.clone();
                let (r, _) = self.ais(&spec, &mut rng);
                self.eval_rng = rng;
                let test = self.data.test.clone();
                let e_test = self.energy(&test);
                Evaluation {
                    log_z: r.forward.log_z,
                    stderr: r.forward.stderr,
                    method: Method::Ais,
                    nll: mean(&e_test) + r.forward.log_z,
                    energies: Vec::new(),
                    grid: 0,
                }
            }
        }
    }

    /// log Z by quadrature on a `g × g` grid over the data box, the held-out NLL and the
    /// grid's energies. Only the plane has a grid: elsewhere this is [`Session::evaluate`].
    pub fn evaluate_grid(&mut self, g: usize) -> Evaluation {
        if !self.data.space.allows().quadrature {
            return self.evaluate();
        }
        let m = self.grid_model(g);
        let test = self.data.test.clone();
        let e_test = self.energy(&test);
        Evaluation {
            log_z: m.log_z,
            stderr: 0.0,
            method: Method::Quadrature,
            nll: mean(&e_test) + m.log_z,
            energies: m.energies,
            grid: g,
        }
    }

    /// log Z of the current model by AIS from a base fitted to the training data; in the
    /// plane also in reverse from exact grid samples. Returns quadrature's log Z (the
    /// plane) beside it.
    pub fn ais(
        &mut self,
        spec: &crate::eval::ais::AisSpec,
        rng: &mut impl rand::Rng,
    ) -> (crate::eval::ais::AisResult, Option<f64>) {
        use crate::eval::ais;
        let d = self.data.dim;
        let base = match spec.base {
            ais::BaseKind::DataBox => ais::Base::Uniform {
                lo: self
                    .data
                    .data_box
                    .lo
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect(),
                hi: self
                    .data
                    .data_box
                    .hi
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect(),
            },
            kind => ais::Base::fit(kind, &self.data.train, d),
        };
        let grid = self
            .data
            .space
            .allows()
            .quadrature
            .then(|| self.grid_model(self.preset.eval.grid));
        let model_samples = grid.as_ref().map(|m| {
            let mut xs = vec![0.0_f32; d * spec.chains];
            exact::sample(m, &mut xs, rng);
            xs
        });
        let mut energy = ais::EngineEnergy {
            engine: self.engine.as_mut(),
            params: &self.params,
            error: None,
        };
        let result = ais::log_z(&mut energy, &base, spec, model_samples.as_deref(), rng);
        if let Some(m) = energy.error {
            self.engine_failed(&m);
        }
        (result, grid.map(|m| m.log_z))
    }

    /// Advances the reference chains (started from the replay buffer, the sampler's
    /// batch or noise the first time) and compares the sampler's last sample term with
    /// theirs: (cosine, relative error, R̂).
    fn reference_comparison(&mut self) -> Option<(f64, f64, f64)> {
        let d = self.data.dim;
        let m = self.preset.eval.reference_chains;
        let mut rng = self.eval_rng.clone();
        let reference = self.reference.get_or_insert_with(|| {
            let mut start = vec![0.0_f32; m * d];
            match &self.buffer {
                Some(buf) => {
                    for row in start.chunks_exact_mut(d) {
                        let k = rng.random_range(0..buf.len());
                        row.copy_from_slice(&buf.points[k * d..(k + 1) * d]);
                    }
                }
                None => uniform_in_box(&self.data.data_box, &mut start, &mut rng),
            }
            let step = match self.preset.sampler.kind {
                SamplerKind::Mala { step_size } => step_size,
                _ => 0.01,
            };
            ReferenceChains::new(start, d, step)
        });
        let r = reference.advance(
            self.engine.as_mut(),
            &self.params,
            self.preset.eval.reference_steps,
            &mut rng,
        );
        self.eval_rng = rng;
        match r {
            Ok(r) => {
                let (c, e) = exact::compare(&self.g_sample, &r.term);
                Some((c, e, r.rhat))
            }
            Err(m) => {
                self.engine_failed(&m);
                self.reference = None;
                None
            }
        }
    }

    fn draw_batches(&mut self) {
        let b = self.preset.batch_size;
        let d = self.data.dim;
        let n_train = self.data.n_train();
        self.x_pos.resize(b * d, 0.0);
        self.y_pos.clear();
        for i in 0..b {
            let k = self.rng.random_range(0..n_train);
            self.x_pos[i * d..(i + 1) * d].copy_from_slice(&self.data.train[k * d..(k + 1) * d]);
            if let Some(y) = self.data.train_labels.get(k) {
                self.y_pos.push(*y);
            }
        }
        self.x_neg.resize(b * d, 0.0);
        match (self.preset.sampler.init, self.buffer.as_mut()) {
            (Init::ReplayBuffer { reinit_prob, .. }, Some(buf)) => {
                buf.draw(
                    b,
                    reinit_prob,
                    &self.data.data_box,
                    &mut self.x_neg,
                    &mut self.rng,
                );
            }
            (Init::Data, _) => self.x_neg.copy_from_slice(&self.x_pos),
            _ => uniform_in_box(&self.data.data_box, &mut self.x_neg, &mut self.rng),
        }
    }

    /// One training step: draw a data batch, run the sampler, compute both gradient
    /// terms, update the parameters. A non-finite or exploding step is rolled back.
    ///
    /// # Errors
    /// [`TrainError::Diverged`] after rolling back to the last good parameters.
    pub fn step(&mut self) -> Result<StepMetrics, TrainError> {
        let t0 = Instant::now();
        let b = self.preset.batch_size;
        self.draw_batches();
        if self.preset.sampler.kind == SamplerKind::Exact {
            let m = self.grid_model(self.preset.eval.grid);
            exact::sample(&m, &mut self.x_neg, &mut self.rng);
        }
        let alpha = self.preset.objective.alpha;
        if let Some(dev) = self.candle_device.clone() {
            if let Err(e) = self.autograd_sample_and_terms(&dev) {
                return Err(TrainError::Engine {
                    step: self.step + 1,
                    message: crate::device::error_message(&e),
                });
            }
        } else {
            self.fast_sample_and_terms();
        }
        let step_used = self.adapter.map(|a| a.step);
        self.adapt_step();
        let ce_weight = self.preset.objective.kind.ce_weight();
        let classify = ce_weight > 0.0 && self.arch.outputs > 1 && self.y_pos.len() == b;
        let ce = if classify {
            match self.cross_entropy_term(ce_weight) {
                Ok(v) => Some(v),
                Err(e) => {
                    return Err(TrainError::Engine {
                        step: self.step + 1,
                        message: crate::device::error_message(&e),
                    });
                }
            }
        } else {
            self.g_ce.fill(0.0);
            None
        };
        let e_data = mean(&self.energies[..b]);
        let e_sample = mean(&self.energies[b..]);
        let sq = |v: &[f32]| mean(&v.iter().map(|e| e * e).collect::<Vec<_>>());
        let loss = e_data - e_sample
            + f64::from(alpha) * (sq(&self.energies[..b]) + sq(&self.energies[b..]))
            + ce.map_or(0.0, |(c, _)| f64::from(ce_weight) * c);
        for ((((t, gd), gs), gr), gc) in self
            .g_total
            .iter_mut()
            .zip(&self.g_data)
            .zip(&self.g_sample)
            .zip(&self.g_reg)
            .zip(&self.g_ce)
        {
            *t = gd - gs + gr + gc;
        }
        let data_norm = norm(&self.g_data);
        let sample_norm = norm(&self.g_sample);
        let diff_norm = self
            .g_data
            .iter()
            .zip(&self.g_sample)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let cos = dot(&self.g_data, &self.g_sample) / (data_norm * sample_norm).max(1e-30);
        let next = self.step + 1;
        let reason = if !loss.is_finite() || !self.g_total.iter().all(|g| g.is_finite()) {
            Some("the loss or its gradient is not finite (NaN or infinity)".to_string())
        } else if e_data.abs() > ENERGY_LIMIT || e_sample.abs() > ENERGY_LIMIT {
            Some(format!(
                "the energies ran away (mean E(data) = {e_data:.3e}, mean E(samples) = {e_sample:.3e})"
            ))
        } else if !self.x_neg.iter().all(|v| v.is_finite()) {
            Some("the sampler's chains are not finite: lower the step size".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(self.roll_back(next, reason));
        }
        let every = self.preset.eval.eval_every;
        let eval_step = every > 0 && next.is_multiple_of(every);
        // The sampler's term against the truth at the parameters the estimate was made
        // at: the exact sample term in the plane, the reference chains' elsewhere.
        let (mut cos_exact, mut rel_err) = (None, None);
        let mut reference = None;
        if eval_step {
            if self.data.space.allows().exact_sample_term {
                let m = self.grid_model(self.preset.eval.grid);
                let g_star =
                    match exact::exact_sample_term_with(self.engine.as_mut(), &self.params, &m) {
                        Ok(g) => g,
                        Err(e) => {
                            self.engine_failed(&e);
                            exact::exact_sample_term(&self.arch, &self.params, &m)
                        }
                    };
                let (c, r) = exact::compare(&self.g_sample, &g_star);
                (cos_exact, rel_err) = (Some(c), Some(r));
            } else {
                reference = self.reference_comparison();
            }
        }
        let opt_spec = self.preset.optimizer.clone();
        let mut g = std::mem::take(&mut self.g_total);
        let total_norm = self.opt.step(&opt_spec, &mut self.params, &mut g);
        self.g_total = g;
        if !self.params.iter().all(|p| p.is_finite()) || !total_norm.is_finite() {
            return Err(self.roll_back(next, "the update made the parameters non-finite".into()));
        }
        self.step = next;
        let layers = self
            .arch
            .layer_ranges()
            .into_iter()
            .map(|(_, name, r)| LayerTerms {
                name,
                data_term_norm: norm(&self.g_data[r.clone()]),
                sample_term_norm: norm(&self.g_sample[r]),
            })
            .collect();
        let step_ms = t0.elapsed().as_secs_f64() * 1e3;
        let evaluation = eval_step.then(|| self.evaluate());
        let nll = evaluation.as_ref().map(|e| e.nll);
        let nll_stderr = evaluation
            .as_ref()
            .filter(|e| e.method == Method::Ais)
            .map(|e| e.stderr);
        let classes = if eval_step { self.classify() } else { None };
        if self.step.is_multiple_of(50) || nll.is_some() {
            self.last_good = self.snapshot();
        }
        Ok(StepMetrics {
            step: self.step,
            loss,
            e_data,
            e_sample,
            data_term_norm: data_norm,
            sample_term_norm: sample_norm,
            grad_norm: diff_norm,
            cos_terms: cos,
            nll,
            sample_term_cos_exact: cos_exact,
            sample_term_rel_err: rel_err,
            nll_stderr,
            sample_term_cos_reference: reference.map(|r| r.0),
            sample_term_rel_err_reference: reference.map(|r| r.1),
            reference_rhat: reference.map(|r| r.2),
            kl_gap: nll.zip(self.true_nll).map(|(n, t)| n - t),
            acceptance: self.acceptance.rate(),
            step_size: step_used.map(f64::from),
            ce_loss: ce.map(|(c, _)| c),
            batch_accuracy: ce.map(|(_, a)| a),
            accuracy: classes.map(|c| c.accuracy),
            ece: classes.map(|c| c.ece),
            step_ms,
            layers,
        })
    }

    /// The cross-entropy of the data batch's labels, its gradient scaled by `weight` in
    /// `g_ce`; returns the mean cross-entropy and the batch's accuracy.
    fn cross_entropy_term(&mut self, weight: f32) -> candle_core::Result<(f64, f64)> {
        let b = self.preset.batch_size;
        self.g_ce.fill(0.0);
        #[allow(clippy::cast_precision_loss)]
        let inv_b = 1.0 / b as f64;
        if let Some(dev) = self.candle_device.clone() {
            use candle_core::Tensor;
            let net = crate::energy::net::EnergyNet::new(&self.arch, &self.params, &dev)?;
            let xp = Tensor::from_slice(&self.x_pos, (b, self.data.dim), &dev)?;
            let yp = Tensor::from_slice(&self.y_pos, b, &dev)?;
            let (ce, g) = net.cross_entropy_grad(&xp, &yp)?;
            for (o, v) in self.g_ce.iter_mut().zip(g) {
                *o = weight * v;
            }
            let predicted = net.outputs(&xp)?.argmax(1)?.to_vec1::<u32>()?;
            let correct = predicted
                .iter()
                .zip(&self.y_pos)
                .filter(|(p, y)| p == y)
                .count();
            #[allow(clippy::cast_precision_loss)]
            return Ok((f64::from(ce), correct as f64 * inv_b));
        }
        let mut e = vec![0.0; b];
        #[allow(clippy::cast_possible_truncation)]
        let scale = (f64::from(weight) * inv_b) as f32;
        let (ce_sum, correct) = self.grad_ws.cross_entropy_grads(
            &self.params,
            &self.x_pos,
            &self.y_pos,
            &mut e,
            scale,
            &mut self.g_ce,
        );
        #[allow(clippy::cast_precision_loss)]
        Ok((ce_sum * inv_b, correct as f64 * inv_b))
    }

    /// Class probabilities (`n × K`) of the rows of `x`, by the preset's engine.
    fn class_probs(&mut self, x: &[f32]) -> Option<Vec<f32>> {
        let k = self.arch.outputs;
        let n = x.len() / self.data.dim;
        let mut e = vec![0.0; n];
        let mut p = vec![0.0; n * k];
        let mut out = Ok(());
        for ((xs, es), ps) in x
            .chunks(self.data.dim * 4096)
            .zip(e.chunks_mut(4096))
            .zip(p.chunks_mut(4096 * k))
        {
            out = out.and(self.engine.class_probs(&self.params, xs, es, ps));
        }
        match out {
            Ok(()) => Some(p),
            Err(m) => {
                self.engine_failed(&m);
                None
            }
        }
    }

    /// The classifier on the held-out split (networks with one logit per class of
    /// labelled data): accuracy and expected calibration error.
    pub fn classify(&mut self) -> Option<Classification> {
        let k = self.arch.outputs;
        let n = self.data.n_test();
        if k < 2 || self.data.classes != k || self.data.test_labels.len() != n || n == 0 {
            return None;
        }
        let test = self.data.test.clone();
        let p = self.class_probs(&test)?;
        Some(Classification::from_probs(&p, &self.data.test_labels, k))
    }

    /// For a network with K > 1 logits: the most probable class at each point of a
    /// `g × g` grid over the data box (x fastest) and its probability.
    pub fn grid_classes(&mut self, g: usize) -> Option<(Vec<u32>, Vec<f32>)> {
        let k = self.arch.outputs;
        if k < 2 {
            return None;
        }
        let pts = crate::eval::quadrature::grid_points(&self.data.data_box, g);
        let p = self.class_probs(&pts)?;
        let (best, conf) = p
            .chunks_exact(k)
            .map(|row| {
                let (i, v) = crate::energy::argmax(row);
                (u32::try_from(i).unwrap_or(0), v)
            })
            .unzip();
        Some((best, conf))
    }

    /// The sampler as the preset gives it, with the adapted step size where MALA or HMC
    /// adapt it.
    fn sampler_spec(&mut self) -> crate::sampler::SamplerSpec {
        let mut spec = self.preset.sampler.clone();
        if spec.target_acceptance.is_some() && spec.kind.is_metropolis() {
            let base = spec.kind.step_size();
            let a = match self.adapter {
                Some(a) if a.base == base => a,
                _ => crate::sampler::StepAdapter::new(base),
            };
            self.adapter = Some(a);
            spec.kind = spec.kind.with_step_size(a.step);
        } else {
            self.adapter = None;
        }
        spec
    }

    /// After a sampler run: moves the adapted step size towards the target acceptance.
    fn adapt_step(&mut self) {
        if let (Some(a), Some(target), Some(rate)) = (
            self.adapter.as_mut(),
            self.preset.sampler.target_acceptance,
            self.acceptance.rate(),
        ) {
            a.update(rate, target);
        }
    }

    /// For a classifier (K logits): `n` draws from the class-conditional
    /// p(x | y) ∝ exp(f_y(x)), by the preset's sampler rule and engine run for `steps`
    /// steps from uniform noise in the data box. Uses its own random numbers, so training
    /// goes on exactly as without it.
    pub fn class_samples(&mut self, y: usize, n: usize, steps: usize) -> Option<Vec<f32>> {
        if self.arch.outputs < 2 || y >= self.arch.outputs {
            return None;
        }
        let mut spec = self.sampler_spec();
        if spec.kind == SamplerKind::Exact {
            spec.kind = SamplerKind::Langevin { step_size: 0.05 };
        }
        spec.steps = steps;
        let mut rng =
            SmallRng::seed_from_u64(0xC1A5_5E5D ^ (self.step as u64) ^ ((y as u64) << 32));
        let mut x = vec![0.0; n * self.data.dim];
        uniform_in_box(&self.data.data_box, &mut x, &mut rng);
        // The preset's engine: candle where it runs the training, else the fast one.
        if let Some(dev) = self.candle_device.clone() {
            let start = x.clone();
            let ran = crate::energy::net::EnergyNet::new(&self.arch, &self.params, &dev).and_then(
                |net| {
                    crate::sampler::run_autograd(
                        &spec,
                        &net,
                        Some(y),
                        &mut x,
                        &self.data.data_box,
                        &mut rng,
                    )
                },
            );
            match ran {
                Ok(_) => return Some(x),
                Err(e) => {
                    self.engine_failed(&crate::device::error_message(&e));
                    x = start;
                }
            }
        }
        let mut sampler = Sampler::new(Workspace::new(&self.arch));
        sampler.run_for(
            Some(y),
            &spec,
            &self.params,
            &mut x,
            &self.data.data_box,
            &mut rng,
            None,
        );
        Some(x)
    }

    /// The sampler and both terms with the fast engine.
    fn fast_sample_and_terms(&mut self) {
        let b = self.preset.batch_size;
        let d = self.data.dim;
        let mut path = self.chain_paths.take();
        if let Some((_, p)) = path.as_mut() {
            p.clear();
            p.extend_from_slice(&self.x_neg[..self.x_neg.len().min(8 * d)]);
        }
        let mut spec = self.sampler_spec();
        if spec.kind == SamplerKind::Exact {
            spec.steps = 0;
        }
        self.acceptance = self.sampler.run(
            &spec,
            &self.params,
            &mut self.x_neg,
            &self.data.data_box,
            &mut self.rng,
            path.as_mut().map(|(n, p)| (*n, p)),
        );
        self.chain_paths = path;
        if let Some(buf) = self.buffer.as_mut() {
            buf.write_back(&self.x_neg);
        }
        // Both terms (and the regulariser's): one forward and one backward pass over x⁺
        // and one over x⁻, side by side on two cores.
        self.energies.resize(2 * b, 0.0);
        self.g_data.fill(0.0);
        self.g_sample.fill(0.0);
        self.g_reg.fill(0.0);
        self.g_reg_sample.fill(0.0);
        #[allow(clippy::cast_precision_loss)]
        let inv_b = 1.0 / b as f32;
        let alpha = self.preset.objective.alpha;
        let (e_pos, e_neg) = self.energies.split_at_mut(b);
        let params = &self.params;
        let half =
            |ws: &mut Workspace, x: &[f32], e: &mut [f32], term: &mut [f32], reg: &mut [f32]| {
                let mut sets: Vec<(RowWeights<'_>, &mut [f32])> = vec![(
                    RowWeights::Range {
                        rows: 0..b,
                        scale: inv_b,
                    },
                    term,
                )];
                if alpha > 0.0 {
                    sets.push((
                        RowWeights::EnergyScaled {
                            rows: 0..b,
                            scale: 2.0 * alpha * inv_b,
                        },
                        reg,
                    ));
                }
                ws.param_grads(params, x, e, &mut sets);
            };
        let (ws_a, ws_b) = (&mut self.grad_ws, &mut self.grad_ws_neg);
        let (g_data, g_sample) = (&mut self.g_data, &mut self.g_sample);
        let (g_reg, g_reg_neg) = (&mut self.g_reg, &mut self.g_reg_sample);
        let (x_pos, x_neg) = (&self.x_pos, &self.x_neg);
        rayon::join(
            || half(ws_a, x_pos, e_pos, g_data, g_reg),
            || half(ws_b, x_neg, e_neg, g_sample, g_reg_neg),
        );
        for (r, rn) in self.g_reg.iter_mut().zip(&self.g_reg_sample) {
            *r += rn;
        }
    }

    /// The sampler and both terms with candle autograd on `dev`. The noise is drawn
    /// exactly as the fast sampler draws it, so both engines follow the same chains.
    fn autograd_sample_and_terms(&mut self, dev: &candle_core::Device) -> candle_core::Result<()> {
        use crate::energy::net::EnergyNet;
        use candle_core::{Module as _, Tensor};
        let b = self.preset.batch_size;
        let d = self.data.dim;
        let net = EnergyNet::new(&self.arch, &self.params, dev)?;
        let spec = self.sampler_spec();
        self.acceptance = crate::sampler::run_autograd(
            &spec,
            &net,
            None,
            &mut self.x_neg,
            &self.data.data_box,
            &mut self.rng,
        )?;
        if let Some(buf) = self.buffer.as_mut() {
            buf.write_back(&self.x_neg);
        }
        let xp = Tensor::from_slice(&self.x_pos, (b, d), dev)?;
        let xn = Tensor::from_slice(&self.x_neg, (b, d), dev)?;
        #[allow(clippy::cast_precision_loss)]
        let inv_b = 1.0 / b as f64;
        let w = Tensor::full(inv_b as f32, b, dev)?;
        self.g_data = net.weighted_param_grad(&xp, &w)?;
        self.g_sample = net.weighted_param_grad(&xn, &w)?;
        let ep = net.forward(&xp)?.detach();
        let en = net.forward(&xn)?.detach();
        let alpha = f64::from(self.preset.objective.alpha);
        if alpha > 0.0 {
            let rp = net.weighted_param_grad(&xp, &(&ep * (2.0 * alpha * inv_b))?)?;
            let rn = net.weighted_param_grad(&xn, &(&en * (2.0 * alpha * inv_b))?)?;
            self.g_reg = rp.iter().zip(&rn).map(|(p, n)| p + n).collect();
        } else {
            self.g_reg.fill(0.0);
        }
        self.energies = ep.to_vec1::<f32>()?;
        self.energies.extend(en.to_vec1::<f32>()?);
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            params: self.params.clone(),
            opt: self.opt.clone(),
            buffer: self.buffer.clone(),
            adapter: self.adapter,
            step: self.step,
        }
    }

    /// Restores the last good state (parameters, optimiser, replay buffer, adapted step
    /// size) and drops the diverged chains, so that the next step starts from where the
    /// run was last healthy.
    fn roll_back(&mut self, step: usize, reason: String) -> TrainError {
        let good = &self.last_good;
        self.params.clone_from(&good.params);
        self.opt.clone_from(&good.opt);
        self.buffer.clone_from(&good.buffer);
        self.adapter = good.adapter;
        self.step = good.step;
        self.reference = None;
        self.x_neg.clear();
        self.chain_paths = self.chain_paths.take().map(|(n, mut p)| {
            p.clear();
            (n, p)
        });
        let mut restored = vec!["the parameters", "the optimiser state"];
        if self.buffer.is_some() {
            restored.push("the replay buffer");
        }
        if self.adapter.is_some() {
            restored.push("the adapted step size");
        }
        let last = restored.pop().unwrap_or_default();
        TrainError::Diverged {
            step,
            reason,
            restored: format!("{} and {last}", restored.join(", ")),
            rolled_back_to: self.last_good.step,
        }
    }

    /// Replaces the parameters (for example after loading a model); the optimiser state is
    /// reset.
    ///
    /// # Panics
    /// If `params` does not fit the network.
    pub fn set_params(&mut self, params: Vec<f32>) {
        assert_eq!(params.len(), self.arch.n_params, "parameters do not fit");
        self.params = params;
        self.opt = Optimizer::new(self.arch.n_params);
        self.last_good = self.snapshot();
    }
}
