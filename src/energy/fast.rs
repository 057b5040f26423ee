//! The fast engine: E and its gradients for networks of Linear layers and element-wise
//! activations, written out by hand (the derivatives of the activations are known), on
//! buffers that are allocated once and reused. No autograd graph is built.
//!
//! - [`Workspace::energy`]: E(x) for a batch of rows.
//! - [`Workspace::energy_grad_x`]: E and ∇ₓE together (the sampler's inner loop).
//! - [`Workspace::param_grads`]: E and Σᵣ wᵣ ∂E(xᵣ)/∂θ for several row weightings at once, from
//!   one forward and one backward pass (the data term, the sample term and the
//!   regulariser's term of a training step).
//!
//! The candle engine ([`super::net`]) computes the same quantities by autograd; the tests
//! check that the two agree.

mod activations;
mod kernels;
mod layers;
mod packing;

#[cfg(target_arch = "x86_64")]
use super::{gemm256, gemm512};
pub use activations::activate;
use activations::{act_forward, act_only};
pub use kernels::KernelLevel;
#[cfg(target_arch = "x86_64")]
use kernels::transpose;
#[cfg(target_arch = "x86_64")]
use kernels::{Epilogue, NARROW_BELOW, own_gemm_narrow};
use kernels::{matmul, mul_in_place};
pub use layers::LayerEngine;

use super::spec::{Activation, Architecture, LEAKY_SLOPE, Op};
use std::ops::Range;

/// How the rows of a batch are weighted in a parameter gradient Σᵣ wᵣ ∂E(xᵣ)/∂θ.
#[derive(Debug, Clone)]
pub enum RowWeights<'a> {
    /// `scale` for every row in `rows`, zero elsewhere.
    Range { rows: Range<usize>, scale: f32 },
    /// One weight per row.
    PerRow(&'a [f32]),
    /// `scale · E(xᵣ)` for every row in `rows` (the gradient of `scale/2 · Σ E²`).
    EnergyScaled { rows: Range<usize>, scale: f32 },
}

impl RowWeights<'_> {
    /// The weight of every row of a batch whose energies are `energies`.
    #[must_use]
    pub fn per_row(&self, energies: &[f32]) -> Vec<f32> {
        let mut w = vec![0.0_f32; energies.len()];
        match self {
            Self::Range { rows, scale } => w[rows.clone()].fill(*scale),
            Self::PerRow(v) => w.copy_from_slice(v),
            Self::EnergyScaled { rows, scale } => {
                for (o, e) in w[rows.clone()].iter_mut().zip(&energies[rows.clone()]) {
                    *o = scale * e;
                }
            }
        }
        w
    }

    /// The same weighting for the rows `start..end` alone, numbered from 0 there
    /// (`None` when it gives them all weight zero).
    fn window(&self, start: usize, end: usize) -> Option<RowWeights<'_>> {
        let clip = |r: &Range<usize>| {
            let (a, b) = (r.start.max(start), r.end.min(end));
            (a < b).then(|| a - start..b - start)
        };
        match self {
            Self::Range { rows, scale } => clip(rows).map(|rows| RowWeights::Range {
                rows,
                scale: *scale,
            }),
            Self::PerRow(w) => Some(RowWeights::PerRow(&w[start..end])),
            Self::EnergyScaled { rows, scale } => clip(rows).map(|rows| RowWeights::EnergyScaled {
                rows,
                scale: *scale,
            }),
        }
    }
}

/// A parameter gradient over more rows than this runs in pieces of this many rows, each
/// piece's forward pass, backward pass and sums while its buffers are in cache (a
/// 128-wide layer's buffers for 1 024 rows are 512 KB each).
const GRAD_PIECE: usize = 256;

/// Reusable buffers for one architecture; grows to the largest batch it has seen.
#[derive(Debug, Clone)]
pub struct Workspace {
    arch: Architecture,
    rows: usize,
    /// `bufs[0]` is the input; one buffer per Linear output (activations work in place).
    bufs: Vec<Vec<f32>>,
    /// One buffer per activation: its derivative at its input.
    derivs: Vec<Vec<f32>>,
    /// Where each op reads and writes: (input buffer, output buffer or derivative index).
    plan: Vec<(usize, usize)>,
    /// Backward: the gradient w.r.t. each Linear output for unit row weights.
    upstream: Vec<Vec<f32>>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
    scaled: Vec<f32>,
    /// With K logits: softmax(f) per row, after a forward pass.
    probs: Vec<f32>,
    /// The Linear layers' weights in the layouts of the engine's own products (`gemm512`,
    /// `gemm256`; see [`PackedAt`]); valid for the parameters at `packed_for` (their
    /// address and length) at the kernel level it names, between [`Workspace::pack`] and
    /// [`Workspace::unpack`]. (Off x86-64 nothing is packed.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    packed: Vec<f32>,
    packed_for: Option<(usize, usize, KernelLevel)>,
    /// Where each op's packed weights start in `packed` (Linear ops only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    packed_at: Vec<PackedAt>,
    /// The packing was made by [`Workspace::with_pack`] for one call (and is dropped
    /// at the start of the next one if that call did not finish).
    pack_temp: bool,
}

