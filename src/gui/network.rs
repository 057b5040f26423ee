//! The network drawn as TensorFlow Playground draws it, for data in the plane: the two
//! inputs, each hidden layer's strongest units as small heat maps of their response over
//! the data box, and the energy they build; lines between units coloured by the weight's
//! sign and thickened by its size. Updated with every view while training runs.

use super::theme;
use crate::energy::units::Units;
use egui::{Color32, ColorImage, Pos2, Rect, TextureHandle, TextureOptions, Ui, pos2, vec2};

/// The texture of the tiles, made again when a newer view arrives.
#[derive(Default)]
pub struct NetworkTexture {
    texture: Option<TextureHandle>,
    step: Option<usize>,
}

/// A response's colour: blue where positive, orange where negative, dark at zero (scaled
/// by the tile's largest magnitude).
fn diverging(v: f32, scale: f32) -> Color32 {
    let t = (v / scale.max(1e-12)).clamp(-1.0, 1.0);
    let base = Color32::from_gray(28);
    let to = if t >= 0.0 {
        theme::DATA
    } else {
        theme::SAMPLES
    };
    let a = t.abs();
    let mix = |x: u8, y: u8| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let m = (f32::from(x) * (1.0 - a) + f32::from(y) * a) as u8;
        m
    };
    Color32::from_rgb(
        mix(base.r(), to.r()),
        mix(base.g(), to.g()),
        mix(base.b(), to.b()),
    )
}

/// Every tile in one row, left to right: x₁, x₂, each layer's units, the energy.
fn atlas(u: &Units, b: &crate::data::DataBox) -> ColorImage {
    let g = u.grid;
    let n = g * g;
    let mut tiles: Vec<Vec<Color32>> = Vec::new();
    // The inputs: each coordinate across the box.
    let pts = b.grid_points(g);
    for axis in 0..2 {
        let scale = b.lo[axis].abs().max(b.hi[axis].abs());
        tiles.push(
            pts.chunks_exact(2)
                .map(|p| diverging(p[axis], scale))
                .collect(),
        );
    }
    for l in &u.layers {
        for r in l.responses.chunks_exact(n) {
            let scale = r.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            tiles.push(r.iter().map(|v| diverging(*v, scale)).collect());
        }
    }
    // The energy as the view's −E scale.
    let (lo, hi) = u
        .energy
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), e| {
            (a.min(*e), b.max(*e))
        });
    tiles.push(
        u.energy
            .iter()
            .map(|e| theme::heat((hi - e) / (hi - lo).max(1e-12)))
            .collect(),
    );
    let t = tiles.len();
    let mut img = ColorImage::new([t * g, g], vec![Color32::BLACK; t * n]);
    for (k, tile) in tiles.iter().enumerate() {
        for j in 0..g {
            for i in 0..g {
                // Row 0 at the top: the largest y.
                img.pixels[(g - 1 - j) * t * g + k * g + i] = tile[j * g + i];
            }
        }
    }
    img
}

