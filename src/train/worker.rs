//! The training thread. The window sends it [`Command`]s and receives [`Event`]s over
//! bounded channels; it never waits on the worker, and the worker calls a waker after
//! each send so the window repaints only when there is something new.

use super::metrics::{StepMetrics, to_csv};
use super::session::Session;
use crate::data::projection::{Projection, ProjectionKind};
use crate::error::TrainError;
use crate::preset::Preset;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the window asks of the worker.
#[derive(Debug)]
pub enum Command {
    /// Train continuously.
    Start,
    /// Stop after the current step.
    Pause,
    /// Take this many steps, then pause.
    Step(usize),
    /// Apply settings that are safe to change between steps (see [`Session::apply_live`]).
    SetPreset(Box<Preset>),
    /// Start over with a fresh session for this preset: run `u64` from now on.
    Reset(Box<Preset>, u64),
    /// Start over from given parameters (a loaded model): run `u64` from now on.
    LoadParams(Box<Preset>, Vec<f32>, u64),
    /// Write the model to a file.
    Export(PathBuf),
    /// Write all metrics so far as CSV.
    ExportMetrics(PathBuf),
    /// Write a checkpoint of the session (with every step's metrics).
    SaveCheckpoint(PathBuf),
    /// The same, quietly (the window's autosave).
    Autosave(PathBuf),
    /// Go on from a checkpoint: its session (made and checked by the window) replaces
    /// this one, with the metrics of its steps so far, as run `u64`.
    Resume(Box<(Preset, Session, Vec<StepMetrics>)>, u64),
    /// Remove the autosave (after every autosave sent before: a clean exit).
    DiscardAutosave(PathBuf),
    /// Estimate log Z by AIS (forward, and reverse from exact samples) next to quadrature.
    Ais(crate::eval::ais::AisSpec),
    /// Positions of a few chains over each sampler run (`0`: off).
    ChainPaths(usize),
    /// For a classifier: draws from the class-conditional p(x | y) of this class.
    ClassSamples(usize),
    /// Short run against long run: chains from the buffer run this many more steps.
    LongRun { chains: usize, steps: usize },
    /// Project points of more than two dimensions this way in the views.
    Project(ProjectionKind),
    /// Send the network's unit responses with each view (the plane, MLPs), or stop.
    UnitResponses(bool),
    /// End the thread.
    Stop,
    /// Make the next training step panic, as a bug would: how the tests check that the
    /// window recovers from one.
    PanicNextStep,
    /// Make the next reset panic while it makes the new session (the same, for resets).
    PanicNextReset,
}

/// A snapshot of what the sampler and the model look like now: at most what is drawn.
#[derive(Debug, Clone)]
pub struct View {
    pub step: usize,
    /// The sampler's latest batch as 2-D points, row-major `n × 2`: in the plane as they
    /// are, elsewhere projected on the view's axes.
    pub samples: Vec<f32>,
    /// The replay buffer's points (2-D or projected, at most [`VIEW_POINTS`] outside the
    /// plane) and chain ages, when there is one.
    pub buffer: Option<(Vec<f32>, Vec<u32>)>,
    /// Chain paths: `(chains, positions)`, positions row-major `(steps+1) × chains × 2`
    /// (projected outside the plane).
    pub paths: Option<(usize, Vec<f32>)>,
    /// Outside the plane: the training data projected like the samples, and the axes'
    /// names. `None` in the plane, where the window draws the data itself.
    pub projection: Option<ProjectedData>,
    /// Energies on a `grid × grid` grid over the data box (x fastest) and their log Z
    /// (the plane only; empty elsewhere).
    pub energies: Vec<f32>,
    pub grid: usize,
    pub log_z: f64,
    /// For a classifier (K logits) in the plane: the most probable class on the same
    /// grid and its probability.
    pub classes: Option<(Vec<u32>, Vec<f32>)>,
    /// E on held-out data, on the sampler's batch and on uniform noise in the box.
    pub energy_populations: EnergyPopulations,
    /// For a mixture target: each component's share of the samples and its true weight.
    pub coverage: Option<Vec<(f64, f64)>>,
    /// Images: pictures of the data, the samples, the buffer and one chain.
    pub images: Option<ImageView>,
    /// The hidden units' responses over the data box (the plane, MLPs, when asked).
    pub units: Option<crate::energy::units::Units>,
}

