//! What the window shows of one run, and a run's life there: asked of the worker (a
//! reset, a loaded model, a resumed checkpoint), started (it replaces the run shown as a
//! whole, with the worker's data) or failed (the run before goes on, and the window says
//! why). The centre's view per space is chosen once here, from the run's data.

use super::*;
use crate::gui::images::ImageState;
use crate::gui::long_run::LongRunState;

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
    pub ais: Option<(f64, f64, Option<f64>, bool)>,
    /// Says when the sampler stops following the model.
    pub(super) lag: crate::train::metrics::LagMonitor,
    /// Warnings at steps of this run, drawn on the curves' step axis.
    pub marks: Vec<(usize, Mark)>,
    /// Draws from a classifier's class-conditional, shown over the view until cleared.
    pub class_samples: Option<(usize, Vec<f32>)>,
    /// The step the last autosave (sent) was at.
    pub(super) autosaved_step: usize,
    /// The step the last autosave written was at (the worker's confirmation).
    pub autosaved_at: Option<usize>,
}

/// The centre of the window, one case per data space, chosen once when a run starts
/// (the worker's [`crate::train::view::Scene`] has the same cases); each case owns what
/// only it draws.
pub enum SpaceView {
    /// The plane: the samples over the heat map, the network under them.
    Plane(PlaneView),
    /// Vectors: the samples projected on two axes, and the long run.
    Projection(LongRunState),
    /// Images: grids of pictures, their tabs, class rows, long run and textures.
    Images(ImageState),
}

/// What the plane's view keeps between frames.
#[derive(Default)]
pub struct PlaneView {
    /// The heat map's texture, made once per view and kind of map.
    pub(super) texture: Option<TextureHandle>,
    pub(super) texture_kind: Option<(usize, HeatKind)>,
    /// The heat map's values at its two ends, in the colour bar's units.
    pub(super) heat_range: Option<(f64, f64)>,
    /// The network drawing's tiles.
    pub(super) network: crate::gui::network::NetworkTexture,
    /// The long run's panel: its settings and its last result.
    pub long_run: LongRunState,
}

impl SpaceView {
    /// The view for data in `space`, fresh, with the choices the user made in `before`
    /// (the long run's settings, the image tab).
    #[must_use]
    pub fn for_space(space: crate::data::Space, before: Option<&Self>) -> Self {
        let long_run = || {
            let mut l = LongRunState::default();
            if let Some(b) = before.and_then(Self::long_run) {
                (l.open, l.chains, l.steps) = (b.open, b.chains, b.steps);
            }
            l
        };
        match space {
            crate::data::Space::Plane => Self::Plane(PlaneView {
                long_run: long_run(),
                ..PlaneView::default()
            }),
            crate::data::Space::Vector { .. } => Self::Projection(long_run()),
            crate::data::Space::Image { .. } | crate::data::Space::Bits { .. } => {
                let mut st = ImageState::default();
                if let Some(Self::Images(b)) = before {
                    st.tab = b.tab;
                }
                Self::Images(st)
            }
        }
    }

    /// The long run's panel of the plane and the projection (the images show theirs in
    /// a tab).
    #[must_use]
    pub fn long_run(&self) -> Option<&LongRunState> {
        match self {
            Self::Plane(p) => Some(&p.long_run),
            Self::Projection(l) => Some(l),
            Self::Images(_) => None,
        }
    }

    pub fn long_run_mut(&mut self) -> Option<&mut LongRunState> {
        match self {
            Self::Plane(p) => Some(&mut p.long_run),
            Self::Projection(l) => Some(l),
            Self::Images(_) => None,
        }
    }

    /// The image views' state.
    #[must_use]
    pub fn images(&self) -> Option<&ImageState> {
        match self {
            Self::Images(st) => Some(st),
            _ => None,
        }
    }
}

/// Something the window does later, to itself.
pub(super) type AppAction = Box<dyn FnOnce(&mut WorkbenchApp)>;

/// A run asked of the worker, until it starts.
pub(super) struct Starting {
    pub(super) run: u64,
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
    /// Run `id` on `data` (whose held-out split has the true NLL `true_nll`, where it is
    /// known), before its first event; `before` is the view of the run it replaces.
    pub(super) fn new(
        id: u64,
        data: Arc<Dataset>,
        true_nll: Option<f64>,
        before: Option<&SpaceView>,
    ) -> Self {
        let space = data.space;
        Self {
            space_view: SpaceView::for_space(space, before),
            id,
            data,
            true_nll,
            running: false,
            step: 0,
            history: MetricsHistory::default(),
            view: None,
            ais: None,
            lag: crate::train::metrics::LagMonitor::for_space(space),
            marks: Vec::new(),
            class_samples: None,
            autosaved_step: 0,
            autosaved_at: None,
        }
    }
}

impl WorkbenchApp {
    /// Asks the worker to replace the experiment with `preset` by `command` (a reset, a
    /// loaded model, a checkpoint to resume), and does `on_start` once it runs. Its data
    /// are loaded by the worker, off this thread; the window shows the run before it
    /// until then, and replaces it as a whole when the worker says it started
    /// ([`Self::run_started`]). Data that cannot be loaded change nothing (the worker
    /// says why: see [`Event::RestartFailed`]).
    pub(super) fn start_over_with(
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
    pub(super) fn run_started(
        &mut self,
        id: u64,
        preset: Preset,
        data: Arc<Dataset>,
        true_nll: Option<f64>,
    ) {
        self.run = RunState::new(id, data, true_nll, Some(&self.run.space_view));
        self.worker_preset = preset;
        // Messages spoke of the run that is gone.
        self.messages.clear();
        // A data file it trains on goes under Recent.
        if let Some(file) = self.worker_preset.data.file().map(Path::to_path_buf) {
            self.remember(&file);
        }
        if let Some(s) = self.starting.take_if(|s| s.run == id) {
            (s.on_start)(self);
        }
    }

    /// The worker could not start the run asked for: the run before it goes on, with its
    /// settings, and the window says why.
    pub(super) fn run_failed(&mut self, message: &str) {
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
    pub(super) fn if_it_fails(&mut self, f: impl FnOnce(&mut Self) + 'static) {
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
    pub(super) fn reset_to(&mut self, preset: Preset) -> bool {
        self.reset_saying(preset, None, |_| {})
    }

    /// As [`Self::reset_to`], doing `on_start` when the run starts; a failure's message
    /// is about `about` (a file).
    pub(super) fn reset_saying(
        &mut self,
        preset: Preset,
        about: Option<String>,
        on_start: impl FnOnce(&mut Self) + 'static,
    ) -> bool {
        let boxed = Box::new(preset.clone());
        let reset = move |run| Command::Reset(boxed, run);
        match self.start_over_with(preset, reset, about, on_start) {
            Ok(()) => true,
            Err(e) => {
                self.message(true, e);
                false
            }
        }
    }
}
