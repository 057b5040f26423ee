//! What the window learns of the machine it runs on: the devices found (probed once, off
//! the UI thread) and how often training may ask for a frame.

use super::*;

/// The devices the window offers: probed once, off the UI thread, at start-up.
pub struct DeviceList {
    found: Option<Vec<crate::device::DeviceInfo>>,
    probe: Option<std::sync::mpsc::Receiver<Vec<crate::device::DeviceInfo>>>,
}

impl DeviceList {
    /// Starts the probe; `ctx` repaints when it answers.
    #[must_use]
    pub fn probe(ctx: &egui::Context) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("device probe".into())
            .spawn(move || {
                let _ = tx.send(crate::device::probe());
                ctx.request_repaint();
            });
        Self {
            found: spawned.is_err().then(Self::cpu_only),
            probe: spawned.ok().map(|_| rx),
        }
    }

    /// A list whose probe answers on `rx`: the window before (or without) an answer, as
    /// when the probe of a slow machine is still running.
    #[must_use]
    pub fn answering_on(rx: std::sync::mpsc::Receiver<Vec<crate::device::DeviceInfo>>) -> Self {
        Self {
            found: None,
            probe: Some(rx),
        }
    }

    /// What the window offers when the probe could not run or did not answer.
    fn cpu_only() -> Vec<crate::device::DeviceInfo> {
        vec![crate::device::DeviceInfo {
            spec: crate::device::DeviceSpec::Cpu,
            status: Ok("CPU".into()),
        }]
    }

    /// Whether the probe has answered (and the window shown its answer).
    #[must_use]
    pub fn probed(&self) -> bool {
        self.found.is_some()
    }

    /// What the probe found, or `None` while it runs.
    pub fn found(&mut self) -> Option<&[crate::device::DeviceInfo]> {
        if let Some(rx) = &self.probe {
            match rx.try_recv() {
                Ok(v) => self.found = Some(v),
                // The probe's thread ended without an answer (it panicked).
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.found = Some(Self::cpu_only());
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return None,
            }
            self.probe = None;
        }
        self.found.as_deref()
    }
}

/// The time between the frames that training asks for, shared with the worker's waker.
///
/// Where a CPU rasterises the window (Mesa's llvmpipe), a frame of this window costs
/// about 23 ms of CPU whatever it shows (measured: hiding the scatter or the network
/// changed it by under 10 %), so the frame rate decides how much of the machine drawing
/// takes from training: at 45 frames per second on 2 cores the window trained 164
/// steps/s, at 24 frames per second 227. Input (a hover, a drag) still repaints at once.
#[derive(Debug, Clone)]
pub struct FrameInterval(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Default for FrameInterval {
    fn default() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
            Self::GPU.as_micros() as u64,
        )))
    }
}

impl FrameInterval {
    /// With a GPU: 50 frames per second.
    pub const GPU: Duration = Duration::from_millis(20);
    /// Drawn by the CPU: 25 frames per second.
    pub const SOFTWARE: Duration = Duration::from_millis(40);

    /// The interval for a renderer, or `fps` frames per second when given (1 to 120;
    /// anything else is ignored).
    #[must_use]
    pub fn for_renderer(software: bool, fps: Option<&str>) -> Duration {
        match fps.and_then(|f| f.trim().parse::<f64>().ok()) {
            Some(f) if (1.0..=120.0).contains(&f) => Duration::from_secs_f64(1.0 / f),
            _ if software => Self::SOFTWARE,
            _ => Self::GPU,
        }
    }

    #[must_use]
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn set(&self, d: Duration) {
        #[allow(clippy::cast_possible_truncation)]
        self.0
            .store(d.as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}
