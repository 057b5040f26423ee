//! The workbench window: composes the panels, sends commands to the training worker,
//! drains its events in `logic`, and draws in `ui`. It never waits on the worker.

use super::history::MetricsHistory;
use super::views::{HeatKind, Mark, SamplesOptions};
use super::{panels, theme, views};
use crate::data::Dataset;
use crate::preset::Preset;
use crate::train::worker::{Command, Event, View, WorkerHandle};
use egui::{Key, TextureHandle, TextureOptions};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod centre;
mod chrome;
mod events;
mod files;
mod picker;

pub use files::Replace;
pub use picker::{FileAction, Picker, file_kind};

/// A pinned run's name on the plots: what differs from the live run (the first three
/// fields), or that nothing does.
fn pin_label(k: usize, pinned: &Preset, live: &Preset) -> String {
    let d = crate::sweep::differences(pinned, live);
    let what = if d.is_empty() {
        "same settings".to_string()
    } else {
        let mut parts: Vec<String> = d
            .iter()
            .take(3)
            .map(|(p, a, b)| format!("{} {a} -> {b}", p.rsplit('.').next().unwrap_or(p)))
            .collect();
        if d.len() > 3 {
            parts.push(format!("+{} more", d.len() - 3));
        }
        parts.join(", ")
    };
    format!("pin {}: {what}", k + 1)
}

/// The bundled preset the window opens with the first time.
pub const DEFAULT_PRESET: &str = crate::preset::BUNDLED[0].1;

/// What survives a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PersistedState {
    pub preset: Preset,
    pub preset_path: Option<PathBuf>,
    pub recent: Vec<PathBuf>,
    pub samples: SamplesOptions,
    pub per_layer: bool,
}

impl Default for PersistedState {
    fn default() -> Self {
        Self {
            preset: Preset::from_ron(DEFAULT_PRESET).unwrap_or_default(),
            preset_path: None,
            recent: Vec::new(),
            samples: SamplesOptions::default(),
            per_layer: false,
        }
    }
}

/// Every action of the toolbar, with its label and tooltip in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiCommand {
    OpenPreset,
    LoadData,
    SavePreset,
    ExportModel,
    LoadModel,
    SaveCheckpoint,
    ExportMetrics,
    ExportPng,
    Train,
    Pause,
    Step,
    Reset,
    PinRun,
    ClearPins,
    CompareRuns,
}

/// What a panel or a view asks of the window: the one way every part of it asks. The
/// window carries them out after the part is drawn ([`WorkbenchApp::handle`]).
#[derive(Debug)]
pub enum Request {
    /// A toolbar action (what its button does).
    Action(UiCommand),
    /// A command for the training thread.
    Worker(Command),
}

/// A run pinned on the curves: its settings (for the label) and its history.
#[derive(Debug, Clone)]
pub struct Pin {
    pub preset: Preset,
    pub history: MetricsHistory,
}

impl UiCommand {
    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            Self::OpenPreset => "Open preset…",
            Self::LoadData => "Data file…",
            Self::SavePreset => "Save preset…",
            Self::ExportModel => "Export model…",
            Self::LoadModel => "Load model…",
            Self::SaveCheckpoint => "Save checkpoint…",
            Self::ExportMetrics => "Export metrics…",
            Self::ExportPng => "Export view PNG…",
            Self::Train => "Train",
            Self::Pause => "Pause",
            Self::Step => "Step",
            Self::Reset => "Reset",
            Self::PinRun => "Pin run",
            Self::ClearPins => "Clear pins",
            Self::CompareRuns => "Compare runs…",
        }
    }

    #[must_use]
    pub fn tooltip(self) -> &'static str {
        match self {
            Self::OpenPreset => "Open an experiment (RON). You can also drop a file on the window.",
            Self::SavePreset => "Save the current settings as a preset (RON).",
            Self::LoadData => {
                "Train on your own points: a CSV or NumPy .npy file with two columns."
            }
            Self::ExportModel => {
                "Save the trained parameters as safetensors, with the preset in the metadata."
            }
            Self::LoadModel => {
                "Load a model (safetensors) to look at it or continue training, or a checkpoint (.ckpt) to go on exactly where it stopped."
            }
            Self::SaveCheckpoint => {
                "Save everything needed to go on exactly later: parameters, optimiser, chains, random generators and the curves (.ckpt)."
            }
            Self::ExportMetrics => "Save every step's metrics as CSV.",
            Self::ExportPng => "Save the samples over the heat map as a PNG image.",
            Self::Train => "Train up to the preset's steps, then on until paused (Space).",
            Self::Pause => "Pause after the current step (Space).",
            Self::Step => "Take one training step.",
            Self::Reset => "New parameters, optimiser and sampler state.",
            Self::PinRun => {
                "Keep this run's curves on the plots as faint lines, labelled with what differs from the live run."
            }
            Self::ClearPins => "Remove the pinned runs from the plots.",
            Self::CompareRuns => {
                "Open a sweep folder (its summary.csv and runs): overlay the runs' curves, sort them, load one."
            }
        }
    }
}