/// The drawing in the space `ui` offers. `step` keys the texture to the view.
pub fn network_ui(
    ui: &mut Ui,
    u: &Units,
    data_box: &crate::data::DataBox,
    step: usize,
    tex: &mut NetworkTexture,
) {
    let summary: Vec<String> = std::iter::once("2 inputs".to_string())
        .chain(
            u.layers
                .iter()
                .map(|l| format!("layer {}: {} of {} units", l.layer, l.units.len(), l.width)),
        )
        .chain(std::iter::once("energy".to_string()))
        .collect();
    ui.horizontal_wrapped(|ui| {
        ui.strong("Network");
        ui.label(summary.join(" → "))
            .on_hover_text("Each tile is a unit's response over the data box (blue positive, orange negative, per tile); the strongest units of each layer (largest spread over the box). Lines: weights, blue positive, orange negative, thicker where larger. The last tile is the energy, coloured as the energy view.");
    });
    // x₁ and x₂, every unit shown, the energy.
    let tiles = 2 + u.layers.iter().map(|l| l.units.len()).sum::<usize>() + 1;
    // The tiles are drawn again only when a newer view brings new responses.
    if tex.step != Some(step) || tex.texture.is_none() {
        let img = atlas(u, data_box);
        match &mut tex.texture {
            Some(t) => t.set(img, TextureOptions::NEAREST),
            None => {
                tex.texture = Some(ui.ctx().load_texture(
                    "network_units",
                    img,
                    TextureOptions::NEAREST,
                ));
            }
        }
        tex.step = Some(step);
    }
    let Some(texture) = &tex.texture else { return };
    let avail = ui.available_rect_before_wrap();
    let (rect, response) = ui.allocate_exact_size(
        vec2(avail.width(), avail.height().max(120.0)),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    // Columns: inputs, layers, energy.
    let mut columns: Vec<usize> = vec![2];
    columns.extend(u.layers.iter().map(|l| l.units.len()));
    columns.push(1);
    let cols = columns.len();
    #[allow(clippy::cast_precision_loss)]
    let (col_w, top) = (rect.width() / cols as f32, rect.top() + 16.0);
    let gap = 3.0;
    let height = rect.bottom() - top - 4.0;
    // The largest tiles for which every column fits its share of the width, a column's
    // units in as many sub-columns as its height needs.
    let fit = |s: f32| -> Option<usize> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rows = ((height + gap) / (s + gap)).floor() as usize;
        (rows > 0
            && columns.iter().all(|&m| {
                #[allow(clippy::cast_precision_loss)]
                let sub = m.div_ceil(rows) as f32;
                sub * (s + gap) - gap <= col_w * 0.7
            }))
        .then_some(rows)
    };
    let (size, rows) = (6..=56)
        .rev()
        .map(|s| s as f32)
        .find_map(|s| fit(s).map(|r| (s, r)))
        .unwrap_or((6.0, 1));
    // Tile rectangles, column by column.
    let mut rects: Vec<Vec<Rect>> = Vec::new();
    for (c, &m) in columns.iter().enumerate() {
        let sub = m.div_ceil(rows).max(1);
        let per = m.div_ceil(sub);
        #[allow(clippy::cast_precision_loss)]
        let (w, h) = (
            sub as f32 * (size + gap) - gap,
            per as f32 * (size + gap) - gap,
        );
        #[allow(clippy::cast_precision_loss)]
        let x0 = rect.left() + col_w * (c as f32 + 0.5) - w / 2.0;
        let y0 = top + (height - h) / 2.0;
        #[allow(clippy::cast_precision_loss)]
        rects.push(
            (0..m)
                .map(|k| {
                    let (sc, r) = (k / per, k % per);
                    Rect::from_min_size(
                        pos2(x0 + sc as f32 * (size + gap), y0 + r as f32 * (size + gap)),
                        vec2(size, size),
                    )
                })
                .collect(),
        );
    }
    // The weights between the columns.
    let mid_r = |r: &Rect| -> Pos2 { pos2(r.right(), r.center().y) };
    let mid_l = |r: &Rect| -> Pos2 { pos2(r.left(), r.center().y) };
    for (li, l) in u.layers.iter().enumerate() {
        let prev = &rects[li];
        let here = &rects[li + 1];
        let largest = l
            .weights
            .iter()
            .fold(0.0_f32, |m, w| m.max(w.abs()))
            .max(1e-12);
        for (k, to) in here.iter().enumerate() {
            for (p, from) in prev.iter().enumerate() {
                let w = l.weights[k * prev.len() + p];
                draw_weight(&painter, mid_r(from), mid_l(to), w / largest, false);
            }
        }
    }
    let last = &rects[cols - 2];
    let energy = rects[cols - 1][0];
    let largest = u
        .output_weights
        .iter()
        .fold(0.0_f32, |m, w| m.max(w.abs()))
        .max(1e-12);
    for (p, from) in last.iter().enumerate() {
        draw_weight(
            &painter,
            mid_r(from),
            mid_l(&energy),
            u.output_weights[p] / largest,
            u.output_norms,
        );
    }
    // The tiles over the lines.
    let mut t = 0;
    #[allow(clippy::cast_precision_loss)]
    let uv = |t: usize| {
        Rect::from_min_max(
            pos2(t as f32 / tiles as f32, 0.0),
            pos2((t + 1) as f32 / tiles as f32, 1.0),
        )
    };
    for col in &rects {
        for r in col {
            painter.image(texture.id(), *r, uv(t), Color32::WHITE);
            painter.rect_stroke(
                *r,
                0.0,
                (1.0, Color32::from_gray(90)),
                egui::StrokeKind::Outside,
            );
            t += 1;
        }
    }
    // What the tile under the pointer is.
    if let Some(at) = response.hover_pos() {
        let mut found = None;
        for (c, col) in rects.iter().enumerate() {
            if let Some(k) = col.iter().position(|r| r.contains(at)) {
                found = Some((c, k));
            }
        }
        if let Some((c, k)) = found {
            let what = if c == 0 {
                format!(
                    "input x{}: the coordinate itself (blue > 0, orange < 0)",
                    ["₁", "₂"][k.min(1)]
                )
            } else if c == cols - 1 {
                "E(x): the energy the last layer builds from the units before it, coloured as the energy view (bright: low energy)".to_string()
            } else {
                let l = &u.layers[c - 1];
                format!(
                    "layer {}, unit {} of {}{}: its response over the data box (blue > 0, orange < 0, scaled to the tile's largest); the lines into it are its weights",
                    l.layer,
                    l.units[k],
                    l.width,
                    l.activation
                        .map_or(String::new(), |a| format!(" after {}", a.name()))
                )
            };
            response.on_hover_text_at_pointer(what);
        }
    }
    // Column names: a Linear layer with the activation after it.
    let font = egui::FontId::proportional(11.0);
    let text = ui.visuals().weak_text_color();
    for (c, name) in std::iter::once("x₁, x₂".to_string())
        .chain(u.layers.iter().map(|l| match l.activation {
            Some(a) => format!("layer {} + {}", l.layer, a.name()),
            None => format!("layer {}", l.layer),
        }))
        .chain(std::iter::once("E(x)".to_string()))
        .enumerate()
    {
        #[allow(clippy::cast_precision_loss)]
        let x = rect.left() + col_w * (c as f32 + 0.5);
        painter.text(
            pos2(x, rect.top() + 2.0),
            egui::Align2::CENTER_TOP,
            name,
            font.clone(),
            text,
        );
    }
}

/// A weight as a line: blue positive, orange negative (grey for K-logit norms), thicker
/// and more opaque where larger; `rel` in [−1, 1].
fn draw_weight(p: &egui::Painter, a: Pos2, b: Pos2, rel: f32, norm: bool) {
    let m = rel.abs().clamp(0.0, 1.0);
    if m < 0.02 {
        return;
    }
    let c = if norm {
        Color32::from_gray(200)
    } else if rel >= 0.0 {
        theme::DATA
    } else {
        theme::SAMPLES
    };
    p.line_segment([a, b], (0.4 + 3.0 * m, c.gamma_multiply(0.25 + 0.75 * m)));
}
