//! Evaluation: the exact log-likelihood, sample term and sampler in 2-D by quadrature.

pub mod ais;
pub mod exact;
pub mod quadrature;
