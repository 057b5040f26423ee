//! The training thread. The window sends it [`Command`]s and receives [`Event`]s
//! ([`super::protocol`]) over bounded channels; it never waits on the worker, and the
//! worker calls a waker after each send so the window repaints only when there is
//! something new. The views it sends are made by [`super::view`].

use super::metrics::{StepMetrics, to_csv};
pub use super::protocol::{Command, Event};
use super::protocol::{command_name, replacing_run};
use super::session::Session;
pub use super::view::{
    Chains, EnergyPopulations, Heat, IMAGES_SHOWN, ImageView, ProjectedData, Scene, UNIT_GRID,
    UNITS_SHOWN, VIEW_GRID, VIEW_POINTS, View, ViewBuilder,
};
use crate::data::projection::ProjectionKind;
use crate::preset::Preset;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// Makes the session's views (chosen from its data's space when it starts).
    view: ViewBuilder,
}

impl Worker {
    fn new(
        session: Session,
        events: SyncSender<(u64, Event)>,
        waker: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        let view = ViewBuilder::for_session(&session, ProjectionKind::default(), false);
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
            view,
        }
    }

    /// The views of the current session's data (after a new session, or another
    /// projection).
    fn refresh_view_basis(&mut self, projection: ProjectionKind) {
        self.view = ViewBuilder::for_session(&self.session, projection, self.view.units);
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
                let s = Session::new(&p).map_err(|e| e.to_string());
                if !self.replace_session(p, s, run) {
                    return;
                }
            }
            Command::LoadParams(m, run) => {
                // A file without its experiment (another program's RBM) goes onto the
                // current data.
                let (p, s) = if m.described {
                    (m.preset.clone(), Session::for_model(&m))
                } else {
                    match Session::for_foreign_model(&m, &self.session) {
                        Ok((p, s)) => (p, Ok(s)),
                        Err(e) => (m.preset.clone(), Err(e)),
                    }
                };
                if !self.replace_session(Box::new(p), s, run) {
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
            Command::Resume(ck, run) => {
                let (session, rows) = match Session::resume(&ck) {
                    Ok((s, rows)) => (Ok(s), rows),
                    Err(e) => (Err(e), Vec::new()),
                };
                let p = Box::new(ck.preset().unwrap_or_default());
                if !self.replace_session(p, session, run) {
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
                let verdict = crate::eval::verdict::ais(
                    result.forward.ess,
                    spec.chains,
                    result.forward.log_z,
                    result.reverse.map(|r| r.log_z),
                );
                self.emit(Event::Ais {
                    verdict,
                    step,
                    result,
                    log_z_quadrature,
                });
            }
            Command::ChainPaths(n) => {
                self.session.chain_paths = (n > 0).then(|| (n, Vec::new()));
            }
            Command::Project(kind) => {
                self.refresh_view_basis(kind);
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
                        self.view.place_long_run(&mut r, self.session.data().dim);
                        self.emit(Event::LongRun(Box::new(r)))
                    }
                    None => self.emit(Event::Failed(
                        "the long run failed: the engine could not run the network".into(),
                    )),
                };
            }
            Command::UnitResponses(on) => {
                self.view.units = on;
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
        session: Result<Session, String>,
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
                self.emit(Event::RestartFailed { message: e, live });
                self.run = live;
                return false;
            }
        }
        let data = self.session.shared_data();
        let true_nll = self.session.true_nll();
        self.emit(Event::Restarted {
            preset: p,
            data,
            true_nll,
        });
        self.refresh_view_basis(self.view.projection_kind());
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
            let e = self.session.evaluate();
            let initial = (
                e.nll,
                e.verdict.trusted(),
                (e.method == crate::eval::Method::Ais).then_some(e.ess),
            );
            self.session.initial_nll = Some(initial);
        }
        // At the start, or kept by a checkpoint: the plots' first NLL point.
        if let Some((nll, trusted, ess)) = self.session.initial_nll {
            self.emit(Event::InitialNll { nll, trusted, ess });
        }
    }

    fn send_view(&mut self) {
        let view = self.view.build(&mut self.session);
        self.emit(Event::View(Box::new(view)));
        self.last_view = Instant::now();
        self.view_dirty = false;
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
                        // Logged once, when taken: for the CSV, and with the per-layer
                        // terms for checkpoints (a resumed run's plots are the straight
                        // run's).
                        self.log.push(m.clone());
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
