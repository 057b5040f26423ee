//! Exact log-likelihood in 2-D by quadrature: log Z = logsumexp(−E(grid)) + log(cell
//! area) with the midpoint rule on a g×g grid over the data box.

use crate::data::DataBox;

/// The cell centres of a `g × g` grid over the box, row-major (x fastest).
#[must_use]
pub fn grid_points(b: &DataBox, g: usize) -> Vec<f32> {
    let mut pts = Vec::with_capacity(2 * g * g);
    #[allow(clippy::cast_precision_loss)]
    let (dx, dy) = (
        (b.hi[0] - b.lo[0]) / g as f32,
        (b.hi[1] - b.lo[1]) / g as f32,
    );
    for j in 0..g {
        for i in 0..g {
            #[allow(clippy::cast_precision_loss)]
            {
                pts.push(b.lo[0] + (i as f32 + 0.5) * dx);
                pts.push(b.lo[1] + (j as f32 + 0.5) * dy);
            }
        }
    }
    pts
}

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
    let pts = grid_points(b, g);
    let mut e = vec![0.0_f32; g * g];
    for (xs, es) in pts.chunks(2 * chunk).zip(e.chunks_mut(chunk)) {
        energy(xs, es);
    }
    let lz = logsumexp_neg(&e) + log_cell_area(b, g);
    (e, lz)
}
