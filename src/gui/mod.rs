//! The desktop window (eframe, egui, egui_plot, rfd): a thin layer over the engine.

pub mod app;
pub mod compare;
pub mod fields;
pub mod history;
pub mod images;
pub mod long_run;
pub mod network;
pub mod panels;
pub mod theme;
pub mod views;

pub use app::WorkbenchApp;

/// What the window does as it opens.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Open this preset instead of the last one.
    pub preset: Option<std::path::PathBuf>,
    /// Start training at once.
    pub train: bool,
}

/// Opens the workbench window.
///
/// # Errors
/// If the window or its renderer cannot start.
pub fn run(start: StartOptions) -> eframe::Result {
    // OpenGL (glow) by default: without a GPU, Mesa's software rasteriser draws this
    // window about four times faster through it than through wgpu (measured under Xvfb).
    // EBM_WORKBENCH_RENDERER=wgpu picks wgpu.
    let renderer = match std::env::var("EBM_WORKBENCH_RENDERER").as_deref() {
        Ok("wgpu") => eframe::Renderer::Wgpu,
        _ => eframe::Renderer::Glow,
    };
    let options = eframe::NativeOptions {
        renderer,
        viewport: egui::ViewportBuilder::default()
            .with_title("ebm-workbench")
            .with_inner_size([1500.0, 920.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "ebm-workbench",
        options,
        Box::new(move |cc| {
            let mut app = WorkbenchApp::new(cc);
            if let Some(p) = &start.preset {
                app.open_any(p);
            }
            if start.train {
                app.run_command(app::UiCommand::Train);
            }
            Ok(Box::new(app))
        }),
    )
}
