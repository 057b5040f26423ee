//! The truth in 2-D and on a few bits: with the distribution wₖ = softmax(−E(xₖ))ₖ over the
//! grid's cells (the plane) or over every state (bits), the exact sample term
//! g*_sample = Σₖ wₖ ∂E(xₖ)/∂θ (the gradient of log Z is −g*), and an exact sampler that
//! draws a cell from w and a point uniformly inside it (the plane), or a state (bits).

use super::quadrature::{log_cell_area, logsumexp_neg};
use crate::data::DataBox;
use crate::energy::engine::{Engine, EngineResult};
use rand::Rng;

/// The model on the grid (the plane) or on every state (bits): energies, log Z and the
/// cell's or state's probabilities.
#[derive(Debug, Clone)]
pub struct GridModel {
    pub data_box: DataBox,
    /// Cells per side of the plane's grid; 0 for the states of bits.
    pub grid: usize,
    pub points: Vec<f32>,
    pub energies: Vec<f32>,
    pub log_z: f64,
    /// softmax(−E) over the cells.
    pub weights: Vec<f64>,
}

/// E on a `g × g` grid over the box `b`, through any engine (the fast engine runs the
/// grid in parallel pieces).
///
/// # Errors
/// The engine's.
pub fn grid_model(
    engine: &mut dyn Engine,
    params: &[f32],
    b: &DataBox,
    g: usize,
) -> EngineResult<GridModel> {
    let points = b.grid_points(g);
    let mut energies = vec![0.0_f32; g * g];
    engine.energy(params, &points, &mut energies)?;
    Ok(GridModel::from_energies(b, g, points, energies))
}

/// E at every one of the 2^`bits` states of `bits` bits (state k has bit j = (k >> j) & 1),
/// through any engine: log Z = log Σ exp(−E) exactly.
///
/// # Errors
/// The engine's.
pub fn states_model(
    engine: &mut dyn Engine,
    params: &[f32],
    bits: usize,
) -> EngineResult<GridModel> {
    let points = states(bits);
    let mut energies = vec![0.0_f32; 1 << bits];
    engine.energy(params, &points, &mut energies)?;
    Ok(GridModel::from_states(bits, points, energies))
}

/// Every state of `bits` bits, row-major: state k has bit j = (k >> j) & 1.
#[must_use]
pub fn states(bits: usize) -> Vec<f32> {
    let n = 1_usize << bits;
    let mut points = Vec::with_capacity(n * bits);
    for k in 0..n {
        points.extend((0..bits).map(|j| if k >> j & 1 == 1 { 1.0 } else { 0.0 }));
    }
    points
}

impl GridModel {
    /// The model on every state of `bits` bits from its energies there ([`states`]).
    #[must_use]
    pub fn from_states(bits: usize, points: Vec<f32>, energies: Vec<f32>) -> Self {
        Self::over(DataBox::bits(bits), 0, points, energies, 0.0)
    }

    /// The model on `points` with `energies` there: weights softmax(−E), and
    /// log Z = logsumexp(−E) + `log_cell` (the log volume each point stands for).
    fn over(
        data_box: DataBox,
        grid: usize,
        points: Vec<f32>,
        energies: Vec<f32>,
        log_cell: f64,
    ) -> Self {
        let lse = logsumexp_neg(&energies);
        let weights = energies
            .iter()
            .map(|e| (-f64::from(*e) - lse).exp())
            .collect();
        Self {
            data_box,
            grid,
            points,
            energies,
            log_z: lse + log_cell,
            weights,
        }
    }

    /// The dimension of a point.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.data_box.lo.len()
    }

    /// The model on the grid from its points (`DataBox::grid_points`) and its energies
    /// there (`g × g`, x fastest).
    #[must_use]
    pub fn from_energies(b: &DataBox, g: usize, points: Vec<f32>, energies: Vec<f32>) -> Self {
        Self::over(b.clone(), g, points, energies, log_cell_area(b, g))
    }
}

/// g*_sample = Σₖ wₖ ∂E(xₖ)/∂θ over the grid, as a flat parameter-shaped vector, through
/// any engine.
///
/// # Errors
/// The engine's.
pub fn exact_sample_term(
    engine: &mut dyn Engine,
    params: &[f32],
    m: &GridModel,
) -> EngineResult<Vec<f32>> {
    #[allow(clippy::cast_possible_truncation)]
    let w: Vec<f32> = m.weights.iter().map(|w| *w as f32).collect();
    let mut total = vec![0.0_f32; engine.architecture().n_params];
    engine.weighted_param_grad(params, &m.points, &w, &mut total)?;
    Ok(total)
}

