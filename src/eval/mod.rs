//! Evaluation: log Z by quadrature in the plane (exact up to the grid) or by annealed
//! importance sampling anywhere, chosen once from the data's space; the exact sample term
//! and sampler in the plane, a reference sample term from long MALA chains elsewhere.

pub mod ais;
pub mod bits;
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
    /// (on more bits than can be enumerated, AIS by Gibbs or GWG moves, [`bits`]).
    /// The one rule: the evaluator, the window and the command line ask it.
    #[must_use]
    pub fn for_space(space: crate::data::Space) -> Self {
        let allows = space.allows();
        if allows.quadrature {
            Self::Quadrature
        } else if allows.enumeration {
            Self::Enumeration
        } else if allows.ais || allows.discrete {
            Self::Ais
        } else {
            Self::Unavailable
        }
    }

    /// How log Z is obtained for `model` in `space`: as [`Method::for_space`], and for
    /// an RBM with at most [`rbm::MAX_HIDDEN`] hidden units by summing over its hidden
    /// states (whatever the number of visible units).
    #[must_use]
    pub fn for_model(space: crate::data::Space, model: &crate::energy::ModelSpec) -> Self {
        if rbm::hidden_sum(space, model).is_some() {
            return Self::Enumeration;
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
    /// AIS on more bits than can be enumerated, from independent bits with the data's
    /// marginals: an RBM's by block Gibbs along the tempered path ([`rbm::ais_log_z`]),
    /// any other energy's by Gibbs sweeps or GWG steps ([`bits::ais_log_z`]).
    BitsAis(ais::AisSpec),
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
            Method::Ais if space.allows().discrete => Self::BitsAis(ais),
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
        match rbm::hidden_sum(space, model) {
            Some(hidden) => Self::RbmHidden { hidden },
            None => Self::for_space(space, grid, ais),
        }
    }

    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Self::Quadrature { .. } => Method::Quadrature,
            Self::Ais(_) | Self::BitsAis(_) => Method::Ais,
            Self::Enumeration { .. } | Self::RbmHidden { .. } => Method::Enumeration,
            Self::Unavailable(_) => Method::Unavailable,
        }
    }

    /// Energy evaluations one estimate costs (for the window to show).
    #[must_use]
    pub fn cost(&self) -> usize {
        match self {
            Self::Quadrature { grid } => grid * grid,
            Self::Ais(s) | Self::BitsAis(s) => {
                s.chains * s.temperatures * (1 + s.steps_per_temperature)
            }
            Self::Enumeration { bits } => 1 << bits,
            Self::RbmHidden { hidden } => 1 << hidden,
            Self::Unavailable(_) => 0,
        }
    }
}