/// Grid side of each unit's response in the network drawing.
pub const UNIT_GRID: usize = 24;
/// Units of a layer drawn at most.
pub const UNITS_SHOWN: usize = 16;

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
}

/// Images of each kind an image view carries at most.
pub const IMAGES_SHOWN: usize = 64;

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

/// Points of each kind a view carries at most outside the plane.
pub const VIEW_POINTS: usize = 2000;

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// New metric rows, oldest first.
    Metrics(Vec<StepMetrics>),
    /// A new view of samples and energy.
    View(Box<View>),
    /// Whether training is running, and the step count (sent on every change).
    State { running: bool, step: usize },
    /// Training stopped because the run diverged; the parameters were rolled back.
    Diverged(TrainError),
    /// A file was written.
    Saved(PathBuf),
    /// The autosave was written, at this step.
    Autosaved(usize),
    /// A command failed.
    Failed(String),
    /// An AIS estimate of log Z, with quadrature's for comparison.
    Ais {
        step: usize,
        result: crate::eval::ais::AisResult,
        /// Quadrature's log Z beside it (the plane only).
        log_z_quadrature: Option<f64>,
    },
    /// The held-out NLL of a fresh or loaded model, before any step (step 0).
    InitialNll(f64),
    /// Chains from the buffer before and after a long run on the current energy.
    LongRun(Box<crate::train::session::LongRun>),
    /// Draws from a classifier's class-conditional p(x | y), row-major `n × dim`.
    ClassSamples {
        step: usize,
        class: usize,
        points: Vec<f32>,
    },
    /// The settings the worker now trains with (after a live change).
    Applied(Box<Preset>),
    /// A new session replaced the old one (a reset or a loaded model): every event after
    /// this belongs to it, every event before it to the old one.
    Restarted(Box<Preset>),
    /// A reset could not be made (the message says why); the old session goes on as
    /// run `live`.
    RestartFailed { message: String, live: u64 },
    /// A run asked for with Train reached the preset's steps and paused.
    Finished(usize),
    /// The session went back to this step (after a failure in the middle of a step):
    /// the steps after it are undone.
    RolledBack(usize),
    /// A file the user asked for could not be written (reported whichever run it was).
    WriteFailed(String),
}

impl Event {
    /// Whether the event speaks of a file the user asked for, whichever run wrote it
    /// (the window reports it even after a reset).
    #[must_use]
    pub fn outlives_its_run(&self) -> bool {
        matches!(self, Self::Saved(_) | Self::WriteFailed(_))
    }
}

/// The window's end of the worker.
pub struct WorkerHandle {
    commands: SyncSender<Command>,
    events: Receiver<(u64, Event)>,
    thread: Option<JoinHandle<()>>,
}

/// Draws and sampler steps of one batch of class-conditional samples.
pub const CLASS_SAMPLES: usize = 300;
/// Draws of one class for images: one row of pictures.
pub const CLASS_ROW: usize = 10;
pub const CLASS_SAMPLE_STEPS: usize = 150;

/// Grid side of the heat map sent with each view.
pub const VIEW_GRID: usize = 96;

impl WorkerHandle {
    /// Starts the worker thread with `session`. `waker` is called after every batch of
    /// events (the window passes `move || ctx.request_repaint()`).
    ///
    /// # Panics
    /// If the OS cannot start a thread.
    pub fn spawn(session: Session, waker: Box<dyn Fn() + Send + Sync>) -> Self {
        let (ctx, crx) = sync_channel::<Command>(64);
        let (etx, erx) = sync_channel::<(u64, Event)>(256);
        let thread = std::thread::Builder::new()
            .name("ebm-training".into())
            .spawn(move || Worker::new(session, etx, waker).run(&crx))
            .expect("cannot start the training thread");
        Self {
            commands: ctx,
            events: erx,
            thread: Some(thread),
        }
    }

