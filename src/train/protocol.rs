//! What the window and the training thread say to each other: the window's [`Command`]s
//! and the worker's [`Event`]s, each tagged with the run it belongs to.

use super::metrics::StepMetrics;
use super::session::Checkpoint;
use super::view::View;
use crate::data::projection::ProjectionKind;
use crate::error::TrainError;
use crate::preset::Preset;
use std::path::PathBuf;

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
    /// Start over with a fresh session for this preset (its data loaded here, off the
    /// window's thread): run `u64` from now on.
    Reset(Box<Preset>, u64),
    /// Start over from a loaded model (its preset and parameters, on its data, which
    /// must still fit its input shape): run `u64` from now on.
    LoadParams(Box<crate::export::Model>, u64),
    /// Write the model to a file.
    Export(PathBuf),
    /// Write all metrics so far as CSV.
    ExportMetrics(PathBuf),
    /// Write a checkpoint of the session (with every step's metrics).
    SaveCheckpoint(PathBuf),
    /// The same, quietly (the window's autosave).
    Autosave(PathBuf),
    /// Go on from a checkpoint (read by the window): its session, made here with its
    /// data, replaces this one, with the metrics of its steps so far, as run `u64`.
    Resume(Box<Checkpoint>, u64),
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
        /// Whether the estimate means anything (its weights' ESS; forward against reverse).
        verdict: crate::eval::verdict::Verdict,
    },
    /// The held-out NLL of a fresh or loaded model, before any step (step 0), whether it
    /// can be trusted ([`crate::eval::verdict`]) and AIS's weights' ESS behind it.
    InitialNll {
        nll: f64,
        trusted: bool,
        ess: Option<f64>,
    },
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
    /// A new session replaced the old one (a reset, a loaded model, a resumed
    /// checkpoint): every event after this belongs to it, every event before it to the
    /// old one. Its data, loaded once by the worker, are shared with the window.
    Restarted {
        preset: Box<Preset>,
        data: std::sync::Arc<crate::data::Dataset>,
        /// The held-out split's true NLL, where the data's density is known.
        true_nll: Option<f64>,
    },
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

/// The run a command that replaces the session asks for.
pub(super) fn replacing_run(c: &Command) -> Option<u64> {
    match c {
        Command::Reset(_, run) | Command::LoadParams(_, run) | Command::Resume(_, run) => {
            Some(*run)
        }
        _ => None,
    }
}

/// What a command is, for a message.
pub(super) fn command_name(c: &Command) -> &'static str {
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
