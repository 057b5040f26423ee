//! The space the data live in — the plane, vectors of dimension d, images c×h×w, or bits
//! (h×w values in {0, 1}) — and the one place that decides what each space allows. Validation, the panels, the worker
//! and the command line ask [`Space::allows`] instead of testing the dimension.

use serde::{Deserialize, Serialize};

/// Where the data live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Space {
    /// 2-D points: a grid covers the data box, so log Z, the sample term and the model's
    /// samples can be computed exactly.
    Plane,
    /// Points of dimension `d` (any `d`, 1 and 2 included when the data say so).
    Vector { d: usize },
    /// Images of `c` channels, `h` rows and `w` columns (flattened C, H, W).
    Image { c: usize, h: usize, w: usize },
    /// `h` rows of `w` values in {0, 1} (a binary image; `h` = 1 for a row of bits). The
    /// model sees them as a 1×h×w image; samplers flip bits instead of moving points.
    Bits { h: usize, w: usize },
}

/// Bits up to this many are enumerated: log Z, the held-out NLL and the sample term
/// summed over all 2ⁿ states, and exact draws from them (DESIGN §8).
pub const MAX_ENUMERATED_BITS: usize = 20;

/// What can be computed in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allows {
    /// log Z by quadrature on a grid over the data box (exact up to the grid).
    pub quadrature: bool,
    /// The `Exact` sampler: draws from the model on the grid.
    pub exact_sampler: bool,
    /// The exact sample term Σ wₖ ∂E(xₖ)/∂θ over the grid.
    pub exact_sample_term: bool,
    /// Density, energy and class maps over the plane.
    pub heat_map: bool,
    /// log Z by annealed importance sampling (every space).
    pub ais: bool,
    /// A reference sample term from long MALA chains, with R̂ (every space; in the plane
    /// the exact term is used instead).
    pub reference_sample_term: bool,
    /// Views that project points on two directions (vectors).
    pub projection: bool,
    /// Views that show rows as pictures (images, bits).
    pub image_grid: bool,
    /// log Z, the NLL, the sample term and draws by summing over every state (bits, up
    /// to [`MAX_ENUMERATED_BITS`]): exact, as quadrature is in the plane.
    pub enumeration: bool,
    /// The points are bits: samplers flip them (Gibbs) rather than move them along ∇ₓE.
    pub discrete: bool,
}

impl Space {
    /// The space of rows of `dim` numbers: the plane for 2, vectors otherwise.
    #[must_use]
    pub fn of_dim(dim: usize) -> Self {
        if dim == 2 {
            Self::Plane
        } else {
            Self::Vector { d: dim }
        }
    }

    /// The space a model's `input_shape` names (`[2]`, `[16]`, `[1, 8, 8]`).
    #[must_use]
    pub fn from_shape(shape: &[usize]) -> Option<Self> {
        match *shape {
            [d] if d > 0 => Some(Self::of_dim(d)),
            [c, h, w] if c * h * w > 0 => Some(Self::Image { c, h, w }),
            _ => None,
        }
    }

    /// The numbers in one row.
    #[must_use]
    pub fn dim(&self) -> usize {
        match *self {
            Self::Plane => 2,
            Self::Vector { d } => d,
            Self::Image { c, h, w } => c * h * w,
            Self::Bits { h, w } => h * w,
        }
    }

    /// The model's input shape as model files record it.
    #[must_use]
    pub fn input_shape(&self) -> Vec<usize> {
        match *self {
            Self::Image { c, h, w } => vec![c, h, w],
            Self::Bits { h, w } => vec![1, h, w],
            _ => vec![self.dim()],
        }
    }

    /// `plane`, `16-D vectors`, `1×8×8 images`.
    #[must_use]
    pub fn describe(&self) -> String {
        match *self {
            Self::Plane => "the plane".into(),
            Self::Vector { d } => format!("{d}-D vectors"),
            Self::Image { c, h, w } => format!("{c}×{h}×{w} images"),
            Self::Bits { h: 1, w } => format!("{w} bits"),
            Self::Bits { h, w } => format!("{h}×{w} bits"),
        }
    }

    /// What can be computed here.
    #[must_use]
    pub fn allows(&self) -> Allows {
        let plane = matches!(self, Self::Plane);
        let bits = matches!(self, Self::Bits { .. });
        let enumeration = bits && self.dim() <= MAX_ENUMERATED_BITS;
        Allows {
            quadrature: plane,
            exact_sampler: plane || enumeration,
            exact_sample_term: plane || enumeration,
            heat_map: plane,
            // AIS and the reference chains move along ∇ₓE (MALA): not on bits.
            ais: !bits,
            reference_sample_term: !plane && !bits,
            projection: matches!(self, Self::Vector { .. }),
            image_grid: matches!(self, Self::Image { .. }) || bits,
            enumeration,
            discrete: bits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_round_trip_and_only_the_plane_has_a_grid() {
        for s in [
            Space::Plane,
            Space::Vector { d: 16 },
            Space::Image { c: 1, h: 8, w: 8 },
        ] {
            assert_eq!(Space::from_shape(&s.input_shape()), Some(s));
            assert_eq!(s.allows().quadrature, s == Space::Plane);
            assert!(s.allows().ais);
        }
        assert_eq!(Space::Image { c: 3, h: 32, w: 32 }.dim(), 3072);
        // Bits are enumerated up to 20 of them; they have no AIS (MALA) yet.
        let bits = Space::Bits { h: 4, w: 4 }.allows();
        assert!(bits.enumeration && bits.exact_sample_term && bits.discrete && !bits.ais);
        assert!(!Space::Bits { h: 8, w: 8 }.allows().enumeration);
        assert_eq!(Space::Bits { h: 1, w: 10 }.describe(), "10 bits");
        assert_eq!(Space::from_shape(&[]), None);
        assert_eq!(Space::from_shape(&[2, 3]), None);
    }
}
