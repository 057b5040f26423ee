//! The persistent replay buffer of past samples (PCD, as in JEM and Du & Mordatch).

use super::uniform_in_box;
use crate::data::DataBox;
use rand::Rng;

#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    pub dim: usize,
    /// Row-major `size × dim`.
    pub points: Vec<f32>,
    /// How many training steps each chain has lived since it was (re)initialised.
    pub ages: Vec<u32>,
    /// The slots the last draw took (written back after the sampler runs).
    pub drawn: Vec<usize>,
}

impl ReplayBuffer {
    /// A buffer of `size` points uniform in the box.
    pub fn new(size: usize, data_box: &DataBox, rng: &mut impl Rng) -> Self {
        let dim = data_box.dim();
        let mut points = vec![0.0; size * dim];
        uniform_in_box(data_box, &mut points, rng);
        Self {
            dim,
            points,
            ages: vec![0; size],
            drawn: Vec::new(),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ages.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ages.is_empty()
    }

    /// Draws `m` chains (with replacement) into `x`; each restarts from uniform noise
    /// with probability `reinit_prob`.
    pub fn draw(
        &mut self,
        m: usize,
        reinit_prob: f32,
        data_box: &DataBox,
        x: &mut [f32],
        rng: &mut impl Rng,
    ) {
        let d = self.dim;
        self.drawn.clear();
        for i in 0..m {
            let k = rng.random_range(0..self.len());
            self.drawn.push(k);
            let row = &mut x[i * d..(i + 1) * d];
            if rng.random::<f32>() < reinit_prob {
                uniform_in_box(data_box, row, rng);
                self.ages[k] = 0;
            } else {
                row.copy_from_slice(&self.points[k * d..(k + 1) * d]);
            }
        }
    }

    /// Writes the chains drawn last back to their slots.
    pub fn write_back(&mut self, x: &[f32]) {
        let d = self.dim;
        for (i, &k) in self.drawn.iter().enumerate() {
            self.points[k * d..(k + 1) * d].copy_from_slice(&x[i * d..(i + 1) * d]);
            self.ages[k] = self.ages[k].saturating_add(1);
        }
    }
}
