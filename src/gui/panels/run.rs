//! Run: steps, batch size, seed and engine; the device menu (shown in the toolbar).

use super::*;

/// Batch size, steps, seed and engine (the device is chosen in the toolbar).
pub fn run_ui(ui: &mut Ui, p: &mut Preset) {
    egui::Grid::new("run_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Engine", "Auto: the fast engine (hand-written gradients) on the CPU, candle on a GPU. Fast: the same. Autograd: candle autograd on the device below (the CPU, or a GPU where built in).", |ui| {
            egui::ComboBox::from_id_salt("engine")
                .selected_text(p.engine.name())
                .show_ui(ui, |ui| {
                    for e in EngineChoice::ALL {
                        ui.selectable_value(&mut p.engine, e, e.name());
                    }
                })
                .response
        });
        row(
            ui,
            "Batch",
            "Data points per step, and as many chains; it changes between steps, without a reset.",
            |ui| ui.add(Num::new(&mut p.batch_size).range(1..=8192)),
        );
        row(
            ui,
            "Steps",
            "Train stops after this many steps; Train again continues.",
            |ui| ui.add(Num::new(&mut p.steps).range(1..=10_000_000)),
        );
        row(
            ui,
            "Seed",
            "Seed of initialisation, batches and sampler noise. Changing it resets.",
            |ui| ui.add(Num::new(&mut p.seed)),
        );
    });
}

/// The device menu: what the probe found, usable or not (greyed, with the reason). It
/// sits in the toolbar, where a person looks for it, not at the foot of the settings.
pub fn device_combo(
    ui: &mut Ui,
    device: &mut DeviceSpec,
    found: Option<&[DeviceInfo]>,
) -> egui::Response {
    let current = found.and_then(|f| f.iter().find(|d| d.spec == *device));
    let selected = match current.map(|d| &d.status) {
        Some(Err(_)) => format!("{} (not available)", device.name()),
        _ => device.name(),
    };
    let r = egui::ComboBox::from_id_salt("device")
        .selected_text(selected)
        .show_ui(ui, |ui| {
            // The reasons can be long: they wrap at this width.
            ui.set_max_width(340.0);
            let Some(found) = found else {
                ui.selectable_value(device, DeviceSpec::Cpu, "CPU");
                ui.weak("looking for GPUs…");
                return;
            };
            for d in found {
                match &d.status {
                    Ok(what) => {
                        ui.selectable_value(device, d.spec, format!("{} — {what}", d.spec.name()));
                    }
                    Err(why) => {
                        ui.add_enabled(false, egui::Button::selectable(false, d.spec.name()))
                            .on_disabled_hover_text(why.as_str());
                        ui.add(
                            egui::Label::new(egui::RichText::new(why.as_str()).small().weak())
                                .wrap(),
                        );
                    }
                }
            }
        })
        .response;
    match current.map(|d| &d.status) {
        Some(Err(why)) => {
            r.on_hover_text(format!("{}: {why}; the run uses the CPU", device.name()))
        }
        Some(Ok(what)) => r.on_hover_text(what.as_str()),
        // Every state has a text: it is also the menu's name for a screen reader.
        None if found.is_none() => r.on_hover_text("Looking for GPUs…; the CPU meanwhile"),
        None => r.on_hover_text(format!(
            "{}: not among the devices found here; the run uses the CPU",
            device.name()
        )),
    }
}
