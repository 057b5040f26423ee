//! Where the candle engine runs: the CPU always; CUDA and Metal when the program was
//! built with the `cuda` or `metal` feature and the device is there. Anything else falls
//! back to the CPU with a message that says why and which feature to build with.

use serde::{Deserialize, Serialize};

/// The device a preset asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    /// The n-th CUDA device.
    Cuda(usize),
    Metal,
}

impl DeviceSpec {
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Self::Cpu => "CPU".into(),
            Self::Cuda(n) => format!("CUDA {n}"),
            Self::Metal => "Metal".into(),
        }
    }

    /// The devices this build can offer (the window lists these).
    #[must_use]
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)] // pushed to only in builds with a GPU feature
        let mut v = vec![Self::Cpu];
        #[cfg(feature = "cuda")]
        if candle_core::utils::cuda_is_available() {
            v.push(Self::Cuda(0));
        }
        #[cfg(feature = "metal")]
        if candle_core::utils::metal_is_available() {
            v.push(Self::Metal);
        }
        v
    }
}

/// A device in words: `CPU`, `CUDA 0`, `Metal`.
#[must_use]
pub fn describe(d: &candle_core::Device) -> String {
    match d {
        candle_core::Device::Cpu => "CPU".into(),
        candle_core::Device::Cuda(_) => "CUDA".into(),
        candle_core::Device::Metal(_) => "Metal".into(),
    }
}

/// A candle error as one readable line: without the backtrace candle attaches when
/// `RUST_BACKTRACE` is set.
#[must_use]
pub fn error_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => error_message(inner),
        other => other.to_string(),
    }
}

/// The candle device for `spec`, and a message when it fell back to the CPU.
#[must_use]
pub fn resolve(spec: DeviceSpec) -> (candle_core::Device, Option<String>) {
    let fallback = |why: String| {
        (
            candle_core::Device::Cpu,
            Some(format!("{why}; running on the CPU")),
        )
    };
    match spec {
        DeviceSpec::Cpu => (candle_core::Device::Cpu, None),
        DeviceSpec::Cuda(n) => {
            #[cfg(feature = "cuda")]
            {
                match candle_core::Device::new_cuda(n) {
                    Ok(d) => (d, None),
                    Err(e) => fallback(format!(
                        "CUDA device {n} is not available ({})",
                        error_message(&e)
                    )),
                }
            }
            #[cfg(not(feature = "cuda"))]
            {
                fallback(format!(
                    "CUDA device {n} was asked for, but this build has no CUDA support (build with `--features cuda`)"
                ))
            }
        }
        DeviceSpec::Metal => {
            #[cfg(feature = "metal")]
            {
                match candle_core::Device::new_metal(0) {
                    Ok(d) => (d, None),
                    Err(e) => fallback(format!("Metal is not available ({})", error_message(&e))),
                }
            }
            #[cfg(not(feature = "metal"))]
            {
                fallback(
                    "Metal was asked for, but this build has no Metal support (build with `--features metal` on macOS)"
                        .into(),
                )
            }
        }
    }
}
