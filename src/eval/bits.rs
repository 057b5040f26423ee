//! AIS on bits for any energy (DESIGN §8): from independent bits with logits b_A (the
//! data's marginals, [`super::rbm::base_biases`]), whose log Z = Σₖ softplus(b_A,k) is
//! known and whose draws are exact, to exp(−E) along
//! f_β(x) = exp((1 − β)·b_A·x − β·E(x)), with Gibbs sweeps or Gibbs-with-gradients steps
//! at each β (the workbench's own samplers, run on the tempered energy
//! E_β(x) = β·E(x) − (1 − β)·b_A·x). Each chain's log weight gains
//! log f_β₁(x) − log f_β₀(x) = −(β₁ − β₀)·(E(x) + b_A·x) before its moves at β₁.

use super::ais::{AisEstimate, AisSpec};
use crate::data::DataBox;
use crate::energy::Architecture;
use crate::energy::engine::{Engine, EngineResult};
use crate::sampler::{Init, Sampler, SamplerKind, SamplerSpec};
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// E_β(x) = β·E(x) − (1 − β)·b_A·x of an inner engine, β shared by every copy (the
/// sampler's lanes), so that one sampler walks the whole path.
#[derive(Debug)]
struct TemperedBits {
    inner: Box<dyn Engine>,
    /// β as f32 bits.
    beta: Arc<AtomicU32>,
    base: Arc<[f32]>,
}

impl TemperedBits {
    fn beta(&self) -> f32 {
        f32::from_bits(self.beta.load(Ordering::Relaxed))
    }

    /// E ← β·E − (1 − β)·b_A·x row by row.
    fn temper(&self, x: &[f32], e: &mut [f32]) {
        let beta = self.beta();
        let n = self.base.len();
        for (row, ev) in x.chunks_exact(n).zip(e) {
            let bx: f32 = row.iter().zip(self.base.iter()).map(|(a, b)| a * b).sum();
            *ev = beta * *ev - (1.0 - beta) * bx;
        }
    }
}

impl Engine for TemperedBits {
    fn name(&self) -> String {
        format!("{} (tempered)", self.inner.name())
    }

    fn architecture(&self) -> &Architecture {
        self.inner.architecture()
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        self.inner.energy(params, x, e)?;
        self.temper(x, e);
        Ok(())
    }

    fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        class: Option<usize>,
        e: &mut [f32],
        g: &mut [f32],
    ) -> EngineResult<()> {
        self.inner.energy_grad_x(params, x, class, e, g)?;
        self.temper(x, e);
        let beta = self.beta();
        for row in g.chunks_exact_mut(self.base.len()) {
            for (gk, bk) in row.iter_mut().zip(self.base.iter()) {
                *gk = beta * *gk - (1.0 - beta) * bk;
            }
        }
        Ok(())
    }

    fn weighted_param_grad(
        &mut self,
        _params: &[f32],
        _x: &[f32],
        _weights: &[f32],
        _out: &mut [f32],
    ) -> EngineResult<()> {
        Err("the tempered energy of AIS has no parameter gradient".into())
    }

    fn class_probs(
        &mut self,
        _params: &[f32],
        _x: &[f32],
        _e: &mut [f32],
        _p: &mut [f32],
    ) -> EngineResult<()> {
        Err("the tempered energy of AIS has no classes".into())
    }

    fn cross_entropy_grads(
        &mut self,
        _params: &[f32],
        _x: &[f32],
        _labels: &[u32],
        _scale: f32,
        _out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        Err("the tempered energy of AIS has no classes".into())
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(Self {
            inner: self.inner.box_clone(),
            beta: Arc::clone(&self.beta),
            base: Arc::clone(&self.base),
        })
    }

    fn hold(&mut self, params: &[f32]) {
        self.inner.hold(params);
    }

    fn release(&mut self) {
        self.inner.release();
    }
}

/// The most bits AIS sweeps by Gibbs (a sweep costs an energy evaluation per bit).
pub const GIBBS_AIS_BITS: usize = 64;