/// A message in the status bar.
#[derive(Debug, Clone)]
pub struct Message {
    pub error: bool,
    pub text: String,
    /// What it speaks of: a newer message on the same topic replaces it, and it goes
    /// when that is gone.
    pub topic: Topic,
}

/// What a message speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    General,
    /// The run diverged and was rolled back.
    Divergence,
    /// The run reached its steps.
    Finished,
    /// The sampler no longer follows the model.
    Lag,
    /// A file that could not be opened.
    File,
    /// A live setting the worker took.
    Applied,
    /// A typed value that was clamped to its field's range.
    Clamp,
    /// A run asked of the worker, while it loads its data.
    Starting,
}

/// A change that needs fresh parameters, waiting for the user's confirmation.
#[derive(Debug, Clone)]
struct PendingReset {
    preset: Preset,
    why: String,
}

pub struct WorkbenchApp {
    /// What the window shows of the run, replaced as a whole when a run starts.
    pub run: RunState,
    pub state: PersistedState,
    worker: WorkerHandle,
    /// The settings the worker trains with, as it last reported them.
    pub worker_preset: Preset,
    /// What the window last sent (so edits are sent once).
    sent: Preset,
    /// Where the view was drawn in the last frame (Export view PNG crops it from a
    /// screenshot of the window).
    pub view_rect: Option<egui::Rect>,
    /// The plane's view bounds in the last frame: x min, x max, y min, y max.
    pub view_bounds: Option<[f64; 4]>,
    /// Whether a renderer draws the window (then the view's PNG is a screenshot of it).
    renderer: bool,
    /// Screenshots of the view written (or not) on the renderer's thread.
    shots: (
        ShotSender,
        std::sync::mpsc::Receiver<Result<PathBuf, String>>,
    ),
    ctx: egui::Context,
    /// How often training asks for a frame.
    frame_interval: FrameInterval,
    pending_reset: Option<PendingReset>,
    /// An action that would replace a trained run, waiting for the user's confirmation.
    pub pending_replace: Option<Replace>,
    /// Training was paused to ask a question: Cancel goes on with it.
    resume_after_question: bool,
    /// The run asked of the worker (a reset, a loaded model, a resumed checkpoint) until
    /// it starts or fails: the window shows the run before it meanwhile.
    starting: Option<Starting>,
    /// The last run number asked for (runs are numbered in the order they are asked).
    last_run: u64,
    /// File dialogs: the system's on a thread, or the list inside the window.
    pub dialogs: picker::Dialogs,
    pub messages: VecDeque<Message>,
    frame_times: VecDeque<f64>,
    last_frame: Option<Instant>,
    rate: (Instant, usize, f64),
    /// Earlier runs pinned for comparison: their settings and curves.
    pub pins: Vec<Pin>,
    /// A sweep folder opened for comparison.
    pub comparison: Option<super::compare::Comparison>,
    /// Smoothed time to lay out one frame (the rest of a frame is drawing).
    ui_ms: f64,
    /// The image views' tab, class rows, long run and textures.
    pub images: super::images::ImageState,
    /// The long-run panel (points and vectors).
    pub long_run: super::long_run::LongRunState,
    /// Where the running experiment is autosaved (`None`: no autosave).
    pub autosave: Option<PathBuf>,
    /// How often it is autosaved while it changes.
    pub autosave_every: Duration,
    last_autosave: Instant,
    /// An autosave found at start (the last window did not close cleanly): its path,
    /// step and preset name, until the user restores or discards it.
    pub restore_offer: Option<(PathBuf, usize, String)>,
    /// The devices found at start-up (probed on a thread).
    pub devices: DeviceList,
}

