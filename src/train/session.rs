//! A training session: one experiment's data, parameters, optimiser and sampler state.
//! Synchronous: `step()` runs one training step and returns its metrics. The command line
//! and the tests call it directly; the window's worker thread wraps it.

use super::metrics::{LayerTerms, StepMetrics};
use crate::data::Dataset;
use crate::energy::engine::{CandleEngine, Engine, EngineResult, WithFallback};
use crate::energy::{Architecture, init_params};
use crate::error::{DataError, TrainError};
use crate::eval::exact;
use crate::eval::reference::ReferenceChains;
use crate::eval::{Evaluator, Method};
use crate::optim::Optimizer;
use crate::preset::Preset;
use crate::sampler::{Acceptance, Init, ReplayBuffer, Sampler, SamplerKind, uniform_in_box};
use rand::rngs::SmallRng;
/// The session's generators: ChaCha12, the algorithm of rand's `StdRng` (the same
/// numbers from the same seed), whose state a checkpoint can record.
pub(crate) type StdRng = rand_chacha::ChaCha12Rng;
use rand::{Rng as _, SeedableRng as _};
use std::sync::Arc;
use std::time::Instant;

mod chains;
mod checkpoint;
mod classifier;
mod evaluation;
mod score;

pub use checkpoint::Checkpoint;
pub use classifier::{Classification, LongRun};
pub use evaluation::{Evaluation, ExactTruth};

/// Energies beyond this magnitude count as divergence.
pub const ENERGY_LIMIT: f64 = 1e6;

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
    /// The data, shared with the window (loaded once, on the worker's thread).
    data: Arc<Dataset>,
    arch: Architecture,
    params: Vec<f32>,
    opt: Optimizer,
    buffer: Option<ReplayBuffer>,
    /// The engine the preset chose: the training step's passes and sampler run on it
    /// alone ([`WithFallback::chosen`]); evaluation, AIS, classification,
    /// class-conditional sampling and the reference chains fall back to the fast engine
    /// where it fails.
    engine: WithFallback,
    /// A copy of the chosen engine for the sample term's pass, beside the data term's
    /// (two cores) where the engine runs beside itself.
    engine_neg: Box<dyn Engine>,
    /// The training sampler on the chosen engine (its buffers, kept between steps).
    sampler: Sampler,
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
    /// The cross-entropy's gradient from the rows beside the sample term's pass.
    g_ce_sample: Vec<f32>,
    g_total: Vec<f32>,
    last_good: Snapshot,
    true_nll: Option<f64>,
    /// Why the requested device was not used, if it was not.
    pub device_message: Option<String>,
    /// Positions of a few chains over the last step's sampler run (for chain paths).
    pub chain_paths: Option<(usize, Vec<f32>)>,
    /// The held-out NLL before the first step (nll, trusted, AIS's ESS), kept so that a
    /// resumed run's plots start where the straight run's did.
    pub initial_nll: Option<(f64, bool, Option<f64>)>,
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

/// The engine for `arch`: candle on `device` when there is one, the fast engine
/// otherwise (for a network with convolutions or pooling, its layer-by-layer form).
fn make_engine(arch: &Architecture, device: Option<&candle_core::Device>) -> Box<dyn Engine> {
    match device {
        Some(d) => {
            crate::energy::engine::Tilted::around(Box::new(CandleEngine::new(arch, d.clone())))
        }
        None => crate::energy::engine::fast_engine(arch),
    }
}

/// The session's engines for `arch` on `device`: the chosen one (with the fast engine
/// standing in for evaluation), a copy for the sample term's pass, and the sampler.
fn engines(
    arch: &Architecture,
    device: Option<&candle_core::Device>,
) -> (WithFallback, Box<dyn Engine>, Sampler) {
    let chosen = make_engine(arch, device);
    // A tilted candle engine hides candle (its chains run on the host): the fast engine,
    // tilted too, still stands in where the device fails.
    let engine = if device.is_some() && arch.gaussian.is_some() {
        WithFallback::standing_in(chosen.box_clone(), crate::energy::engine::fast_engine(arch))
    } else {
        WithFallback::new(chosen.box_clone())
    };
    (engine, chosen.box_clone(), Sampler::new(chosen.as_ref()))
}

