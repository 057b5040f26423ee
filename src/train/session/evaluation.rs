//! How a session measures its model: log Z and the held-out NLL by the evaluator chosen
//! once from the data's space (quadrature in the plane, AIS elsewhere), the energies by
//! the preset's engine, and the reference sample term outside the plane.

use super::*;
use crate::eval::verdict::Verdict;

/// The result of evaluating the model: log Z by the session's evaluator and the held-out
/// NLL, with the energy grid in the plane.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// log Z: by quadrature over the data box (the plane) or AIS (elsewhere).
    pub log_z: f64,
    /// Its standard error (0 for quadrature).
    pub stderr: f64,
    /// The effective sample size of AIS's importance weights (NaN for quadrature).
    pub ess: f64,
    pub method: Method,
    /// Mean NLL of the held-out split, nats (its standard error is `stderr`).
    pub nll: f64,
    /// Whether `log_z` and `nll` may be shown as such: always for quadrature; for AIS by
    /// its weights' effective sample size ([`crate::eval::verdict::ais`]).
    pub verdict: Verdict,
    /// E on the grid (row-major, x fastest), `grid × grid`; empty outside the plane.
    pub energies: Vec<f32>,
    pub grid: usize,
}

impl Session {
    /// The engine evaluation goes through: `fast` or `candle (CPU)`, …
    #[must_use]
    pub fn engine_name(&self) -> String {
        self.engine.name()
    }

    /// The device the sampler and the terms run on: `CPU` for the fast engine, the candle
    /// device otherwise (`CUDA 0`, or `CPU` after a fallback).
    #[must_use]
    pub fn device_name(&self) -> String {
        self.engine.device_name()
    }

    /// Energies of rows of `x` (row-major, `n × dim`), by the preset's engine (NaN where
    /// it failed and no other runs the network).
    pub fn energy(&mut self, x: &[f32]) -> Vec<f32> {
        let mut e = vec![0.0; x.len() / self.data.dim];
        if self.engine.energy(&self.params, x, &mut e).is_err() {
            e.fill(f32::NAN);
        }
        self.note_failure();
        e
    }

    /// Says that the preset's engine failed (once), and whether the fast engine stood in.
    pub(super) fn engine_failed(&mut self, m: &str) {
        if self.device_message.is_none() {
            let instead = if self.engine.has_fallback() {
                "the fast engine computed it instead"
            } else {
                "no other engine runs this network, so the result is missing"
            };
            self.device_message = Some(format!(
                "the {} engine failed ({m}); {instead}",
                self.engine.name()
            ));
        }
    }

    /// Reports the engine's failure since the last call, if it failed.
    pub(super) fn note_failure(&mut self) {
        if let Some(m) = self.engine.take_failure() {
            self.engine_failed(&m);
        }
    }

    /// The model on a `g × g` grid over the data box (the plane), by the preset's engine
    /// (NaN energies where it failed and no other runs the network).
    pub(super) fn grid_model(&mut self, g: usize) -> exact::GridModel {
        let b = self.data.data_box.clone();
        let m = exact::grid_model(&mut self.engine, &self.params, &b, g).unwrap_or_else(|_| {
            exact::GridModel::from_energies(&b, g, b.grid_points(g), vec![f32::NAN; g * g])
        });
        self.note_failure();
        m
    }

    /// The model on every state of the data's bits, by the preset's engine (NaN energies
    /// where it failed and no other runs the network).
    pub(super) fn states_model(&mut self) -> exact::GridModel {
        let bits = self.data.dim;
        let m = exact::states_model(&mut self.engine, &self.params, bits).unwrap_or_else(|_| {
            exact::GridModel::from_states(bits, exact::states(bits), vec![f32::NAN; 1 << bits])
        });
        self.note_failure();
        m
    }

    /// The RBM's hidden units to sum over for its exact truth, where the session has one
    /// ([`crate::eval::rbm::hidden_sum`]).
    pub(super) fn rbm_hidden(&self) -> Option<usize> {
        match self.evaluator {
            Evaluator::RbmHidden { hidden } => Some(hidden),
            _ => None,
        }
    }

    /// Whether the sample term and draws can be had exactly: in the plane, on a few bits,
    /// or from an RBM's hidden states.
    #[must_use]
    pub fn has_exact_truth(&self) -> bool {
        self.data.space.allows().exact_sample_term || self.rbm_hidden().is_some()
    }

