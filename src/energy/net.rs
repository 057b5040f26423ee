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
        match self.input_pass(x, Seed::Energy)? {
            Some(eg) => Ok(eg),
            None => self.energy_grad_x_autograd(x),
        }
    }

    /// E and ∇ₓE by candle's autograd (what [`EnergyNet::energy_grad_x`] computes by a
    /// written-out backward pass where it can).
    ///
    /// # Errors
    /// A candle error.
    pub fn energy_grad_x_autograd(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        with_input_grad(x, |x| self.forward(x))
    }

    /// The energy (or a class energy) and its gradient with respect to the input by a
    /// backward pass written out layer by layer: no autograd graph, and none of the
    /// parameter gradients autograd computes along the way (candle's convolution
    /// backward always computes the kernel's). `None` for a network with GELU, whose
    /// derivative is left to autograd.
    fn input_pass(&self, x: &Tensor, seed: Seed) -> Result<Option<(Tensor, Tensor)>> {
        if self.arch.rbm.is_some()
            || self
                .arch
                .ops
                .iter()
                .any(|op| matches!(op, Op::Act(Activation::Gelu)))
        {
            return Ok(None);
        }
        let rows = x.dim(0)?;
        // The input of every op, for the backward pass.
        let mut inputs = Vec::with_capacity(self.arch.ops.len());
        let h = self.forward_ops(x, Some(&mut inputs))?;
        // h: [rows, outputs]. The energy and dE/d(outputs).
        let (e, mut g) = match seed {
            Seed::Energy if self.arch.outputs == 1 => (h.squeeze(1)?, h.ones_like()?),
            Seed::Energy => {
                let e = h.log_sum_exp(D::Minus1)?.neg()?;
                (e, candle_nn::ops::softmax(&h, D::Minus1)?.neg()?)
            }
            Seed::Class(y) => {
                let e = h.narrow(1, y, 1)?.neg()?.squeeze(1)?;
                let mut onehot = vec![0.0_f32; self.arch.outputs];
                onehot[y] = -1.0;
                let g = Tensor::from_vec(onehot, (1, self.arch.outputs), h.device())?
                    .broadcast_as(h.shape())?
                    .contiguous()?;
                (e, g)
            }
        };
        let mut k = self.vars.len();
        for (op, input) in self.arch.ops.iter().zip(&inputs).rev() {
            g = match *op {
                Op::Linear { .. } => {
                    k -= 2;
                    let gi = g.matmul(self.vars[k].as_tensor())?;
                    if input.rank() > 2 {
                        gi.reshape(input.shape())?
                    } else {
                        gi
                    }
                }
                Op::Conv2d {
                    input: [_, ih, iw],
                    kernel,
                    stride,
                    padding,
                    ..
                } => {
                    k -= 2;
                    conv2d_input_grad(
                        &g,
                        self.vars[k].as_tensor(),
                        [ih, iw],
                        kernel,
                        stride,
                        padding,
                    )?
                }
                Op::Pool { kind, kernel } => pool2d_input_grad(&g, input, kind, kernel)?,
                Op::Act(a) => (g * activation_derivative(a, input)?)?,
            };
        }
        let g = g.reshape((rows, self.arch.input_dim))?;
        Ok(Some((e, g)))
    }
}

impl EnergyNet {
    /// The class energy −f_y(x) of class `y` and its gradient ∇ₓ, by autograd.
    ///
    /// # Errors
    /// A candle error (or a class the network does not have).
    pub fn class_energy_grad_x(&self, x: &Tensor, y: usize) -> Result<(Tensor, Tensor)> {
        match self.input_pass(x, Seed::Class(y))? {
            Some(eg) => Ok(eg),
            None => with_input_grad(x, |x| self.outputs(x)?.narrow(1, y, 1)?.neg()?.squeeze(1)),
        }
    }

    /// The last layer's outputs, shape `[rows, outputs]`: the energy, or the K logits.
    ///
    /// # Errors
    /// A candle error.
    pub fn outputs(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_ops(x, None)
    }

