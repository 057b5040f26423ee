//! A classifier as an EBM (JEM): the cross-entropy term of a training step, held-out
//! accuracy and calibration, the class map, and draws from p(x | y).

use super::*;

/// How well the classifier (JEM) does on held-out points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The fraction whose most probable class is the label.
    pub accuracy: f64,
    /// Expected calibration error over 15 equal-width confidence bins:
    /// Σ_bins (n_bin/N)·|accuracy_bin − mean confidence_bin|.
    pub ece: f64,
}

impl Classification {
    /// From class probabilities (`n × k`, rows summing to 1) and labels.
    #[must_use]
    pub fn from_probs(probs: &[f32], labels: &[u32], k: usize) -> Self {
        const BINS: usize = 15;
        let mut count = [0_usize; BINS];
        let mut hits = [0_usize; BINS];
        let mut conf = [0.0_f64; BINS];
        let mut correct = 0;
        for (p, y) in probs.chunks_exact(k).zip(labels) {
            let (best, c) = crate::energy::argmax(p);
            let hit = best == *y as usize;
            correct += usize::from(hit);
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let bin = ((f64::from(c) * BINS as f64) as usize).min(BINS - 1);
            count[bin] += 1;
            hits[bin] += usize::from(hit);
            conf[bin] += f64::from(c);
        }
        #[allow(clippy::cast_precision_loss)]
        let n = labels.len().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let ece = (0..BINS)
            .filter(|&i| count[i] > 0)
            .map(|i| {
                let m = count[i] as f64;
                (m / n) * (hits[i] as f64 / m - conf[i] / m).abs()
            })
            .sum();
        #[allow(clippy::cast_precision_loss)]
        Self {
            accuracy: correct as f64 / n,
            ece,
        }
    }
}

impl Session {
    /// Class probabilities (`n × K`) of the rows of `x`, by the preset's engine.
    pub(super) fn class_probs(&mut self, x: &[f32]) -> Option<Vec<f32>> {
        let k = self.arch.outputs;
        let n = x.len() / self.data.dim;
        let mut e = vec![0.0; n];
        let mut p = vec![0.0; n * k];
        let mut out = Ok(());
        for ((xs, es), ps) in x
            .chunks(self.data.dim * 4096)
            .zip(e.chunks_mut(4096))
            .zip(p.chunks_mut(4096 * k))
        {
            out = out.and(self.engine.class_probs(&self.params, xs, es, ps));
        }
        self.note_failure();
        out.ok().map(|()| p)
    }

    /// The classifier on the held-out split (networks with one logit per class of
    /// labelled data): accuracy and expected calibration error.
    pub fn classify(&mut self) -> Option<Classification> {
        let k = self.arch.outputs;
        let n = self.data.n_test();
        if k < 2 || self.data.classes != k || self.data.test_labels.len() != n || n == 0 {
            return None;
        }
        let test = self.data.test.clone();
        let p = self.class_probs(&test)?;
        Some(Classification::from_probs(&p, &self.data.test_labels, k))
    }

    /// For a network with K > 1 logits: the most probable class at each point of a
    /// `g × g` grid over the data box (x fastest) and its probability.
    pub fn grid_classes(&mut self, g: usize) -> Option<(Vec<u32>, Vec<f32>)> {
        let k = self.arch.outputs;
        if k < 2 {
            return None;
        }
        let pts = self.data.data_box.grid_points(g);
        let p = self.class_probs(&pts)?;
        let (best, conf) = p
            .chunks_exact(k)
            .map(|row| {
                let (i, v) = crate::energy::argmax(row);
                (u32::try_from(i).unwrap_or(0), v)
            })
            .unzip();
        Some((best, conf))
    }

    /// For a classifier (K logits): `n` draws from the class-conditional
    /// p(x | y) ∝ exp(f_y(x)), by the preset's sampler rule and engine run for `steps`
    /// steps from uniform noise in the data box. Uses its own random numbers, so training
    /// goes on exactly as without it.
    pub fn class_samples(&mut self, y: usize, n: usize, steps: usize) -> Option<Vec<f32>> {
        if self.arch.outputs < 2 || y >= self.arch.outputs {
            return None;
        }
        let mut rng =
            SmallRng::seed_from_u64(0xC1A5_5E5D ^ (self.step as u64) ^ ((y as u64) << 32));
        let mut x = vec![0.0; n * self.data.dim];
        uniform_in_box(&self.data.data_box, &mut x, &mut rng);
        self.run_chains(Some(y), &mut x, steps, &mut rng)?;
        Some(x)
    }

    /// Runs the preset's sampler rule (with its clamp, clip and adapted step) for `steps`
    /// steps on the rows of `x` in place, on the model (`class` `None`) or on a class's
    /// conditional, by the preset's engine. Training's random numbers are not touched.
    /// `None` when the engine failed and no other can run the network.
    pub fn run_chains(
        &mut self,
        class: Option<usize>,
        x: &mut [f32],
        steps: usize,
        rng: &mut SmallRng,
    ) -> Option<Acceptance> {
        let mut spec = self.sampler_spec();
        if spec.kind == SamplerKind::Exact {
            spec.kind = SamplerKind::Langevin { step_size: 0.05 };
        }
        spec.steps = steps;
        // The preset's engine, with the fast engine standing in where it fails.
        let mut sampler = Sampler::new(&self.engine);
        let ran = sampler.run_for(
            class,
            &spec,
            &self.params,
            x,
            &self.data.data_box,
            rng,
            None,
        );
        if let Some(m) = sampler.take_failure() {
            self.engine_failed(&m);
        }
        self.note_failure();
        ran.ok()
    }

