//! One interface for what every part of the workbench asks of a network — energies, ∇ₓE,
//! weighted parameter gradients, class probabilities and the cross-entropy's gradient —
//! with two implementations: the hand-written [`FastEngine`] (MLPs on the CPU) and
//! [`CandleEngine`] (candle autograd on the CPU, CUDA or Metal). Evaluation, AIS,
//! classification and class-conditional sampling call the engine the preset chose and
//! never name either.

use super::Architecture;
use super::fast::{RowWeights, Workspace};
use super::net::EnergyNet;
use candle_core::{Device, Module as _, Tensor};
use rayon::prelude::*;

/// What an engine call failed with (a candle error, as text).
pub type EngineResult<T> = Result<T, String>;

/// Rows per piece of a large batch (bounds memory; the fast engine runs the pieces in
/// parallel, each with its own buffers, so results do not depend on the thread count).
pub const PIECE: usize = 4096;

/// The network's computations at given parameters. Inputs are row-major
/// `rows × input_dim`.
pub trait Engine: Send + std::fmt::Debug {
    /// `fast` or `candle (CPU)`, `candle (CUDA 0)`, …
    fn name(&self) -> String;
    fn architecture(&self) -> &Architecture;
    /// E(x) per row.
    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()>;
    /// E(x) and ∇ₓE(x); with `class`, of the class energy −f_y(x) instead.
    fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        class: Option<usize>,
        e: &mut [f32],
        g: &mut [f32],
    ) -> EngineResult<()>;
    /// Adds Σᵣ wᵣ ∂E(xᵣ)/∂θ to `out` (flat, parameter-shaped).
    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()>;
    /// E(x) and the class probabilities softmax f(x) (`rows × K`).
    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()>;
    /// Adds `scale`·∂CE/∂θ of the rows' cross-entropy to `out`; returns the summed
    /// cross-entropy and the number of rows whose most probable class is the label.
    fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        scale: f32,
        out: &mut [f32],
    ) -> EngineResult<(f64, usize)>;
    fn box_clone(&self) -> Box<dyn Engine>;
}

impl Clone for Box<dyn Engine> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// A piece of a large batch: its index, its rows of the input, its part of the output.
type Piece<'a, T> = (usize, &'a [f32], &'a mut [T]);

/// The hand-written engine: large batches in parallel pieces.
#[derive(Debug, Clone)]
pub struct FastEngine {
    ws: Workspace,
    /// One workspace per thread for the pieces of a large batch, kept between calls: a
    /// workspace for a piece holds some 16 MB, and allocating them afresh for every
    /// evaluation could cost more than the products (page faults).
    pool: Vec<Workspace>,
}

impl FastEngine {
    #[must_use]
    pub fn new(arch: &Architecture) -> Self {
        Self {
            ws: Workspace::new(arch),
            pool: Vec::new(),
        }
    }

    /// Runs `f` on every piece of `PIECE` rows of `x` (the piece's index, its rows, and
    /// its `out_per_piece` elements of `out`), the pieces dealt round-robin to one pooled
    /// workspace per thread. A piece's result depends on its rows alone, so not on the
    /// number of threads.
    fn pieces<T: Send>(
        &mut self,
        x: &[f32],
        out: &mut [T],
        out_per_piece: usize,
        f: impl Fn(&mut Workspace, usize, &[f32], &mut [T]) + Sync,
    ) {
        let d = self.ws.architecture().input_dim;
        let n = x.len().div_ceil(d * PIECE);
        let t = rayon::current_num_threads().clamp(1, n.max(1));
        while self.pool.len() < t {
            self.pool.push(Workspace::new(self.ws.architecture()));
        }
        let mut jobs: Vec<Vec<Piece<'_, T>>> = (0..t).map(|_| Vec::new()).collect();
        for (c, (xc, oc)) in x
            .chunks(d * PIECE)
            .zip(out.chunks_mut(out_per_piece))
            .enumerate()
        {
            jobs[c % t].push((c, xc, oc));
        }
        self.pool[..t]
            .par_iter_mut()
            .zip(jobs.into_par_iter())
            .for_each(|(ws, jobs)| {
                for (c, xc, oc) in jobs {
                    f(ws, c, xc, oc);
                }
            });
    }
}

impl Engine for FastEngine {
    fn name(&self) -> String {
        "fast".into()
    }

