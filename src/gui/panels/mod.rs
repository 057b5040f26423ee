//! The left column's editors, one file per panel. Each edits one part of the draft
//! preset and nothing else; the app decides what the edit means for the running
//! experiment. What a panel asks of the window beyond that (a file dialog) it returns as
//! [`Request`]s.

use super::app::{Request, UiCommand};
use super::fields::Num;
use crate::data::target::Target;
use crate::data::{Allows, Space};
use crate::data::{DataSpec, ToySet};
use crate::device::{DeviceInfo, DeviceSpec};
use crate::energy::{Activation, Architecture, LayerSpec, ModelSpec, Visible};
use crate::optim::{OptimizerKind, OptimizerSpec};
use crate::preset::{EngineChoice, EvalSpec, ObjectiveKind, ObjectiveSpec, Preset};
use crate::sampler::{Init, SamplerKind, SamplerSpec};
use egui::Ui;

mod data;
mod network;
mod objective;
mod run;
mod sampler;

pub use data::data_ui;
pub use network::network_ui;
pub use objective::objective_ui;
pub use run::{device_combo, run_ui};
pub use sampler::sampler_ui;

fn row(ui: &mut Ui, label: &str, tip: &str, add: impl FnOnce(&mut Ui) -> egui::Response) {
    super::fields::set_row(label);
    ui.label(label).on_hover_text(tip);
    add(ui).on_hover_text(tip);
    ui.end_row();
}