/// Where one Linear layer's packed weights W (output × input) start in
/// [`Workspace::pack`]'s buffer, in each layout a kernel reads.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct PackedAt {
    /// Wᵀ (input × output, row-major): B of the forward product with AVX-512, and the
    /// transposed B of the narrow backward product (fewer than `NARROW_BELOW` inputs).
    t: Option<usize>,
    /// Wᵀ in `gemm256`'s panels: B of the forward product with AVX2.
    forward: Option<usize>,
    /// W in `gemm256`'s panels: B of the backward product (g · W) with AVX2.
    backward: Option<usize>,
}

/// Where a backward pass starts (see [`Workspace::backward_unit`]).
#[derive(Debug, Clone, Copy)]
enum Seed<'a> {
    Energy,
    CrossEntropy(&'a [u32]),
    ClassEnergy(usize),
}

impl Workspace {
    /// Buffers for an MLP (Linear layers and activations; a feature map before the first
    /// Linear is flattened, as the network's input always is here).
    ///
    /// # Panics
    /// For a network with convolutions or pooling ([`Architecture::is_mlp`] is false):
    /// those run through candle (the `Auto` and `Autograd` engines).
    #[must_use]
    pub fn new(arch: &Architecture) -> Self {
        assert!(
            arch.is_mlp(),
            "the fast engine runs MLPs only (Linear layers and activations); this network has convolutions or pooling: run it with the Auto or Autograd engine"
        );
        let mut plan = Vec::with_capacity(arch.ops.len());
        let mut cur = 0;
        let mut n_bufs = 1;
        let mut n_derivs = 0;
        for op in &arch.ops {
            match op {
                Op::Linear { .. } => {
                    plan.push((cur, n_bufs));
                    cur = n_bufs;
                    n_bufs += 1;
                }
                Op::Act(_) => {
                    plan.push((cur, n_derivs));
                    n_derivs += 1;
                }
                Op::Conv2d { .. } | Op::Pool { .. } => unreachable!("checked above"),
            }
        }
        Self {
            arch: arch.clone(),
            rows: 0,
            bufs: vec![Vec::new(); n_bufs],
            derivs: vec![Vec::new(); n_derivs],
            plan,
            upstream: vec![Vec::new(); n_bufs],
            grad_a: Vec::new(),
            grad_b: Vec::new(),
            scaled: Vec::new(),
            probs: Vec::new(),
            packed: Vec::new(),
            packed_for: None,
            packed_at: vec![PackedAt::default(); arch.ops.len()],
            pack_temp: false,
        }
    }

