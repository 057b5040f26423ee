//! Error types of the engine. Each names the file, field, line or tensor it is about,
//! so that the message a user reads says where to look.

use std::path::PathBuf;

/// A preset that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("cannot read preset {path}: {cause}")]
    Io {
        path: PathBuf,
        // In the message already, so not the chain's `source` (it would print twice).
        cause: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{path}: invalid value for `{field}`: {value} (allowed: {allowed})")]
    Invalid {
        path: PathBuf,
        field: String,
        value: String,
        allowed: String,
    },
    #[error(
        "{path}: preset version {found} is newer than this program understands (up to {supported})"
    )]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
}

impl PresetError {
    /// The same error, attributed to `path` (presets parsed from text carry `<text>`).
    #[must_use]
    pub fn with_path(self, p: impl Into<PathBuf>) -> Self {
        let p = p.into();
        match self {
            Self::Io { cause, .. } => Self::Io { path: p, cause },
            Self::Syntax {
                line, col, message, ..
            } => Self::Syntax {
                path: p,
                line,
                col,
                message,
            },
            Self::Invalid {
                field,
                value,
                allowed,
                ..
            } => Self::Invalid {
                path: p,
                field,
                value,
                allowed,
            },
            Self::Version {
                found, supported, ..
            } => Self::Version {
                path: p,
                found,
                supported,
            },
        }
    }
}

/// A model file that could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("cannot access model file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path}: the file has no `preset` entry in its metadata, so it does not say which network it holds"
    )]
    NoPreset { path: PathBuf },
    #[error("{path}: the embedded preset is invalid: {source}")]
    Preset { path: PathBuf, source: PresetError },
    #[error("{path}: tensor `{name}` is missing")]
    Missing { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has shape {found:?} but the network needs {expected:?}")]
    Shape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has dtype {found}, expected F32")]
    Dtype {
        path: PathBuf,
        name: String,
        found: String,
    },
    #[error("{path}: tensor `{name}` is not part of this network")]
    Unexpected { path: PathBuf, name: String },
}

/// Why a training step did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrainError {
    #[error(
        "training diverged at step {step}: {reason}; {restored} were rolled back to step {rolled_back_to}"
    )]
    Diverged {
        step: usize,
        reason: String,
        /// What was restored, in words (`the parameters, the optimiser state, …`).
        restored: String,
        rolled_back_to: usize,
    },
    #[error("the autograd engine failed at step {step}: {message}")]
    Engine { step: usize, message: String },
}

impl TrainError {
    /// The step the run went back to, after a divergence.
    #[must_use]
    pub fn rolled_back_to(&self) -> Option<usize> {
        match self {
            Self::Diverged { rolled_back_to, .. } => Some(*rolled_back_to),
            Self::Engine { .. } => None,
        }
    }

    /// The step it happened at.
    #[must_use]
    pub fn step(&self) -> usize {
        match self {
            Self::Diverged { step, .. } | Self::Engine { step, .. } => *step,
        }
    }
}

/// A data file that could not be read, or whose contents are not a table of points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", place.as_ref().map_or(String::new(), |p| format!(":{p}")))]
pub struct DataError {
    pub path: PathBuf,
    /// Where in the file: `line 17, column 2`, `header`, … (`None`: the whole file).
    pub place: Option<String>,
    pub message: String,
}

impl DataError {
    pub fn new(path: &std::path::Path, place: Option<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            place,
            message: message.into(),
        }
    }
}
