//! ebm-workbench: a workbench for energy-based models.
//!
//! An energy network E_θ(x) defines p_θ(x) = exp(−E_θ(x))/Z(θ). The gradient of the
//! log-likelihood splits into two terms,
//! ∂log p_θ(x)/∂θ = E_{x'∼p_θ}[∂E_θ(x')/∂θ] − ∂E_θ(x)/∂θ: the sample term, estimated with
//! a sampler (SGLD, Langevin), and the data term, exact. Every training step here reports
//! both, their norms and cosine; in 2-D the log-likelihood is exact by quadrature.
//!
//! The engine knows nothing of the window: [`train::Session`] runs one step at a time
//! (the command line and the tests call it directly), [`preset::Preset`] holds a whole
//! experiment, [`export`] writes and reads models as safetensors.

pub mod bench;
pub mod data;
pub mod device;
pub mod energy;
pub mod error;
pub mod eval;
pub mod export;
pub mod fs_util;
#[cfg(feature = "gui")]
pub mod gui;
pub mod image_grid;
pub mod optim;
pub mod preset;
pub mod sampler;
pub mod sweep;
pub mod train;

pub use preset::Preset;
pub use train::{Session, StepMetrics};