/// What the window shows of one run: its data, its curves, its view and what was said of
/// it. A run that starts (a reset, a loaded model, a resumed checkpoint) replaces it as a
/// whole, so nothing of the run before is left behind.
pub struct RunState {
    /// The run the window shows: the worker tags every event with its run, and events of
    /// an earlier run (sent before a reset or a load reached the worker) are dropped.
    pub id: u64,
    /// The run's data, as the window draws them: the worker's, shared.
    pub data: Arc<Dataset>,
    pub true_nll: Option<f64>,
    pub running: bool,
    pub step: usize,
    pub history: MetricsHistory,
    pub view: Option<View>,
    /// The centre of the window for the run's space, chosen once from it.
    pub space_view: SpaceView,
    /// The last AIS result: (log Z, its standard error, quadrature log Z).
    pub ais: Option<(f64, f64, Option<f64>)>,
    /// Says when the sampler stops following the model.
    lag: crate::train::metrics::LagMonitor,
    /// Warnings at steps of this run, drawn on the curves' step axis.
    pub marks: Vec<(usize, Mark)>,
    /// Draws from a classifier's class-conditional, shown over the view until cleared.
    pub class_samples: Option<(usize, Vec<f32>)>,
    /// The step the last autosave (sent) was at.
    autosaved_step: usize,
    /// The step the last autosave written was at (the worker's confirmation).
    pub autosaved_at: Option<usize>,
}

/// The centre of the window, one case per data space, chosen once when a run starts
/// (the worker's [`crate::train::view::Scene`] has the same cases); each case owns what
/// only it draws.
pub enum SpaceView {
    /// The plane: the samples over the heat map, the network under them.
    Plane(PlaneView),
    /// Vectors: the samples projected on two axes.
    Projection,
    /// Images: grids of pictures (their tabs and textures in `WorkbenchApp::images`).
    Images,
}

/// What the plane's view keeps between frames.
#[derive(Default)]
pub struct PlaneView {
    /// The heat map's texture, made once per view and kind of map.
    texture: Option<TextureHandle>,
    texture_kind: Option<(usize, HeatKind)>,
    /// The heat map's values at its two ends, in the colour bar's units.
    heat_range: Option<(f64, f64)>,
    /// The network drawing's tiles.
    network: super::network::NetworkTexture,
}

impl SpaceView {
    /// The view for data in `space`.
    #[must_use]
    pub fn for_space(space: crate::data::Space) -> Self {
        match space {
            crate::data::Space::Plane => Self::Plane(PlaneView::default()),
            crate::data::Space::Vector { .. } => Self::Projection,
            crate::data::Space::Image { .. } => Self::Images,
        }
    }

    /// Whether this is the plane's view.
    #[must_use]
    pub fn is_plane(&self) -> bool {
        matches!(self, Self::Plane(_))
    }

    /// Whether this is the images' view.
    #[must_use]
    pub fn is_images(&self) -> bool {
        matches!(self, Self::Images)
    }
}

/// Something the window does later, to itself.
type AppAction = Box<dyn FnOnce(&mut WorkbenchApp)>;

/// A run asked of the worker, until it starts.
struct Starting {
    run: u64,
    /// What the window does when it starts (say so, remember the file).
    on_start: AppAction,
    /// What the worker's message is about when it fails (the file's name).
    about: Option<String>,
    /// What the window does when it fails.
    on_failure: Option<AppAction>,
    /// The preset file the window showed before, for a failure to go back to.
    preset_path: Option<PathBuf>,
}

impl RunState {
    /// Run `id` on `data`, before its first event.
    fn new(id: u64, data: Arc<Dataset>) -> Self {
        let true_nll = data.true_nll();
        Self {
            space_view: SpaceView::for_space(data.space),
            id,
            data,
            true_nll,
            running: false,
            step: 0,
            history: MetricsHistory::default(),
            view: None,
            ais: None,
            lag: crate::train::metrics::LagMonitor::default(),
            marks: Vec::new(),
            class_samples: None,
            autosaved_step: 0,
            autosaved_at: None,
        }
    }
}

/// The devices the window offers: probed once, off the UI thread, at start-up.
pub struct DeviceList {
    found: Option<Vec<crate::device::DeviceInfo>>,
    probe: Option<std::sync::mpsc::Receiver<Vec<crate::device::DeviceInfo>>>,
}