    /// Short run against long run: `chains` chains taken from the replay buffer (the
    /// sampler's last batch, or noise, without one) run `steps` more steps of the
    /// preset's rule on the current energy. Shows what the buffer really holds: where
    /// the short runs of training stop, and where the model's chains go.
    pub fn long_run(&mut self, chains: usize, steps: usize) -> Option<LongRun> {
        let d = self.data.dim;
        let mut rng = SmallRng::seed_from_u64(0x10_4E5E ^ (self.step as u64));
        let mut start = vec![0.0_f32; chains * d];
        match (&self.buffer, self.x_neg.len() / d.max(1)) {
            (Some(buf), _) if !buf.is_empty() => {
                for row in start.chunks_exact_mut(d) {
                    let k = rng.random_range(0..buf.len());
                    row.copy_from_slice(&buf.points[k * d..(k + 1) * d]);
                }
            }
            (_, n) if n > 0 => {
                for row in start.chunks_exact_mut(d) {
                    let k = rng.random_range(0..n);
                    row.copy_from_slice(&self.x_neg[k * d..(k + 1) * d]);
                }
            }
            _ => uniform_in_box(&self.data.data_box, &mut start, &mut rng),
        }
        // The run in pieces, the energy and the first coordinates of every chain recorded
        // after each (at most LONG_RUN_POINTS times).
        let every = steps.div_ceil(LONG_RUN_POINTS).max(1);
        let tracked = d.min(16);
        let mut end = start.clone();
        let mut energy_trace: Vec<Vec<f32>> = vec![Vec::new(); chains];
        let mut coords: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); chains]; tracked];
        let (mut accepted, mut proposed) = (0, 0);
        let mut done = 0;
        let e0 = self.energy(&start);
        for (c, e) in e0.iter().enumerate() {
            energy_trace[c].push(*e);
        }
        while done < steps {
            let n = every.min(steps - done);
            let acc = self.run_chains(None, &mut end, n, &mut rng)?;
            accepted += acc.accepted;
            proposed += acc.proposed;
            done += n;
            let e = self.energy(&end);
            for c in 0..chains {
                energy_trace[c].push(e[c]);
                for (j, q) in coords.iter_mut().enumerate() {
                    q[c].push(f64::from(end[c * d + j]));
                }
            }
        }
        let e_start = e0;
        let e_end = self.energy(&end);
        // R̂ and ESS over the second half of the recorded run (the first is warm-up).
        let half = |v: &[f64]| v[v.len() / 2..].to_vec();
        let mut quantities: Vec<(String, Vec<Vec<f64>>)> = vec![(
            "energy".into(),
            energy_trace
                .iter()
                .map(|t| half(&t.iter().map(|e| f64::from(*e)).collect::<Vec<_>>()))
                .collect(),
        )];
        for (j, q) in coords.iter().enumerate() {
            quantities.push((format!("x{j}"), q.iter().map(|t| half(t)).collect()));
        }
        let enough = chains >= 2 && energy_trace[0].len() >= 9;
        let (rhat, ess) = if enough {
            crate::eval::diagnostics::worst(&quantities)
        } else {
            ((String::new(), f64::NAN), (String::new(), f64::NAN))
        };
        Some(LongRun {
            step: self.step,
            steps,
            start,
            end,
            e_start,
            e_end,
            acceptance: Acceptance { accepted, proposed }.rate(),
            energy_trace,
            every,
            rhat,
            ess,
            end_2d: Vec::new(),
            start_2d: Vec::new(),
        })
    }
}

/// Points of a long run's traces at most.
pub const LONG_RUN_POINTS: usize = 200;

/// Chains from the buffer before and after a long run on the current energy.
#[derive(Debug, Clone)]
pub struct LongRun {
    /// The training step it was run at.
    pub step: usize,
    /// Sampler steps of the long run.
    pub steps: usize,
    /// The chains as the buffer held them (row-major `chains × dim`).
    pub start: Vec<f32>,
    /// The same chains after the long run.
    pub end: Vec<f32>,
    pub e_start: Vec<f32>,
    pub e_end: Vec<f32>,
    /// MALA and HMC: the share of moves accepted.
    pub acceptance: Option<f64>,
    /// Every chain's energy at the start and after every `every` steps.
    pub energy_trace: Vec<Vec<f32>>,
    pub every: usize,
    /// The largest rank-normalised split-R̂ over the energy and the first coordinates, on
    /// the second half of the run, and which quantity it is (NaN for fewer than two
    /// chains or a run too short).
    pub rhat: (String, f64),
    /// The smallest bulk ESS over the same, and which quantity it is.
    pub ess: (String, f64),
    /// The chains' ends on the view's two axes (the plane as is; projected elsewhere;
    /// filled by the training thread).
    pub end_2d: Vec<f32>,
    /// Their starts (the short run's samples) the same way.
    pub start_2d: Vec<f32>,
}
