//! The heat map over the plane: the model's energy, density or most probable class on the
//! view's grid, its colour bar and the values at its ends.

use super::*;

/// What the heat map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeatKind {
    Density,
    Energy,
    /// A classifier's most probable class, brighter where the model puts more mass.
    Classes,
}

/// Builds the heat map image from a view: row 0 at the top (largest y).
#[must_use]
pub fn heat_image(view: &Heat, kind: HeatKind) -> ColorImage {
    let g = view.grid;
    if let (HeatKind::Classes, Some((best, _))) = (kind, &view.classes) {
        // Class colour, shaded by the density's square root (so that thin tails show).
        #[allow(clippy::cast_possible_truncation)]
        let density: Vec<f32> = view
            .energies
            .iter()
            .map(|e| ((-(f64::from(*e)) - view.log_z).exp() as f32).sqrt())
            .collect();
        let top = density.iter().copied().fold(1e-12_f32, f32::max);
        let mut pixels = Vec::with_capacity(g * g);
        for j in (0..g).rev() {
            for i in 0..g {
                let c = theme::class(best[j * g + i] as usize);
                let shade = 0.25 + 0.75 * density[j * g + i] / top;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let f = |v: u8| (f32::from(v) * shade) as u8;
                pixels.push(egui::Color32::from_rgb(f(c.r()), f(c.g()), f(c.b())));
            }
        }
        return ColorImage::new([g, g], pixels);
    }
    let vals: Vec<f32> = match kind {
        HeatKind::Energy => view.energies.iter().map(|e| -e).collect(),
        HeatKind::Density | HeatKind::Classes => view
            .energies
            .iter()
            .map(|e| (-(f64::from(*e)) - view.log_z).exp() as f32)
            .collect(),
    };
    let (lo, hi) = vals
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let span = (hi - lo).max(1e-12);
    let mut pixels = Vec::with_capacity(g * g);
    for j in (0..g).rev() {
        for i in 0..g {
            pixels.push(theme::heat((vals[j * g + i] - lo) / span));
        }
    }
    ColorImage::new([g, g], pixels)
}

/// The heat map's values at its two ends (colour 0 and colour 1), in the units the colour
/// bar shows: the density p(x) for densities and classes, the energy E(x) for energies.
#[must_use]
pub fn heat_range(view: &Heat, kind: HeatKind) -> Option<(f64, f64)> {
    if view.grid == 0 {
        return None;
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for e in &view.energies {
        let v = match kind {
            HeatKind::Energy => -f64::from(*e),
            HeatKind::Density | HeatKind::Classes => (-f64::from(*e) - view.log_z).exp(),
        };
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    Some(match kind {
        // The scale runs over −E: its low end is the highest energy.
        HeatKind::Energy => (-lo, -hi),
        HeatKind::Density | HeatKind::Classes => (lo, hi),
    })
}

/// Width of the colour bar beside the heat map.
pub const COLOUR_BAR_WIDTH: f32 = 92.0;

/// The colour bar beside the heat map: the scale with its values and units, or for a
/// classifier's map the colour of each class.
pub fn colour_bar(ui: &mut Ui, kind: HeatKind, range: Option<(f64, f64)>, classes: usize) {
    let h = ui.available_height();
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(COLOUR_BAR_WIDTH, h), egui::Sense::hover());
    // What it shows, for screen readers (and tests): its painted text is not a widget.
    let described = match (kind, range) {
        (HeatKind::Classes, _) if classes > 1 => {
            format!("colour key: class colours 0 to {}", classes - 1)
        }
        (HeatKind::Energy, Some((lo, hi))) => {
            format!(
                "colour bar: energy E(x) from {} to {} nats",
                tick(lo),
                tick(hi)
            )
        }
        (_, Some((lo, hi))) => format!(
            "colour bar: density p(x) from {} to {} per unit area",
            tick(lo),
            tick(hi)
        ),
        _ => "colour bar".to_string(),
    };
    let _ = response.accessible_name(described);
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let font = egui::FontId::proportional(12.0);
    if kind == HeatKind::Classes && classes > 1 {
        painter.text(
            rect.left_top() + egui::vec2(4.0, 4.0),
            egui::Align2::LEFT_TOP,
            "class",
            font.clone(),
            text,
        );
        for k in 0..classes.min(20) {
            #[allow(clippy::cast_precision_loss)]
            let y = rect.top() + 24.0 + 18.0 * k as f32;
            let sw =
                egui::Rect::from_min_size(egui::pos2(rect.left() + 4.0, y), egui::vec2(14.0, 14.0));
            painter.rect_filled(sw, 2.0, theme::class(k));
            painter.text(
                egui::pos2(rect.left() + 24.0, y + 7.0),
                egui::Align2::LEFT_CENTER,
                format!("{k}"),
                font.clone(),
                text,
            );
        }
        painter.text(
            egui::pos2(
                rect.left() + 4.0,
                rect.top() + 30.0 + 18.0 * classes.min(20) as f32,
            ),
            egui::Align2::LEFT_TOP,
            "brighter:\nmore mass",
            font,
            ui.visuals().weak_text_color(),
        );
        return;
    }
    let Some((lo, hi)) = range else { return };
    let (title, unit) = match kind {
        HeatKind::Energy => ("E(x)", "nats"),
        HeatKind::Density | HeatKind::Classes => ("p(x)", "per unit area"),
    };
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        title,
        font.clone(),
        text,
    );
    painter.text(
        rect.left_top() + egui::vec2(4.0, 16.0),
        egui::Align2::LEFT_TOP,
        unit,
        egui::FontId::proportional(10.0),
        ui.visuals().weak_text_color(),
    );
    let bar = egui::Rect::from_min_max(
        egui::pos2(rect.left() + 4.0, rect.top() + 36.0),
        egui::pos2(rect.left() + 20.0, rect.bottom() - 10.0),
    );
    let n = 64;
    for i in 0..n {
        #[allow(clippy::cast_precision_loss)]
        let (t0, t1) = (i as f32 / n as f32, (i + 1) as f32 / n as f32);
        // Colour 1 (the top of the scale) at the top.
        let r = egui::Rect::from_min_max(
            egui::pos2(bar.left(), bar.bottom() - t1 * bar.height()),
            egui::pos2(bar.right(), bar.bottom() - t0 * bar.height() + 0.5),
        );
        painter.rect_filled(r, 0.0, theme::heat((t0 + t1) / 2.0));
    }
    let fmt = scale_format(lo, hi);
    for k in 0..=4 {
        let t = f64::from(k) / 4.0;
        let v = lo + t * (hi - lo);
        #[allow(clippy::cast_possible_truncation)]
        let y = bar.bottom() - t as f32 * bar.height();
        painter.line_segment(
            [egui::pos2(bar.right(), y), egui::pos2(bar.right() + 4.0, y)],
            (1.0, text),
        );
        painter.text(
            egui::pos2(bar.right() + 6.0, y),
            egui::Align2::LEFT_CENTER,
            fmt(v),
            font.clone(),
            text,
        );
    }
}
