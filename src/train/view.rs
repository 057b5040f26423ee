//! What the worker sends the window to draw, one case per data space, and how it is made.
//! A view carries at most what is drawn (DESIGN §6): in the plane the heat map and a
//! bounded set of points; for vectors the points projected on two axes, with the data
//! projected the same way; for images a bounded set of tiles. The case is chosen once,
//! from the data's [`Space`], by [`ViewBuilder::for_session`].

use super::session::{LongRun, Session};
use crate::data::Space;
use crate::data::projection::{Projection, ProjectionKind};

/// Points of each kind a view carries at most outside the plane.
pub const VIEW_POINTS: usize = 2000;
/// Replay-buffer chains a plane view carries at most (the bundled presets keep 10 000 or
/// fewer, so all of theirs are sent; the plot thins them to 1 500 as before).
pub const PLANE_BUFFER_POINTS: usize = 16_384;
/// Grid side of the heat map sent with each view.
pub const VIEW_GRID: usize = 96;
/// Grid side of each unit's response in the network drawing.
pub const UNIT_GRID: usize = 24;
/// Units of a layer drawn at most.
pub const UNITS_SHOWN: usize = 16;
/// Images of each kind an image view carries at most.
pub const IMAGES_SHOWN: usize = 64;
/// Held-out rows, noise points and shuffled images whose energies a view reports.
const POPULATION: usize = 512;

/// A snapshot of what the sampler and the model look like now: at most what is drawn.
#[derive(Debug, Clone)]
pub struct View {
    pub step: usize,
    /// What the centre of the window draws, by space.
    pub scene: Scene,
    /// E on held-out data, on the sampler's batch and on uniform noise in the box.
    pub energy_populations: EnergyPopulations,
    /// For a mixture target: each component's share of the samples and its true weight.
    pub coverage: Option<Vec<(f64, f64)>>,
}

/// The centre of the view, one case per space.
#[derive(Debug, Clone)]
pub enum Scene {
    /// The plane: the chains as they are, over the model's energy on a grid.
    Plane {
        chains: Chains,
        heat: Heat,
        /// The hidden units' responses over the data box (MLPs, when asked).
        units: Option<crate::energy::units::Units>,
    },
    /// Vectors: the chains and the training data projected on the view's two axes.
    Projected { chains: Chains, data: ProjectedData },
    /// Images: pictures of the data, the samples, the buffer and one chain.
    Images(ImageView),
}

/// The sampler's chains as 2-D points (as they are in the plane, projected elsewhere).
#[derive(Debug, Clone, Default)]
pub struct Chains {
    /// The sampler's latest batch, row-major `n × 2`.
    pub samples: Vec<f32>,
    /// Replay-buffer chains (at most [`PLANE_BUFFER_POINTS`] in the plane,
    /// [`VIEW_POINTS`] elsewhere) and their ages, when there is a buffer.
    pub buffer: Option<(Vec<f32>, Vec<u32>)>,
    /// Chain paths: `(chains, positions)`, positions row-major `(steps+1) × chains × 2`.
    pub paths: Option<(usize, Vec<f32>)>,
}

/// The model on a `grid × grid` grid over the data box (x fastest).
#[derive(Debug, Clone)]
pub struct Heat {
    pub energies: Vec<f32>,
    pub grid: usize,
    /// log Z by quadrature on the same grid.
    pub log_z: f64,
    /// For a classifier (K logits): the most probable class on the grid and its
    /// probability.
    pub classes: Option<(Vec<u32>, Vec<f32>)>,
}

/// What the image views draw: a few rows of each kind, row-major C×H×W each.
#[derive(Debug, Clone)]
pub struct ImageView {
    /// Channels, rows, columns.
    pub shape: [usize; 3],
    /// The pixel range (lowest, highest).
    pub range: (f32, f32),
    /// Held-out images.
    pub data: Vec<f32>,
    /// The sampler's latest batch (at most [`IMAGES_SHOWN`]).
    pub samples: Vec<f32>,
    /// Chains of the replay buffer spread over it, with their ages, oldest first.
    pub buffer: Vec<f32>,
    pub buffer_ages: Vec<u32>,
    /// One chain over the last sampler run: its start, then every step.
    pub filmstrip: Vec<f32>,
    /// An RBM's weights, one picture per hidden unit (at most [`IMAGES_SHOWN`]), each
    /// scaled from its smallest weight (the range's low end) to its largest (the high
    /// end); empty for other energies.
    pub filters: Vec<f32>,
}

/// The training data on the view's axes.
#[derive(Debug, Clone)]
pub struct ProjectedData {
    pub kind: ProjectionKind,
    /// Row-major `n × 2` (at most [`VIEW_POINTS`] rows).
    pub data: Vec<f32>,
    pub names: [String; 2],
}

