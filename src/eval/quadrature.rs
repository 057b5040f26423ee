//! Exact log-likelihood in 2-D by quadrature: log Z = logsumexp(−E(grid)) + log(cell
//! area) with the midpoint rule on a g×g grid over the data box.

use crate::data::DataBox;

/// log of one cell's area.
#[must_use]
pub fn log_cell_area(b: &DataBox, g: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = (g * g) as f64;
    (b.volume() / n).ln()
}

/// logsumexp(−e) in f64.
#[must_use]
pub fn logsumexp_neg(e: &[f32]) -> f64 {
    let m = e
        .iter()
        .map(|v| -f64::from(*v))
        .fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let s: f64 = e.iter().map(|v| (-f64::from(*v) - m).exp()).sum();
    m + s.ln()
}

/// log Z of an energy given as a function that fills energies for a chunk of points,
/// evaluated in chunks of `chunk` rows.
pub fn log_z(b: &DataBox, g: usize, chunk: usize, energy: impl FnMut(&[f32], &mut [f32])) -> f64 {
    energy_grid(b, g, chunk, energy).1
}

/// The energies on the grid and log Z together (for the heat map and the NLL at once).
pub fn energy_grid(
    b: &DataBox,
    g: usize,
    chunk: usize,
    mut energy: impl FnMut(&[f32], &mut [f32]),
) -> (Vec<f32>, f64) {
    let pts = b.grid_points(g);
    let mut e = vec![0.0_f32; g * g];
    for (xs, es) in pts.chunks(2 * chunk).zip(e.chunks_mut(chunk)) {
        energy(xs, es);
    }
    let lz = logsumexp_neg(&e) + log_cell_area(b, g);
    (e, lz)
}