    /// The exact sample term, and `n` exact draws of the model into a buffer (the noise
    /// floor's batches are drawn from the same model): by the hidden sum of an RBM, or on
    /// the grid or states. NaN where the engine failed.
    pub(super) fn exact_truth(&mut self) -> ExactTruth {
        match self.rbm_hidden() {
            Some(hidden) => ExactTruth::Rbm(crate::eval::rbm::RbmTruth::with_units(
                &self.params,
                self.data.dim,
                hidden,
                self.arch.visible,
            )),
            None => ExactTruth::Support(self.exact_model()),
        }
    }

    /// The model where the truth is computed exactly: on every state (bits) or on the
    /// evaluation grid (the plane).
    pub(super) fn exact_model(&mut self) -> exact::GridModel {
        if self.data.space.allows().enumeration {
            self.states_model()
        } else {
            self.grid_model(self.preset.eval.grid)
        }
    }

    /// The exact sample term on the grid `m`, by the preset's engine (NaN where it failed
    /// and no other runs the network).
    pub(super) fn exact_sample_term(&mut self, m: &exact::GridModel) -> Vec<f32> {
        let g = exact::exact_sample_term(&mut self.engine, &self.params, m)
            .unwrap_or_else(|_| vec![f32::NAN; self.arch.n_params]);
        self.note_failure();
        g
    }

