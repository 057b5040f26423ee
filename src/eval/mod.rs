//! Evaluation: log Z by quadrature in the plane (exact up to the grid) or by annealed
//! importance sampling anywhere, chosen once from the data's space; the exact sample term
//! and sampler in the plane, a reference sample term from long MALA chains elsewhere.

pub mod ais;
pub mod diagnostics;
pub mod exact;
pub mod quadrature;
pub mod rbm;
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
    /// A sum over every state of a few bits, or of an RBM's few hidden units: exact.
    Enumeration,
    /// No estimator for this energy in this space (an energy of layers on more bits than
    /// can be enumerated): the NLL is not measurable.
    Unavailable,
}

impl Method {
    /// `quadrature`, `AIS`: as the metrics CSV, the window and the command line say it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Quadrature => "quadrature",
            Self::Ais => "AIS",
            Self::Enumeration => "enumeration",
            Self::Unavailable => "none",
        }
    }

    /// How log Z is obtained in a space: by quadrature where the space has a grid over
    /// its box, by enumeration where it has few enough states (bits), by AIS elsewhere
    /// but on bits (none there).
    /// The one rule: the evaluator, the window and the command line ask it.
    #[must_use]
    pub fn for_space(space: crate::data::Space) -> Self {
        let allows = space.allows();
        if allows.quadrature {
            Self::Quadrature
        } else if allows.enumeration {
            Self::Enumeration
        } else if allows.ais {
            Self::Ais
        } else {
            Self::Unavailable
        }
    }

    /// How log Z is obtained for `model` in `space`: as [`Method::for_space`], and on
    /// bits for an RBM with at most [`rbm::MAX_HIDDEN`] hidden units by summing over its
    /// hidden states (whatever the number of visible units); none for other energies on
    /// more bits than can be enumerated.
    #[must_use]
    pub fn for_model(space: crate::data::Space, model: &crate::energy::ModelSpec) -> Self {
        if rbm::hidden_sum(space, model).is_some() {
            return Self::Enumeration;
        }
        if space.allows().discrete && model.rbm().is_some() && !space.allows().enumeration {
            // Too many hidden units to sum over: AIS by the RBM's block Gibbs.
            return Self::Ais;
        }
        Self::for_space(space)
    }

    /// Whether the number is exact (quadrature up to its grid, enumeration), not an
    /// estimate.
    #[must_use]
    pub fn is_exact(self) -> bool {
        matches!(self, Self::Quadrature | Self::Enumeration)
    }

    /// The method of this name (as [`Method::name`] writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Quadrature,
            Self::Ais,
            Self::Enumeration,
            Self::Unavailable,
        ]
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
    /// Every hidden state of an RBM with this many hidden units ([`rbm::RbmTruth`]).
    RbmHidden {
        hidden: usize,
    },
    /// AIS of an RBM on bits whose hidden units are too many to sum over
    /// ([`rbm::ais_log_z`]: block Gibbs along the tempered path).
    RbmAis(ais::AisSpec),
    /// No estimator: why.
    Unavailable(String),
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
            Method::Unavailable => Self::Unavailable(format!(
                "no estimator of log Z for {}: AIS moves along the gradient, and more than {} bits cannot be enumerated",
                space.describe(),
                crate::data::space::MAX_ENUMERATED_BITS
            )),
        }
    }

    /// The evaluator for `model` in `space` ([`Method::for_model`]).
    #[must_use]
    pub fn for_model(
        space: crate::data::Space,
        model: &crate::energy::ModelSpec,
        grid: usize,
        ais: ais::AisSpec,
    ) -> Self {
        match (
            rbm::hidden_sum(space, model),
            Method::for_model(space, model),
        ) {
            (Some(hidden), _) => Self::RbmHidden { hidden },
            (None, Method::Ais) if space.allows().discrete => Self::RbmAis(ais),
            _ => Self::for_space(space, grid, ais),
        }
    }

    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Self::Quadrature { .. } => Method::Quadrature,
            Self::Ais(_) | Self::RbmAis(_) => Method::Ais,
            Self::Enumeration { .. } | Self::RbmHidden { .. } => Method::Enumeration,
            Self::Unavailable(_) => Method::Unavailable,
        }
    }

    /// Energy evaluations one estimate costs (for the window to show).
    #[must_use]
    pub fn cost(&self) -> usize {
        match self {
            Self::Quadrature { grid } => grid * grid,
            Self::Ais(s) | Self::RbmAis(s) => {
                s.chains * s.temperatures * (1 + s.steps_per_temperature)
            }
            Self::Enumeration { bits } => 1 << bits,
            Self::RbmHidden { hidden } => 1 << hidden,
            Self::Unavailable(_) => 0,
        }
    }
}
