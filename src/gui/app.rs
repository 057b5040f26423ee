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

mod asks;
mod centre;
mod chrome;
mod events;
mod files;
mod machine;
mod picker;
mod run;

pub use asks::{Request, UiCommand};
pub use files::Replace;
pub use machine::{DeviceList, FrameInterval};
pub use picker::{FileAction, Picker, file_kind};
use run::Starting;
pub use run::{PlaneView, RunState, SpaceView};

/// A pin's label and tooltip from one comparison of its settings with the live run's:
/// the label names three differences, the kinds first (the sampler's kind before its
/// fields), the tooltip every one, a line each.
fn pin_texts(k: usize, pinned: &Preset, live: &Preset) -> (String, String) {
    let mut d = crate::sweep::differences(pinned, live);
    if d.is_empty() {
        return (
            format!("pin {}: same settings", k + 1),
            "The same settings as the live run.".to_string(),
        );
    }
    let lines: Vec<String> = d.iter().map(|(p, a, b)| change_text(p, a, b)).collect();
    let changes = format!("Pinned → live:\n{}", lines.join("\n"));
    d.sort_by_key(|(p, ..)| !p.ends_with(".kind"));
    let mut parts: Vec<String> = d
        .iter()
        .take(3)
        .map(|(p, a, b)| change_text(p, a, b))
        .collect();
    if d.len() > 3 {
        parts.push(format!("+{} more", d.len() - 3));
    }
    (format!("pin {}: {}", k + 1, parts.join(", ")), changes)
}

/// One changed setting in words: the field's name (a `kind` by what it is the kind of,
/// "sampler Langevin → Exact") and its two values.
pub(crate) fn change_text(key: &str, from: &str, to: &str) -> String {
    let mut parts = key.rsplit('.');
    let last = parts.next().unwrap_or(key);
    let name = match (last, parts.next()) {
        ("kind", Some(parent)) => parent,
        _ => last,
    };
    format!("{} {from} → {to}", name.replace('_', " "))
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

/// A run pinned on the curves: its settings (for the label) and its history.
#[derive(Debug, Clone)]
pub struct Pin {
    pub preset: Preset,
    pub history: MetricsHistory,
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

/// The message log: every warning, error and change the window said, with the step and
/// the time, kept while the window is open (the status bar shows only the latest).
#[derive(Debug)]
pub struct MessageLog {
    pub entries: Vec<LogEntry>,
    /// Warnings and errors said since the log was last looked at.
    pub unread: usize,
    /// Whether its window is open.
    pub open: bool,
    started: Instant,
}

/// One line of the log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub error: bool,
    pub text: String,
    /// The run's step when it was said.
    pub step: usize,
    /// Seconds since the window opened.
    pub at: f64,
}

impl Default for MessageLog {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            unread: 0,
            open: false,
            started: Instant::now(),
        }
    }
}

impl MessageLog {
    /// Lines kept at most (the oldest go first).
    pub const KEPT: usize = 2000;

    /// Keeps `text`, said at `step`.
    pub fn push(&mut self, error: bool, text: &str, step: usize) {
        // The same message again at the same step (a note repeated every frame) is kept
        // once.
        if self
            .entries
            .last()
            .is_some_and(|e| e.text == text && e.step == step && e.error == error)
        {
            return;
        }
        if error && !self.open {
            self.unread += 1;
        }
        self.entries.push(LogEntry {
            error,
            text: text.to_string(),
            step,
            at: self.started.elapsed().as_secs_f64(),
        });
        if self.entries.len() > Self::KEPT {
            self.entries.remove(0);
        }
    }

