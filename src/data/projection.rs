//! Two directions to look at points of any dimension along: two chosen coordinates, or
//! the data's first two principal components (fixed once computed, so that a run's views
//! stay comparable).

/// How points are projected on the view's two axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ProjectionKind {
    /// The data's first two principal components.
    #[default]
    Pca,
    /// Two coordinates (numbered from 0).
    Coordinates(usize, usize),
}

/// A fixed linear map from `dim` numbers to two.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub kind: ProjectionKind,
    pub dim: usize,
    /// Subtracted before projecting (the data's mean for PCA, zero for coordinates).
    pub centre: Vec<f32>,
    /// Two unit directions, `dim` numbers each.
    pub axes: [Vec<f32>; 2],
    /// The axes' names: `PC1 (35 % of the variance)`, `x3`.
    pub names: [String; 2],
}

impl Projection {
    /// The projection `kind` asks for, for the rows of `data` (`dim` numbers each); the
    /// coordinates are clamped to the dimension.
    #[must_use]
    pub fn new(kind: ProjectionKind, data: &[f32], dim: usize) -> Self {
        match kind {
            ProjectionKind::Pca => Self::pca(data, dim),
            ProjectionKind::Coordinates(i, j) => Self::coordinates(i, j, dim),
        }
    }

    /// Coordinates `i` and `j`.
    #[must_use]
    pub fn coordinates(i: usize, j: usize, dim: usize) -> Self {
        let last = dim.saturating_sub(1);
        let (i, j) = (i.min(last), j.min(last));
        let unit = |k: usize| {
            let mut v = vec![0.0_f32; dim];
            if let Some(x) = v.get_mut(k) {
                *x = 1.0;
            }
            v
        };
        Self {
            kind: ProjectionKind::Coordinates(i, j),
            dim,
            centre: vec![0.0; dim],
            axes: [unit(i), unit(j)],
            names: [format!("x{i}"), format!("x{j}")],
        }
    }

    /// The first two principal components of the rows of `data` (of the first 4 000), by
    /// power iteration on their covariance with deflation.
    #[must_use]
    pub fn pca(data: &[f32], dim: usize) -> Self {
        let rows: Vec<&[f32]> = data.chunks_exact(dim.max(1)).take(4000).collect();
        #[allow(clippy::cast_precision_loss)]
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0_f64; dim];
        for r in &rows {
            for (m, v) in mean.iter_mut().zip(*r) {
                *m += f64::from(*v) / n;
            }
        }
        let mut cov = vec![0.0_f64; dim * dim];
        for r in &rows {
            for a in 0..dim {
                let da = f64::from(r[a]) - mean[a];
                for b in a..dim {
                    cov[a * dim + b] += da * (f64::from(r[b]) - mean[b]) / n;
                }
            }
        }
        for a in 0..dim {
            for b in 0..a {
                cov[a * dim + b] = cov[b * dim + a];
            }
        }
        let total: f64 = (0..dim).map(|a| cov[a * dim + a]).sum::<f64>().max(1e-300);
        let mut found: Vec<(Vec<f64>, f64)> = Vec::new();
        for k in 0..2.min(dim) {
            // Start from a fixed, generic direction; deflate the components found.
            #[allow(clippy::cast_precision_loss)]
            let mut v: Vec<f64> = (0..dim)
                .map(|i| 1.0 + (i as f64 * 0.618 + k as f64).sin())
                .collect();
            let mut lambda = 0.0;
            for _ in 0..500 {
                let mut w = vec![0.0_f64; dim];
                for a in 0..dim {
                    w[a] = (0..dim).map(|b| cov[a * dim + b] * v[b]).sum();
                }
                for (u, l) in &found {
                    let dot: f64 = u.iter().zip(&v).map(|(x, y)| x * y).sum();
                    for (wi, ui) in w.iter_mut().zip(u) {
                        *wi -= l * dot * ui;
                    }
                }
                let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm < 1e-300 {
                    break;
                }
                let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
                let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
                v = next;
                lambda = norm;
                if change < 1e-10 {
                    break;
                }
            }
            // A sign that does not depend on the start: the largest entry positive.
            let big = v
                .iter()
                .copied()
                .fold(0.0_f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            found.push((v, lambda));
        }
        while found.len() < 2 {
            let mut v = vec![0.0; dim];
            if let Some(x) = v.get_mut(found.len()) {
                *x = 1.0;
            }
            found.push((v, 0.0));
        }
        #[allow(clippy::cast_possible_truncation)]
        let to32 = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
        let share = |l: f64| 100.0 * l / total;
        Self {
            kind: ProjectionKind::Pca,
            dim,
            #[allow(clippy::cast_possible_truncation)]
            centre: mean.iter().map(|m| *m as f32).collect(),
            axes: [to32(&found[0].0), to32(&found[1].0)],
            names: [
                format!("PC1 ({:.0} % of the variance)", share(found[0].1)),
                format!("PC2 ({:.0} % of the variance)", share(found[1].1)),
            ],
        }
    }

    /// The rows of `x` (`dim` numbers each, at most `max` of them, evenly spread) as
    /// points on the two axes, row-major `n × 2`.
    #[must_use]
    pub fn project(&self, x: &[f32], max: usize) -> Vec<f32> {
        let d = self.dim.max(1);
        let n = x.len() / d;
        let stride = n.div_ceil(max.max(1)).max(1);
        let mut out = Vec::with_capacity(2 * n.min(max));
        for r in x.chunks_exact(d).step_by(stride) {
            for axis in &self.axes {
                let v: f32 = r
                    .iter()
                    .zip(&self.centre)
                    .zip(axis)
                    .map(|((xi, c), a)| (xi - c) * a)
                    .sum();
                out.push(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points spread mostly along (1, 1, 0)/√2, less along z, hardly at all along
    /// (1, −1, 0): PCA finds the first two in that order, with their shares.
    #[test]
    fn pca_finds_the_directions_of_largest_spread() {
        let mut x = Vec::new();
        for i in 0..1000 {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f32 / 1000.0;
            let a = 6.0 * (t * 37.0).sin();
            let b = 2.0 * (t * 91.0).cos();
            let c = 0.1 * (t * 13.0).sin();
            x.extend([a + c + 5.0, a - c, b]);
        }
        let p = Projection::pca(&x, 3);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!(
            (p.axes[0][0] - s).abs() < 1e-3 && (p.axes[0][1] - s).abs() < 1e-3,
            "{:?}",
            p.axes
        );
        assert!((p.axes[1][2].abs() - 1.0).abs() < 1e-3, "{:?}", p.axes);
        assert!(p.names[0].starts_with("PC1 (9"), "{}", p.names[0]);
        let y = p.project(&x[..6], 10);
        assert_eq!(y.len(), 4);
        let c = Projection::coordinates(2, 0, 3);
        assert_eq!(c.project(&[1.0, 2.0, 3.0], 1), vec![3.0, 1.0]);
        assert_eq!(c.names, ["x2".to_string(), "x0".to_string()]);
    }
}