    /// The forward pass through every op to the last layer's outputs; with `inputs`,
    /// the input of each op is kept (for a written-out backward pass).
    fn forward_ops(&self, x: &Tensor, mut inputs: Option<&mut Vec<Tensor>>) -> Result<Tensor> {
        if self.arch.rbm.is_some() {
            // The RBM's free energy F(v) = −v·b − Σⱼ softplus(c + vWᵀ)ⱼ (binary units), as one output.
            let (w, b, c) = (
                self.vars[0].as_tensor(),
                self.vars[1].as_tensor(),
                self.vars[2].as_tensor(),
            );
            let v = x.flatten_from(1)?;
            if let Some(s) = self.arch.visible.sigma() {
                // Gaussian units: F(v) = ‖v − b‖²/(2s²) − Σⱼ softplus(c + vWᵀ/s)ⱼ.
                let inv = f64::from(1.0 / s);
                let a = (v.matmul(&w.t()?)? * inv)?.broadcast_add(c)?;
                let soft = activation(Activation::Softplus, &a)?.sum_keepdim(1)?;
                let quad = (v.broadcast_sub(&b.unsqueeze(0)?)?.sqr()?.sum_keepdim(1)?
                    * (0.5 * inv * inv))?;
                return quad - soft;
            }
            let a = v.matmul(&w.t()?)?.broadcast_add(c)?;
            let soft = activation(Activation::Softplus, &a)?.sum_keepdim(1)?;
            let lin = v.broadcast_mul(&b.unsqueeze(0)?)?.sum_keepdim(1)?;
            return (lin + soft)?.neg();
        }
        let mut h = match *self.arch.input_shape.as_slice() {
            [c, hh, w] => x.reshape((x.dim(0)?, c, hh, w))?,
            _ => x.clone(),
        };
        let mut k = 0;
        for op in &self.arch.ops {
            if let Some(kept) = inputs.as_mut() {
                kept.push(h.clone());
            }
            h = match *op {
                Op::Linear { .. } => {
                    let (w, b) = (self.vars[k].as_tensor(), self.vars[k + 1].as_tensor());
                    k += 2;
                    let flat = if h.rank() > 2 { h.flatten_from(1)? } else { h };
                    flat.matmul(&w.t()?)?.broadcast_add(b)?
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
                    conv2d(&h, w, stride, padding)?.broadcast_add(&b)?
                }
                Op::Pool { kind, kernel } => pool2d(&h, kind, kernel)?,
                Op::Act(a) => activation(a, &h)?,
            };
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

/// Where the backward pass of [`EnergyNet::input_pass`] starts.
#[derive(Debug, Clone, Copy)]
enum Seed {
    /// The model's energy (the output, or −logsumexp of the logits).
    Energy,
    /// A class energy −f_y.
    Class(usize),
}

/// The derivative of an activation at its input `z` (GELU excepted).
fn activation_derivative(a: Activation, z: &Tensor) -> Result<Tensor> {
    let positive = || z.gt(0.0)?.to_dtype(z.dtype());
    match a {
        Activation::Silu => {
            let s = candle_nn::ops::sigmoid(z)?;
            // σ(z)·(1 + z·(1 − σ(z)))
            &s * ((z * (1.0 - &s)?)? + 1.0)?
        }
        Activation::Relu => positive(),
        Activation::LeakyRelu => {
            let p = positive()?;
            &p + ((1.0 - &p)? * f64::from(LEAKY_SLOPE))?
        }
        Activation::Elu => {
            let p = positive()?;
            // 1 where z > 0, exp(z) elsewhere (exp of min(z, 0) stays finite)
            &p + ((1.0 - &p)? * z.minimum(0.0)?.exp()?)?
        }
        Activation::Tanh => 1.0 - z.tanh()?.sqr()?,
        Activation::Softplus => candle_nn::ops::sigmoid(z),
        Activation::Gelu => candle_core::bail!("GELU's derivative is left to autograd"),
    }
}

/// The gradient of a convolution's input from its output's: for stride 1 the
/// convolution of the output gradient with the kernel turned round (channels swapped,
/// rows and columns reversed), padded by k − 1 − p; for a larger stride the transposed
/// convolution of the window [`conv2d`] convolves, put back into the padded map, the
/// padding cut off (rows and columns no window reached get zero).
fn conv2d_input_grad(
    g: &Tensor,
    w: &Tensor,
    [ih, iw]: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if stride == 1 {
        let rev = Tensor::arange(0_u32, kernel as u32, w.device())?.flip(&[0])?;
        let turned = w
            .transpose(0, 1)?
            .contiguous()?
            .index_select(&rev, 2)?
            .contiguous()?
            .index_select(&rev, 3)?
            .contiguous()?;
        return conv2d_input(g)?.conv2d(&turned, kernel - 1 - padding, 1, 1, 1);
    }
    let (_, _, oh, ow) = g.dims4()?;
    let (span_h, span_w) = ((oh - 1) * stride + kernel, (ow - 1) * stride + kernel);
    g.conv_transpose2d(w, 0, 0, stride, 1)?
        .pad_with_zeros(2, 0, ih + 2 * padding - span_h)?
        .pad_with_zeros(3, 0, iw + 2 * padding - span_w)?
        .narrow(2, padding, ih)?
        .narrow(3, padding, iw)
}

/// The gradient of a pooling layer's input from its output's: spread over each window
/// (a share of 1/k² for the average, all of it to the first maximum for the maximum),
/// zero on the rows and columns no window covered.
fn pool2d_input_grad(g: &Tensor, input: &Tensor, kind: Pool, k: usize) -> Result<Tensor> {
    let (b, c, hh, w) = input.dims4()?;
    let (oh, ow) = (hh / k, w / k);
    let spread = g.unsqueeze(4)?.broadcast_as((b, c, oh, ow, k * k))?;
    let per_window = match kind {
        Pool::Avg => (spread / (k * k) as f64)?,
        Pool::Max => spread.mul(&first_max_mask(&windows(input, k)?)?)?,
    };
    per_window
        .reshape((b, c, oh, ow, k, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .contiguous()?
        .reshape((b, c, oh * k, ow * k))?
        .pad_with_zeros(2, 0, hh - oh * k)?
        .pad_with_zeros(3, 0, w - ow * k)
}

/// A convolution as `torch.nn.Conv2d` computes it. With a stride above 1 the zero
/// padding is added and the input cut to the rows and columns the windows reach, so
/// that the convolution itself has neither (candle 0.9.2's gradient of a strided
/// convolution assumes both directions leave the same remainder, and fails otherwise).
fn conv2d(h: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if stride == 1 {
        return conv2d_input(h)?.conv2d(w, padding, 1, 1, 1);
    }
    let (_, _, hh, ww) = h.dims4()?;
    let k = w.dim(2)?;
    let (oh, ow) = (
        (hh + 2 * padding - k) / stride + 1,
        (ww + 2 * padding - k) / stride + 1,
    );
    let x = h
        .pad_with_zeros(2, padding, padding)?
        .pad_with_zeros(3, padding, padding)?
        .narrow(2, 0, (oh - 1) * stride + k)?
        .narrow(3, 0, (ow - 1) * stride + k)?
        .contiguous()?;
    conv2d_input(&x)?.conv2d(w, 0, stride, 1, 1)
}

/// The k×k windows of a map, one per output position: `[b, c, oh, ow, k·k]` (the last
/// rows and columns that fill no window dropped, as PyTorch does).
fn windows(h: &Tensor, k: usize) -> Result<Tensor> {
    let (b, c, hh, w) = h.dims4()?;
    let (oh, ow) = (hh / k, w / k);
    h.narrow(2, 0, oh * k)?
        .narrow(3, 0, ow * k)?
        .contiguous()?
        .reshape((b, c, oh, k, ow, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .contiguous()?
        .reshape((b, c, oh, ow, k * k))
}

/// For max pooling: 1 at the first largest entry of each window, 0 elsewhere (the
/// gradient goes to that one entry, as in PyTorch, also when several tie).
fn first_max_mask(win: &Tensor) -> Result<Tensor> {
    let kk = win.dim(4)?;
    let idx = win.argmax_keepdim(4)?;
    let slots = Tensor::arange(0_u32, kk as u32, win.device())?.reshape((1, 1, 1, 1, kk))?;
    slots.broadcast_eq(&idx)?.to_dtype(win.dtype())
}

/// Pooling over k×k windows with stride k, written with reshapes and reductions so that
/// autograd differentiates it right: candle 0.9.2's own pooling gradients are wrong
/// (max pooling's is scaled by 1/k², average pooling's misplaced when k does not divide
/// the map).
fn pool2d(h: &Tensor, kind: Pool, k: usize) -> Result<Tensor> {
    let win = windows(h, k)?;
    match kind {
        Pool::Avg => win.mean(4),
        Pool::Max => {
            let mask = first_max_mask(&win.detach())?;
            (win * mask)?.sum(4)
        }
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