impl DeviceList {
    /// Starts the probe; `ctx` repaints when it answers.
    #[must_use]
    pub fn probe(ctx: &egui::Context) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("device probe".into())
            .spawn(move || {
                let _ = tx.send(crate::device::probe());
                ctx.request_repaint();
            });
        Self {
            found: spawned.is_err().then(Self::cpu_only),
            probe: spawned.ok().map(|_| rx),
        }
    }

    /// What the window offers when the probe could not run or did not answer.
    fn cpu_only() -> Vec<crate::device::DeviceInfo> {
        vec![crate::device::DeviceInfo {
            spec: crate::device::DeviceSpec::Cpu,
            status: Ok("CPU".into()),
        }]
    }

    /// Whether the probe has answered (and the window shown its answer).
    #[must_use]
    pub fn probed(&self) -> bool {
        self.found.is_some()
    }

    /// What the probe found, or `None` while it runs.
    pub fn found(&mut self) -> Option<&[crate::device::DeviceInfo]> {
        if let Some(rx) = &self.probe {
            match rx.try_recv() {
                Ok(v) => self.found = Some(v),
                // The probe's thread ended without an answer (it panicked).
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.found = Some(Self::cpu_only());
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return None,
            }
            self.probe = None;
        }
        self.found.as_deref()
    }
}

/// Where a screenshot of the view reports the file it wrote (or why not).
type ShotSender = std::sync::mpsc::Sender<Result<PathBuf, String>>;

/// The autosave's file name in the app's data folder.
pub const AUTOSAVE_FILE: &str = "autosave.ckpt";

/// The preset's data, checked against it (at start-up, before the worker exists).
fn data_for(p: &Preset) -> Result<Dataset, crate::error::DataError> {
    let d = Dataset::load(&p.data)?;
    p.check_against(&d)?;
    Ok(d)
}

/// Why a change from `a` to `b` cannot be applied to a running session.
fn reset_reason(a: &Preset, b: &Preset) -> Option<String> {
    if a.model != b.model {
        Some("Changing the network".into())
    } else if a.data != b.data {
        Some("Changing the data".into())
    } else if a.seed != b.seed {
        Some("Changing the seed".into())
    } else if std::mem::discriminant(&a.sampler.init) != std::mem::discriminant(&b.sampler.init)
        || matches!((a.sampler.init, b.sampler.init),
            (crate::sampler::Init::ReplayBuffer { size: x, .. }, crate::sampler::Init::ReplayBuffer { size: y, .. }) if x != y)
    {
        Some("Changing the sampler's start or buffer size".into())
    } else {
        None
    }
}

/// The time between the frames that training asks for, shared with the worker's waker.
///
/// Where a CPU rasterises the window (Mesa's llvmpipe), a frame of this window costs
/// about 23 ms of CPU whatever it shows (measured: hiding the scatter or the network
/// changed it by under 10 %), so the frame rate decides how much of the machine drawing
/// takes from training: at 45 frames per second on 2 cores the window trained 164
/// steps/s, at 24 frames per second 227. Input (a hover, a drag) still repaints at once.
#[derive(Debug, Clone)]
pub struct FrameInterval(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Default for FrameInterval {
    fn default() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
            Self::GPU.as_micros() as u64,
        )))
    }
}

impl FrameInterval {
    /// With a GPU: 50 frames per second.
    pub const GPU: Duration = Duration::from_millis(20);
    /// Drawn by the CPU: 25 frames per second.
    pub const SOFTWARE: Duration = Duration::from_millis(40);

    /// The interval for a renderer, or `fps` frames per second when given (1 to 120;
    /// anything else is ignored).
    #[must_use]
    pub fn for_renderer(software: bool, fps: Option<&str>) -> Duration {
        match fps.and_then(|f| f.trim().parse::<f64>().ok()) {
            Some(f) if (1.0..=120.0).contains(&f) => Duration::from_secs_f64(1.0 / f),
            _ if software => Self::SOFTWARE,
            _ => Self::GPU,
        }
    }