    /// Sends a command without blocking. Returns `false` if the queue is full or the
    /// worker has ended.
    pub fn send(&self, c: Command) -> bool {
        self.commands.try_send(c).is_ok()
    }

    /// The next event, if one is waiting, with the run it belongs to (the id the
    /// replacing command gave; 0 for the session the worker started with).
    #[must_use]
    pub fn try_recv(&self) -> Option<(u64, Event)> {
        self.events.try_recv().ok()
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        // `send` may fail if the worker is gone; the join below then returns at once.
        self.commands.try_send(Command::Stop).ok();
        // Drain so a worker blocked on a full event queue can see the stop.
        while self.events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Gives the calling thread a lower scheduling priority (nice 10), so that drawing the
/// window wins over training when both want a core.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory-safety preconditions; on Linux, PRIO_PROCESS
    // with id 0 applies to the calling thread only. Failure just leaves the priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

struct Worker {
    session: Session,
    /// The run the session is: every event is tagged with it.
    run: u64,
    /// Whether the steps left were asked for by Train (reaching them finishes the run).
    to_target: bool,
    events: SyncSender<(u64, Event)>,
    waker: Box<dyn Fn() + Send + Sync>,
    running: bool,
    steps_left: usize,
    /// Set by [`Command::PanicNextStep`].
    panic_next_step: bool,
    /// Set by [`Command::PanicNextReset`].
    panic_next_reset: bool,
    pending: Vec<StepMetrics>,
    log: Vec<StepMetrics>,
    last_flush: Instant,
    last_view: Instant,
    view_dirty: bool,
    stop: bool,
    pool: Option<rayon::ThreadPool>,
    /// The view's projection outside the plane (fixed for a session unless asked).
    projection: Option<Projection>,
    projection_kind: ProjectionKind,
    /// Uniform points in the box, drawn once, whose energies the view reports.
    noise: Vec<f32>,
    /// Images: held-out images with their pixels shuffled (out of distribution).
    ood: Vec<f32>,
    /// Whether views carry the units' responses.
    units: bool,
}

impl Worker {
    fn new(
        session: Session,
        events: SyncSender<(u64, Event)>,
        waker: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            session,
            run: 0,
            to_target: false,
            events,
            waker,
            running: false,
            steps_left: 0,
            panic_next_step: false,
            panic_next_reset: false,
            pending: Vec::new(),
            log: Vec::new(),
            last_flush: Instant::now(),
            last_view: Instant::now(),
            view_dirty: true,
            stop: false,
            pool: None,
            projection: None,
            projection_kind: ProjectionKind::default(),
            noise: Vec::new(),
            ood: Vec::new(),
            units: false,
        }
    }

    /// The projection and noise points for the current session's data.
    fn refresh_view_basis(&mut self) {
        let d = self.session.data();
        self.projection = (!d.space.allows().heat_map)
            .then(|| Projection::new(self.projection_kind, &d.train, d.dim));
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0x0015_E5ED);
        self.noise = vec![0.0; 512 * d.dim];
        crate::sampler::uniform_in_box(&d.data_box, &mut self.noise, &mut rng);
        self.ood = if d.space.allows().image_grid {
            d.shuffled_rows(512, 0x0005_4FF1)
        } else {
            Vec::new()
        };
    }

