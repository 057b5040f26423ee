//! The candle engine: the energy network as a candle [`Module`] whose parameters are
//! candle [`Var`]s named like the preset (`layers.0.weight`), with gradients by candle's
//! autograd. It runs on any candle device and any layer candle has; the fast engine
//! ([`super::fast`]) must agree with it.

use super::spec::{Activation, Architecture, LEAKY_SLOPE, Op, Pool};
use candle_core::{D, DType, Device, Module, Result, Tensor, Var};

/// The energy network built from candle variables.
#[derive(Debug, Clone)]
pub struct EnergyNet {
    arch: Architecture,
    /// One variable per parameter entry, in the architecture's order.
    vars: Vec<Var>,
}

fn activation(a: Activation, z: &Tensor) -> Result<Tensor> {
    match a {
        Activation::Silu => z.silu(),
        Activation::Relu => z.relu(),
        Activation::LeakyRelu => z.relu()? - (z.neg()?.relu()? * f64::from(LEAKY_SLOPE))?,
        Activation::Elu => z.elu(1.0),
        Activation::Gelu => z.gelu(),
        Activation::Tanh => z.tanh(),
        // softplus(z) = max(z, 0) + ln(1 + e^{−|z|}), stable for large |z|
        Activation::Softplus => z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?,
    }
}

impl EnergyNet {
    /// Builds the network with the given flat parameter vector on `device`.
    ///
    /// # Errors
    /// A candle error creating the variables.
    pub fn new(arch: &Architecture, params: &[f32], device: &Device) -> Result<Self> {
        if params.len() != arch.n_params {
            candle_core::bail!(
                "parameter vector has {} values, the network needs {}",
                params.len(),
                arch.n_params
            );
        }
        let vars = arch
            .params
            .iter()
            .map(|e| {
                Var::from_tensor(&Tensor::from_slice(
                    &params[e.offset..e.offset + e.len],
                    e.shape.as_slice(),
                    device,
                )?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            arch: arch.clone(),
            vars,
        })
    }

    /// The network's shape.
    #[must_use]
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// The device the variables live on.
    #[must_use]
    pub fn device(&self) -> &Device {
        self.vars
            .first()
            .map_or(&Device::Cpu, |v| v.as_tensor().device())
    }

    /// The variables, in the architecture's parameter order.
    #[must_use]
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Flattens per-variable tensors (for example gradients) into the flat parameter layout.
    ///
    /// # Errors
    /// A candle error copying to the host.
    pub fn flatten(&self, tensors: &[Option<&Tensor>]) -> Result<Vec<f32>> {
        let mut out = vec![0.0_f32; self.arch.n_params];
        for (e, t) in self.arch.params.iter().zip(tensors) {
            if let Some(t) = t {
                let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                out[e.offset..e.offset + e.len].copy_from_slice(&v);
            }
        }
        Ok(out)
    }

    /// Σᵣ wᵣ ∂E(xᵣ)/∂θ by autograd, as a flat vector.
    ///
    /// # Errors
    /// A candle error.
    pub fn weighted_param_grad(&self, x: &Tensor, weights: &Tensor) -> Result<Vec<f32>> {
        let e = self.forward(x)?;
        let grads = (e * weights)?.sum_all()?.backward()?;
        let list: Vec<Option<&Tensor>> = self.vars.iter().map(|v| grads.get(v)).collect();
        self.flatten(&list)
    }

    /// E and ∇ₓE by autograd.
    ///
    /// # Errors
    /// A candle error.
    pub fn energy_grad_x(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        with_input_grad(x, |x| self.forward(x))
    }
}

impl EnergyNet {
    /// The class energy −f_y(x) of class `y` and its gradient ∇ₓ, by autograd.
    ///
    /// # Errors
    /// A candle error (or a class the network does not have).
    pub fn class_energy_grad_x(&self, x: &Tensor, y: usize) -> Result<(Tensor, Tensor)> {
        with_input_grad(x, |x| self.outputs(x)?.narrow(1, y, 1)?.neg()?.squeeze(1))
    }

