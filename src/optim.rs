//! Optimisers over the flat parameter vector: Adam, AdamW and SGD with momentum, and
//! gradient-norm clipping.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// Adam; `weight_decay` is an L2 term added to the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
    /// Stochastic gradient descent with optional momentum.
    Sgd,
}

impl OptimizerKind {
    pub const ALL: [Self; 3] = [Self::Adam, Self::AdamW, Self::Sgd];
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Adam => "Adam",
            Self::AdamW => "AdamW",
            Self::Sgd => "SGD",
        }
    }
}

/// The optimiser's settings. All of them may change between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerSpec {
    pub kind: OptimizerKind,
    pub lr: f32,
    /// Adam's (β₁, β₂).
    pub betas: (f32, f32),
    pub eps: f32,
    /// SGD's momentum.
    pub momentum: f32,
    pub weight_decay: f32,
    /// Rescale the gradient to at most this norm.
    pub clip_grad_norm: Option<f32>,
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            betas: (0.0, 0.999),
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
            clip_grad_norm: None,
        }
    }
}

/// The optimiser's running state.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl Optimizer {
    /// Adam's first and second moments and its step count (a checkpoint's contents).
    #[must_use]
    pub fn state(&self) -> (&[f32], &[f32], u32) {
        (&self.m, &self.v, self.t)
    }

    /// An optimiser with the given moments and step count.
    #[must_use]
    pub fn from_state(m: Vec<f32>, v: Vec<f32>, t: u32) -> Self {
        Self { m, v, t }
    }

    #[must_use]
    pub fn new(n_params: usize) -> Self {
        Self {
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
            t: 0,
        }
    }

    /// One update of `params` with gradient `grad` (which may be rescaled in place by
    /// clipping). Returns the gradient norm before clipping.
    pub fn step(&mut self, spec: &OptimizerSpec, params: &mut [f32], grad: &mut [f32]) -> f32 {
        let norm = crate::train::sums::sum_sq(grad).sqrt();
        #[allow(clippy::cast_possible_truncation)]
        let norm = norm as f32;
        if let Some(c) = spec.clip_grad_norm
            && norm > c
            && norm > 0.0
        {
            let s = c / norm;
            grad.iter_mut().for_each(|g| *g *= s);
        }
        self.t = self.t.saturating_add(1);
        let lr = spec.lr;
        let wd = spec.weight_decay;
        match spec.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                let (b1, b2) = spec.betas;
                #[allow(clippy::cast_possible_wrap)]
                let t = self.t.min(i32::MAX as u32) as i32;
                let bc1 = 1.0 - b1.powi(t);
                let bc2 = 1.0 - b2.powi(t);
                let decoupled = spec.kind == OptimizerKind::AdamW;
                for (((p, g), m), v) in params
                    .iter_mut()
                    .zip(grad.iter())
                    .zip(&mut self.m)
                    .zip(&mut self.v)
                {
                    let mut g = *g;
                    if decoupled {
                        *p -= lr * wd * *p;
                    } else {
                        g += wd * *p;
                    }
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p -= lr * (*m / bc1) / ((*v / bc2).sqrt() + spec.eps);
                }
            }
            OptimizerKind::Sgd => {
                for ((p, g), m) in params.iter_mut().zip(grad.iter()).zip(&mut self.m) {
                    let g = *g + wd * *p;
                    *m = spec.momentum * *m + g;
                    *p -= lr * *m;
                }
            }
        }
        norm
    }
}