    /// The temperature of the density AIS evaluates outside the plane: the sampler's
    /// implied T (SGLD's noise²/(2·step); 1 for every other rule), so that the NLL is
    /// that of exp(−E/T), the law the chains follow. Quadrature in the plane evaluates
    /// exp(−E) itself.
    #[must_use]
    pub fn temperature(&self) -> f32 {
        if self.evaluator.method().is_exact() {
            return 1.0;
        }
        let t = self.preset.sampler.kind.temperature();
        if t.is_finite() && t > 0.0 { t } else { 1.0 }
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
            Evaluator::RbmHidden { hidden } => {
                let t = crate::eval::rbm::RbmTruth::with_units(
                    &self.params,
                    self.data.dim,
                    hidden,
                    self.arch.visible,
                );
                self.held_out(
                    t.log_z,
                    0.0,
                    f64::NAN,
                    Method::Enumeration,
                    Verdict::Trusted,
                )
            }
            Evaluator::Enumeration { .. } => {
                let m = self.states_model();
                self.held_out(
                    m.log_z,
                    0.0,
                    f64::NAN,
                    Method::Enumeration,
                    Verdict::Trusted,
                )
            }
            Evaluator::Ais(spec) | Evaluator::BitsAis(spec) => {
                let mut rng = self.eval_rng.clone();
                let (r, _) = self.ais(&spec, &mut rng);
                self.eval_rng = rng;
                let f = r.forward;
                let verdict = crate::eval::verdict::ais(
                    f.ess,
                    spec.chains,
                    f.log_z,
                    r.reverse.map(|r| r.log_z),
                );
                self.held_out(f.log_z, f.stderr, f.ess, Method::Ais, verdict)
            }
            Evaluator::Unavailable(why) => Evaluation {
                log_z: f64::NAN,
                stderr: f64::NAN,
                ess: f64::NAN,
                method: Method::Unavailable,
                nll: f64::NAN,
                verdict: Verdict::NotMeasurable(why),
                energies: Vec::new(),
                grid: 0,
            },
        }
    }

    /// The evaluation of a log Z obtained without a grid: the held-out NLL of the
    /// tempered density exp(−E/T)/Z ([`Session::temperature`]; 1 for exact methods and
    /// the samplers of bits).
    fn held_out(
        &mut self,
        log_z: f64,
        stderr: f64,
        ess: f64,
        method: Method,
        verdict: Verdict,
    ) -> Evaluation {
        let test = self.data.test.clone();
        let e_test = self.energy(&test);
        Evaluation {
            log_z,
            stderr,
            ess,
            method,
            nll: mean(&e_test) / f64::from(self.temperature()) + log_z,
            verdict,
            energies: Vec::new(),
            grid: 0,
        }
    }

    /// log Z by quadrature on a `g × g` grid over the data box, the held-out NLL and the
    /// grid's energies. Only the plane has a grid: elsewhere this is [`Session::evaluate`].
    pub fn evaluate_grid(&mut self, g: usize) -> Evaluation {
        if self.evaluator.method() != Method::Quadrature {
            return self.evaluate();
        }
        let m = self.grid_model(g);
        let test = self.data.test.clone();
        let e_test = self.energy(&test);
        Evaluation {
            log_z: m.log_z,
            stderr: 0.0,
            ess: f64::NAN,
            method: Method::Quadrature,
            nll: mean(&e_test) + m.log_z,
            verdict: Verdict::Trusted,
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
        if self.data.space.allows().discrete {
            let forward = self.bits_ais(spec, rng);
            // Beside the exact log Z where there is one (every state, or an RBM's hidden
            // states).
            let exact = self
                .evaluator
                .method()
                .is_exact()
                .then(|| self.evaluate().log_z);
            return (
                ais::AisResult {
                    forward,
                    reverse: None,
                },
                exact,
            );
        }
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
        // Reverse AIS from the model's exact draws, where the space has them.
        let grid = self
            .data
            .space
            .allows()
            .exact_sampler
            .then(|| self.exact_model());
        let model_samples = grid.as_ref().map(|m| {
            let mut xs = vec![0.0_f32; d * spec.chains];
            exact::sample(m, &mut xs, rng);
            xs
        });
        let temperature = self.temperature();
        let mut energy = ais::Tempered {
            inner: ais::EngineEnergy::new(&mut self.engine, &self.params),
            temperature,
        };
        let result = ais::log_z(&mut energy, &base, spec, model_samples.as_deref(), rng);
        self.note_failure();
        // Beside quadrature in the plane, or a Gaussian RBM's hidden sum.
        let exact = grid
            .map(|m| m.log_z)
            .or_else(|| self.rbm_hidden().is_some().then(|| self.evaluate().log_z));
        (result, exact)
    }

    /// AIS on bits, from independent bits with the training data's marginals: an RBM's by
    /// block Gibbs, any other energy's by the session's Gibbs sweeps or by GWG
    /// ([`crate::eval::bits::transition`]). NaN where the engine failed.
    fn bits_ais(
        &mut self,
        spec: &crate::eval::ais::AisSpec,
        rng: &mut impl rand::Rng,
    ) -> crate::eval::ais::AisEstimate {
        let n = self.data.dim;
        let base = crate::eval::rbm::base_biases(&self.data.train, n);
        if let (Some(m), None) = (self.arch.rbm, self.arch.visible.sigma()) {
            return crate::eval::rbm::ais_log_z(
                &self.params,
                n,
                m,
                &base,
                spec.chains,
                spec.temperatures,
                rng,
            );
        }
        let kind = crate::eval::bits::transition(self.preset.sampler.kind, n);
        match crate::eval::bits::ais_log_z(&self.engine, &self.params, &base, spec, kind, rng) {
            Ok(est) => est,
            Err(m) => {
                // Said as the engine's failure (the window and `train` report it); the
                // NaN estimate is not measurable.
                self.engine_failed(&m);
                crate::eval::ais::AisEstimate {
                    log_z: f64::NAN,
                    stderr: f64::NAN,
                    ess: f64::NAN,
                    acceptance: f64::NAN,
                }
            }
        }
    }

    /// Advances the reference chains (started from the replay buffer, the sampler's
    /// batch or noise the first time) and compares the sampler's last sample term with
    /// theirs: (cosine, relative error, R̂).
    pub(super) fn reference_comparison(&mut self) -> Option<(f64, f64, f64)> {
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
        let within = self.preset.sampler.clamp.then_some(&self.data.data_box);
        let r = reference.advance(
            &mut self.engine,
            &self.params,
            self.preset.eval.reference_steps,
            within,
            &mut rng,
        );
        self.eval_rng = rng;
        self.note_failure();
        match r {
            Ok(r) => {
                let (c, e) = exact::compare(&self.g_sample, &r.term);
                Some((c, e, r.rhat))
            }
            Err(_) => {
                self.reference = None;
                None
            }
        }
    }
}

/// The model's exact distribution, where the session has one: on a finite support (the
/// plane's grid, every state of a few bits), or an RBM's sum over its hidden states.
#[derive(Debug, Clone)]
pub enum ExactTruth {
    Support(exact::GridModel),
    Rbm(crate::eval::rbm::RbmTruth),
}

impl ExactTruth {
    /// Exact draws into `out` (row-major).
    pub fn sample(&self, params: &[f32], out: &mut [f32], rng: &mut impl rand::Rng) {
        match self {
            Self::Support(m) => exact::sample(m, out, rng),
            Self::Rbm(t) => t.sample(params, out, rng),
        }
    }
}