/// Energies of the three populations every EBM code logs.
#[derive(Debug, Clone, Default)]
pub struct EnergyPopulations {
    pub data: Vec<f32>,
    pub samples: Vec<f32>,
    pub noise: Vec<f32>,
    /// Images: E on held-out images with their pixels shuffled (out of distribution).
    pub ood: Vec<f32>,
}

impl View {
    /// The chains as 2-D points (the plane and vectors).
    #[must_use]
    pub fn chains(&self) -> Option<&Chains> {
        match &self.scene {
            Scene::Plane { chains, .. } | Scene::Projected { chains, .. } => Some(chains),
            Scene::Images(_) => None,
        }
    }

    /// The heat map (the plane).
    #[must_use]
    pub fn heat(&self) -> Option<&Heat> {
        match &self.scene {
            Scene::Plane { heat, .. } => Some(heat),
            _ => None,
        }
    }

    /// The training data on the view's axes (vectors).
    #[must_use]
    pub fn projection(&self) -> Option<&ProjectedData> {
        match &self.scene {
            Scene::Projected { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The pictures (images).
    #[must_use]
    pub fn images(&self) -> Option<&ImageView> {
        match &self.scene {
            Scene::Images(v) => Some(v),
            _ => None,
        }
    }

    /// The units' responses (the plane, when asked).
    #[must_use]
    pub fn units(&self) -> Option<&crate::energy::units::Units> {
        match &self.scene {
            Scene::Plane { units, .. } => units.as_ref(),
            _ => None,
        }
    }
}

/// Which of the three views a space gets.
#[derive(Debug, Clone)]
enum Kind {
    Plane,
    /// The projection, fixed for a session unless asked otherwise.
    Projected(Projection),
    Images,
}

/// Makes the views of one session: the view's case, chosen once from the data's space,
/// and what stays fixed between views (the projection, the noise and shuffled images
/// whose energies are reported).
#[derive(Debug, Clone)]
pub struct ViewBuilder {
    kind: Kind,
    projection_kind: ProjectionKind,
    /// Uniform points in the box, drawn once.
    noise: Vec<f32>,
    /// Images: held-out images with their pixels shuffled (out of distribution).
    ood: Vec<f32>,
    /// Whether plane views carry the units' responses.
    pub units: bool,
}

impl ViewBuilder {
    /// The views of `session`'s data, projected (vectors) the `projection_kind` way.
    #[must_use]
    pub fn for_session(session: &Session, projection_kind: ProjectionKind, units: bool) -> Self {
        let d = session.data();
        let kind = match d.space {
            Space::Plane => Kind::Plane,
            Space::Vector { .. } => {
                Kind::Projected(Projection::new(projection_kind, &d.train, d.dim))
            }
            Space::Image { .. } | Space::Bits { .. } => Kind::Images,
        };
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0x0015_E5ED);
        let mut noise = vec![0.0; POPULATION * d.dim];
        crate::sampler::uniform_in_box(&d.data_box, &mut noise, &mut rng);
        let ood = match kind {
            Kind::Images => d.shuffled_rows(POPULATION, 0x0005_4FF1),
            _ => Vec::new(),
        };
        Self {
            kind,
            projection_kind,
            noise,
            ood,
            units,
        }
    }

    /// The projection views use (vectors only).
    #[must_use]
    pub fn projection_kind(&self) -> ProjectionKind {
        self.projection_kind
    }

    /// The view of `session` now.
    pub fn build(&self, session: &mut Session) -> View {
        let scene = match &self.kind {
            Kind::Plane => Scene::Plane {
                chains: Chains {
                    samples: session.samples().to_vec(),
                    buffer: session.replay_buffer().map(|b| {
                        let n = b.len().min(PLANE_BUFFER_POINTS);
                        (b.points[..n * b.dim].to_vec(), b.ages[..n].to_vec())
                    }),
                    paths: session.chain_paths.clone(),
                },
                heat: {
                    let eval = session.evaluate_grid(VIEW_GRID);
                    Heat {
                        energies: eval.energies,
                        grid: eval.grid,
                        log_z: eval.log_z,
                        classes: session.grid_classes(VIEW_GRID),
                    }
                },
                units: self
                    .units
                    .then(|| {
                        crate::energy::units::unit_responses(
                            session.architecture(),
                            session.params(),
                            &session.data().data_box,
                            UNIT_GRID,
                            UNITS_SHOWN,
                        )
                    })
                    .flatten(),
            },
            Kind::Projected(p) => Scene::Projected {
                chains: Chains {
                    samples: p.project(session.samples(), VIEW_POINTS),
                    buffer: session.replay_buffer().map(|b| {
                        let n = b.len().min(VIEW_POINTS);
                        (p.project(&b.points[..n * b.dim], n), b.ages[..n].to_vec())
                    }),
                    paths: session
                        .chain_paths
                        .as_ref()
                        .map(|(n, xs)| (*n, p.project(xs, usize::MAX))),
                },
                data: ProjectedData {
                    kind: p.kind,
                    data: p.project(&session.data().train, VIEW_POINTS),
                    names: p.names.clone(),
                },
            },
            Kind::Images => Scene::Images(image_view(session)),
        };
        View {
            step: session.step_count(),
            scene,
            energy_populations: self.populations(session),
            coverage: coverage(session),
        }
    }

    /// The long run's starts and ends on the view's axes: as they are in the plane,
    /// projected for vectors, none for images (the image view shows them as pictures).
    pub fn place_long_run(&self, r: &mut LongRun, dim: usize) {
        let n = r.end.len() / dim.max(1);
        (r.start_2d, r.end_2d) = match &self.kind {
            Kind::Plane => (r.start.clone(), r.end.clone()),
            Kind::Projected(p) => (p.project(&r.start, n), p.project(&r.end, n)),
            Kind::Images => (Vec::new(), Vec::new()),
        };
    }

    fn populations(&self, session: &mut Session) -> EnergyPopulations {
        let d = session.data().dim;
        let test = &session.data().test;
        let held_out = test[..test.len().min(POPULATION * d)].to_vec();
        let samples = session.samples().to_vec();
        EnergyPopulations {
            data: session.energy(&held_out),
            samples: session.energy(&samples),
            noise: session.energy(&self.noise),
            ood: if self.ood.is_empty() {
                Vec::new()
            } else {
                session.energy(&self.ood)
            },
        }
    }
}

/// For a mixture target: each component's share of the samples and its true weight.
fn coverage(session: &Session) -> Option<Vec<(f64, f64)>> {
    let d = session.data().dim;
    let t = session.data().spec.target()?;
    let weights = t.component_weights()?;
    let mut counts = vec![0_usize; weights.len()];
    let rows = session.samples().chunks_exact(d);
    let n = rows.len().max(1);
    for r in rows {
        if let Some(c) = t.component_of(r) {
            counts[c.min(weights.len() - 1)] += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    Some(
        counts
            .iter()
            .zip(&weights)
            .map(|(c, w)| (*c as f64 / n as f64, *w))
            .collect(),
    )
}

/// Images: a few held-out images, samples, buffer chains (spread over the buffer, oldest
/// first) and the recorded chain's frames.
fn image_view(session: &Session) -> ImageView {
    let data = session.data();
    let d = data.dim;
    let shape = data.space.input_shape();
    let take = |x: &[f32]| x[..x.len().min(IMAGES_SHOWN * d)].to_vec();
    let (mut buffer, mut buffer_ages) = (Vec::new(), Vec::new());
    if let Some(b) = session.replay_buffer() {
        let n = b.len();
        let mut picks: Vec<usize> = (0..IMAGES_SHOWN.min(n))
            .map(|i| i * n / IMAGES_SHOWN.min(n).max(1))
            .collect();
        picks.sort_by_key(|&k| std::cmp::Reverse(b.ages[k]));
        for k in picks {
            buffer.extend_from_slice(&b.points[k * d..(k + 1) * d]);
            buffer_ages.push(b.ages[k]);
        }
    }
    // The first recorded chain: frames of `chains × d` per step, chain 0 first.
    let filmstrip = session
        .chain_paths
        .as_ref()
        .map(|(n, xs)| {
            let per = (*n).max(1) * d;
            xs.chunks(per)
                .filter(|f| f.len() >= d)
                .flat_map(|f| f[..d].iter().copied())
                .collect()
        })
        .unwrap_or_default();
    ImageView {
        shape: [shape[0], shape[1], shape[2]],
        range: data.spec.pixels.bounds(),
        data: take(&data.test),
        samples: take(session.samples()),
        buffer,
        buffer_ages,
        filmstrip,
        filters: rbm_filters(session, data.spec.pixels.bounds()),
    }
}

/// An RBM's weight rows as pictures in the range `(lo, hi)`, each scaled to its own
/// smallest and largest weight.
fn rbm_filters(session: &Session, (lo, hi): (f32, f32)) -> Vec<f32> {
    let Some(hidden) = session.architecture().rbm else {
        return Vec::new();
    };
    let d = session.data().dim;
    let w = &session.params()[..hidden * d];
    let mut out = Vec::with_capacity(hidden.min(IMAGES_SHOWN) * d);
    for row in w.chunks_exact(d).take(IMAGES_SHOWN) {
        let (mn, mx) = row
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let span = (mx - mn).max(1e-12);
        out.extend(row.iter().map(|v| lo + (hi - lo) * (v - mn) / span));
    }
    out
}
