//! What the window's parts ask of it: the toolbar's actions (each with its label and
//! tooltip in one place), and the one way a panel or a view asks for them or for a
//! worker command ([`Request`], carried out by [`WorkbenchApp::handle`]).

use super::*;

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

impl WorkbenchApp {
    /// Carries out what the panels and views asked for, in order.
    pub fn handle(&mut self, asked: Vec<Request>) {
        for r in asked {
            match r {
                Request::Action(c) => self.run_command(c),
                Request::Worker(c) => self.send(c),
            }
        }
    }

    /// Runs a toolbar command.
    pub fn run_command(&mut self, c: UiCommand) {
        use super::picker::FileAction;
        match c {
            UiCommand::LoadData => self.ask_path(FileAction::LoadData),
            UiCommand::Train => {
                self.forget(Topic::Finished);
                self.forget(Topic::Divergence);
                self.send(Command::Start);
            }
            UiCommand::Pause => self.send(Command::Pause),
            UiCommand::Step => self.send(Command::Step(1)),
            UiCommand::Reset => self.request(Replace::Reset),
            UiCommand::PinRun => self.pin_run(),
            UiCommand::ClearPins => {
                self.pins.clear();
                self.message(false, "pinned runs cleared");
            }
            UiCommand::CompareRuns => self.ask_path(FileAction::CompareRuns),
            UiCommand::OpenPreset => self.ask_path(FileAction::OpenPreset),
            UiCommand::SavePreset => self.ask_path(FileAction::SavePreset),
            UiCommand::ExportModel => self.ask_path(FileAction::ExportModel),
            UiCommand::LoadModel => self.ask_path(FileAction::LoadModel),
            UiCommand::SaveCheckpoint => self.ask_path(FileAction::SaveCheckpoint),
            UiCommand::ExportPng => self.ask_path(FileAction::ExportPng),
            UiCommand::ExportMetrics => self.ask_path(FileAction::ExportMetrics),
        }
    }
}