/// Draws points from the model: on the plane's grid a cell by its weight, then a point
/// uniformly inside it; on bits a state by its weight. Fills `out` row-major.
pub fn sample(m: &GridModel, out: &mut [f32], rng: &mut impl Rng) {
    let mut cdf = Vec::with_capacity(m.weights.len());
    let mut acc = 0.0;
    for w in &m.weights {
        acc += w;
        cdf.push(acc);
    }
    if m.grid == 0 {
        let d = m.dim();
        for row in out.chunks_exact_mut(d) {
            let u = rng.random::<f64>() * acc;
            let k = cdf.partition_point(|c| *c < u).min(cdf.len() - 1);
            row.copy_from_slice(&m.points[k * d..(k + 1) * d]);
        }
        return;
    }
    let g = m.grid;
    #[allow(clippy::cast_precision_loss)]
    let (dx, dy) = (
        (m.data_box.hi[0] - m.data_box.lo[0]) / g as f32,
        (m.data_box.hi[1] - m.data_box.lo[1]) / g as f32,
    );
    for row in out.chunks_exact_mut(2) {
        let u = rng.random::<f64>() * acc;
        let k = cdf.partition_point(|c| *c < u).min(cdf.len() - 1);
        let (i, j) = (k % g, k / g);
        #[allow(clippy::cast_precision_loss)]
        {
            row[0] = m.data_box.lo[0] + (i as f32 + rng.random::<f32>()) * dx;
            row[1] = m.data_box.lo[1] + (j as f32 + rng.random::<f32>()) * dy;
        }
    }
}

/// Exact draws of a batch of the sampler's size this many times for the noise floor.
pub const FLOOR_DRAWS: usize = 16;

/// How far below the mean of the exact batches' cosines the floor lies, in their
/// standard deviations.
pub const FLOOR_SDS: f64 = 2.5;

/// The Monte-Carlo floor of cos(ĝ, g*): batches of `batch` points are drawn exactly from
/// the grid model [`FLOOR_DRAWS`] times, ĝ each batch's mean ∂E/∂θ; the floor is the mean
/// of their cosines to g* less [`FLOOR_SDS`] standard deviations — a level a perfect
/// sampler's estimate falls below only rarely, by Monte-Carlo noise alone. Near 1 for
/// large batches; far below for a batch of one.
///
/// # Errors
/// The engine's.
pub fn noise_floor(
    engine: &mut dyn Engine,
    params: &[f32],
    m: &GridModel,
    g_star: &[f32],
    batch: usize,
    rng: &mut impl Rng,
) -> EngineResult<f64> {
    noise_floor_of(engine, params, g_star, batch, rng, |xs, rng| {
        sample(m, xs, rng)
    })
}

/// [`noise_floor`] for any exact sampler: `draw` fills a batch (row-major, the engine's
/// input dimension) with exact draws of the model.
///
/// # Errors
/// The engine's.
pub fn noise_floor_of<R: Rng>(
    engine: &mut dyn Engine,
    params: &[f32],
    g_star: &[f32],
    batch: usize,
    rng: &mut R,
    mut draw: impl FnMut(&mut [f32], &mut R),
) -> EngineResult<f64> {
    let batch = batch.max(1);
    let mut xs = vec![0.0_f32; engine.architecture().input_dim * batch];
    #[allow(clippy::cast_precision_loss)]
    let w = vec![1.0 / batch as f32; batch];
    let mut g = vec![0.0_f32; g_star.len()];
    let mut cos = Vec::with_capacity(FLOOR_DRAWS);
    for _ in 0..FLOOR_DRAWS {
        draw(&mut xs, rng);
        g.fill(0.0);
        engine.weighted_param_grad(params, &xs, &w, &mut g)?;
        cos.push(compare(&g, g_star).0);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = cos.len() as f64;
    let mean = cos.iter().sum::<f64>() / n;
    let sd = (cos.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    Ok(mean - FLOOR_SDS * sd)
}

/// cos(a, b) and ‖a − b‖/‖b‖.
#[must_use]
pub fn compare(estimate: &[f32], exact: &[f32]) -> (f64, f64) {
    let (mut ab, mut aa, mut bb, mut dd) = (0.0, 0.0, 0.0, 0.0);
    for (a, b) in estimate.iter().zip(exact) {
        let (a, b) = (f64::from(*a), f64::from(*b));
        ab += a * b;
        aa += a * a;
        bb += b * b;
        dd += (a - b) * (a - b);
    }
    (
        ab / (aa.sqrt() * bb.sqrt()).max(1e-300),
        dd.sqrt() / bb.sqrt().max(1e-300),
    )
}