/// The transition AIS on `bits` bits uses with a session's sampler: Gibbs sweeps where
/// the session samples by Gibbs and a sweep is short (up to [`GIBBS_AIS_BITS`]), Gibbs
/// with gradients otherwise (one gradient a step, whatever the number of bits).
#[must_use]
pub fn transition(kind: SamplerKind, bits: usize) -> SamplerKind {
    if kind == SamplerKind::Gibbs && bits <= GIBBS_AIS_BITS {
        SamplerKind::Gibbs
    } else {
        SamplerKind::Gwg
    }
}

/// log Z of the energy `engine` computes with `params` on bits by AIS from independent
/// bits with logits `base` (`spec.chains` chains, `spec.temperatures` distributions,
/// `spec.steps_per_temperature` moves of `kind`, Gibbs or GWG, at each). Returns the
/// estimate with its bootstrap standard error, its weights' ESS and the moves' acceptance
/// (1 for Gibbs, which rejects nothing).
///
/// # Errors
/// The engine's failure.
pub fn ais_log_z(
    engine: &dyn Engine,
    params: &[f32],
    base: &[f64],
    spec: &AisSpec,
    kind: SamplerKind,
    rng: &mut impl Rng,
) -> EngineResult<AisEstimate> {
    let n = base.len();
    let chains = spec.chains.max(1);
    #[allow(clippy::cast_possible_truncation)]
    let base_f32: Arc<[f32]> = base.iter().map(|b| *b as f32).collect();
    let beta = Arc::new(AtomicU32::new(0.0_f32.to_bits()));
    let tempered = TemperedBits {
        inner: engine.box_clone(),
        beta: Arc::clone(&beta),
        base: Arc::clone(&base_f32),
    };
    let log_z_base: f64 = base.iter().map(|a| super::rbm::softplus(*a)).sum();
    // Exact draws of the base: each bit on with probability σ(b_A,k).
    let mut x: Vec<f32> = (0..chains * n)
        .map(|i| {
            let p = 1.0 / (1.0 + (-base[i % n]).exp());
            if rng.random::<f64>() < p { 1.0 } else { 0.0 }
        })
        .collect();
    let moves = SamplerSpec {
        kind,
        steps: spec.steps_per_temperature.max(1),
        init: Init::Noise,
        ..SamplerSpec::default()
    };
    let data_box = DataBox::bits(n);
    let mut sampler = Sampler::new(&tempered);
    let betas = super::ais::betas(spec.temperatures.max(1));
    let mut log_w = vec![0.0_f64; chains];
    let mut e = vec![0.0_f32; chains];
    let (mut accepted, mut proposed) = (0, 0);
    let mut plain = engine.box_clone();
    for pair in betas.windows(2) {
        let (b0, b1) = (pair[0], pair[1]);
        // E(x) + b_A·x: the target's energy and the base's exponent.
        plain.energy(params, &x, &mut e)?;
        for ((lw, row), ev) in log_w.iter_mut().zip(x.chunks_exact(n)).zip(&e) {
            let bx: f64 = row.iter().zip(base).map(|(v, b)| f64::from(*v) * b).sum();
            *lw -= (b1 - b0) * (f64::from(*ev) + bx);
        }
        #[allow(clippy::cast_possible_truncation)]
        beta.store((b1 as f32).to_bits(), Ordering::Relaxed);
        let a = sampler.run(&moves, params, &mut x, &data_box, rng, None)?;
        accepted += a.accepted;
        proposed += a.proposed;
    }
    let (lme, stderr, ess) = super::ais::log_mean_exp(&log_w);
    #[allow(clippy::cast_precision_loss)]
    let acceptance = if proposed == 0 {
        1.0
    } else {
        accepted as f64 / proposed as f64
    };
    Ok(AisEstimate {
        log_z: lme + log_z_base,
        stderr,
        ess,
        acceptance,
    })
}
