//! The sampler's side of a step: the data and sample batches, the chains (replay buffer,
//! noise or data starts), the step size MALA and HMC adapt, and both gradient terms by
//! the session's engine.

use super::*;
use crate::energy::engine::RowWeights;

impl Session {
    pub(super) fn draw_batches(&mut self) {
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
        let sigma = self.preset.data.batch_noise;
        if sigma > 0.0 {
            for v in &mut self.x_pos {
                *v += sigma * self.rng.sample::<f32, _>(rand_distr::StandardNormal);
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

    /// The sampler as the preset gives it, with the adapted step size where MALA or HMC
    /// adapt it.
    pub(super) fn sampler_spec(&mut self) -> crate::sampler::SamplerSpec {
        let mut spec = self.preset.sampler.clone();
        if spec.target_acceptance.is_some() && spec.kind.is_metropolis() && !spec.kind.is_discrete()
        {
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
    pub(super) fn adapt_step(&mut self) {
        if let (Some(a), Some(target), Some(rate)) = (
            self.adapter.as_mut(),
            self.preset.sampler.target_acceptance,
            self.acceptance.rate(),
        ) {
            a.update(rate, target);
        }
    }

    /// The sampler's run from the chains' starts, then both terms (and the
    /// regulariser's): one pass over x⁺ and one over x⁻ by the chosen engine, each
    /// giving its term and its part of the regulariser from the same pass, side by side
    /// on two cores where the engine runs beside itself.
    ///
    /// # Errors
    /// The engine's.
    pub(super) fn sample_and_terms(&mut self) -> EngineResult<()> {
        let b = self.preset.batch_size;
        let spec = self.sampler_spec();
        let mut path = self.chain_paths.take();
        let ran = self.sampler.run(
            &spec,
            &self.params,
            &mut self.x_neg,
            &self.data.data_box,
            &mut self.rng,
            path.as_mut().map(|(n, p)| (*n, p)),
        );
        self.chain_paths = path;
        self.acceptance = ran?;
        if let Some(buf) = self.buffer.as_mut() {
            buf.write_back(&self.x_neg);
        }
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
        let half = |engine: &mut dyn Engine,
                    x: &[f32],
                    e: &mut [f32],
                    term: &mut [f32],
                    reg: &mut [f32]| {
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
            engine.param_grads(params, x, e, &mut sets)
        };
        let (pos, neg) = (self.engine.chosen(), self.engine_neg.as_mut());
        let (g_data, g_sample) = (&mut self.g_data, &mut self.g_sample);
        let (g_reg, g_reg_neg) = (&mut self.g_reg, &mut self.g_reg_sample);
        let (x_pos, x_neg) = (&self.x_pos, &self.x_neg);
        let (a, c) = if pos.runs_beside_itself() {
            rayon::join(
                || half(pos, x_pos, e_pos, g_data, g_reg),
                || half(neg, x_neg, e_neg, g_sample, g_reg_neg),
            )
        } else {
            (
                half(pos, x_pos, e_pos, g_data, g_reg),
                half(neg, x_neg, e_neg, g_sample, g_reg_neg),
            )
        };
        a.and(c)?;
        for (r, rn) in self.g_reg.iter_mut().zip(&self.g_reg_sample) {
            *r += rn;
        }
        Ok(())
    }
}