/// The candle device when the preset asks for the autograd engine or a device other than
/// the CPU, with the message explaining a fallback.
fn candle_device_for(p: &Preset) -> (Option<candle_core::Device>, Option<String>) {
    if p.engine.uses_candle(p.device) {
        let (d, m) = crate::device::resolve(p.device);
        // A GPU that is not there: the engine the preset would run on the CPU (under
        // `Auto` or `Fast`, the fast engine; it follows the same chains).
        if m.is_some() && !p.engine.uses_candle(crate::device::DeviceSpec::Cpu) {
            return (None, m);
        }
        (Some(d), m)
    } else {
        (None, None)
    }
}

/// The network on the data's shape. [`Preset::check_against`] has made sure it fits;
/// a network that does not (only possible without that check) gets the flattened input.
fn architecture_for(preset: &Preset, data: &Dataset) -> Architecture {
    Architecture::for_shape(&preset.model, &data.space.input_shape())
        .unwrap_or_else(|_| Architecture::new(&preset.model, data.dim))
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
    /// describes), shared with whoever else holds them.
    #[must_use]
    pub fn with_data(preset: &Preset, data: impl Into<Arc<Dataset>>) -> Self {
        let data = data.into();
        let mut rng = StdRng::seed_from_u64(preset.seed);
        let arch = architecture_for(preset, &data);
        let params = init_params(&arch, &mut rng);
        Self::with_params(preset, data, arch, params, rng)
    }

    /// A session that starts from given parameters (a loaded model).
    ///
    /// # Errors
    /// The preset's data file cannot be read or is not a table of points, or the data's
    /// dimension does not fit the parameters.
    pub fn from_params(preset: &Preset, params: Vec<f32>) -> Result<Self, DataError> {
        let data = Dataset::load(&preset.data)?;
        preset.check_against(&data)?;
        Self::on_data_with_params(preset, data, params)
    }

    /// As [`Session::from_params`], on data already loaded and checked.
    fn on_data_with_params(
        preset: &Preset,
        data: impl Into<Arc<Dataset>>,
        params: Vec<f32>,
    ) -> Result<Self, DataError> {
        let data = data.into();
        let rng = StdRng::seed_from_u64(preset.seed);
        let arch = architecture_for(preset, &data);
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

    /// A session for a loaded model: its preset and parameters on its data, which must
    /// still have the model's input shape (the file may have changed since the model was
    /// exported).
    ///
    /// # Errors
    /// The data cannot be read, or do not fit the model.
    pub fn for_model(m: &crate::export::Model) -> Result<Self, String> {
        let data = Dataset::load(&m.preset.data).map_err(|e| e.to_string())?;
        let shape = data.space.input_shape();
        if shape != m.input_shape {
            return Err(format!(
                "the model takes inputs of shape {:?}, its data are now {} ({shape:?})",
                m.input_shape,
                data.space.describe(),
            ));
        }
        m.preset.check_against(&data).map_err(|e| e.to_string())?;
        Self::on_data_with_params(&m.preset, data, m.params.clone()).map_err(|e| e.to_string())
    }

    /// A session for a model file that holds no experiment (an RBM written by another
    /// program) on `current`'s data: the current experiment with the file's network,
    /// sampler and parameters. Returns that experiment too.
    ///
    /// # Errors
    /// The current data do not have the model's input shape or units (naming both).
    pub fn for_foreign_model(
        m: &crate::export::Model,
        current: &Self,
    ) -> Result<(Preset, Self), String> {
        let data = current.shared_data();
        let shape = data.space.input_shape();
        let preset = m.experiment_on(current.preset());
        let units = if m.preset.data.bits {
            "bits"
        } else {
            "real values"
        };
        if data.space.dim() != m.input_shape.iter().product::<usize>()
            || data.space.allows().discrete != m.preset.data.bits
        {
            return Err(format!(
                "{}: the file holds a model of {} inputs ({units}) and no experiment, so it is loaded onto the current data, which are {} ({shape:?}): open an example or data of that shape first, then load the model",
                m.preset.name,
                m.input_shape.iter().product::<usize>(),
                data.space.describe()
            ));
        }
        preset.check_against(&data).map_err(|e| e.to_string())?;
        let s = Self::on_data_with_params(&preset, data, m.params.clone())
            .map_err(|e| e.to_string())?;
        Ok((preset, s))
    }

    fn with_params(
        preset: &Preset,
        data: Arc<Dataset>,
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
        let (device, device_message) = candle_device_for(preset);
        let (engine, engine_neg, sampler) = engines(&arch, device.as_ref());
        let space = data.space;
        Self {
            preset: preset.clone(),
            engine,
            engine_neg,
            sampler,
            last_good: Snapshot {
                params: params.clone(),
                opt: opt.clone(),
                buffer: buffer.clone(),
                adapter: None,
                step: 0,
            },
            true_nll: data.true_nll(),
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
            g_ce_sample: vec![0.0; n],
            g_total: vec![0.0; n],
            chain_paths: None,
            initial_nll: None,
            acceptance: Acceptance::default(),
            adapter: None,
            evaluator: preset.evaluator(space),
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

    /// The true NLL of the held-out split, where the data's density is known.
    #[must_use]
    pub fn true_nll(&self) -> Option<f64> {
        self.true_nll
    }

    /// The data, shared (the window draws the same ones).
    #[must_use]
    pub fn shared_data(&self) -> Arc<Dataset> {
        Arc::clone(&self.data)
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
    /// set, seed or initialisation. The batch size changes between steps (the batches
    /// and the engine's buffers are sized at every step).
    pub fn apply_live(&mut self, p: &Preset) -> bool {
        let same_init = std::mem::discriminant(&p.sampler.init)
            == std::mem::discriminant(&self.preset.sampler.init)
            && match (p.sampler.init, self.preset.sampler.init) {
                (Init::ReplayBuffer { size: a, .. }, Init::ReplayBuffer { size: b, .. }) => a == b,
                _ => true,
            };
        if p.model != self.preset.model
            || p.data != self.preset.data
            || p.seed != self.preset.seed
            || !same_init
        {
            return false;
        }
        if p.engine != self.preset.engine || p.device != self.preset.device {
            let device;
            (device, self.device_message) = candle_device_for(p);
            (self.engine, self.engine_neg, self.sampler) = engines(&self.arch, device.as_ref());
        }
        if p.eval != self.preset.eval || p.sampler.clamp != self.preset.sampler.clamp {
            self.evaluator = p.evaluator(self.data.space);
            // Other reference settings or another region: fresh reference chains.
            self.reference = None;
        }
        self.preset = p.clone();
        true
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
        let objective = self.preset.objective.kind;
        // Score matching: its loss and gradient, no sampler; the data term for the plots.
        let mut score = None;
        if objective.is_score_matching() {
            score = Some(self.score_matching_terms(objective, b)?);
        } else if self.preset.sampler.kind == SamplerKind::Exact {
            let t = self.exact_truth();
            t.sample(&self.params, &mut self.x_neg, &mut self.rng);
        }
        let alpha = self.preset.objective.alpha;
        let ce_weight = self.preset.objective.kind.ce_weight();
        let classify = ce_weight > 0.0 && self.arch.outputs > 1 && self.y_pos.len() == b;
        // JEM's cross-entropy comes with the terms (which leave `g_ce` zero without it);
        // score matching has none.
        let ce = if score.is_none() {
            match self.sample_and_terms(classify.then_some(ce_weight)) {
                Ok(c) => c,
                Err(message) => {
                    return Err(TrainError::Engine {
                        step: self.step + 1,
                        message,
                    });
                }
            }
        } else {
            self.g_ce.fill(0.0);
            None
        };
        let step_used = self.adapter.map(|a| a.step);
        self.adapt_step();
        let e_data = mean(&self.energies[..b.min(self.energies.len())]);
        // No samples without a sampler (score matching).
        let e_sample = if score.is_some() {
            f64::NAN
        } else {
            mean(&self.energies[b.min(self.energies.len())..])
        };
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
        let loss = match &score {
            Some((l, g)) => {
                self.g_total.copy_from_slice(g);
                *l
            }
            None => loss,
        };
        // Both terms' norms per layer, and for the whole from the layers' sums (they
        // cover every parameter), with the difference's norm and the cosine.
        let mut layers = Vec::new();
        let mut whole = [0.0; 4];
        let mut covered = 0;
        for (_, name, r) in self.arch.layer_ranges() {
            covered += r.len();
            let s = super::sums::pair_sums(&self.g_data[r.clone()], &self.g_sample[r]);
            for (w, v) in whole.iter_mut().zip(s) {
                *w += v;
            }
            layers.push(LayerTerms {
                name,
                data_term_norm: s[0].sqrt(),
                sample_term_norm: s[1].sqrt(),
            });
        }
        if covered != self.g_data.len() {
            whole = super::sums::pair_sums(&self.g_data, &self.g_sample);
        }
        let (data_norm, sample_norm) = (whole[0].sqrt(), whole[1].sqrt());
        let diff_norm = whole[2].sqrt();
        let cos = whole[3] / (data_norm * sample_norm).max(1e-30);
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
        let t_truth = Instant::now();
        let truth = if eval_step {
            self.against_the_truth(b, score.is_some())
        } else {
            Truth::default()
        };
        let truth_ms = t_truth.elapsed().as_secs_f64() * 1e3;
        let opt_spec = self.preset.optimizer.clone();
        let mut g = std::mem::take(&mut self.g_total);
        let total_norm = self.opt.step(&opt_spec, &mut self.params, &mut g);
        self.g_total = g;
        if !self.params.iter().all(|p| p.is_finite()) || !total_norm.is_finite() {
            return Err(self.roll_back(next, "the update made the parameters non-finite".into()));
        }
        self.step = next;
        let step_ms = t0.elapsed().as_secs_f64() * 1e3 - truth_ms;
        let t_eval = Instant::now();
        let evaluation = eval_step.then(|| self.evaluate());
        let nll = evaluation.as_ref().map(|e| e.nll);
        let ais = evaluation.as_ref().filter(|e| e.method == Method::Ais);
        let (nll_stderr, nll_ess) = (ais.map(|e| e.stderr), ais.map(|e| e.ess));
        // AIS's verdict, and none where no estimator exists (exact methods need none).
        let nll_trusted = evaluation
            .as_ref()
            .filter(|e| !e.method.is_exact())
            .map(|e| e.verdict.as_f64());
        let classes = if eval_step { self.classify() } else { None };
        let eval_ms = eval_step.then(|| truth_ms + t_eval.elapsed().as_secs_f64() * 1e3);
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
            sample_term_cos_exact: truth.cos_exact,
            sample_term_rel_err: truth.rel_err,
            sample_term_cos_floor: truth.cos_floor,
            objective_cos_ml: truth.objective_cos_ml,
            nll_stderr,
            nll_ess,
            nll_trusted,
            sample_term_cos_reference: truth.reference.map(|r| r.0),
            sample_term_rel_err_reference: truth.reference.map(|r| r.1),
            reference_rhat: truth.reference.map(|r| r.2),
            kl_gap: nll.zip(self.true_nll).map(|(n, t)| n - t),
            acceptance: self.acceptance.rate(),
            step_size: step_used.map(f64::from),
            ce_loss: ce.map(|(c, _)| c),
            batch_accuracy: ce.map(|(_, a)| a),
            accuracy: classes.map(|c| c.accuracy),
            ece: classes.map(|c| c.ece),
            step_ms,
            eval_ms,
            nll_method: evaluation.as_ref().map(|e| e.method),
            layers,
        })
    }

    /// Score matching's loss and parameter gradient (no sampler, no sample term), with
    /// the data term for the plots.
    fn score_matching_terms(
        &mut self,
        objective: crate::preset::ObjectiveKind,
        b: usize,
    ) -> Result<(f64, Vec<f32>), TrainError> {
        self.x_neg.clear();
        let mut g = Vec::new();
        let next = self.step + 1;
        let fail = |message: String| TrainError::Engine {
            step: next,
            message,
        };
        let loss = self.score_matching(objective, &mut g).map_err(fail)?;
        self.g_data.fill(0.0);
        #[allow(clippy::cast_precision_loss)]
        let w = vec![1.0 / b as f32; b];
        let params = self.params.clone();
        let x_pos = self.x_pos.clone();
        self.engine
            .chosen()
            .weighted_param_grad(&params, &x_pos, &w, &mut self.g_data)
            .map_err(|message| TrainError::Engine {
                step: self.step + 1,
                message,
            })?;
        self.g_sample.fill(0.0);
        self.g_reg.fill(0.0);
        Ok((loss, g))
    }

    /// On an evaluation step, the step's gradients against the truth at the parameters
    /// they were taken at: score matching's against the exact ML gradient (the plane);
    /// the sampler's term against the exact sample term in the plane, against the
    /// reference chains' elsewhere.
    fn against_the_truth(&mut self, b: usize, score_matching: bool) -> Truth {
        // The sampler's term against the truth at the parameters the estimate was made
        // at: the exact sample term in the plane, the reference chains' elsewhere.
        let (mut cos_exact, mut rel_err, mut cos_floor) = (None, None, None);
        let mut reference = None;
        let mut objective_cos_ml = None;
        if score_matching {
            // Score matching: its gradient against the exact maximum-likelihood gradient
            // (data term − exact sample term), in the plane.
            if self.data.space.allows().exact_sample_term {
                let m = self.exact_model();
                let g_star = self.exact_sample_term(&m);
                let g_ml: Vec<f32> = self
                    .g_data
                    .iter()
                    .zip(&g_star)
                    .map(|(d, s)| d - s)
                    .collect();
                objective_cos_ml = Some(exact::compare(&self.g_total, &g_ml).0);
            }
        } else if self.has_exact_truth() {
            let truth = self.exact_truth();
            let g_star = match &truth {
                ExactTruth::Support(m) => self.exact_sample_term(m),
                ExactTruth::Rbm(t) => t.sample_term(&self.params),
            };
            let (c, r) = exact::compare(&self.g_sample, &g_star);
            (cos_exact, rel_err) = (Some(c), Some(r));
            let params = &self.params;
            cos_floor = exact::noise_floor_of(
                &mut self.engine,
                params,
                &g_star,
                b,
                &mut self.eval_rng,
                |xs, rng| truth.sample(params, xs, rng),
            )
            .ok();
        } else if self.data.space.allows().reference_sample_term {
            reference = self.reference_comparison();
        }
        Truth {
            cos_exact,
            rel_err,
            cos_floor,
            reference,
            objective_cos_ml,
        }
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
    /// After a failure in the middle of a step (a panic caught by the worker): back to
    /// the last good state, as a divergence is rolled back. Returns the step it is at.
    pub fn restore_last_good(&mut self) -> usize {
        let _ = self.roll_back(self.step, String::new());
        self.step
    }

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

/// An evaluation step's comparisons with the truth (see `Session::against_the_truth`).
#[derive(Debug, Clone, Copy, Default)]
struct Truth {
    cos_exact: Option<f64>,
    rel_err: Option<f64>,
    cos_floor: Option<f64>,
    /// Against the reference chains: cosine, relative error, their R-hat.
    reference: Option<(f64, f64, f64)>,
    objective_cos_ml: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session of the bundled digits_jem with chains of 2 sampler steps (the fast
    /// engine, JEM's cross-entropy beside the two terms).
    pub(super) fn digits_jem_short() -> Session {
        let text = crate::preset::BUNDLED
            .iter()
            .find(|(f, _)| *f == "digits_jem.ron")
            .expect("bundled")
            .1;
        let mut p = Preset::from_ron(text).expect("preset");
        p.sampler.steps = 2;
        Session::new(&p).expect("session")
    }

    /// The step's norms of both terms, of their difference, their cosine and each
    /// layer's norms, against plain f64 sums over the terms the step kept (the optimiser
    /// leaves them as they were).
    #[test]
    fn the_step_reports_the_norms_and_cosine_of_its_two_terms() {
        let mut s = digits_jem_short();
        for _ in 0..3 {
            let m = s.step().expect("a step");
            let sums = |a: &[f32], b: &[f32]| {
                let mut t = [0.0_f64; 4];
                for (x, y) in a.iter().zip(b) {
                    let (x, y) = (f64::from(*x), f64::from(*y));
                    t[0] += x * x;
                    t[1] += y * y;
                    t[2] += (x - y) * (x - y);
                    t[3] += x * y;
                }
                t
            };
            let close = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1e-12),
                    "{what}: {got} against {want}"
                );
            };
            let [dd, ss, diff, ds] = sums(&s.g_data, &s.g_sample);
            assert!(dd > 0.0 && ss > 0.0 && diff > 0.0);
            close(m.data_term_norm, dd.sqrt(), "data term's norm");
            close(m.sample_term_norm, ss.sqrt(), "sample term's norm");
            close(m.grad_norm, diff.sqrt(), "difference's norm");
            close(m.cos_terms, ds / (dd * ss).sqrt(), "cosine");
            let ranges = s.arch.layer_ranges();
            assert_eq!(m.layers.len(), ranges.len());
            for (l, (_, name, r)) in m.layers.iter().zip(ranges) {
                let [dl, sl, ..] = sums(&s.g_data[r.clone()], &s.g_sample[r]);
                assert_eq!(l.name, name);
                close(l.data_term_norm, dl.sqrt(), &format!("{name}'s data term"));
                close(
                    l.sample_term_norm,
                    sl.sqrt(),
                    &format!("{name}'s sample term"),
                );
            }
        }
    }
}
