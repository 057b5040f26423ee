//! The sampler's side of a step: the data and sample batches, the chains (replay buffer,
//! noise or data starts), the step size MALA and HMC adapt, and both gradient terms by
//! the fast engine or candle autograd.

use super::*;

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
    pub(super) fn adapt_step(&mut self) {
        if let (Some(a), Some(target), Some(rate)) = (
            self.adapter.as_mut(),
            self.preset.sampler.target_acceptance,
            self.acceptance.rate(),
        ) {
            a.update(rate, target);
        }
    }

    /// The sampler and both terms with the fast engine.
    ///
    /// # Errors
    /// The network is not an MLP (the fast engine does not run it).
    pub(super) fn fast_sample_and_terms(&mut self) -> Result<(), String> {
        if self.fast.is_none() {
            return Err("the fast engine runs MLPs only: choose the Auto or Autograd engine for a network with convolutions or pooling".into());
        }
        let b = self.preset.batch_size;
        let d = self.data.dim;
        let mut path = self.chain_paths.take();
        if let Some((n, p)) = path.as_mut() {
            // The starts of the chains recorded (the sampler records at most a tile).
            let n = (*n).min(crate::sampler::chain_tile(b));
            p.clear();
            p.extend_from_slice(&self.x_neg[..self.x_neg.len().min(n * d)]);
        }
        let mut spec = self.sampler_spec();
        if spec.kind == SamplerKind::Exact {
            spec.steps = 0;
        }
        let Some(fast) = self.fast.as_mut() else {
            return Ok(());
        };
        self.acceptance = fast.sampler.run(
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
        let Some(fast) = self.fast.as_mut() else {
            return Ok(());
        };
        let (ws_a, ws_b) = (&mut fast.grad_ws, &mut fast.grad_ws_neg);
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
        Ok(())
    }

    /// The sampler and both terms with candle autograd on `dev`. The noise is drawn
    /// exactly as the fast sampler draws it, so both engines follow the same chains.
    pub(super) fn autograd_sample_and_terms(
        &mut self,
        dev: &candle_core::Device,
    ) -> candle_core::Result<()> {
        use crate::energy::net::EnergyNet;
        use candle_core::{Module as _, Tensor};
        let b = self.preset.batch_size;
        let d = self.data.dim;
        let net = EnergyNet::new(&self.arch, &self.params, dev)?;
        let spec = self.sampler_spec();
        let mut path = self.chain_paths.take();
        if let Some((n, p)) = path.as_mut() {
            p.clear();
            p.extend_from_slice(&self.x_neg[..self.x_neg.len().min(*n * d)]);
        }
        let ran = crate::sampler::run_autograd(
            &spec,
            &net,
            None,
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
}