    /// The last layer's outputs, shape `[rows, outputs]`: the energy, or the K logits.
    ///
    /// # Errors
    /// A candle error.
    pub fn outputs(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = match *self.arch.input_shape.as_slice() {
            [c, hh, w] => x.reshape((x.dim(0)?, c, hh, w))?,
            _ => x.clone(),
        };
        let mut k = 0;
        for op in &self.arch.ops {
            match *op {
                Op::Linear { .. } => {
                    let w = self.vars[k].as_tensor();
                    let b = self.vars[k + 1].as_tensor();
                    k += 2;
                    if h.rank() > 2 {
                        h = h.flatten_from(1)?;
                    }
                    h = h.matmul(&w.t()?)?.broadcast_add(b)?;
                }
                Op::Conv2d {
                    output,
                    stride,
                    padding,
                    ..
                } => {
                    let w = self.vars[k].as_tensor();
                    let b = self.vars[k + 1].as_tensor().reshape((1, output[0], 1, 1))?;
                    k += 2;
                    h = conv2d_input(&h)?
                        .conv2d(w, padding, stride, 1, 1)?
                        .broadcast_add(&b)?;
                }
                Op::Pool { kind, kernel } => h = pool2d(&h, kind, kernel)?,
                Op::Act(a) => h = activation(a, &h)?,
            }
        }
        Ok(h)
    }

    /// The mean cross-entropy of the logits against `labels` (u32, shape `[rows]`) and
    /// its gradient w.r.t. every parameter (flat), by autograd.
    ///
    /// # Errors
    /// A candle error.
    pub fn cross_entropy_grad(&self, x: &Tensor, labels: &Tensor) -> Result<(f32, Vec<f32>)> {
        let logits = self.outputs(x)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = logp.gather(&labels.unsqueeze(1)?, 1)?;
        let ce = picked.mean_all()?.neg()?;
        let grads = ce.backward()?;
        let list: Vec<Option<&Tensor>> = self.vars.iter().map(|v| grads.get(v)).collect();
        Ok((ce.to_scalar::<f32>()?, self.flatten(&list)?))
    }
}

impl Module for EnergyNet {
    /// E(x) for a batch `x` of shape `[rows, input_dim]`; returns shape `[rows]`. With K
    /// logits, E(x) = −logsumexp_y f(x)_y.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.outputs(x)?;
        if self.arch.outputs == 1 {
            h.squeeze(D::Minus1)
        } else {
            h.log_sum_exp(D::Minus1)?.neg()
        }
    }
}

/// Pooling over k×k windows with stride k (the last rows and columns that fill no
/// window are dropped, as PyTorch does), written with reshapes and reductions so that
/// autograd differentiates it right: candle 0.9.2's own pooling gradients are wrong
/// (max pooling's is scaled by 1/k², average pooling's misplaced when k does not divide
/// the map).
fn pool2d(h: &Tensor, kind: Pool, k: usize) -> Result<Tensor> {
    let (b, c, hh, w) = h.dims4()?;
    let (oh, ow) = (hh / k, w / k);
    let cropped = h.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?.contiguous()?;
    let blocks = cropped.reshape((b, c, oh, k, ow, k))?;
    match kind {
        Pool::Avg => blocks.sum(5)?.sum(3)? / (k * k) as f64,
        Pool::Max => blocks.max(5)?.max(3),
    }
}

/// The input of a convolution as candle's CPU convolution reads it right. That code
/// takes an input whose strides are those of a contiguous channels-last array for one
/// already in channels-last order; a contiguous C×H×W map with C = H = W has exactly
/// those strides, and its channels and columns were read swapped (candle 0.9.2). Such
/// a map is handed over channels-last in memory instead, which candle reorders itself.
fn conv2d_input(h: &Tensor) -> Result<Tensor> {
    let (_, c, hh, w) = h.dims4()?;
    if c == hh && hh == w && c > 1 && h.device().is_cpu() {
        h.permute((0, 2, 3, 1))?.contiguous()?.permute((0, 3, 1, 2))
    } else {
        Ok(h.clone())
    }
}

/// `f(x)` per row and its gradient with respect to the input, by autograd.
fn with_input_grad(
    x: &Tensor,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<(Tensor, Tensor)> {
    let xv = Var::from_tensor(x)?;
    let e = f(xv.as_tensor())?;
    let grads = e.sum_all()?.backward()?;
    let g = grads
        .get(xv.as_tensor())
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg("no gradient for the input".into()))?;
    Ok((e, g))
}
