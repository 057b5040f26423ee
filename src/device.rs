//! Where the candle engine runs: the CPU always; CUDA and Metal when the program was
//! built with the `cuda` or `metal` feature and the device is there. Anything else falls
//! back to the CPU with a message that says why and which feature to build with.
//!
//! [`probe`] lists what is really there (the window asks it once, off its thread, at
//! start-up); [`resolve`] turns a preset's [`DeviceSpec`] into a candle device.
//!
//! A CUDA build made by `scripts/cuda/build.sh` does not name the CUDA libraries as
//! start-up dependencies: [`cuda_libraries`] loads them the first time a CUDA device is
//! asked for, so the same binary starts, and runs on the CPU, on a machine without them.

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

    /// `cpu`, `cuda` (device 0), `cuda:N` or `metal`, as the command line takes them.
    ///
    /// # Errors
    /// Anything else, with the forms it takes.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            "metal" => Ok(Self::Metal),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`: use cpu, cuda, cuda:N or metal")),
        }
    }
}

/// What [`probe`] found for one device: what it is, or why it cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub spec: DeviceSpec,
    /// e.g. `NVIDIA H200, 140 GiB` when it can be used; the reason when it cannot.
    pub status: Result<String, String>,
}

impl DeviceInfo {
    #[must_use]
    pub fn usable(&self) -> bool {
        self.status.is_ok()
    }
}

/// Every device this program could run on and whether it can here: the CPU, each CUDA
/// device the driver reports (or one entry saying why there is none), and Metal on
/// macOS. It loads the GPU libraries and asks the driver, which can take a second:
/// call it off the UI thread.
#[must_use]
pub fn probe() -> Vec<DeviceInfo> {
    let mut v = vec![DeviceInfo {
        spec: DeviceSpec::Cpu,
        status: Ok(format!("{} threads", rayon::current_num_threads())),
    }];
    match cuda_devices() {
        Ok(names) if !names.is_empty() => {
            v.extend(names.into_iter().enumerate().map(|(i, name)| DeviceInfo {
                spec: DeviceSpec::Cuda(i),
                status: Ok(name),
            }));
        }
        Ok(_) => v.push(DeviceInfo {
            spec: DeviceSpec::Cuda(0),
            status: Err("the NVIDIA driver reports no CUDA device".into()),
        }),
        Err(why) => v.push(DeviceInfo {
            spec: DeviceSpec::Cuda(0),
            status: Err(why),
        }),
    }
    if cfg!(target_os = "macos") || cfg!(feature = "metal") {
        v.push(DeviceInfo {
            spec: DeviceSpec::Metal,
            status: metal_status(),
        });
    }
    v
}

fn metal_status() -> Result<String, String> {
    #[cfg(feature = "metal")]
    {
        match candle_core::Device::new_metal(0) {
            Ok(_) => Ok("Metal 0".into()),
            Err(e) => Err(error_message(&e)),
        }
    }
    #[cfg(not(feature = "metal"))]
    {
        Err("this build has no Metal support (build with `--features metal`)".into())
    }
}

/// The CUDA devices the driver reports, by name and memory, or why there are none.
///
/// # Errors
/// This build has no CUDA support, a library is missing, or the driver refuses.
pub fn cuda_devices() -> Result<Vec<String>, String> {
    #[cfg(feature = "cuda")]
    {
        cuda::devices()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("this build has no CUDA support (build with `--features cuda`)".into())
    }
}

