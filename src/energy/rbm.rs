//! The restricted Boltzmann machine as an energy (DESIGN §8): with binary visible units
//! v, binary hidden units h and the joint energy E(v, h) = −bᵀv − cᵀh − hᵀWv, the hidden
//! units sum out in closed form, leaving the free energy
//! F(v) = −bᵀv − Σⱼ softplus(cⱼ + Wⱼ·v), a small network with known structure. This
//! engine computes F, ∇ᵥF = −b − Wᵀσ(c + Wv) and the parameter gradients
//! ∂F/∂W = −σ(c + Wv) vᵀ, ∂F/∂b = −v, ∂F/∂c = −σ(c + Wv), row by row (rows in parallel
//! pieces of [`PIECE`], summed in order: the same result on any number of threads).
//!
//! With Gaussian visible units of standard deviation s ([`crate::energy::Visible::Gaussian`]),
//! E(v, h) = ‖v − b‖²/(2s²) − cᵀh − hᵀWv/s, so with a = c + Wv/s:
//! F(v) = ‖v − b‖²/(2s²) − Σⱼ softplus(aⱼ), ∇ᵥF = (v − b)/s² − Wᵀσ(a)/s,
//! ∂F/∂W = −σ(a) vᵀ/s, ∂F/∂b = −(v − b)/s², ∂F/∂c = −σ(a).

use super::engine::{Engine, EngineResult, PIECE};
use super::spec::Architecture;
use rayon::prelude::*;

/// softplus(a) = ln(1 + eᵃ), stable for large |a|.
fn softplus(a: f32) -> f32 {
    a.max(0.0) + (-a.abs()).exp().ln_1p()
}

fn sigmoid(a: f32) -> f32 {
    1.0 / (1.0 + (-a).exp())
}

/// The free-energy engine of an RBM architecture ([`Architecture::rbm`]).
#[derive(Debug, Clone)]
pub struct RbmEngine {
    arch: Architecture,
    visible: usize,
    hidden: usize,
    /// 1/s for Gaussian visible units of standard deviation s; `None` for binary ones.
    inv_sigma: Option<f32>,
}

impl RbmEngine {
    /// # Panics
    /// When `arch` is not an RBM.
    #[must_use]
    pub fn new(arch: &Architecture) -> Self {
        let hidden = arch.rbm.expect("an RBM architecture");
        Self {
            arch: arch.clone(),
            visible: arch.input_dim,
            hidden,
            inv_sigma: arch.visible.sigma().map(|s| 1.0 / s),
        }
    }

    /// (W, b, c) views of the flat parameters.
    fn parts<'p>(&self, params: &'p [f32]) -> (&'p [f32], &'p [f32], &'p [f32]) {
        let (w, rest) = params.split_at(self.hidden * self.visible);
        let (b, c) = rest.split_at(self.visible);
        (w, b, c)
    }

    /// 1/s for Gaussian visible units, 1 for binary ones: the scale of Wv in a.
    fn scale(&self) -> f32 {
        self.inv_sigma.unwrap_or(1.0)
    }

    /// The hidden pre-activations a = c + Wv (c + Wv/s for Gaussian units) of one row
    /// into `a`; returns F(v).
    fn row(&self, params: &[f32], v: &[f32], a: &mut [f32]) -> f32 {
        let (w, b, c) = self.parts(params);
        let mut f = match self.inv_sigma {
            None => -v.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>(),
            Some(inv) => {
                0.5 * f64::from(inv * inv)
                    * v.iter()
                        .zip(b)
                        .map(|(x, y)| f64::from(x - y).powi(2))
                        .sum::<f64>()
            }
        };
        let scale = self.scale();
        for (j, aj) in a.iter_mut().enumerate() {
            let wj = &w[j * self.visible..(j + 1) * self.visible];
            *aj = c[j] + scale * wj.iter().zip(v).map(|(x, y)| x * y).sum::<f32>();
            f -= f64::from(softplus(*aj));
        }
        #[allow(clippy::cast_possible_truncation)]
        {
            f as f32
        }
    }

    /// Checks that `out` holds `per_row` values for each row of `x`.
    fn check_out(&self, x: &[f32], out: usize, per_row: usize, what: &str) -> EngineResult<()> {
        let rows = x.len() / self.visible.max(1);
        if out == rows * per_row {
            Ok(())
        } else {
            Err(format!(
                "{what} has {out} values for {rows} rows of {} visible units",
                self.visible
            ))
        }
    }

    fn check(&self, params: &[f32], x: &[f32]) -> EngineResult<()> {
        if params.len() != self.arch.n_params {
            return Err(format!(
                "parameter vector has {} values, the RBM needs {}",
                params.len(),
                self.arch.n_params
            ));
        }
        if !x.len().is_multiple_of(self.visible) {
            return Err(format!(
                "{} inputs are not rows of {} visible units",
                x.len(),
                self.visible
            ));
        }
        Ok(())
    }
}