    /// The log's window: newest first, warnings in their colour, with the step and the
    /// time each was said.
    pub fn window(&mut self, ctx: &egui::Context) {
        let mut open = self.open;
        // Below the toolbar, at the right: over the plots, not the controls.
        let right = ctx.content_rect().right();
        egui::Window::new("Messages")
            .open(&mut open)
            .default_size([560.0, 360.0])
            .default_pos([(right - 600.0).max(0.0), 64.0])
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label(format!(
                        "{} messages this session, newest first",
                        self.entries.len()
                    ));
                    if ui.button("Clear").clicked() {
                        self.entries.clear();
                    }
                });
                ui.separator();
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for e in self.entries.iter().rev() {
                        let secs = e.at.round() as u64;
                        let when = format!(
                            "{:02}:{:02}:{:02}  step {}",
                            secs / 3600,
                            secs / 60 % 60,
                            secs % 60,
                            e.step
                        );
                        ui.horizontal_wrapped(|ui| {
                            ui.weak(when);
                            let text = if e.error {
                                egui::RichText::new(&e.text).color(theme::WARNING)
                            } else {
                                egui::RichText::new(&e.text)
                            };
                            ui.add(egui::Label::new(text).wrap());
                        });
                    }
                });
            });
        self.open = open;
        if self.open {
            self.unread = 0;
        }
    }
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
    /// The settings column's rect in the last frame (what it holds must fit in it).
    pub settings_rect: Option<egui::Rect>,
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
    /// Every message the window showed this session, oldest first (the status bar keeps
    /// only the latest few).
    pub log: MessageLog,
    frame_times: VecDeque<f64>,
    last_frame: Option<Instant>,
    rate: (Instant, usize, f64),
    /// Earlier runs pinned for comparison: their settings and curves.
    pub pins: Vec<Pin>,
    /// A sweep folder opened for comparison.
    pub comparison: Option<super::compare::Comparison>,
    /// Smoothed time to lay out one frame (the rest of a frame is drawing).
    ui_ms: f64,
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