/// A device in words: `CPU`, `CUDA 0`, `Metal 0`.
#[must_use]
pub fn describe(d: &candle_core::Device) -> String {
    match d.location() {
        candle_core::DeviceLocation::Cpu => "CPU".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("CUDA {gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("Metal {gpu_id}"),
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
                match cuda::open(n) {
                    Ok(d) => (d, None),
                    Err(why) => fallback(format!("CUDA device {n} is not available ({why})")),
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

/// The CUDA libraries this binary loads when a CUDA device is first asked for.
///
/// `scripts/cuda/unlink.py` removes them from the binary's start-up dependencies and
/// writes their names, in the order they load, into [`cuda_libraries::NAMES`]; a binary
/// it has not touched keeps them as dependencies (it then starts only where they are
/// installed) and the list stays empty.
pub mod cuda_libraries {
    /// The tag the script looks for; the names follow it, one per line.
    pub const TAG: &[u8] = b"EBM-WORKBENCH-CUDA-LIBRARIES:";
    /// Room for the tag and the names.
    pub const CAPACITY: usize = 512;

    const fn tagged() -> [u8; CAPACITY] {
        let mut a = [0u8; CAPACITY];
        let mut i = 0;
        while i < TAG.len() {
            a[i] = TAG[i];
            i += 1;
        }
        a
    }

    /// The tag, then the names the script wrote (zeros until it does).
    #[used]
    pub static NAMES: [u8; CAPACITY] = tagged();

    /// The names written into this binary, read from memory (not from what the compiler
    /// knew of the static: the file was changed after linking).
    #[must_use]
    pub fn listed() -> Vec<String> {
        let bytes: &[u8; CAPACITY] = std::hint::black_box(&NAMES);
        let mut copy = [0u8; CAPACITY];
        for (c, b) in copy.iter_mut().zip(bytes.iter()) {
            // SAFETY: a read of a byte of a static that lives for the whole program.
            *c = unsafe { std::ptr::read_volatile(b) };
        }
        let names = &copy[TAG.len()..];
        let end = names.iter().position(|&b| b == 0).unwrap_or(names.len());
        String::from_utf8_lossy(&names[..end])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Why `name` could not be loaded, in words: the driver (`libcuda`) or one of the
    /// CUDA libraries `all` names, with what to do.
    #[must_use]
    pub fn missing(name: &str, loader_says: &str, all: &[String]) -> String {
        let not_found = loader_says.contains("cannot open shared object file")
            || loader_says.contains("No such file");
        let detail = if not_found {
            format!("{name} not found")
        } else {
            loader_says.to_string()
        };
        if name.starts_with("libcuda.") {
            format!("no NVIDIA driver: {detail}")
        } else {
            let needed: Vec<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|n| !n.starts_with("libcuda."))
                .collect();
            format!(
                "CUDA libraries missing: {detail}; this build needs {} (from the CUDA toolkit or NVIDIA's PyPI wheels) on the loader's path, e.g. their folder in LD_LIBRARY_PATH",
                needed.join(", ")
            )
        }
    }

    /// Loads the listed libraries, once, into the global scope so that the binary's
    /// calls into them resolve.
    ///
    /// # Errors
    /// The first library that does not load, in words.
    pub fn ensure() -> Result<(), String> {
        static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        LOADED.get_or_init(load).clone()
    }

    #[cfg(target_os = "linux")]
    fn load() -> Result<(), String> {
        let all = listed();
        for name in &all {
            let c = std::ffi::CString::new(name.as_str())
                .map_err(|_| format!("a library name holds a NUL byte: {name:?}"))?;
            // SAFETY: dlopen with a valid C string; the handle is kept for the program's
            // life (never closed), as the binary's calls into the library need it.
            let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if handle.is_null() {
                // SAFETY: dlerror returns the thread's last loader error, or null.
                let e = unsafe { libc::dlerror() };
                let says = if e.is_null() {
                    String::new()
                } else {
                    // SAFETY: a NUL-terminated string owned by the loader.
                    unsafe { std::ffi::CStr::from_ptr(e) }
                        .to_string_lossy()
                        .into_owned()
                };
                return Err(missing(name, &says, &all));
            }
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn load() -> Result<(), String> {
        Ok(())
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::{DriverError, result, sys};

    /// The driver's answer in words, with what it means here.
    fn explain(e: &DriverError) -> String {
        let code = format!("{:?}", e.0);
        match code.as_str() {
            "CUDA_ERROR_STUB_LIBRARY" => {
                "no NVIDIA driver: the libcuda.so.1 found is a stub library".into()
            }
            "CUDA_ERROR_NO_DEVICE" => "the NVIDIA driver finds no CUDA device".into(),
            "CUDA_ERROR_INSUFFICIENT_DRIVER" | "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" => {
                let mut v = 0;
                // SAFETY: the driver writes one int.
                let r = unsafe { sys::cuDriverGetVersion(&raw mut v) };
                let driver = if r == sys::CUresult::CUDA_SUCCESS {
                    format!(" (it supports CUDA {}.{})", v / 1000, (v % 1000) / 10)
                } else {
                    String::new()
                };
                format!(
                    "the NVIDIA driver{driver} is older than the CUDA toolkit this build was made with: update the driver"
                )
            }
            _ => code,
        }
    }

    pub fn devices() -> Result<Vec<String>, String> {
        super::cuda_libraries::ensure()?;
        result::init().map_err(|e| explain(&e))?;
        let n = result::device::get_count().map_err(|e| explain(&e))?;
        (0..n)
            .map(|i| {
                let d = result::device::get(i).map_err(|e| explain(&e))?;
                let name = result::device::get_name(d).map_err(|e| explain(&e))?;
                // SAFETY: a device handle the driver just gave.
                let mem = unsafe { result::device::total_mem(d) }.map_err(|e| explain(&e))?;
                let gib = mem as f64 / f64::from(1u32 << 30);
                Ok(format!("{name}, {gib:.0} GiB"))
            })
            .collect()
    }

    pub fn open(n: usize) -> Result<candle_core::Device, String> {
        let found = devices()?;
        if n >= found.len() {
            return Err(match found.len() {
                0 => "the NVIDIA driver finds no CUDA device".into(),
                1 => "the machine has one CUDA device, CUDA 0".into(),
                k => format!("the machine has {k} CUDA devices, CUDA 0 to CUDA {}", k - 1),
            });
        }
        candle_core::Device::new_cuda(n).map_err(|e| super::error_message(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_from_the_command_line() {
        assert_eq!(DeviceSpec::parse("cpu"), Ok(DeviceSpec::Cpu));
        assert_eq!(DeviceSpec::parse("CUDA"), Ok(DeviceSpec::Cuda(0)));
        assert_eq!(DeviceSpec::parse("cuda:3"), Ok(DeviceSpec::Cuda(3)));
        assert_eq!(DeviceSpec::parse("metal"), Ok(DeviceSpec::Metal));
        let e = DeviceSpec::parse("tpu").unwrap_err();
        assert!(e.contains("tpu") && e.contains("cuda:N"), "{e}");
        assert!(DeviceSpec::parse("cuda:x").is_err());
    }

    #[test]
    fn the_probe_lists_the_cpu_and_says_why_cuda_is_missing() {
        let found = probe();
        assert_eq!(found[0].spec, DeviceSpec::Cpu);
        assert!(found[0].usable());
        let cuda: Vec<_> = found
            .iter()
            .filter(|d| matches!(d.spec, DeviceSpec::Cuda(_)))
            .collect();
        assert!(!cuda.is_empty(), "CUDA is always listed, usable or not");
        for d in &cuda {
            if let Err(why) = &d.status {
                assert!(!why.is_empty());
                if cfg!(not(feature = "cuda")) {
                    assert!(why.contains("--features cuda"), "{why}");
                }
            }
        }
        // What the probe says matches what resolving the device does.
        let (dev, msg) = resolve(DeviceSpec::Cuda(0));
        match &cuda[0].status {
            Ok(_) => assert!(msg.is_none() && !dev.is_cpu()),
            Err(why) => {
                let msg = msg.expect("a fallback message");
                assert!(dev.is_cpu());
                assert!(msg.contains(why.as_str()), "{msg} / {why}");
                assert!(msg.ends_with("running on the CPU"), "{msg}");
            }
        }
    }

    #[test]
    fn an_untouched_binary_lists_no_library_to_load() {
        // Only scripts/cuda/unlink.py writes names; a plain build has the tag alone.
        // (Not compared with the whole tag: it must be in the binary once, in NAMES.)
        assert!(cuda_libraries::NAMES.starts_with(b"EBM-WORKBENCH-CUDA-"));
        let listed = cuda_libraries::listed();
        if cfg!(not(feature = "cuda")) {
            assert!(listed.is_empty(), "{listed:?}");
        }
        if listed.is_empty() {
            assert!(cuda_libraries::ensure().is_ok());
        } else {
            // A test binary the script unlinked: the driver loads first.
            assert!(listed[0].starts_with("libcuda."), "{listed:?}");
        }
    }

    #[test]
    fn a_missing_library_is_named_with_what_to_do() {
        let all: Vec<String> = ["libcuda.so.1", "libcurand.so.10", "libcublas.so.13"]
            .map(String::from)
            .to_vec();
        let says = "libcuda.so.1: cannot open shared object file: No such file or directory";
        assert_eq!(
            cuda_libraries::missing("libcuda.so.1", says, &all),
            "no NVIDIA driver: libcuda.so.1 not found"
        );
        let m = cuda_libraries::missing(
            "libcublas.so.13",
            "libcublas.so.13: cannot open shared object file: No such file or directory",
            &all,
        );
        assert!(
            m.starts_with("CUDA libraries missing: libcublas.so.13 not found"),
            "{m}"
        );
        assert!(
            m.contains("needs libcurand.so.10, libcublas.so.13 ("),
            "{m}"
        );
        assert!(m.contains("LD_LIBRARY_PATH"), "{m}");
        let m = cuda_libraries::missing(
            "libcuda.so.1",
            "libcuda.so.1: wrong ELF class: ELFCLASS32",
            &all,
        );
        assert!(m.contains("wrong ELF class"), "{m}");
    }
}
