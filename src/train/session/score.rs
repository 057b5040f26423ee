//! Score matching: learning the energy without a sampler. Both objectives need the
//! parameter gradient of an expression in ∇ₓE (a second derivative); the engines give
//! first derivatives only, so it is taken as a central difference of parameter
//! gradients along each point's direction v: ∂θ(vᵀ∇ₓE(x)) = d/dh ∂θE(x + hv) at h = 0,
//! ≈ (∂θE(x + hv) − ∂θE(x − hv)) / 2h, with the shift ‖hv‖ a small fraction of the
//! data's scale (error O(h²), checked against the exact derivative in the tests).

use super::*;
use crate::preset::ObjectiveKind;

/// The step along v used by the differences, relative to the data box's half-width.
const SHIFT: f32 = 0.01;

impl Session {
    /// The data's typical scale: the mean half-width of the data box.
    fn box_scale(&self) -> f32 {
        let b = &self.data.data_box;
        let d = b.lo.len().max(1);
        #[allow(clippy::cast_precision_loss)]
        let s =
            b.lo.iter()
                .zip(&b.hi)
                .map(|(l, h)| (h - l) / 2.0)
                .sum::<f32>()
                / d as f32;
        s.max(1e-3)
    }

    /// The score-matching loss of the data batch `x_pos` and its parameter gradient in
    /// `out` (overwritten).
    ///
    /// # Errors
    /// The engine's.
    pub(super) fn score_matching(
        &mut self,
        kind: ObjectiveKind,
        out: &mut Vec<f32>,
    ) -> crate::energy::engine::EngineResult<f64> {
        let d = self.data.dim;
        let b = self.x_pos.len() / d.max(1);
        out.clear();
        out.resize(self.arch.n_params, 0.0);
        #[allow(clippy::cast_precision_loss)]
        let bf = b.max(1) as f32;
        let params = self.params.clone();
        match kind {
            ObjectiveKind::Dsm { sigma } => {
                // x̃ = x + σε; the target of ∇ₓE(x̃) is (x̃ − x)/σ² = ε/σ.
                let eps: Vec<f32> = (0..b * d)
                    .map(|_| self.rng.sample::<f32, _>(rand_distr::StandardNormal))
                    .collect();
                let xt: Vec<f32> = self
                    .x_pos
                    .iter()
                    .zip(&eps)
                    .map(|(x, e)| x + sigma * e)
                    .collect();
                let mut e = vec![0.0_f32; b];
                let mut gx = vec![0.0_f32; b * d];
                self.engine
                    .energy_grad_x(&params, &xt, None, &mut e, &mut gx)?;
                let v: Vec<f32> = gx.iter().zip(&eps).map(|(g, e)| g - e / sigma).collect();
                let s2 = sigma * sigma;
                let loss = f64::from(s2) / 2.0
                    * v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>()
                    / f64::from(bf);
                // σ²/B Σᵢ ∂θ(vᵢᵀ∇ₓE(x̃ᵢ)), vᵢ held fixed.
                let largest = v
                    .chunks_exact(d)
                    .map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt())
                    .fold(0.0_f32, f32::max)
                    .max(1e-12);
                let h = SHIFT * sigma.min(self.box_scale()) / largest;
                let plus: Vec<f32> = xt.iter().zip(&v).map(|(x, v)| x + h * v).collect();
                let minus: Vec<f32> = xt.iter().zip(&v).map(|(x, v)| x - h * v).collect();
                let w = s2 / (bf * 2.0 * h);
                self.engine
                    .weighted_param_grad(&params, &plus, &vec![w; b], out)?;
                self.engine
                    .weighted_param_grad(&params, &minus, &vec![-w; b], out)?;
                // The plots' mean E(data) is at the data, not at the noised points.
                let mut e_data = e;
                self.engine.energy(&params, &self.x_pos, &mut e_data)?;
                self.energies = e_data;
                Ok(loss)
            }
            ObjectiveKind::Ssm { projections } => {
                // J = E[−vᵀ∇²E v + ½ (vᵀ∇E)²] over Rademacher directions v.
                let m = projections.max(1);
                let h = SHIFT * self.box_scale();
                let n = b * m;
                let mut x = Vec::with_capacity(n * d);
                let mut v = Vec::with_capacity(n * d);
                for _ in 0..m {
                    x.extend_from_slice(&self.x_pos);
                    for _ in 0..b * d {
                        v.push(if self.rng.random::<bool>() {
                            1.0_f32
                        } else {
                            -1.0
                        });
                    }
                }
                #[allow(clippy::cast_precision_loss)]
                let (vn, nf) = ((d as f32).sqrt(), n as f32);
                // Unit directions for the step, so that h is a length.
                let plus: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x + h * v / vn).collect();
                let minus: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x - h * v / vn).collect();
                let (mut e0, mut ep, mut em) =
                    (vec![0.0_f32; n], vec![0.0_f32; n], vec![0.0_f32; n]);
                let mut gx = vec![0.0_f32; n * d];
                self.engine
                    .energy_grad_x(&params, &x, None, &mut e0, &mut gx)?;
                self.engine.energy(&params, &plus, &mut ep)?;
                self.engine.energy(&params, &minus, &mut em)?;
                // a = vᵀ∇E; vᵀ∇²E v = vn²·(E₊ − 2E₀ + E₋)/h².
                let a: Vec<f32> = gx
                    .chunks_exact(d)
                    .zip(v.chunks_exact(d))
                    .map(|(g, v)| g.iter().zip(v).map(|(g, v)| g * v).sum())
                    .collect();
                let curv = |k: usize| {
                    f64::from(vn * vn)
                        * (f64::from(ep[k]) - 2.0 * f64::from(e0[k]) + f64::from(em[k]))
                        / f64::from(h * h)
                };
                let loss = (0..n)
                    .map(|k| -curv(k) + 0.5 * f64::from(a[k]).powi(2))
                    .sum::<f64>()
                    / f64::from(nf);
                // ∂θ: −vn²(G₊ − 2G₀ + G₋)/h² + a·vn(G₊ − G₋)/(2h), averaged.
                let c2 = vn * vn / (h * h);
                let w_plus: Vec<f32> = a.iter().map(|a| (-c2 + a * vn / (2.0 * h)) / nf).collect();
                let w_minus: Vec<f32> = a.iter().map(|a| (-c2 - a * vn / (2.0 * h)) / nf).collect();
                let w_zero = vec![2.0 * c2 / nf; n];
                self.engine
                    .weighted_param_grad(&params, &plus, &w_plus, out)?;
                self.engine
                    .weighted_param_grad(&params, &minus, &w_minus, out)?;
                self.engine.weighted_param_grad(&params, &x, &w_zero, out)?;
                self.energies = e0[..b].to_vec();
                Ok(loss)
            }
            _ => Ok(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The score-matching gradient against a central difference of the loss in θ, with
    /// the same noise and directions (the session cloned, random state and all).
    fn gradient_matches_the_loss(kind: ObjectiveKind) {
        let mut p = Preset::from_ron(crate::preset::BUNDLED[0].1).expect("bundled");
        p.model.layers = vec![
            crate::energy::LayerSpec::Linear(16),
            crate::energy::LayerSpec::act(crate::energy::Activation::Silu),
            crate::energy::LayerSpec::Linear(16),
            crate::energy::LayerSpec::act(crate::energy::Activation::Softplus),
        ];
        p.batch_size = 32;
        p.objective.kind = kind;
        let mut s = Session::new(&p).expect("session");
        s.draw_batches();
        let mut g = Vec::new();
        let mut base = s.clone();
        base.score_matching(kind, &mut g).expect("gradient");
        // Along the gradient itself and along a direction half-way to a random one: a
        // random direction alone sees about 1/√(parameters) of the slope, and SSM's loss
        // carries f32 noise from its own difference along v (about 1e-4 here), which a
        // slope that small did not clear (6 % apart at a step of 0.01, of opposite sign
        // at 0.001, and 5.6 % at 0.05 once the kernels' rounding changed).
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let gn = norm(&g);
        assert!(gn > 0.0, "{kind:?}: a zero gradient");
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
        let r: Vec<f32> = (0..g.len())
            .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect();
        let rn = norm(&r);
        let mixed: Vec<f32> = g.iter().zip(&r).map(|(g, r)| g / gn + r / rn).collect();
        for u in [g.clone(), mixed] {
            let un = norm(&u);
            let delta = 2e-2_f32;
            let loss_at = |sign: f32| {
                let mut t = s.clone();
                for (p, d) in t.params.iter_mut().zip(&u) {
                    *p += sign * delta * d / un;
                }
                t.score_matching(kind, &mut Vec::new()).expect("loss")
            };
            let fd = (loss_at(1.0) - loss_at(-1.0)) / (2.0 * f64::from(delta));
            let analytic = g
                .iter()
                .zip(&u)
                .map(|(g, u)| f64::from(g * u / un))
                .sum::<f64>();
            let scale = fd.abs().max(analytic.abs()).max(1e-3);
            assert!(
                (fd - analytic).abs() / scale < 0.02,
                "{kind:?}: directional derivative {analytic} vs the loss's difference {fd}"
            );
        }
    }

    #[test]
    fn the_dsm_gradient_is_the_loss_s() {
        gradient_matches_the_loss(ObjectiveKind::Dsm { sigma: 0.3 });
    }

    #[test]
    fn the_ssm_gradient_is_the_loss_s() {
        gradient_matches_the_loss(ObjectiveKind::Ssm { projections: 2 });
    }
}