impl WorkbenchApp {
    /// The app with eframe's persistence, as the window starts it: its autosave in
    /// eframe's folder for the app.
    #[must_use]
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        Self::new_in(cc, eframe::storage_dir("ebm-workbench").as_deref())
    }

    /// [`Self::new`] with its autosave in `autosave_dir` (tests give their own folder: a
    /// window killed on this machine leaves its autosave, whose offer to restore would
    /// stand over the test's window).
    #[must_use]
    pub fn new_in(cc: &eframe::CreationContext<'_>, autosave_dir: Option<&Path>) -> Self {
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
        if let Some(path) = autosave_dir.map(|d| d.join(AUTOSAVE_FILE)) {
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
        // The window opens on the default experiment (a generated toy set, at once); the
        // last session's is asked of the worker, which loads its data off this thread
        // (a file that is gone leaves the default one, and the window says why).
        let wanted = state.preset.clone();
        state.preset = PersistedState::default().preset;
        let mut startup_error = None;
        // Shared: the window and the worker draw and train on the same data.
        let data = Arc::new(data_for(&state.preset).unwrap_or_else(|e| {
            // Only a broken build could fail to generate a bundled toy set.
            startup_error = Some(e.to_string());
            Dataset::generate(&state.preset.data)
        }));

        let ctx2 = ctx.clone();
        // New results ask for a frame within one frame interval (see `FrameInterval`):
        // the rest of the CPU stays with training.
        let frame_interval = FrameInterval::default();
        let interval = frame_interval.clone();
        let session = crate::train::Session::with_data(&state.preset, Arc::clone(&data));
        let true_nll = session.true_nll();
        let worker = WorkerHandle::spawn(
            session,
            Box::new(move || ctx2.request_repaint_after(interval.get())),
        );
        let mut app = Self {
            run: RunState::new(0, data, true_nll, None),
            worker_preset: state.preset.clone(),
            sent: state.preset.clone(),
            state,
            worker,
            view_rect: None,
            settings_rect: None,
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
            log: MessageLog::default(),
            frame_times: VecDeque::new(),
            last_frame: None,
            rate: (Instant::now(), 0, 0.0),
            ui_ms: 0.0,
            pins: Vec::new(),
            comparison: None,
            autosave: None,
            autosave_every: Duration::from_secs(60),
            last_autosave: Instant::now(),
            restore_offer: None,
            devices: DeviceList::probe(ctx),
        };
        if let Some(e) = startup_error {
            app.message(true, e);
        }
        if wanted != app.state.preset {
            app.reset_to(wanted);
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
        let text = text.into();
        self.log.push(error, &text, self.run.step);
        self.messages.push_back(Message { error, text, topic });
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
        let settings = egui::Panel::left("settings")
            .exact_size(left)
            .show(ui, |ui| self.settings_ui(ui));
        self.settings_rect = Some(settings.response.rect);
        for note in super::fields::take_notes(ui.ctx()) {
            self.message_about(Topic::Clamp, true, note);
        }
        egui::Panel::right("curves")
            .exact_size(right)
            .show(ui, |ui| {
                let mut run_ais = false;
                ui.horizontal(|ui| {
                    ui.checkbox(&mut self.state.per_layer, "per layer");
                    // MALA moves on points; on bits, Gibbs or GWG moves (an RBM's block
                    // Gibbs) from independent bits with the data's marginals.
                    let allows = self.run.data.space.allows();
                    run_ais = (allows.ais || allows.discrete)
                        && ui
                            .button("Run AIS")
                            .on_hover_text(if allows.discrete {
                                "Estimate log Z by annealed importance sampling on bits (256 chains, 500 temperatures): from independent bits with the data's marginals, Gibbs sweeps or GWG steps (an RBM: block Gibbs) at every temperature."
                            } else {
                                "Estimate log Z by annealed importance sampling (256 chains, 500 temperatures), forward and reverse, next to quadrature."
                            })
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
                // A scroll position of its own per run: a new run's plots start at the top.
                egui::ScrollArea::vertical()
                    .id_salt(("curves", self.run.id))
                    .show(ui, |ui| {
                    let pins: Vec<(String, String, &MetricsHistory)> = self
                        .pins
                        .iter()
                        .enumerate()
                        .map(|(k, p)| {
                            let (label, changes) =
                                pin_texts(k, &p.preset, &self.worker_preset);
                            (label, changes, &p.history)
                        })
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
                            by_ais: crate::eval::Method::for_model(
                                self.run.data.space,
                                &self.worker_preset.model,
                            ) == crate::eval::Method::Ais,
                            method: crate::eval::Method::for_model(
                                self.run.data.space,
                                &self.worker_preset.model,
                            ),
                            reference: self.run.data.space.allows().reference_sample_term,
                            marks: &self.run.marks,
                            list_layers: self.worker_preset.model.layers.len(),
                            score_matching: self.worker_preset.objective.kind.is_score_matching(),
                            nll_not_measurable: self
                                .run
                                .history
                                .latest_nll_untrusted()
                                .map(|s| (s, self.nll_untrusted_reason(s))),
                        },
                    );
                });
            });
        egui::CentralPanel::default_margins().show(ui, |ui| self.centre_ui(ui));
        // The data on the view's axes: the points themselves in the plane, their
        // projection elsewhere.
        let data_2d: &[f32] = match &self.run.space_view {
            SpaceView::Plane(_) => &self.run.data.train,
            _ => self
                .run
                .view
                .as_ref()
                .and_then(View::projection)
                .map_or(&[], |p| &p.data),
        };
        if let Some(long_run) = self.run.space_view.long_run_mut() {
            let asked = super::long_run::long_run_window(ui.ctx(), long_run, data_2d);
            self.handle(asked);
        }
        self.log.window(ui.ctx());
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

#[cfg(test)]
mod change_tests {
    use super::{change_text, pin_texts};
    use crate::sampler::{Init, SamplerKind};

    /// A change in words: names, not code (no quotes, no `kind`), and a pin's label led
    /// by the sampler's kind before its fields.
    #[test]
    fn changes_read_as_words_and_a_pin_leads_with_the_kind() {
        assert_eq!(
            change_text("sampler.kind", "Langevin", "Exact"),
            "sampler Langevin → Exact"
        );
        assert_eq!(
            change_text("sampler.init.reinit_prob", "0.05", "0"),
            "reinit prob 0.05 → 0"
        );
        let live = crate::preset::Preset::from_ron(super::DEFAULT_PRESET).unwrap();
        let mut pinned = live.clone();
        pinned.sampler.kind = SamplerKind::Sgld {
            step_size: 0.5,
            noise: 0.01,
        };
        pinned.sampler.init = Init::Noise;
        let (label, all) = pin_texts(0, &pinned, &live);
        assert!(
            label.starts_with("pin 1: sampler Sgld → Langevin"),
            "{label}"
        );
        assert!(!label.contains('"'), "{label}");
        // The tooltip names every difference, those the label left out too.
        let n = crate::sweep::differences(&pinned, &live).len();
        assert_eq!(all.lines().count(), n + 1, "{all}");
        assert!(all.contains("sampler Sgld → Langevin"), "{all}");
    }
}