    #[must_use]
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn set(&self, d: Duration) {
        #[allow(clippy::cast_possible_truncation)]
        self.0
            .store(d.as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WorkbenchApp {
    /// The app with eframe's persistence, as the window starts it.
    #[must_use]
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let state: PersistedState = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        // Anti-aliasing by feathering costs about a quarter of each frame when a CPU
        // rasterises the window (Mesa's llvmpipe): off there, unless asked for.
        let software = cc.gl.as_ref().is_some_and(|gl| {
            use eframe::glow::HasContext as _;
            // SAFETY: a plain glGetString(GL_RENDERER) on the context eframe made current.
            let renderer = unsafe { gl.get_parameter_string(eframe::glow::RENDERER) };
            renderer.contains("llvmpipe") || renderer.contains("softpipe")
        });
        let feathering = match std::env::var("EBM_WORKBENCH_FEATHERING").as_deref() {
            Ok("0") => false,
            Ok("1") => true,
            _ => !software,
        };
        cc.egui_ctx
            .tessellation_options_mut(|t| t.feathering = feathering);
        let mut app = Self::with_state(&cc.egui_ctx, state);
        app.frame_interval.set(FrameInterval::for_renderer(
            software,
            std::env::var("EBM_WORKBENCH_TRAINING_FPS").ok().as_deref(),
        ));
        let autosave = eframe::storage_dir("ebm-workbench").map(|d| d.join(AUTOSAVE_FILE));
        if let Some(path) = autosave {
            app.use_autosave(path);
        }
        app
    }

    /// Autosaves to `path` from now on; an autosave already there means the last window
    /// did not close cleanly (a crash, a kill): the user is offered to restore it.
    pub fn use_autosave(&mut self, path: PathBuf) {
        if path.exists() {
            match crate::train::session::Checkpoint::load(&path) {
                Ok(ck) => {
                    let name = ck.preset().map(|p| p.name).unwrap_or_default();
                    self.restore_offer = Some((path.clone(), ck.step(), name));
                }
                Err(e) => self.message(true, format!("the autosave cannot be restored: {e}")),
            }
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        self.autosave = Some(path);
    }

    /// The app with a given state (tests start from the default one).
    #[must_use]
    pub fn with_state(ctx: &egui::Context, mut state: PersistedState) -> Self {
        theme::install_fonts(ctx);
        if state.preset.validate().is_err() {
            state.preset = PersistedState::default().preset;
        }
        // The last session's data file may be gone: then start from the default preset.
        let mut startup_error = None;
        let loaded = data_for(&state.preset).or_else(|e| {
            startup_error = Some(e.to_string());
            state.preset = PersistedState::default().preset;
            data_for(&state.preset)
        });
        // Loaded once: the window and the worker share them.
        let data = Arc::new(loaded.unwrap_or_else(|e| {
            // Only a broken build could fail to generate a bundled toy set.
            startup_error = Some(e.to_string());
            Dataset::generate(&state.preset.data)
        }));

        let ctx2 = ctx.clone();
        // New results ask for a frame within one frame interval (see `FrameInterval`):
        // the rest of the CPU stays with training.
        let frame_interval = FrameInterval::default();
        let interval = frame_interval.clone();
        let worker = WorkerHandle::spawn(
            crate::train::Session::with_data(&state.preset, Arc::clone(&data)),
            Box::new(move || ctx2.request_repaint_after(interval.get())),
        );
        let mut app = Self {
            run: RunState::new(0, data),
            worker_preset: state.preset.clone(),
            sent: state.preset.clone(),
            state,
            worker,
            view_rect: None,
            view_bounds: None,
            renderer: false,
            shots: std::sync::mpsc::channel(),
            ctx: ctx.clone(),
            frame_interval,
            pending_reset: None,
            pending_replace: None,
            resume_after_question: false,
            starting: None,
            last_run: 0,
            dialogs: picker::Dialogs {
                builtin: std::env::var("EBM_WORKBENCH_FILE_DIALOG").as_deref() == Ok("builtin"),
                ..Default::default()
            },
            messages: VecDeque::new(),
            frame_times: VecDeque::new(),
            last_frame: None,
            rate: (Instant::now(), 0, 0.0),
            ui_ms: 0.0,
            pins: Vec::new(),
            comparison: None,
            images: super::images::ImageState::default(),
            long_run: super::long_run::LongRunState::default(),
            autosave: None,
            autosave_every: Duration::from_secs(60),
            last_autosave: Instant::now(),
            restore_offer: None,
            devices: DeviceList::probe(ctx),
        };
        if let Some(e) = startup_error {
            app.message(true, e);
        }
        let units = app.state.samples.show_network;
        app.send(Command::UnitResponses(units));
        app
    }

    fn message(&mut self, error: bool, text: impl Into<String>) {
        self.message_about(Topic::General, error, text);
    }

    /// A message on `topic`: it replaces the one before on the same topic.
    fn message_about(&mut self, topic: Topic, error: bool, text: impl Into<String>) {
        if topic != Topic::General {
            self.forget(topic);
        }
        self.messages.push_back(Message {
            error,
            text: text.into(),
            topic,
        });
        while self.messages.len() > 6 {
            self.messages.pop_front();
        }
    }

    /// Pauses training while a question about replacing the run is open (the run the
    /// question counts is the run that stays, if the user says no).
    fn pause_to_ask(&mut self) {
        if self.run.running {
            self.send(Command::Pause);
            self.resume_after_question = true;
        }
    }

    /// After the user said no: training goes on if the question paused it.
    fn resume_after_no(&mut self) {
        if std::mem::take(&mut self.resume_after_question) {
            self.send(Command::Start);
        }
    }

    /// Drops the messages on `topic` (what they spoke of is gone).
    fn forget(&mut self, topic: Topic) {
        self.messages.retain(|m| m.topic != topic);
    }

    /// Sends a command to the training thread (says so when the thread is gone).
    pub fn send(&mut self, c: Command) {
        if !self.worker.send(c) {
            self.message(
                true,
                "the training thread is not responding; the command was dropped",
            );
        }
    }

    /// Lists `path` under Recent when the window can open it (presets, data, models,
    /// checkpoints, sweep folders; not exported metrics or pictures).
    fn remember(&mut self, path: &Path) {
        if !matches!(
            file_kind(path),
            Some("preset" | "data" | "images" | "model" | "checkpoint" | "sweep folder")
        ) {
            return;
        }
        self.state.recent.retain(|p| p != path);
        self.state.recent.insert(0, path.to_path_buf());
        self.state.recent.truncate(8);
    }

    /// Asks the worker to replace the experiment with `preset` (fresh parameters), and
    /// does `on_start` once it runs. Its data are loaded by the worker, off this thread;
    /// the window shows the run before it until then, and data that cannot be loaded
    /// change nothing (the worker says why: see [`Event::RestartFailed`]).
    fn start_over(
        &mut self,
        preset: Preset,
        about: Option<String>,
        on_start: impl FnOnce(&mut Self) + 'static,
    ) -> Result<(), String> {
        let boxed = Box::new(preset.clone());
        self.start_over_with(
            preset,
            move |run| Command::Reset(boxed, run),
            about,
            on_start,
        )
    }

    /// As [`Self::start_over`], with the worker's command that makes the new session (a
    /// reset, a loaded model, a checkpoint to resume). The new run replaces the old one
    /// as a whole when the worker says it started ([`Self::run_started`]).
    fn start_over_with(
        &mut self,
        preset: Preset,
        command: impl FnOnce(u64) -> Command,
        about: Option<String>,
        on_start: impl FnOnce(&mut Self) + 'static,
    ) -> Result<(), String> {
        // The run is the next one only once the worker has the command (a full queue
        // changes nothing).
        let next = self.last_run + 1;
        if !self.worker.send(command(next)) {
            return Err(
                "the training thread is busy (its queue is full); try again in a moment".into(),
            );
        }
        self.last_run = next;
        self.starting = Some(Starting {
            run: next,
            on_start: Box::new(on_start),
            about,
            on_failure: None,
            preset_path: self.state.preset_path.clone(),
        });
        self.message_about(
            Topic::Starting,
            false,
            format!("loading {}…", preset.data.name()),
        );
        self.state.preset = preset.clone();
        self.sent = preset;
        Ok(())
    }

    /// The worker started run `id` on `data`: it replaces the run the window showed, as a
    /// whole, with nothing of the old one left behind.
    fn run_started(&mut self, id: u64, preset: Preset, data: Arc<Dataset>) {
        self.run = RunState::new(id, data);
        self.worker_preset = preset;
        self.images.clear();
        // Messages spoke of the run that is gone.
        self.messages.clear();
        self.long_run.result = None;
        self.long_run.waiting = false;
        // A data file it trains on goes under Recent.
        if let Some(file) = self.worker_preset.data.file.clone() {
            self.remember(&file);
        }
        if let Some(s) = self.starting.take_if(|s| s.run == id) {
            (s.on_start)(self);
        }
    }

    /// The worker could not start the run asked for: the run before it goes on, with its
    /// settings, and the window says why.
    fn run_failed(&mut self, message: &str) {
        let Some(s) = self.starting.take() else {
            return;
        };
        self.forget(Topic::Starting);
        let keep = self.worker_preset.clone();
        self.state.preset = keep.clone();
        self.state.preset_path = s.preset_path;
        self.sent = keep;
        self.pending_reset = None;
        match s.about {
            Some(about) => self.message(true, format!("{about}: {message}")),
            None => self.message(true, message),
        }
        if let Some(f) = s.on_failure {
            f(self);
        }
    }

    /// What to do if the run just asked for fails to start.
    fn if_it_fails(&mut self, f: impl FnOnce(&mut Self) + 'static) {
        if let Some(s) = self.starting.as_mut() {
            s.on_failure = Some(Box::new(f));
        }
    }

    /// Whether a run asked of the worker has not started yet.
    #[must_use]
    pub fn is_starting(&self) -> bool {
        self.starting.is_some()
    }

    /// Replaces the experiment with `preset` (fresh parameters) once the worker has
    /// loaded its data, and clears the plots then; returns whether it was asked (a full
    /// queue says why).
    fn reset_to(&mut self, preset: Preset) -> bool {
        self.reset_saying(preset, None, |_| {})
    }

    /// As [`Self::reset_to`], doing `on_start` when the run starts; a failure's message
    /// is about `about` (a file).
    fn reset_saying(
        &mut self,
        preset: Preset,
        about: Option<String>,
        on_start: impl FnOnce(&mut Self) + 'static,
    ) -> bool {
        match self.start_over(preset, about, on_start) {
            Ok(()) => true,
            Err(e) => {
                self.message(true, e);
                false
            }
        }
    }

    /// Sends edits of the draft preset: live ones at once, resetting ones after a
    /// confirmation (or at once before the first step).
    fn apply_edits(&mut self) {
        if self.state.preset == self.sent || self.pending_reset.is_some() {
            return;
        }
        // JEM keeps one logit per class when the data change.
        if matches!(
            self.state.preset.objective.kind,
            crate::preset::ObjectiveKind::Jem { .. }
        ) && self.state.preset.data != self.sent.data
            && let Some(k) = self.state.preset.data.classes()
        {
            self.state.preset.model.outputs = k;
        }
        let draft = self.state.preset.clone();
        if let Err(e) = draft.validate() {
            self.message(true, e.to_string());
            self.state.preset = self.sent.clone();
            return;
        }
        match reset_reason(&self.sent, &draft) {
            None => {
                self.sent = draft.clone();
                self.send(Command::SetPreset(Box::new(draft)));
            }
            Some(_) if self.run.step == 0 && self.run.history.received == 0 => {
                if !self.reset_to(draft) {
                    self.state.preset = self.sent.clone();
                }
            }
            Some(why) => {
                self.pause_to_ask();
                self.pending_reset = Some(PendingReset { preset: draft, why });
            }
        }
    }

    /// Whether the data's true NLL is known (and so the KL gap is plotted).
    #[must_use]
    pub fn true_nll_known(&self) -> bool {
        self.run.true_nll.is_some()
    }

    /// Whether a change waits for the user to confirm a reset.
    #[must_use]
    pub fn awaiting_confirmation(&self) -> bool {
        self.pending_reset.is_some()
    }

    /// The mean frame time over the last 60 frames, in ms.
    #[must_use]
    pub fn frame_ms(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.frame_times.len().max(1) as f64;
        self.frame_times.iter().sum::<f64>() / n * 1e3
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain(ctx);
        // Files dropped on the window.
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for p in dropped {
            self.request(Replace::File(p));
        }
        self.poll_dialog(ctx);
        while let Ok(r) = self.shots.1.try_recv() {
            match r {
                Ok(p) => {
                    self.remember(&p);
                    self.message(false, format!("wrote {}", p.display()));
                }
                Err(e) => self.message(true, e),
            }
        }
        let asking = self.pending_reset.is_some()
            || self.pending_replace.is_some()
            || self.dialogs.picker.is_some()
            || self.restore_offer.is_some();
        if !asking && !ctx.egui_wants_keyboard_input() && ctx.input(|i| i.key_pressed(Key::Space)) {
            self.run_command(if self.run.running {
                UiCommand::Pause
            } else {
                UiCommand::Train
            });
        }
        self.update_texture(ctx);
        if self.run.running {
            ctx.request_repaint_after(self.frame_interval.get());
        }
        self.autosave_tick();
        if self.autosave.is_some() && self.run.step != self.run.autosaved_step {
            // An idle window draws no frames: wake it when the autosave is due.
            let due = self
                .autosave_every
                .saturating_sub(self.last_autosave.elapsed());
            ctx.request_repaint_after(due.max(Duration::from_millis(100)));
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // A clean exit: nothing to restore next time (after any autosave still queued;
        // not while an offer to restore one is unanswered).
        if let Some(p) = self.autosave.take()
            && self.restore_offer.is_none()
        {
            self.send(Command::DiscardAutosave(p));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let t_ui = Instant::now();
        self.renderer = frame.gl().is_some() || frame.wgpu_render_state().is_some();
        let (frame_ms, rate) = self.frame_stats();
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui, rate));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui, frame_ms));
        // The columns share the window so that the view keeps at least a third of it from
        // 1 024 × 700 up; the left column's width does not follow its contents.
        let width = ui.max_rect().width();
        let left = (0.24 * width).clamp(240.0, 360.0);
        let right = (0.31 * width).clamp(300.0, 470.0);
        // Sized from the window every frame (not remembered: a window made small and
        // then large again gets its columns back).
        egui::Panel::left("settings")
            .exact_size(left)
            .show(ui, |ui| self.settings_ui(ui));
        for note in super::fields::take_notes(ui.ctx()) {
            self.message_about(Topic::Clamp, true, note);
        }
        egui::Panel::right("curves")
            .exact_size(right)
            .show(ui, |ui| {
                let mut run_ais = false;
                ui.horizontal(|ui| {
                    ui.checkbox(&mut self.state.per_layer, "per layer");
                    run_ais = ui
                        .button("Run AIS")
                        .on_hover_text(
                            "Estimate log Z by annealed importance sampling (256 chains, 500 \
                             temperatures), forward and reverse, next to quadrature.",
                        )
                        .clicked();
                });
                if run_ais {
                    // The base the evaluator uses, with more chains and temperatures.
                    let p = &self.worker_preset;
                    self.send(Command::Ais(crate::eval::ais::AisSpec {
                        base: p.ais_spec(self.run.data.space).base,
                        ..crate::eval::ais::AisSpec::default()
                    }));
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let pins: Vec<(String, &MetricsHistory)> = self
                        .pins
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (pin_label(k, &p.preset, &self.worker_preset), &p.history))
                        .collect();
                    views::curves_ui(
                        ui,
                        &self.run.history,
                        &views::CurvesContext {
                            true_nll: self.run.true_nll,
                            per_layer: self.state.per_layer,
                            ais: self.run.ais,
                            pins: &pins,
                            // How the NLL is obtained follows from the data's space, from
                            // the first point on (the initial NLL has no error band).
                            by_ais: crate::eval::Method::for_space(self.run.data.space)
                                == crate::eval::Method::Ais,
                            marks: &self.run.marks,
                            list_layers: self.worker_preset.model.layers.len(),
                            score_matching: self.worker_preset.objective.kind.is_score_matching(),
                        },
                    );
                });
            });
        egui::CentralPanel::default_margins().show(ui, |ui| self.centre_ui(ui));
        if !self.run.space_view.is_images() {
            let asked = super::long_run::long_run_window(
                ui.ctx(),
                &mut self.long_run,
                self.run.view.as_ref(),
                &self.run.data,
            );
            self.handle(asked);
        }
        self.confirm_ui(ui.ctx());
        self.replace_ui(ui.ctx());
        self.picker_ui(ui.ctx());
        self.restore_ui(ui.ctx());
        if let Some(c) = self.comparison.as_mut() {
            let load = c.ui(ui.ctx());
            if !c.open {
                self.comparison = None;
            }
            if let Some(model) = load {
                self.request(Replace::File(model));
            }
        }
        self.apply_edits();
        let ms = t_ui.elapsed().as_secs_f64() * 1e3;
        self.ui_ms = 0.9 * self.ui_ms + 0.1 * ms;
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::FrameInterval;
    use std::time::Duration;

