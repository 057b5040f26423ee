//! Evaluation: log Z by quadrature in the plane (exact up to the grid) or by annealed
//! importance sampling anywhere, chosen once from the data's space; the exact sample term
//! and sampler in the plane, a reference sample term from long MALA chains elsewhere.

pub mod ais;
pub mod diagnostics;
pub mod exact;
pub mod quadrature;
pub mod reference;
pub mod verdict;

/// How log Z is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Quadrature on a grid over the data box: exact up to the grid, over the box only.
    Quadrature,
    /// Annealed importance sampling from a base fitted to the data: an estimate with a
    /// standard error, over the whole space.
    Ais,
    /// A sum over every state of a few bits: exact.
    Enumeration,
}

impl Method {
    /// `quadrature`, `AIS`: as the metrics CSV, the window and the command line say it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Quadrature => "quadrature",
            Self::Ais => "AIS",
            Self::Enumeration => "enumeration",
        }
    }

    /// How log Z is obtained in a space: by quadrature where the space has a grid over
    /// its box, by enumeration where it has few enough states (bits), by AIS elsewhere.
    /// The one rule: the evaluator, the window and the command line ask it.
    #[must_use]
    pub fn for_space(space: crate::data::Space) -> Self {
        let allows = space.allows();
        if allows.quadrature {
            Self::Quadrature
        } else if allows.enumeration {
            Self::Enumeration
        } else {
            Self::Ais
        }
    }

    /// Whether the number is exact (quadrature up to its grid, enumeration), not an
    /// estimate.
    #[must_use]
    pub fn is_exact(self) -> bool {
        self != Self::Ais
    }

    /// The method of this name (as [`Method::name`] writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Quadrature, Self::Ais, Self::Enumeration]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// log Z with its standard error (0 for quadrature) and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogZ {
    pub log_z: f64,
    pub stderr: f64,
    pub method: Method,
}

/// The evaluator a session uses, chosen once from what its space allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluator {
    Quadrature {
        grid: usize,
    },
    Ais(ais::AisSpec),
    /// Every state of this many bits.
    Enumeration {
        bits: usize,
    },
}

impl Evaluator {
    /// Quadrature on a `grid × grid` grid where the space has one, AIS with `ais`
    /// elsewhere ([`Method::for_space`]).
    #[must_use]
    pub fn for_space(space: crate::data::Space, grid: usize, ais: ais::AisSpec) -> Self {
        match Method::for_space(space) {
            Method::Quadrature => Self::Quadrature { grid },
            Method::Ais => Self::Ais(ais),
            Method::Enumeration => Self::Enumeration { bits: space.dim() },
        }
    }

    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Self::Quadrature { .. } => Method::Quadrature,
            Self::Ais(_) => Method::Ais,
            Self::Enumeration { .. } => Method::Enumeration,
        }
    }

    /// Energy evaluations one estimate costs (for the window to show).
    #[must_use]
    pub fn cost(&self) -> usize {
        match self {
            Self::Quadrature { grid } => grid * grid,
            Self::Ais(s) => s.chains * s.temperatures * (1 + s.steps_per_temperature),
            Self::Enumeration { bits } => 1 << bits,
        }
    }
}
