//! One interface for everything the workbench asks of a network — energies, ∇ₓE (the
//! sampler's inner loop), parameter gradients under several row weightings from one pass
//! (the training step's terms), class probabilities and the cross-entropy's gradient —
//! with two implementations: the hand-written [`FastEngine`] (MLPs on the CPU) and
//! [`CandleEngine`] (candle autograd on the CPU, CUDA or Metal). Training, the sampler,
//! evaluation, AIS, classification and class-conditional sampling call the engine the
//! preset chose and never name either; [`WithFallback`] lets the fast engine stand in
//! where the chosen one fails.
//!
//! A new engine implements the required methods (`energy`, `energy_grad_x`,
//! `weighted_param_grad`, `class_probs`, `cross_entropy_grads`) and gets the rest: the
//! several weightings of [`Engine::param_grads`] by default run one weighted gradient
//! each, and the sampler runs its chains through `energy_grad_x` tile by tile.

use super::Architecture;
pub use super::fast::RowWeights;
use super::fast::Workspace;
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

    /// The device the computations run on: `CPU`, `CUDA 0`, …
    fn device_name(&self) -> String {
        "CPU".into()
    }

    /// E for every row, and for each `(weights, out)` pair adds Σᵣ wᵣ ∂E(xᵣ)/∂θ to `out`:
    /// the training step's data or sample term and the regulariser's from one pass where
    /// the engine can (the fast engine does). By default, one weighted gradient per set.
    fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) -> EngineResult<()> {
        self.energy(params, x, e)?;
        for (w, out) in sets.iter_mut() {
            let w = w.per_row(e);
            self.weighted_param_grad(params, x, &w, out)?;
        }
        Ok(())
    }

    /// Whether two copies of the engine may run side by side on two threads (the data
    /// and sample terms of a step). The fast engine's passes are single-threaded; candle
    /// on the CPU gains too (digits-conv, `bench --workload digits-conv`: 7.92 and 8.09
    /// steps/s one after the other, 9.48 and 9.95 side by side), while on a GPU it keeps
    /// one stream per device and runs them one after the other.
    fn runs_beside_itself(&self) -> bool {
        false
    }

    /// The same parameters for a run of calls (a sampler run, a batch's terms): the
    /// engine may prepare them once (the fast engine packs its weights for its own
    /// products). Calls stay correct with any parameters; [`Engine::release`] ends the
    /// run.
    fn hold(&mut self, _params: &[f32]) {}

    fn release(&mut self) {}

    /// The candle engine, whose sampler keeps the chains on its device as tensors; `None`
    /// for an engine whose chains run on the host through [`Engine::energy_grad_x`].
    fn as_candle(&self) -> Option<&CandleEngine> {
        None
    }

    /// The engine that stands in where this one fails ([`WithFallback`]'s fast engine).
    fn stand_in(&self) -> Option<&dyn Engine> {
        None
    }
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

    fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) -> EngineResult<()> {
        self.ws.param_grads(params, x, e, sets);
        Ok(())
    }

    fn runs_beside_itself(&self) -> bool {
        true
    }

    fn hold(&mut self, params: &[f32]) {
        self.ws.pack(params);
    }

    fn release(&mut self) {
        self.ws.unpack();
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

    /// Whether the engine runs on the CPU (not a GPU).
    #[must_use]
    pub fn on_cpu(&self) -> bool {
        matches!(self.device, Device::Cpu)
    }

    /// The network at `params` on the engine's device.
    ///
    /// # Errors
    /// candle's, as text.
    pub fn net(&self, params: &[f32]) -> EngineResult<EnergyNet> {
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

    fn device_name(&self) -> String {
        crate::device::describe(&self.device)
    }

    fn runs_beside_itself(&self) -> bool {
        self.on_cpu()
    }

    fn as_candle(&self) -> Option<&CandleEngine> {
        Some(self)
    }
}

/// The fast engine for `arch`: the MLP engine, or for a network with convolutions or
/// pooling the layer-by-layer one ([`super::fast::LayerEngine`]); [`Tilted`] around it
/// where the network tilts a Gaussian.
#[must_use]
pub fn fast_engine(arch: &Architecture) -> Box<dyn Engine> {
    let inner: Box<dyn Engine> = if arch.rbm.is_some() {
        Box::new(super::rbm::RbmEngine::new(arch))
    } else if arch.is_mlp() {
        Box::new(FastEngine::new(arch))
    } else {
        Box::new(super::fast::LayerEngine::new(arch))
    };
    Tilted::around(inner)
}

/// An engine's energy plus ‖x‖²/(2σ²) ([`super::ModelSpec::gaussian`]): the network
/// tilts a Gaussian, so exp(−E) is normalisable whatever the network. The term has no
/// parameters: the parameter gradients are the network's. The chains run on the host
/// (no device tensor loop: [`Engine::as_candle`] is `None`).
#[derive(Debug)]
pub struct Tilted {
    inner: Box<dyn Engine>,
    /// 1/σ².
    inv_var: f32,
}

impl Tilted {
    /// `inner` tilted where its architecture asks for it; `inner` itself otherwise.
    #[must_use]
    pub fn around(inner: Box<dyn Engine>) -> Box<dyn Engine> {
        match inner.architecture().gaussian {
            Some(s) => Box::new(Self {
                inner,
                inv_var: 1.0 / (s * s),
            }),
            None => inner,
        }
    }

    /// E ← E + ‖x‖²/(2σ²), row by row; with `g`, ∇ₓE ← ∇ₓE + x/σ².
    fn add(&self, x: &[f32], e: &mut [f32], g: Option<&mut [f32]>) {
        let d = self.inner.architecture().input_dim.max(1);
        for (row, ev) in x.chunks_exact(d).zip(e.iter_mut()) {
            let sq: f32 = row.iter().map(|v| v * v).sum();
            *ev += 0.5 * self.inv_var * sq;
        }
        if let Some(g) = g {
            for (gk, xk) in g.iter_mut().zip(x) {
                *gk += self.inv_var * xk;
            }
        }
    }
}

impl Engine for Tilted {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn architecture(&self) -> &Architecture {
        self.inner.architecture()
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        self.inner.energy(params, x, e)?;
        self.add(x, e, None);
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
        self.inner.energy_grad_x(params, x, class, e, g)?;
        self.add(x, e, Some(g));
        Ok(())
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        self.inner.weighted_param_grad(params, x, weights, out)
    }

    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()> {
        self.inner.class_probs(params, x, e, p)?;
        self.add(x, e, None);
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
        self.inner
            .cross_entropy_grads(params, x, labels, scale, out)
    }

    /// The inner engine's one pass. Weights scaled by the energy (α·E²'s gradient) need
    /// the tilted E: it is computed first, and they reach the inner engine per row.
    fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) -> EngineResult<()> {
        if !sets
            .iter()
            .any(|(w, _)| matches!(w, RowWeights::EnergyScaled { .. }))
        {
            self.inner.param_grads(params, x, e, sets)?;
            self.add(x, e, None);
            return Ok(());
        }
        self.energy(params, x, e)?;
        let weights: Vec<Vec<f32>> = sets.iter().map(|(w, _)| w.per_row(e)).collect();
        let mut per_row: Vec<(RowWeights<'_>, &mut [f32])> = sets
            .iter_mut()
            .zip(&weights)
            .map(|((_, out), w)| (RowWeights::PerRow(w), &mut **out))
            .collect();
        let mut inner_e = vec![0.0_f32; e.len()];
        self.inner
            .param_grads(params, x, &mut inner_e, &mut per_row)
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(Self {
            inner: self.inner.box_clone(),
            inv_var: self.inv_var,
        })
    }

    fn device_name(&self) -> String {
        self.inner.device_name()
    }

    fn runs_beside_itself(&self) -> bool {
        self.inner.runs_beside_itself()
    }

    fn hold(&mut self, params: &[f32]) {
        self.inner.hold(params);
    }

    fn release(&mut self) {
        self.inner.release();
    }
}

/// The engine a preset chose, with the fast engine standing in where it fails (a GPU
/// run that fails): one wrapper in place of fast-only twins of every evaluation. The
/// first failure is kept for the window and the command line to report.
#[derive(Debug, Clone)]
pub struct WithFallback {
    chosen: Box<dyn Engine>,
    /// The fast engine, where the chosen engine is candle.
    fallback: Option<Box<dyn Engine>>,
    failure: Option<String>,
}

impl WithFallback {
    /// `chosen`, with the fast engine standing in when it is candle (whose devices can
    /// fail as it runs).
    #[must_use]
    pub fn new(chosen: Box<dyn Engine>) -> Self {
        let fallback = chosen
            .as_candle()
            .is_some()
            .then(|| fast_engine(chosen.architecture()));
        Self {
            chosen,
            fallback,
            failure: None,
        }
    }

    /// `chosen`, with `stand_in` standing in whenever it fails.
    #[must_use]
    pub fn standing_in(chosen: Box<dyn Engine>, stand_in: Box<dyn Engine>) -> Self {
        Self {
            chosen,
            fallback: Some(stand_in),
            failure: None,
        }
    }

    /// The chosen engine alone, for the training step: a failure there stops the run
    /// (rolled back, with the message) rather than training on in another engine.
    pub fn chosen(&mut self) -> &mut dyn Engine {
        self.chosen.as_mut()
    }

    /// Whether another engine stands in when the chosen one fails.
    #[must_use]
    pub fn has_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// The chosen engine's failure since the last call, if it failed.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// `f` on the chosen engine, and on the fast one if that fails and there is one.
    fn attempt<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn Engine) -> EngineResult<T>,
    ) -> EngineResult<T> {
        match f(self.chosen.as_mut()) {
            Ok(v) => Ok(v),
            Err(m) => {
                self.failure.get_or_insert_with(|| m.clone());
                match self.fallback.as_mut() {
                    Some(fast) => f(fast.as_mut()),
                    None => Err(m),
                }
            }
        }
    }

    /// As [`WithFallback::attempt`] for a call that adds to `out`: the fast engine starts
    /// again from what `out` held before the failed call.
    fn attempt_adding<T>(
        &mut self,
        out: &mut [f32],
        mut f: impl FnMut(&mut dyn Engine, &mut [f32]) -> EngineResult<T>,
    ) -> EngineResult<T> {
        let before = self.fallback.is_some().then(|| out.to_vec());
        self.attempt(|e| {
            if let Some(b) = &before {
                out.copy_from_slice(b);
            }
            f(e, out)
        })
    }
}