impl Engine for RbmEngine {
    fn name(&self) -> String {
        "RBM".into()
    }

    fn architecture(&self) -> &Architecture {
        &self.arch
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        self.check(params, x)?;
        self.check_out(x, e.len(), 1, "the energy buffer")?;
        let n = self.visible;
        let this = &*self;
        x.par_chunks(PIECE * n)
            .zip(e.par_chunks_mut(PIECE))
            .for_each(|(xs, es)| {
                let mut a = vec![0.0_f32; this.hidden];
                for (v, out) in xs.chunks_exact(n).zip(es) {
                    *out = this.row(params, v, &mut a);
                }
            });
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
        if class.is_some() {
            return Err("an RBM has no classes".into());
        }
        self.check(params, x)?;
        self.check_out(x, e.len(), 1, "the energy buffer")?;
        self.check_out(x, g.len(), self.visible, "the gradient buffer")?;
        let n = self.visible;
        let this = &*self;
        let (w, b, _) = self.parts(params);
        x.par_chunks(PIECE * n)
            .zip(e.par_chunks_mut(PIECE))
            .zip(g.par_chunks_mut(PIECE * n))
            .for_each(|((xs, es), gs)| {
                let mut a = vec![0.0_f32; this.hidden];
                let scale = this.scale();
                for ((v, out), gv) in xs.chunks_exact(n).zip(es).zip(gs.chunks_exact_mut(n)) {
                    *out = this.row(params, v, &mut a);
                    match this.inv_sigma {
                        None => {
                            for (gk, bk) in gv.iter_mut().zip(b) {
                                *gk = -bk;
                            }
                        }
                        Some(inv) => {
                            for ((gk, bk), vk) in gv.iter_mut().zip(b).zip(v) {
                                *gk = (vk - bk) * inv * inv;
                            }
                        }
                    }
                    for (j, aj) in a.iter().enumerate() {
                        let s = scale * sigmoid(*aj);
                        for (gk, wjk) in gv.iter_mut().zip(&w[j * n..(j + 1) * n]) {
                            *gk -= s * wjk;
                        }
                    }
                }
            });
        Ok(())
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        self.check(params, x)?;
        self.check_out(x, weights.len(), 1, "the weights")?;
        if out.len() != self.arch.n_params {
            return Err(format!(
                "the gradient has {} values, the RBM {} parameters",
                out.len(),
                self.arch.n_params
            ));
        }
        let (n, m) = (self.visible, self.hidden);
        let this = &*self;
        let partial: Vec<Vec<f32>> = x
            .par_chunks(PIECE * n)
            .zip(weights.par_chunks(PIECE))
            .map(|(xs, ws)| {
                let mut g = vec![0.0_f32; this.arch.n_params];
                let mut a = vec![0.0_f32; m];
                let (_, b, _) = this.parts(params);
                let scale = this.scale();
                for (v, wr) in xs.chunks_exact(n).zip(ws) {
                    this.row(params, v, &mut a);
                    let (gw, rest) = g.split_at_mut(m * n);
                    let (gb, gc) = rest.split_at_mut(n);
                    match this.inv_sigma {
                        None => {
                            for (gk, vk) in gb.iter_mut().zip(v) {
                                *gk -= wr * vk;
                            }
                        }
                        Some(inv) => {
                            for ((gk, vk), bk) in gb.iter_mut().zip(v).zip(b) {
                                *gk -= wr * (vk - bk) * inv * inv;
                            }
                        }
                    }
                    for (j, aj) in a.iter().enumerate() {
                        let s = wr * sigmoid(*aj);
                        gc[j] -= s;
                        for (gjk, vk) in gw[j * n..(j + 1) * n].iter_mut().zip(v) {
                            *gjk -= scale * s * vk;
                        }
                    }
                }
                g
            })
            .collect();
        for g in partial {
            for (o, v) in out.iter_mut().zip(g) {
                *o += v;
            }
        }
        Ok(())
    }

    fn class_probs(
        &mut self,
        _params: &[f32],
        _x: &[f32],
        _e: &mut [f32],
        _p: &mut [f32],
    ) -> EngineResult<()> {
        Err("an RBM has no classes".into())
    }

    fn cross_entropy_grads(
        &mut self,
        _params: &[f32],
        _x: &[f32],
        _labels: &[u32],
        _scale: f32,
        _out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        Err("an RBM has no classes".into())
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(self.clone())
    }
}