    #[must_use]
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    fn reserve(&mut self, rows: usize) {
        if rows <= self.rows {
            return;
        }
        self.rows = rows;
        let w = self.arch.max_width();
        self.bufs[0].resize(rows * self.arch.input_dim, 0.0);
        for (op, &(_, out)) in self.arch.ops.iter().zip(&self.plan) {
            match *op {
                Op::Linear { output, .. } => {
                    self.bufs[out].resize(rows * output, 0.0);
                    self.upstream[out].resize(rows * output, 0.0);
                }
                Op::Act(_) | Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        // Derivative buffers take the width of the buffer they act on.
        let mut width = self.arch.input_dim;
        for (op, &(_, slot)) in self.arch.ops.iter().zip(&self.plan) {
            match *op {
                Op::Linear { output, .. } => width = output,
                Op::Act(_) => self.derivs[slot].resize(rows * width, 0.0),
                Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        self.grad_a.resize(rows * w, 0.0);
        self.grad_b.resize(rows * w, 0.0);
        self.scaled.resize(rows * w, 0.0);
        self.probs.resize(rows * self.arch.outputs, 0.0);
    }

    /// The forward pass; with `keep_derivs` the activations' derivatives are stored too.
    fn forward(&mut self, params: &[f32], x: &[f32], rows: usize, keep_derivs: bool) {
        let d = self.arch.input_dim;
        assert_eq!(
            x.len(),
            rows * d,
            "input has {} values, expected {rows}×{d}",
            x.len()
        );
        assert_eq!(
            params.len(),
            self.arch.n_params,
            "parameter vector has the wrong length"
        );
        self.reserve(rows);
        self.bufs[0][..rows * d].copy_from_slice(x);
        // Weights packed for the engine's own products (x86-64 with AVX2 or AVX-512).
        #[cfg(target_arch = "x86_64")]
        let packed = self.is_packed_for(params);
        let mut width = d;
        // The activation after a product was applied in the product's epilogue.
        let mut done = false;
        for (i, op) in self.arch.ops.iter().enumerate() {
            let (src, dst) = self.plan[i];
            if std::mem::take(&mut done) {
                continue;
            }
            match *op {
                Op::Linear {
                    input,
                    output,
                    weight,
                    bias,
                    ..
                } => {
                    let (lo, hi) = self.bufs.split_at_mut(dst);
                    let a = &lo[src][..rows * input];
                    let z = &mut hi[0][..rows * output];
                    #[cfg(target_arch = "x86_64")]
                    if packed {
                        let at = self.packed_at[i];
                        let w = &params[weight..weight + output * input];
                        let b = &params[bias..bias + output];
                        if output < NARROW_BELOW {
                            // SAFETY: `packed` implies AVX2 and FMA at least; a is
                            // rows×input, w output×input, z rows×output and b output long,
                            // all row-major.
                            unsafe {
                                own_gemm_narrow(
                                    (rows, output, input),
                                    a,
                                    input,
                                    w,
                                    input,
                                    z,
                                    output,
                                    Some(b),
                                );
                            }
                        } else {
                            // SiLU (the common case) right after the product, while the
                            // block is in registers.
                            let epilogue = match self.arch.ops.get(i + 1) {
                                Some(Op::Act(Activation::Silu)) => {
                                    done = true;
                                    let slot = self.plan[i + 1].1;
                                    Epilogue::Silu(
                                        keep_derivs
                                            .then(|| &mut self.derivs[slot][..rows * output]),
                                    )
                                }
                                _ => Epilogue::Store,
                            };
                            let mnk = (rows, output, input);
                            match (at.forward, at.t) {
                                // SAFETY: `packed` at AVX2 made the panels (`pack`), and
                                // the level implies AVX2 and FMA; a is rows×input, z and
                                // the derivatives rows×output and b output long.
                                (Some(f), _) => unsafe {
                                    let wp = &self.packed[f..f + gemm256::panels_len(mnk)];
                                    gemm256::gemm_packed(
                                        mnk,
                                        a,
                                        input,
                                        wp,
                                        z,
                                        output,
                                        Some(b),
                                        epilogue,
                                    );
                                },
                                // SAFETY: `packed` at AVX-512 made Wᵀ (input×output), and
                                // the level implies AVX-512F; the rest as above.
                                (None, Some(t)) => unsafe {
                                    gemm512::gemm(
                                        mnk,
                                        a,
                                        input,
                                        &self.packed[t..t + input * output],
                                        output,
                                        z,
                                        output,
                                        Some(b),
                                        epilogue,
                                    );
                                },
                                (None, None) => unreachable!("packed for the forward product"),
                            }
                        }
                        width = output;
                        continue;
                    }
                    let w = &params[weight..weight + output * input];
                    // z = a · Wᵀ: Wᵀ[k][n] = W[n][k] → (row stride 1, column stride input)
                    matmul(
                        (rows, output, input),
                        z,
                        (output, 1),
                        false,
                        a,
                        (input, 1),
                        w,
                        (1, input),
                        1.0,
                    );
                    let b = &params[bias..bias + output];
                    for row in z.chunks_exact_mut(output) {
                        for (v, bb) in row.iter_mut().zip(b) {
                            *v += bb;
                        }
                    }
                    width = output;
                }
                Op::Conv2d { .. } | Op::Pool { .. } => {}
                Op::Act(a) => {
                    let z = &mut self.bufs[src][..rows * width];
                    if keep_derivs {
                        act_forward(a, z, &mut self.derivs[dst][..rows * width]);
                    } else {
                        act_only(a, z);
                    }
                }
            }
        }
    }

    fn output(&self, rows: usize) -> &[f32] {
        let last = self.plan.last().map_or(0, |p| p.1);
        &self.bufs[last][..rows * self.arch.outputs]
    }

    /// The energies from the last forward pass: the output itself, or with K logits
    /// E = −logsumexp f (and softmax f kept for the backward pass).
    fn write_energies(&mut self, rows: usize, energies: &mut [f32]) {
        let k = self.arch.outputs;
        if k == 1 {
            energies.copy_from_slice(self.output(rows));
            return;
        }
        let last = self.plan.last().map_or(0, |p| p.1);
        let logits = &self.bufs[last][..rows * k];
        for ((f, p), e) in logits
            .chunks_exact(k)
            .zip(self.probs.chunks_exact_mut(k))
            .zip(energies.iter_mut())
        {
            let m = f.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0_f32;
            for (pv, fv) in p.iter_mut().zip(f) {
                *pv = (fv - m).exp();
                sum += *pv;
            }
            for pv in p.iter_mut() {
                *pv /= sum;
            }
            *e = -(m + sum.ln());
        }
    }

    /// E(x) for `rows` rows of `x` (row-major, `rows × input_dim`), written to `energies`.
    pub fn energy(&mut self, params: &[f32], x: &[f32], energies: &mut [f32]) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, false);
            ws.write_energies(rows, energies);
        });
    }