impl Engine for WithFallback {
    fn name(&self) -> String {
        self.chosen.name()
    }

    fn architecture(&self) -> &Architecture {
        self.chosen.architecture()
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        self.attempt(|en| en.energy(params, x, e))
    }

    fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        class: Option<usize>,
        e: &mut [f32],
        g: &mut [f32],
    ) -> EngineResult<()> {
        self.attempt(|en| en.energy_grad_x(params, x, class, e, g))
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        self.attempt_adding(out, |en, out| {
            en.weighted_param_grad(params, x, weights, out)
        })
    }

    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()> {
        self.attempt(|en| en.class_probs(params, x, e, p))
    }

    fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        scale: f32,
        out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        self.attempt_adding(out, |en, out| {
            en.cross_entropy_grads(params, x, labels, scale, out)
        })
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(self.clone())
    }

    fn device_name(&self) -> String {
        self.chosen.device_name()
    }

    fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) -> EngineResult<()> {
        let before: Option<Vec<Vec<f32>>> = self
            .fallback
            .is_some()
            .then(|| sets.iter().map(|(_, o)| o.to_vec()).collect());
        self.attempt(|en| {
            if let Some(b) = &before {
                for ((_, o), v) in sets.iter_mut().zip(b) {
                    o.copy_from_slice(v);
                }
            }
            en.param_grads(params, x, e, sets)
        })
    }

    fn runs_beside_itself(&self) -> bool {
        self.chosen.runs_beside_itself()
    }

    fn hold(&mut self, params: &[f32]) {
        self.chosen.hold(params);
    }

    fn release(&mut self) {
        self.chosen.release();
    }

    fn as_candle(&self) -> Option<&CandleEngine> {
        self.chosen.as_candle()
    }

    fn stand_in(&self) -> Option<&dyn Engine> {
        self.fallback.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataBox;
    use crate::energy::{ModelSpec, init_params};
    use crate::sampler::{Init, Sampler, SamplerKind, SamplerSpec};
    use rand::SeedableRng as _;

    /// An engine that fails every call, as a GPU that is gone, after writing rubbish
    /// into what it was to add to.
    #[derive(Debug, Clone)]
    struct Broken(Architecture);

    impl Engine for Broken {
        fn name(&self) -> String {
            "broken".into()
        }
        fn architecture(&self) -> &Architecture {
            &self.0
        }
        fn energy(&mut self, _: &[f32], _: &[f32], _: &mut [f32]) -> EngineResult<()> {
            Err("device lost".into())
        }
        fn energy_grad_x(
            &mut self,
            _: &[f32],
            _: &[f32],
            _: Option<usize>,
            _: &mut [f32],
            _: &mut [f32],
        ) -> EngineResult<()> {
            Err("device lost".into())
        }
        fn weighted_param_grad(
            &mut self,
            _: &[f32],
            _: &[f32],
            _: &[f32],
            out: &mut [f32],
        ) -> EngineResult<()> {
            out.fill(99.0);
            Err("device lost".into())
        }
        fn class_probs(
            &mut self,
            _: &[f32],
            _: &[f32],
            _: &mut [f32],
            _: &mut [f32],
        ) -> EngineResult<()> {
            Err("device lost".into())
        }
        fn cross_entropy_grads(
            &mut self,
            _: &[f32],
            _: &[f32],
            _: &[u32],
            _: f32,
            out: &mut [f32],
        ) -> EngineResult<(f64, usize)> {
            out.fill(99.0);
            Err("device lost".into())
        }
        fn box_clone(&self) -> Box<dyn Engine> {
            Box::new(self.clone())
        }
    }

    /// The fast engine behind the required methods alone: what a new engine implements.
    #[derive(Debug, Clone)]
    struct Minimal(FastEngine);

    impl Engine for Minimal {
        fn name(&self) -> String {
            "minimal".into()
        }
        fn architecture(&self) -> &Architecture {
            self.0.architecture()
        }
        fn energy(&mut self, p: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
            self.0.energy(p, x, e)
        }
        fn energy_grad_x(
            &mut self,
            p: &[f32],
            x: &[f32],
            c: Option<usize>,
            e: &mut [f32],
            g: &mut [f32],
        ) -> EngineResult<()> {
            self.0.energy_grad_x(p, x, c, e, g)
        }
        fn weighted_param_grad(
            &mut self,
            p: &[f32],
            x: &[f32],
            w: &[f32],
            out: &mut [f32],
        ) -> EngineResult<()> {
            self.0.weighted_param_grad(p, x, w, out)
        }
        fn class_probs(
            &mut self,
            p: &[f32],
            x: &[f32],
            e: &mut [f32],
            pr: &mut [f32],
        ) -> EngineResult<()> {
            self.0.class_probs(p, x, e, pr)
        }
        fn cross_entropy_grads(
            &mut self,
            p: &[f32],
            x: &[f32],
            y: &[u32],
            s: f32,
            out: &mut [f32],
        ) -> EngineResult<(f64, usize)> {
            self.0.cross_entropy_grads(p, x, y, s, out)
        }
        fn box_clone(&self) -> Box<dyn Engine> {
            Box::new(self.clone())
        }
    }

    fn small() -> (Architecture, Vec<f32>, Vec<f32>) {
        let arch = Architecture::new(&ModelSpec::default(), 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let params = init_params(&arch, &mut rng);
        let x: Vec<f32> = (0..2 * 300)
            .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
            .collect();
        (arch, params, x)
    }

    fn mala(steps: usize) -> SamplerSpec {
        SamplerSpec {
            kind: SamplerKind::Mala { step_size: 0.05 },
            steps,
            init: Init::Noise,
            clamp: true,
            target_acceptance: None,
            grad_clip: None,
        }
    }

    fn chains(engine: &dyn Engine, params: &[f32], x: &[f32]) -> (Vec<f32>, usize) {
        let mut x = x.to_vec();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = Sampler::new(engine)
            .run(
                &mala(20),
                params,
                &mut x,
                &DataBox::square(4.0),
                &mut rng,
                None,
            )
            .expect("the sampler runs");
        (x, a.accepted)
    }

    #[test]
    fn the_fast_engine_stands_in_for_a_failing_one_and_the_failure_is_kept() {
        let (arch, params, x) = small();
        let n = x.len() / 2;
        let mut fast = FastEngine::new(&arch);
        let mut w =
            WithFallback::standing_in(Box::new(Broken(arch.clone())), Box::new(fast.clone()));
        let (mut e, mut e_fast) = (vec![0.0; n], vec![0.0; n]);
        w.energy(&params, &x, &mut e).expect("the stand-in");
        fast.energy(&params, &x, &mut e_fast).unwrap();
        assert_eq!(e, e_fast);
        assert_eq!(w.take_failure().as_deref(), Some("device lost"));
        assert_eq!(w.take_failure(), None, "a failure is reported once");
        // What the failed call wrote into the sum is undone before the stand-in adds.
        let weights = vec![0.5; n];
        let mut g = vec![1.0; arch.n_params];
        let mut g_fast = vec![1.0; arch.n_params];
        w.weighted_param_grad(&params, &x, &weights, &mut g)
            .unwrap();
        fast.weighted_param_grad(&params, &x, &weights, &mut g_fast)
            .unwrap();
        assert_eq!(g, g_fast);
        let labels = vec![0_u32; n];
        let (mut c, mut c_fast) = (vec![2.0; arch.n_params], vec![2.0; arch.n_params]);
        let r = w
            .cross_entropy_grads(&params, &x, &labels, 0.1, &mut c)
            .unwrap();
        let r_fast = fast
            .cross_entropy_grads(&params, &x, &labels, 0.1, &mut c_fast)
            .unwrap();
        assert_eq!((r, c), (r_fast, c_fast));
        // The sampler through the wrapper follows the fast engine's chains.
        assert_eq!(chains(&w, &params, &x), chains(&fast, &params, &x));
        // Without a stand-in the failure is the caller's.
        let mut alone = WithFallback::new(Box::new(Broken(arch.clone())));
        assert!(!alone.has_fallback());
        assert_eq!(alone.energy(&params, &x, &mut e), Err("device lost".into()));
    }

    #[test]
    fn an_engine_of_the_required_methods_alone_samples_and_trains_as_the_fast_one() {
        let (arch, params, x) = small();
        let fast = FastEngine::new(&arch);
        let mut minimal = Minimal(fast.clone());
        // The sampler runs its chains through energy_grad_x: the same chains.
        let (xs, accepted) = chains(&minimal, &params, &x);
        assert_eq!((xs.clone(), accepted), chains(&fast, &params, &x));
        assert!(accepted > 0 && xs != x, "the chains moved");
        // The training step's several weightings: one weighted gradient each by default,
        // one pass in the fast engine; the same sums to rounding.
        let n = x.len() / 2;
        let (mut t1, mut r1) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
        let (mut t2, mut r2) = (t1.clone(), r1.clone());
        let (mut e1, mut e2) = (vec![0.0; n], vec![0.0; n]);
        let run = |engine: &mut dyn Engine, e: &mut [f32], t: &mut [f32], r: &mut [f32]| {
            engine
                .param_grads(
                    &params,
                    &x,
                    e,
                    &mut [
                        (
                            RowWeights::Range {
                                rows: 0..n,
                                scale: 1.0 / n as f32,
                            },
                            t,
                        ),
                        (
                            RowWeights::EnergyScaled {
                                rows: 10..n,
                                scale: 0.01,
                            },
                            r,
                        ),
                    ],
                )
                .unwrap();
        };
        run(&mut minimal, &mut e1, &mut t1, &mut r1);
        run(&mut fast.clone(), &mut e2, &mut t2, &mut r2);
        for (a, b) in e1
            .iter()
            .zip(&e2)
            .chain(t1.iter().zip(&t2))
            .chain(r1.iter().zip(&r2))
        {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} against {b}");
        }
        assert!(r1.iter().any(|v| *v != 0.0));
    }
}
