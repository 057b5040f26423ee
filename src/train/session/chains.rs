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
    /// on two cores where the engine runs beside itself. With `ce_weight` (JEM), also the
    /// cross-entropy of x⁺'s labels into `g_ce`, half of the rows beside each pass (on
    /// one core after them it kept the other waiting); returns its mean and the batch's
    /// accuracy.
    ///
    /// # Errors
    /// The engine's.
    pub(super) fn sample_and_terms(
        &mut self,
        ce_weight: Option<f32>,
    ) -> EngineResult<Option<(f64, f64)>> {
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
        // The cross-entropy's rows for each pass: all with the first where the two run
        // one after the other.
        let beside = self.engine.chosen().runs_beside_itself();
        let split = if beside { b / 2 } else { b };
        #[allow(clippy::cast_possible_truncation)]
        let ce_scale = ce_weight.map(|w| (f64::from(w) / b as f64) as f32);
        let d = self.data.dim;
        let (x_pos, y_pos) = (&self.x_pos, &self.y_pos);
        let ce_part = |engine: &mut dyn Engine, rows: std::ops::Range<usize>, out: &mut [f32]| {
            out.fill(0.0);
            match ce_scale {
                Some(scale) if !rows.is_empty() => engine.cross_entropy_grads(
                    params,
                    &x_pos[rows.start * d..rows.end * d],
                    &y_pos[rows],
                    scale,
                    out,
                ),
                _ => Ok((0.0, 0)),
            }
        };
        let (pos, neg) = (self.engine.chosen(), self.engine_neg.as_mut());
        let (g_data, g_sample) = (&mut self.g_data, &mut self.g_sample);
        let (g_reg, g_reg_neg) = (&mut self.g_reg, &mut self.g_reg_sample);
        let (g_ce, g_ce_neg) = (&mut self.g_ce, &mut self.g_ce_sample);
        let x_neg = &self.x_neg;
        // Each engine prepares the parameters once for its term and its cross-entropy.
        let both = |engine: &mut dyn Engine,
                    x: &[f32],
                    e: &mut [f32],
                    term: &mut [f32],
                    reg: &mut [f32],
                    ce_rows: std::ops::Range<usize>,
                    ce_out: &mut [f32]| {
            engine.hold(params);
            let t = half(&mut *engine, x, e, term, reg);
            let c = ce_part(&mut *engine, ce_rows, ce_out);
            engine.release();
            (t, c)
        };
        let mut data = || both(pos, x_pos, e_pos, g_data, g_reg, 0..split, g_ce);
        let mut sample = || both(neg, x_neg, e_neg, g_sample, g_reg_neg, split..b, g_ce_neg);
        let ((a, ce_a), (c, ce_c)) = if beside {
            rayon::join(data, sample)
        } else {
            (data(), sample())
        };
        a.and(c)?;
        let ((ce_a, right_a), (ce_c, right_c)) = (ce_a?, ce_c?);
        if split < b {
            for (g, gn) in self.g_ce.iter_mut().zip(&self.g_ce_sample) {
                *g += gn;
            }
        }
        for (r, rn) in self.g_reg.iter_mut().zip(&self.g_reg_sample) {
            *r += rn;
        }
        #[allow(clippy::cast_precision_loss)]
        let inv_b = 1.0 / b as f64;
        #[allow(clippy::cast_precision_loss)]
        Ok(ce_scale.map(|_| ((ce_a + ce_c) * inv_b, (right_a + right_c) as f64 * inv_b)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::digits_jem_short;

    /// JEM's cross-entropy, computed half beside each term's pass, equals the
    /// cross-entropy of the whole batch by one engine: its gradient, its mean and the
    /// batch's accuracy.
    #[test]
    fn the_cross_entropy_in_two_halves_is_that_of_the_whole_batch() {
        let mut s = digits_jem_short();
        assert!(
            s.engine.chosen().runs_beside_itself(),
            "the fast engine splits the rows"
        );
        s.draw_batches();
        let b = s.preset.batch_size;
        let (mean, accuracy) = s
            .sample_and_terms(Some(0.5))
            .expect("terms")
            .expect("the cross-entropy");
        let mut whole = vec![0.0; s.g_ce.len()];
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let (sum, right) = s
            .engine
            .chosen()
            .cross_entropy_grads(&s.params, &s.x_pos, &s.y_pos, 0.5 / b as f32, &mut whole)
            .expect("whole batch");
        #[allow(clippy::cast_precision_loss)]
        let (want_mean, want_accuracy) = (sum / b as f64, right as f64 / b as f64);
        // The rows' sums are ordered by their place in an 8-row group: to f32 rounding.
        assert!((mean - want_mean).abs() < 1e-6 * want_mean.abs().max(1.0));
        assert!((accuracy - want_accuracy).abs() < 1e-12);
        let scale = whole.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (i, (g, w)) in s.g_ce.iter().zip(&whole).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * scale,
                "parameter {i}: {g} against {w} for the whole batch"
            );
        }
    }
}
