//! The reference sample term where no grid exists: long MALA chains, started from the
//! replay buffer and kept from one evaluation to the next, stand in for exact model
//! samples. Each advance adapts their step size during a burn-in, then draws with it
//! frozen. Their split-R̂ across chains says whether they can be trusted (below about
//! 1.05: mixed; well above: the reference is itself still moving).

use crate::energy::engine::{Engine, EngineResult};
use crate::sampler::StepAdapter;
use rand::Rng;
use rand_distr::StandardNormal;

/// The acceptance rate the reference chains' MALA step is adapted to.
pub const TARGET_ACCEPTANCE: f32 = 0.6;

/// Coordinates tracked in R̂ besides the energy (the first ones).
const TRACKED_COORDINATES: usize = 8;

/// Long MALA chains at the model.
#[derive(Debug, Clone)]
pub struct ReferenceChains {
    /// Row-major `chains × dim`.
    pub x: Vec<f32>,
    pub dim: usize,
    adapter: StepAdapter,
}

/// What one advance of the chains found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceTerm {
    /// g*_ref = mean over the chains of ∂E/∂θ at their end points.
    pub term: Vec<f32>,
    /// The largest split-R̂ over the energy and the first coordinates, of the draws.
    pub rhat: f64,
    /// MALA's acceptance rate over the draws.
    pub acceptance: f64,
    /// The step size of the draws (adapted during the burn-in, then frozen).
    pub step_size: f32,
}

impl ReferenceChains {
    /// Chains starting at the rows of `start`.
    #[must_use]
    pub fn new(start: Vec<f32>, dim: usize, step_size: f32) -> Self {
        Self {
            x: start,
            dim,
            adapter: StepAdapter::new(step_size),
        }
    }

    /// The step-size adaptation of the chains' MALA (a checkpoint's contents).
    #[must_use]
    pub fn adapter(&self) -> StepAdapter {
        self.adapter
    }

    /// Chains at `x` with a given step-size adaptation (from a checkpoint).
    #[must_use]
    pub fn from_parts(x: Vec<f32>, dim: usize, adapter: StepAdapter) -> Self {
        Self { x, dim, adapter }
    }

    #[must_use]
    pub fn chains(&self) -> usize {
        self.x.len() / self.dim.max(1)
    }

