//! Evaluation: the exact log-likelihood in 2-D by quadrature.

pub mod quadrature;