    /// The class probabilities softmax f(x) (`rows × K`) and the energies; only for
    /// networks with K > 1 logits.
    pub fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        probs: &mut [f32],
    ) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, false);
            ws.write_energies(rows, energies);
        });
        probs.copy_from_slice(&self.probs[..rows * self.arch.outputs]);
    }

    /// The backward pass for unit weight per row, after a forward pass that kept the
    /// derivatives. Leaves ∇ₓE in `grad_a`; with `keep_upstream`, stores the gradient
    /// w.r.t. every Linear output in `upstream` (and skips ∇ₓE, which is then not needed).
    ///
    /// The backward pass starts from ∂E/∂output: 1 for an energy output, −softmax f for
    /// K logits; for the cross-entropy from softmax f − onehot(label); for a class's
    /// energy E_y = −f_y from −onehot(y).
    fn backward_unit(&mut self, params: &[f32], rows: usize, keep_upstream: bool, seed: Seed<'_>) {
        let mut g = std::mem::take(&mut self.grad_a);
        let mut h = std::mem::take(&mut self.grad_b);
        let k = self.arch.outputs;
        match seed {
            Seed::Energy if k == 1 => g[..rows].fill(1.0),
            Seed::Energy => {
                for (gv, pv) in g[..rows * k].iter_mut().zip(&self.probs[..rows * k]) {
                    *gv = -pv;
                }
            }
            Seed::CrossEntropy(l) => {
                g[..rows * k].copy_from_slice(&self.probs[..rows * k]);
                for (r, y) in l.iter().enumerate().take(rows) {
                    g[r * k + (*y as usize).min(k - 1)] -= 1.0;
                }
            }
            Seed::ClassEnergy(y) => {
                g[..rows * k].fill(0.0);
                for r in 0..rows {
                    g[r * k + y.min(k - 1)] = -1.0;
                }
            }
        }
        let mut width = k;
        // The activation's derivative below a product was multiplied in its epilogue.
        let mut done = false;
        for (i, op) in self.arch.ops.iter().enumerate().rev() {
            if std::mem::take(&mut done) {
                continue;
            }
            match *op {
                Op::Linear {
                    input,
                    output,
                    weight,
                    ..
                } => {
                    if keep_upstream {
                        let out_buf = self.plan[i].1;
                        self.upstream[out_buf][..rows * output]
                            .copy_from_slice(&g[..rows * output]);
                    }
                    #[cfg(target_arch = "x86_64")]
                    if (i > 0 || !keep_upstream)
                        && let Some(fused) =
                            self.backward_own(params, i, rows, (input, output), &g, &mut h)
                    {
                        std::mem::swap(&mut g, &mut h);
                        width = input;
                        done = fused;
                        continue;
                    }
                    if i > 0 || !keep_upstream {
                        // g_in = g · W
                        let w = &params[weight..weight + output * input];
                        matmul(
                            (rows, input, output),
                            &mut h[..rows * input],
                            (input, 1),
                            false,
                            &g[..rows * output],
                            (output, 1),
                            w,
                            (input, 1),
                            1.0,
                        );
                        std::mem::swap(&mut g, &mut h);
                    }
                    width = input;
                }
                Op::Act(_) => {
                    let dv = &self.derivs[self.plan[i].1][..rows * width];
                    mul_in_place(&mut g[..rows * width], dv);
                }
                Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        self.grad_a = g;
        self.grad_b = h;
    }

    /// g_in = g · W for Linear op `i` (W output × input) into `h` through the engine's own
    /// products, times the derivative of the activation below when there is one (not
    /// after the narrow product): from the packed layouts, or at AVX-512 from W where it
    /// lies. Returns whether that derivative was multiplied in, or `None`, having done
    /// nothing, where these products do not apply.
    #[cfg(target_arch = "x86_64")]
    fn backward_own(
        &self,
        params: &[f32],
        i: usize,
        rows: usize,
        (input, output): (usize, usize),
        g: &[f32],
        h: &mut [f32],
    ) -> Option<bool> {
        let packed = self.is_packed_for(params);
        let at = self.packed_at[i];
        let mnk = (rows, input, output);
        let (g, h) = (&g[..rows * output], &mut h[..rows * input]);
        if input < NARROW_BELOW {
            let t = at.t.filter(|_| packed)?;
            // SAFETY: packed implies AVX2 and FMA at least; g is rows×output, the packed
            // Wᵀ input×output, h rows×input, all row-major.
            unsafe {
                own_gemm_narrow(
                    mnk,
                    g,
                    output,
                    &self.packed[t..t + input * output],
                    output,
                    h,
                    input,
                    None,
                );
            }
            return Some(false);
        }
        let below = match (i > 0).then(|| &self.arch.ops[i - 1]) {
            Some(Op::Act(_)) => Some(&self.derivs[self.plan[i - 1].1][..rows * input]),
            _ => None,
        };
        let epilogue = below.map_or(Epilogue::Store, Epilogue::Mul);
        match at.backward.filter(|_| packed) {
            // SAFETY: `packed` at AVX2 made W's panels, and the level implies AVX2 and
            // FMA; g is rows×output, h and the derivatives rows×input, all row-major.
            Some(b) => unsafe {
                let wp = &self.packed[b..b + gemm256::panels_len(mnk)];
                gemm256::gemm_packed(mnk, g, output, wp, h, input, None, epilogue);
            },
            None if below.is_some() && KernelLevel::current() == KernelLevel::Avx512 => {
                let Op::Linear { weight, .. } = self.arch.ops[i] else {
                    unreachable!("op {i} is a Linear layer");
                };
                let w = &params[weight..weight + output * input];
                // SAFETY: the level implies AVX-512F; g is rows×output, W output×input,
                // h and the derivatives rows×input, all row-major.
                unsafe { gemm512::gemm(mnk, g, output, w, input, h, input, None, epilogue) };
            }
            None => return None,
        }
        Some(below.is_some())
    }

    /// For a network with K logits: the energy of class `y`, E_y(x) = −f_y(x) (so that
    /// p(x | y) ∝ exp(−E_y)), and its gradient ∇ₓE_y, for every row.
    pub fn class_energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        y: usize,
        energies: &mut [f32],
        grad_x: &mut [f32],
    ) {
        let rows = energies.len();
        let k = self.arch.outputs;
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            let last = ws.plan.last().map_or(0, |p| p.1);
            for (e, f) in energies
                .iter_mut()
                .zip(ws.bufs[last][..rows * k].chunks_exact(k))
            {
                *e = -f[y.min(k - 1)];
            }
            ws.backward_unit(params, rows, false, Seed::ClassEnergy(y));
        });
        grad_x.copy_from_slice(&self.grad_a[..rows * self.arch.input_dim]);
    }

    /// E(x) and ∇ₓE(x) for every row; `grad_x` has the shape of `x`.
    pub fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        grad_x: &mut [f32],
    ) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            ws.write_energies(rows, energies);
            ws.backward_unit(params, rows, false, Seed::Energy);
        });
        grad_x.copy_from_slice(&self.grad_a[..rows * self.arch.input_dim]);
    }

    /// E for every row, and for each `(weights, out)` pair adds Σᵣ wᵣ ∂E(xᵣ)/∂θ to `out`
    /// (a flat parameter-shaped vector), from one forward and one backward pass.
    pub fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) {
        let rows = energies.len();
        let d = self.arch.input_dim;
        assert_eq!(
            x.len(),
            rows * d,
            "input has {} values, expected {rows}×{d}",
            x.len()
        );
        for (w, _) in sets.iter() {
            if let RowWeights::PerRow(w) = w {
                assert_eq!(w.len(), rows, "one weight per row");
            }
        }
        self.with_pack(params, rows, |ws| {
            let mut start = 0;
            while start < rows {
                let end = (start + GRAD_PIECE).min(rows);
                let n = end - start;
                let e = &mut energies[start..end];
                ws.forward(params, &x[start * d..end * d], n, true);
                ws.write_energies(n, e);
                ws.backward_unit(params, n, true, Seed::Energy);
                let mut piece: Vec<(RowWeights<'_>, &mut [f32])> = sets
                    .iter_mut()
                    .filter_map(|(w, out)| w.window(start, end).map(|w| (w, &mut **out)))
                    .collect();
                ws.accumulate(n, e, &mut piece);
                start = end;
            }
        });
    }

    /// For a network with K logits: the energies, and scale·Σᵣ ∂CE(f(xᵣ), yᵣ)/∂θ added to
    /// `out`, from one forward and one backward pass. Returns Σᵣ CE and the number of
    /// rows whose most probable class is the label.
    pub fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        energies: &mut [f32],
        scale: f32,
        out: &mut [f32],
    ) -> (f64, usize) {
        let rows = energies.len();
        let k = self.arch.outputs;
        assert_eq!(labels.len(), rows, "one label per row");
        // The backward pass reads the packed weights too.
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            ws.write_energies(rows, energies);
            let mut ce = 0.0;
            let mut correct = 0;
            for (p, y) in ws.probs[..rows * k].chunks_exact(k).zip(labels) {
                let y = (*y as usize).min(k - 1);
                ce -= f64::from(p[y].max(1e-30)).ln();
                let best = super::argmax(p).0;
                correct += usize::from(best == y);
            }
            ws.backward_unit(params, rows, true, Seed::CrossEntropy(labels));
            ws.accumulate(
                rows,
                energies,
                &mut [(
                    RowWeights::Range {
                        rows: 0..rows,
                        scale,
                    },
                    out,
                )],
            );
            (ce, correct)
        })
    }

    /// After a backward pass that kept the upstream gradients: adds the weighted
    /// parameter gradients to each set's output.
    fn accumulate(
        &mut self,
        rows: usize,
        energies: &[f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) {
        // Accumulate dW = Σᵣ wᵣ uᵣ ⊗ aᵣ and db = Σᵣ wᵣ uᵣ for each weighting.
        for (i, op) in self.arch.ops.iter().enumerate() {
            let Op::Linear {
                input,
                output,
                weight,
                bias,
                ..
            } = *op
            else {
                continue;
            };
            let (src, out_buf) = self.plan[i];
            let a = &self.bufs[src];
            let u = &self.upstream[out_buf];
            for (weights, out) in sets.iter_mut() {
                let (r0, r1, scale, source): (usize, usize, f32, &[f32]) = match weights {
                    RowWeights::Range { rows: r, scale } => (r.start, r.end, *scale, &u[..]),
                    RowWeights::PerRow(_) | RowWeights::EnergyScaled { .. } => {
                        let wr: Vec<f32> = match weights {
                            RowWeights::PerRow(wr) => wr.to_vec(),
                            RowWeights::EnergyScaled { rows: r, scale } => energies
                                .iter()
                                .enumerate()
                                .map(|(k, e)| if r.contains(&k) { *scale * e } else { 0.0 })
                                .collect(),
                            RowWeights::Range { .. } => unreachable!(),
                        };
                        assert_eq!(wr.len(), rows, "one weight per row");
                        let s = &mut self.scaled[..rows * output];
                        for ((srow, urow), w) in s
                            .chunks_exact_mut(output)
                            .zip(u.chunks_exact(output))
                            .zip(wr.iter())
                        {
                            for (sv, uv) in srow.iter_mut().zip(urow) {
                                *sv = uv * w;
                            }
                        }
                        (0, rows, 1.0, &self.scaled[..])
                    }
                };
                if r1 <= r0 {
                    continue;
                }
                let n = r1 - r0;
                // dW[o][i] += scale Σᵣ u[r][o] a[r][i]: lhs = uᵀ (out × n), rhs = a (n × in)
                matmul(
                    (output, input, n),
                    &mut out[weight..weight + output * input],
                    (input, 1),
                    true,
                    &source[r0 * output..r1 * output],
                    (1, output),
                    &a[r0 * input..r1 * input],
                    (input, 1),
                    scale,
                );
                let db = &mut out[bias..bias + output];
                for urow in source[r0 * output..r1 * output].chunks_exact(output) {
                    for (d, uv) in db.iter_mut().zip(urow) {
                        *d += scale * uv;
                    }
                }
            }
        }
    }
}