    /// Runs `steps` MALA steps at `params` through `engine`: the first half a burn-in that
    /// adapts the step towards [`TARGET_ACCEPTANCE`] after each step, the second half the
    /// draws, with the step frozen (a kernel that keeps adapting to the chains' own
    /// acceptance no longer leaves the model invariant). With `within`, proposals leaving
    /// the box are rejected. Then computes the reference term at the chains' end, and the
    /// split-R̂ and acceptance rate of the draws.
    ///
    /// # Errors
    /// The engine's.
    pub fn advance(
        &mut self,
        engine: &mut dyn Engine,
        params: &[f32],
        steps: usize,
        within: Option<&crate::data::DataBox>,
        rng: &mut impl Rng,
    ) -> EngineResult<ReferenceTerm> {
        let n = self.chains();
        let d = self.dim;
        let tracked = d.min(TRACKED_COORDINATES);
        let burn_in = steps / 2;
        // traces[q][t − burn_in][chain]: q = 0 the energy, then the tracked coordinates.
        let mut traces = vec![vec![vec![0.0_f64; n]; steps - burn_in]; 1 + tracked];
        let (mut e, mut g) = (vec![0.0_f32; n], vec![0.0_f32; n * d]);
        engine.energy_grad_x(params, &self.x, None, &mut e, &mut g)?;
        let (mut y, mut ey, mut gy) =
            (vec![0.0_f32; n * d], vec![0.0_f32; n], vec![0.0_f32; n * d]);
        let (mut accepted, mut proposed) = (0_usize, 0_usize);
        #[allow(clippy::needless_range_loop)] // t indexes every trace at once
        for t in 0..steps {
            let h = f64::from(self.adapter.step);
            let s = (2.0 * h).sqrt();
            for ((yv, xv), gv) in y.iter_mut().zip(&self.x).zip(&g) {
                let z: f64 = rng.sample(StandardNormal);
                #[allow(clippy::cast_possible_truncation)]
                {
                    *yv = (f64::from(*xv) - h * f64::from(*gv) + s * z) as f32;
                }
            }
            engine.energy_grad_x(params, &y, None, &mut ey, &mut gy)?;
            let mut step_accepted = 0;
            for r in 0..n {
                let row = r * d..(r + 1) * d;
                // log q(x | y) − log q(y | x) for the Langevin proposal.
                let (mut fwd, mut bwd) = (0.0, 0.0);
                for j in row.clone() {
                    let (xj, yj) = (f64::from(self.x[j]), f64::from(y[j]));
                    fwd += (yj - xj + h * f64::from(g[j])).powi(2);
                    bwd += (xj - yj + h * f64::from(gy[j])).powi(2);
                }
                let log_a = f64::from(e[r]) - f64::from(ey[r]) + (fwd - bwd) / (4.0 * h);
                let u: f64 = rng.random();
                // Within the box when the sampler keeps its chains there: the model it
                // trains is the one restricted to the box.
                let inside = within.is_none_or(|b| b.contains(&y[row.clone()]));
                if inside && ey[r].is_finite() && u.ln() < log_a {
                    self.x[row.clone()].copy_from_slice(&y[row.clone()]);
                    g[row.clone()].copy_from_slice(&gy[row]);
                    e[r] = ey[r];
                    step_accepted += 1;
                }
            }
            if t < burn_in {
                #[allow(clippy::cast_precision_loss)]
                self.adapter
                    .update(step_accepted as f64 / n.max(1) as f64, TARGET_ACCEPTANCE);
                continue;
            }
            accepted += step_accepted;
            proposed += n;
            let k = t - burn_in;
            for c in 0..n {
                traces[0][k][c] = f64::from(e[c]);
                for q in 0..tracked {
                    traces[1 + q][k][c] = f64::from(self.x[c * d + q]);
                }
            }
        }
        let rhat = traces
            .iter()
            .map(|tr| split_rhat(tr))
            .fold(f64::NAN, f64::max);
        let mut term = vec![0.0_f32; engine.architecture().n_params];
        #[allow(clippy::cast_precision_loss)]
        let w = vec![1.0 / n.max(1) as f32; n];
        engine.weighted_param_grad(params, &self.x, &w, &mut term)?;
        #[allow(clippy::cast_precision_loss)]
        Ok(ReferenceTerm {
            term,
            rhat,
            acceptance: accepted as f64 / proposed.max(1) as f64,
            step_size: self.adapter.step,
        })
    }
}

/// The classic split-R̂ ([`super::diagnostics::split_rhat`]) of one quantity traced as
/// `trace[t][chain]`.
#[must_use]
pub fn split_rhat(trace: &[Vec<f64>]) -> f64 {
    let chains = trace.first().map_or(0, Vec::len);
    let by_chain: Vec<Vec<f64>> = (0..chains)
        .map(|c| trace.iter().map(|r| r[c]).collect())
        .collect();
    super::diagnostics::split_rhat(&by_chain)
}

#[cfg(test)]
mod tests {
    use super::split_rhat;
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution as _, StandardNormal};

    /// Independent draws give R̂ ≈ 1; chains stuck at different levels give R̂ ≫ 1; a
    /// drifting run (its two halves differ) too.
    #[test]
    fn split_rhat_tells_mixed_from_stuck_and_drifting_chains() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut draw = || -> f64 { StandardNormal.sample(&mut rng) };
        let mixed: Vec<Vec<f64>> = (0..200)
            .map(|_| (0..50).map(|_| draw()).collect())
            .collect();
        let r = split_rhat(&mixed);
        assert!((r - 1.0).abs() < 0.02, "{r}");
        let stuck: Vec<Vec<f64>> = (0..200)
            .map(|_| (0..50).map(|c| f64::from(c % 2) * 3.0 + draw()).collect())
            .collect();
        assert!(split_rhat(&stuck) > 1.5);
        #[allow(clippy::cast_precision_loss)]
        let drifting: Vec<Vec<f64>> = (0..200)
            .map(|t| (0..50).map(|_| t as f64 * 0.03 + draw()).collect())
            .collect();
        assert!(split_rhat(&drifting) > 1.3);
    }
}