    fn architecture(&self) -> &Architecture {
        self.ws.architecture()
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        if e.len() <= PIECE {
            self.ws.energy(params, x, e);
        } else {
            self.pieces(x, e, PIECE, |ws, _, x, e| ws.energy(params, x, e));
        }
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
        match class {
            None => self.ws.energy_grad_x(params, x, e, g),
            Some(y) => self.ws.class_energy_grad_x(params, x, y, e, g),
        }
        Ok(())
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        let n_params = self.ws.architecture().n_params;
        let d = self.ws.architecture().input_dim;
        // One gradient per piece, summed in the pieces' order below (the same sum on any
        // number of threads).
        let mut parts: Vec<Vec<f32>> = vec![Vec::new(); x.len().div_ceil(d * PIECE)];
        self.pieces(x, &mut parts, 1, |ws, c, x, part| {
            let w = &weights[c * PIECE..(c * PIECE + x.len() / d)];
            let mut g = vec![0.0_f32; n_params];
            let mut e = vec![0.0_f32; w.len()];
            ws.param_grads(params, x, &mut e, &mut [(RowWeights::PerRow(w), &mut g)]);
            part[0] = g;
        });
        for p in &parts {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
        }
        Ok(())
    }

    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()> {
        self.ws.class_probs(params, x, e, p);
        Ok(())
    }

    fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        scale: f32,
        out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        let mut e = vec![0.0; labels.len()];
        Ok(self
            .ws
            .cross_entropy_grads(params, x, labels, &mut e, scale, out))
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(self.clone())
    }
}

/// candle autograd on a device.
#[derive(Debug, Clone)]
pub struct CandleEngine {
    arch: Architecture,
    device: Device,
}

impl CandleEngine {
    #[must_use]
    pub fn new(arch: &Architecture, device: Device) -> Self {
        Self {
            arch: arch.clone(),
            device,
        }
    }

    fn net(&self, params: &[f32]) -> EngineResult<EnergyNet> {
        EnergyNet::new(&self.arch, params, &self.device)
            .map_err(|e| crate::device::error_message(&e))
    }

    fn rows(&self, x: &[f32]) -> EngineResult<Tensor> {
        let d = self.arch.input_dim;
        Tensor::from_slice(x, (x.len() / d, d), &self.device)
            .map_err(|e| crate::device::error_message(&e))
    }
}

fn msg(e: &candle_core::Error) -> String {
    crate::device::error_message(e)
}

fn copy_into(t: &Tensor, out: &mut [f32]) -> EngineResult<()> {
    let v = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| msg(&e))?;
    out.copy_from_slice(&v);
    Ok(())
}

impl Engine for CandleEngine {
    fn name(&self) -> String {
        format!("candle ({})", crate::device::describe(&self.device))
    }

    fn architecture(&self) -> &Architecture {
        &self.arch
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        let net = self.net(params)?;
        let d = self.arch.input_dim;
        for (xs, es) in x.chunks(d * PIECE).zip(e.chunks_mut(PIECE)) {
            let out = net.forward(&self.rows(xs)?).map_err(|e| msg(&e))?;
            copy_into(&out, es)?;
        }
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
        let net = self.net(params)?;
        let xt = self.rows(x)?;
        let (et, gt) = match class {
            None => net.energy_grad_x(&xt),
            Some(y) => net.class_energy_grad_x(&xt, y),
        }
        .map_err(|e| msg(&e))?;
        copy_into(&et, e)?;
        copy_into(&gt, g)
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        let net = self.net(params)?;
        let d = self.arch.input_dim;
        for (xs, ws) in x.chunks(d * PIECE).zip(weights.chunks(PIECE)) {
            let w = Tensor::from_slice(ws, ws.len(), &self.device).map_err(|e| msg(&e))?;
            let g = net
                .weighted_param_grad(&self.rows(xs)?, &w)
                .map_err(|e| msg(&e))?;
            for (o, v) in out.iter_mut().zip(g) {
                *o += v;
            }
        }
        Ok(())
    }

    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()> {
        let net = self.net(params)?;
        let xt = self.rows(x)?;
        let logits = net.outputs(&xt).map_err(|e| msg(&e))?;
        let probs =
            candle_nn::ops::softmax(&logits, candle_core::D::Minus1).map_err(|e| msg(&e))?;
        copy_into(&probs, p)?;
        copy_into(&net.forward(&xt).map_err(|e| msg(&e))?, e)
    }

    fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        scale: f32,
        out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        let net = self.net(params)?;
        let xt = self.rows(x)?;
        let yt = Tensor::from_slice(labels, labels.len(), &self.device).map_err(|e| msg(&e))?;
        let (ce, g) = net.cross_entropy_grad(&xt, &yt).map_err(|e| msg(&e))?;
        // cross_entropy_grad gives the mean's gradient; the sum's is n times it.
        #[allow(clippy::cast_precision_loss)]
        let n = labels.len() as f32;
        for (o, v) in out.iter_mut().zip(g) {
            *o += scale * n * v;
        }
        let predicted = net
            .outputs(&xt)
            .and_then(|o| o.argmax(1))
            .and_then(|t| t.to_vec1::<u32>())
            .map_err(|e| msg(&e))?;
        let correct = predicted.iter().zip(labels).filter(|(p, y)| p == y).count();
        Ok((f64::from(ce) * f64::from(n), correct))
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(self.clone())
    }
}