    #[test]
    fn training_frames_are_fewer_where_the_cpu_draws_them_unless_asked_for() {
        assert_eq!(
            FrameInterval::for_renderer(true, None),
            FrameInterval::SOFTWARE
        );
        assert_eq!(FrameInterval::for_renderer(false, None), FrameInterval::GPU);
        assert!(FrameInterval::SOFTWARE > FrameInterval::GPU);
        // EBM_WORKBENCH_TRAINING_FPS wins over the renderer; nonsense is ignored.
        assert_eq!(
            FrameInterval::for_renderer(true, Some(" 50 ")),
            Duration::from_millis(20)
        );
        assert_eq!(
            FrameInterval::for_renderer(false, Some("10")),
            Duration::from_millis(100)
        );
        for bad in ["0", "-5", "500", "fast", ""] {
            assert_eq!(
                FrameInterval::for_renderer(true, Some(bad)),
                FrameInterval::SOFTWARE,
                "{bad:?}"
            );
        }
        // The worker's waker reads the interval the window set after it started.
        let shared = FrameInterval::default();
        let waker_side = shared.clone();
        assert_eq!(waker_side.get(), FrameInterval::GPU);
        shared.set(FrameInterval::SOFTWARE);
        assert_eq!(waker_side.get(), FrameInterval::SOFTWARE);
    }
}