    /// Sends an event; when the window is slow to drain, metric rows wait in `pending`
    /// and views are dropped (a newer one follows) rather than blocking training.
    fn emit(&mut self, e: Event) -> bool {
        match self.events.try_send((self.run, e)) {
            Ok(()) => true,
            Err(TrySendError::Full((_, Event::Metrics(rows)))) => {
                let mut rows = rows;
                rows.append(&mut self.pending);
                self.pending = rows;
                false
            }
            Err(TrySendError::Full((_, Event::View(_)))) => false,
            Err(TrySendError::Full(other)) => {
                // Rare events (state, errors, saves) must arrive: wait for room.
                self.events.send(other).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => {
                self.stop = true;
                false
            }
        }
    }

    fn state(&mut self) {
        // Rows of steps already taken arrive before the state that follows them.
        self.flush_metrics();
        let e = Event::State {
            running: self.running,
            step: self.session.step_count(),
        };
        self.emit(e);
        (self.waker)();
    }

    fn handle(&mut self, c: Command) {
        match c {
            Command::Start => {
                // Train up to the preset's steps; past them, until paused.
                let target = self.session.preset().steps;
                let done = self.session.step_count();
                self.running = true;
                self.to_target = done < target;
                self.steps_left = if done < target {
                    target - done
                } else {
                    usize::MAX
                };
            }
            Command::Pause => self.running = false,
            Command::Step(n) => {
                self.running = true;
                self.to_target = false;
                self.steps_left = n;
            }
            Command::SetPreset(p) => {
                if self.session.apply_live(&p) {
                    self.report_device();
                    self.emit(Event::Applied(p));
                } else {
                    self.emit(Event::Failed(
                        "this change needs a reset of the parameters".into(),
                    ));
                }
            }
            Command::Reset(p, run) => {
                assert!(
                    !std::mem::take(&mut self.panic_next_reset),
                    "a panic asked for by PanicNextReset"
                );
                let s = Session::new(&p);
                if !self.replace_session(p, s, run) {
                    return;
                }
            }
            Command::LoadParams(p, params, run) => {
                let s = Session::from_params(&p, params);
                if !self.replace_session(p, s, run) {
                    return;
                }
            }
            Command::Export(path) => {
                let r = crate::export::save(
                    &path,
                    self.session.preset(),
                    &self.session.data().space.input_shape(),
                    self.session.params(),
                );
                let e = match r {
                    Ok(()) => Event::Saved(path),
                    Err(e) => Event::WriteFailed(e.to_string()),
                };
                self.emit(e);
            }
            Command::SaveCheckpoint(path) => self.save_checkpoint(path, false),
            Command::Autosave(path) => self.save_checkpoint(path, true),
            Command::Resume(r, run) => {
                let (p, session, rows) = *r;
                if !self.replace_session(Box::new(p), Ok(session), run) {
                    return;
                }
                self.log.clone_from(&rows);
                self.emit(Event::Metrics(rows));
            }
            Command::DiscardAutosave(path) => {
                let _ = std::fs::remove_file(path);
            }
            Command::ExportMetrics(path) => {
                // Every step taken is in the log, sent to the window or not.
                let r = crate::fs_util::write_atomic(&path, to_csv(&self.log).as_bytes());
                let e = match r {
                    Ok(()) => Event::Saved(path),
                    Err(e) => Event::WriteFailed(format!("cannot write {}: {e}", path.display())),
                };
                self.emit(e);
            }
            Command::Ais(spec) => {
                use rand::SeedableRng as _;
                let step = self.session.step_count();
                let mut rng = rand::rngs::StdRng::seed_from_u64(step as u64);
                let (result, log_z_quadrature) = self.session.ais(&spec, &mut rng);
                self.emit(Event::Ais {
                    step,
                    result,
                    log_z_quadrature,
                });
            }
            Command::ChainPaths(n) => {
                self.session.chain_paths = (n > 0).then(|| (n, Vec::new()));
            }
            Command::Project(kind) => {
                self.projection_kind = kind;
                self.refresh_view_basis();
                self.view_dirty = true;
            }
            Command::ClassSamples(class) => {
                let step = self.session.step_count();
                let n = if self.session.data().space.allows().image_grid {
                    CLASS_ROW
                } else {
                    CLASS_SAMPLES
                };
                match self.session.class_samples(class, n, CLASS_SAMPLE_STEPS) {
                    Some(points) => self.emit(Event::ClassSamples {
                        step,
                        class,
                        points,
                    }),
                    None => self.emit(Event::Failed(format!(
                        "class samples need a classifier with a class {class}"
                    ))),
                };
            }
            Command::LongRun { chains, steps } => {
                let run = match &self.pool {
                    Some(pool) => {
                        let session = &mut self.session;
                        pool.install(|| session.long_run(chains, steps))
                    }
                    None => self.session.long_run(chains, steps),
                };
                match run {
                    Some(mut r) => {
                        if let Some(p) = &self.projection {
                            let n = r.end.len() / self.session.data().dim.max(1);
                            r.end_2d = p.project(&r.end, n);
                            r.start_2d = p.project(&r.start, n);
                        }
                        self.emit(Event::LongRun(Box::new(r)))
                    }
                    None => self.emit(Event::Failed(
                        "the long run failed: the engine could not run the network".into(),
                    )),
                };
            }
            Command::UnitResponses(on) => {
                self.units = on;
                self.view_dirty = true;
            }
            Command::Stop => self.stop = true,
            Command::PanicNextStep => self.panic_next_step = true,
            Command::PanicNextReset => self.panic_next_reset = true,
        }
        self.state();
    }

    /// After a panic on this thread: training stops, the window is told what happened,
    /// and the thread goes on (Reset starts a fresh session).
    fn recover_from_panic(&mut self, what: &str, payload: &(dyn std::any::Any + Send)) {
        let why = panic_text(payload);
        self.running = false;
        self.steps_left = 0;
        self.view_dirty = true;
        self.emit(Event::Failed(format!(
            "{what}: an internal error ({why}). Training is paused; Reset starts over."
        )));
        self.state();
    }

    /// Writes a checkpoint of the session and every step's metrics; `quiet` for the
    /// autosave (no "wrote" message).
    fn save_checkpoint(&mut self, path: PathBuf, quiet: bool) {
        let r = self.session.checkpoint(&self.log).save(&path);
        let e = match (r, quiet) {
            (Ok(()), false) => Event::Saved(path),
            (Ok(()), true) => Event::Autosaved(self.session.step_count()),
            (Err(e), _) => Event::WriteFailed(format!(
                "cannot write the checkpoint {}: {e}; the file there is unchanged",
                path.display()
            )),
        };
        self.emit(e);
    }

    /// Starts over with a new session for `p` (its log and pending rows dropped,
    /// paused), or keeps the old one and reports why the new one could not be made.
    fn replace_session(
        &mut self,
        p: Box<Preset>,
        session: Result<Session, crate::error::DataError>,
        run: u64,
    ) -> bool {
        match session {
            Ok(s) => {
                self.session = s;
                self.run = run;
            }
            Err(e) => {
                // Tagged with the run asked for (the window waits for that one), naming
                // the run that goes on.
                let live = std::mem::replace(&mut self.run, run);
                self.emit(Event::RestartFailed {
                    message: e.to_string(),
                    live,
                });
                self.run = live;
                return false;
            }
        }
        self.emit(Event::Restarted(p));
        self.refresh_view_basis();
        self.report_device();
        self.log.clear();
        self.pending.clear();
        self.running = false;
        self.to_target = false;
        self.view_dirty = true;
        true
    }

    /// Tells the window when the requested device was not available, and the starting
    /// NLL of the new session.
    fn report_device(&mut self) {
        if let Some(m) = self.session.device_message.clone() {
            self.emit(Event::Failed(m));
        }
        if self.session.step_count() == 0 && self.session.preset().eval.eval_every > 0 {
            let nll = self.session.evaluate().nll;
            self.emit(Event::InitialNll(nll));
        }
    }

    fn send_view(&mut self) {
        if self.noise.len() != 512 * self.session.data().dim {
            self.refresh_view_basis();
        }
        let allows = self.session.data().space.allows();
        let (energies, grid, log_z) = if allows.heat_map {
            let eval = self.session.evaluate_grid(VIEW_GRID);
            (eval.energies, eval.grid, eval.log_z)
        } else {
            (Vec::new(), 0, f64::NAN)
        };
        let proj = self.projection.as_ref();
        let flat = |x: &[f32], max: usize| match proj {
            Some(p) => p.project(x, max),
            None => x.to_vec(),
        };
        let samples = flat(self.session.samples(), VIEW_POINTS);
        let images = self.image_view();
        let buffer = self.session.replay_buffer().map(|b| match proj {
            // Images: the image view carries the chains it shows; the ages all.
            _ if images.is_some() => (Vec::new(), b.ages.clone()),
            Some(p) => {
                let n = b.len().min(VIEW_POINTS);
                (p.project(&b.points[..n * b.dim], n), b.ages[..n].to_vec())
            }
            None => (b.points.clone(), b.ages.clone()),
        });
        let paths = self
            .session
            .chain_paths
            .as_ref()
            .map(|(n, xs)| (*n, flat(xs, usize::MAX)));
        let projection = proj.map(|p| ProjectedData {
            kind: p.kind,
            data: p.project(&self.session.data().train, VIEW_POINTS),
            names: p.names.clone(),
        });
        let d = self.session.data().dim;
        let test = self.session.data().test.clone();
        let held_out = &test[..test.len().min(512 * d)];
        let noise = self.noise.clone();
        let samples_now = self.session.samples().to_vec();
        let energy_populations = EnergyPopulations {
            data: self.session.energy(held_out),
            samples: self.session.energy(&samples_now),
            noise: self.session.energy(&noise),
            ood: if self.ood.is_empty() {
                Vec::new()
            } else {
                let ood = self.ood.clone();
                self.session.energy(&ood)
            },
        };
        let coverage = self.session.data().spec.target.as_ref().and_then(|t| {
            let weights = t.component_weights()?;
            let mut counts = vec![0_usize; weights.len()];
            let rows = samples_now.chunks_exact(d);
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
        });
        let view = View {
            step: self.session.step_count(),
            samples,
            buffer,
            paths,
            projection,
            classes: if allows.heat_map {
                self.session.grid_classes(VIEW_GRID)
            } else {
                None
            },
            energies,
            grid,
            log_z,
            energy_populations,
            coverage,
            images,
            units: (self.units && allows.heat_map)
                .then(|| {
                    crate::energy::units::unit_responses(
                        self.session.architecture(),
                        self.session.params(),
                        &self.session.data().data_box,
                        UNIT_GRID,
                        UNITS_SHOWN,
                    )
                })
                .flatten(),
        };
        self.emit(Event::View(Box::new(view)));
        self.last_view = Instant::now();
        self.view_dirty = false;
    }

    /// Images: a few held-out images, samples, buffer chains (spread over the buffer,
    /// oldest first) and the recorded chain's frames.
    fn image_view(&self) -> Option<ImageView> {
        let data = self.session.data();
        let crate::data::Space::Image { c, h, w } = data.space else {
            return None;
        };
        let d = data.dim;
        let take = |x: &[f32]| x[..x.len().min(IMAGES_SHOWN * d)].to_vec();
        let (mut buffer, mut buffer_ages) = (Vec::new(), Vec::new());
        if let Some(b) = self.session.replay_buffer() {
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
        let filmstrip = self
            .session
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
        Some(ImageView {
            shape: [c, h, w],
            range: data.spec.pixels.bounds(),
            data: take(&data.test),
            samples: take(self.session.samples()),
            buffer,
            buffer_ages,
            filmstrip,
        })
    }

    /// Sends the metric rows waiting (a full channel puts them back to wait).
    fn flush_metrics(&mut self) {
        if !self.pending.is_empty() {
            let rows = std::mem::take(&mut self.pending);
            self.emit(Event::Metrics(rows));
        }
    }

    fn flush(&mut self) {
        self.flush_metrics();
        if self.view_dirty
            || (self.running && self.last_view.elapsed() > Duration::from_millis(150))
        {
            self.send_view();
        }
        self.last_flush = Instant::now();
        (self.waker)();
    }

    fn run(mut self, commands: &Receiver<Command>) {
        // Leave one core to the window: its frames are drawn on the CPU where there is no
        // GPU, and a starved window stutters.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .saturating_sub(1)
            .max(1);
        lower_priority();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ebm-training-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .ok();
        self.pool = pool;
        self.run_loop(commands);
    }

    fn run_loop(&mut self, commands: &Receiver<Command>) {
        self.report_device();
        self.state();
        self.send_view();
        (self.waker)();
        while !self.stop {
            // Take every waiting command; block only while paused.
            let next = if self.running {
                commands.try_recv().map_err(|e| match e {
                    std::sync::mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    std::sync::mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                commands.recv_timeout(Duration::from_millis(100))
            };
            match next {
                Ok(c) => {
                    // A bug in a command (an evaluation, a draw, a file) must not end
                    // the thread: the window says what happened and goes on.
                    let what = command_name(&c);
                    let asked = replacing_run(&c);
                    if let Err(p) =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(c)))
                    {
                        if let Some(asked) = asked
                            && asked != self.run
                        {
                            // The window waits for the run it asked for: tell it, on that
                            // run, that the old one goes on (paused).
                            let live = std::mem::replace(&mut self.run, asked);
                            self.emit(Event::RestartFailed {
                                message: format!(
                                    "{what} failed: an internal error ({}); the run before it goes on, paused",
                                    panic_text(p.as_ref())
                                ),
                                live,
                            });
                            self.run = live;
                            self.running = false;
                            self.steps_left = 0;
                            self.view_dirty = true;
                            self.state();
                        } else {
                            self.recover_from_panic(&format!("{what} failed"), p.as_ref());
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.running && self.steps_left > 0 {
                let session = &mut self.session;
                let panic_now = std::mem::take(&mut self.panic_next_step);
                let mut step = || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        assert!(!panic_now, "a panic asked for by PanicNextStep");
                        session.step()
                    }))
                };
                let result = match &self.pool {
                    Some(pool) => pool.install(step),
                    None => step(),
                };
                let result = match result {
                    Ok(r) => r,
                    Err(p) => {
                        // The step may have stopped half-way: back to the last good state.
                        let at = self.session.restore_last_good();
                        self.log.retain(|r| r.step <= at);
                        self.pending.retain(|r| r.step <= at);
                        self.emit(Event::RolledBack(at));
                        self.recover_from_panic(
                            &format!(
                                "the training step failed (the model was rolled back to step {at})"
                            ),
                            p.as_ref(),
                        );
                        continue;
                    }
                };
                match result {
                    Ok(m) => {
                        // Logged once, when taken (without per-layer detail), for CSV.
                        self.log.push(StepMetrics {
                            layers: Vec::new(),
                            ..m.clone()
                        });
                        self.pending.push(m);
                        self.steps_left = self.steps_left.saturating_sub(1);
                        if self.steps_left == 0 {
                            self.running = false;
                            self.view_dirty = true;
                            self.flush();
                            if std::mem::take(&mut self.to_target) {
                                self.emit(Event::Finished(self.session.step_count()));
                            }
                            self.state();
                        }
                    }
                    Err(e) => {
                        // The roll-back took the session back: so go the rows past it.
                        let at = self.session.step_count();
                        self.log.retain(|r| r.step <= at);
                        self.pending.retain(|r| r.step <= at);
                        self.running = false;
                        self.view_dirty = true;
                        self.flush();
                        self.emit(Event::Diverged(e));
                        self.state();
                    }
                }
                if self.last_flush.elapsed() > Duration::from_millis(16) {
                    self.flush();
                }
            } else if self.view_dirty || !self.pending.is_empty() {
                self.flush();
            }
        }
    }
}

/// A panic's message.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// The run a command that replaces the session asks for.
fn replacing_run(c: &Command) -> Option<u64> {
    match c {
        Command::Reset(_, run) | Command::LoadParams(_, _, run) | Command::Resume(_, run) => {
            Some(*run)
        }
        _ => None,
    }
}

/// What a command is, for a message.
fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Start | Command::Step(_) => "training",
        Command::Pause | Command::Stop => "stopping",
        Command::SetPreset(_) => "applying the settings",
        Command::Reset(..) => "the reset",
        Command::LoadParams(..) => "loading the model",
        Command::Export(_) => "exporting the model",
        Command::ExportMetrics(_) => "exporting the metrics",
        Command::SaveCheckpoint(_) | Command::Autosave(_) => "saving the checkpoint",
        Command::DiscardAutosave(_) => "removing the autosave",
        Command::Resume(..) => "resuming the checkpoint",
        Command::Ais(_) => "the AIS estimate",
        Command::ChainPaths(_) => "recording chain paths",
        Command::ClassSamples(_) => "drawing class samples",
        Command::Project(_) => "projecting the view",
        Command::UnitResponses(_) => "drawing the network",
        Command::LongRun { .. } => "the long run",
        Command::PanicNextStep | Command::PanicNextReset => "the panic test",
    }
}
