//! Training: the synchronous [`Session`] (one call, one step) and its metrics.

pub mod metrics;
pub mod protocol;
pub mod session;
pub mod sums;
pub mod view;
pub mod worker;

pub use metrics::StepMetrics;
pub use session::{Evaluation, Session};
