//! Named colours: the only place with colour literals. Data is always blue, samples
//! always orange, the exact reference always green, in every plot.

use egui::Color32;

pub const DATA: Color32 = Color32::from_rgb(66, 133, 244);
pub const SAMPLES: Color32 = Color32::from_rgb(255, 140, 0);
pub const DIFFERENCE: Color32 = Color32::from_rgb(200, 80, 200);
pub const EXACT: Color32 = Color32::from_rgb(60, 180, 90);
pub const LOSS: Color32 = Color32::from_rgb(150, 150, 150);
/// Uniform noise in the data box (the third population of the energy histograms).
pub const NOISE: Color32 = Color32::from_rgb(140, 140, 160);
/// Out-of-distribution inputs (pixel-shuffled images).
pub const OOD: Color32 = Color32::from_rgb(200, 80, 200);
/// The replay buffer: old samples, so the samples' orange, faded (white dots read as
/// more data).
pub const BUFFER: Color32 = Color32::from_rgba_unmultiplied_const(255, 190, 110, 130);
/// Chain paths: a hot pink that no part of the heat map's scale comes near.
pub const PATH: Color32 = Color32::from_rgb(255, 60, 170);
/// Samples outside the view's box, drawn on its edge.
pub const OUTSIDE: Color32 = Color32::from_rgb(255, 80, 80);
pub const ERROR: Color32 = Color32::from_rgb(230, 80, 70);
pub const WARNING: Color32 = Color32::from_rgb(230, 180, 60);
/// A measurement whose verdict says it measures nothing (greyed, not hidden).
pub const UNTRUSTED: Color32 = Color32::from_rgb(110, 110, 110);

/// Stops of the heat map's colour scale (low density → high density), viridis-like.
const STOPS: [[f32; 3]; 5] = [
    [0.267, 0.005, 0.329],
    [0.230, 0.322, 0.546],
    [0.128, 0.567, 0.551],
    [0.369, 0.789, 0.383],
    [0.993, 0.906, 0.144],
];

/// The colour of `t` in [0, 1] on the heat map's scale.
#[must_use]
pub fn heat(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    let c: Vec<u8> = (0..3)
        .map(|k| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = ((STOPS[i][k] * (1.0 - f) + STOPS[i + 1][k] * f) * 255.0) as u8;
            v
        })
        .collect();
    Color32::from_rgb(c[0], c[1], c[2])
}

/// A colour for the i-th layer's curves.
#[must_use]
pub fn layer(i: usize) -> Color32 {
    const L: [Color32; 6] = [
        Color32::from_rgb(100, 180, 255),
        Color32::from_rgb(255, 170, 60),
        Color32::from_rgb(120, 220, 120),
        Color32::from_rgb(230, 110, 230),
        Color32::from_rgb(240, 240, 110),
        Color32::from_rgb(110, 230, 230),
    ];
    L[i % L.len()]
}

/// A colour per class (classifier maps), repeating after ten; none is the data's blue
/// or the samples' orange, which are drawn on top.
#[must_use]
pub fn class(i: usize) -> Color32 {
    const C: [Color32; 10] = [
        Color32::from_rgb(0, 128, 128),
        Color32::from_rgb(57, 59, 121),
        Color32::from_rgb(44, 160, 44),
        Color32::from_rgb(214, 39, 40),
        Color32::from_rgb(148, 103, 189),
        Color32::from_rgb(140, 86, 75),
        Color32::from_rgb(227, 119, 194),
        Color32::from_rgb(127, 127, 127),
        Color32::from_rgb(188, 189, 34),
        Color32::from_rgb(23, 190, 207),
    ];
    C[i % C.len()]
}

/// The window's fonts: egui's own, then DejaVu Sans for every symbol they lack (∇, ←,
/// ⁺, ⁻, …) in both families. (egui draws no combining marks: the window writes R-hat.)
pub fn install_fonts(ctx: &egui::Context) {
    use egui::epaint::text::{FontInsert, FontPriority, InsertFontFamily};
    let data = egui::FontData::from_static(include_bytes!("../../assets/fonts/DejaVuSans.ttf"));
    ctx.add_font(FontInsert::new(
        "DejaVuSans",
        data,
        [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
            .into_iter()
            .map(|family| InsertFontFamily {
                family,
                priority: FontPriority::Lowest,
            })
            .collect(),
    ));
}
