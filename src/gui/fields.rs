//! The number field of the settings: a value typed applies on Enter or when the field
//! loses focus (not on every keystroke: "100000" must not become 10 on its way), the
//! field's range is in its tooltip, and a value typed outside the range is clamped and
//! said so in the status bar.

use egui::{DragValue, Response, Ui, Widget, emath::Numeric};
use std::cell::{Cell, RefCell};
use std::ops::RangeInclusive;
use std::rc::Rc;

thread_local! {
    /// The label of the settings row being drawn (names the value in a clamp note).
    static ROW: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Names the row whose fields follow (the settings' `row` helper calls it).
pub fn set_row(label: &str) {
    ROW.with(|r| label.clone_into(&mut r.borrow_mut()));
}

/// The id under which the notes of the frame wait for the app.
fn notes_id() -> egui::Id {
    egui::Id::unique("ebm_workbench_clamp_notes")
}

/// Takes the notes of values that were clamped since the last call.
#[must_use]
pub fn take_notes(ctx: &egui::Context) -> Vec<String> {
    ctx.data_mut(|d| d.remove_temp::<Vec<String>>(notes_id()))
        .unwrap_or_default()
}

/// A number in the shortest form that reads back the same (`1e-5`, `0.001`, `1024`).
#[must_use]
pub fn short(v: f64) -> String {
    // Ranges are often given in f32: printed as f32 they read as typed (1e-5, not
    // 9.999999747378752e-6).
    #[allow(clippy::cast_possible_truncation)]
    let f = v as f32;
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

/// A number field (see the module).
pub struct Num<'a, N: Numeric> {
    value: &'a mut N,
    range: Option<RangeInclusive<f64>>,
    speed: f64,
    prefix: String,
    name: Option<String>,
    max_decimals: Option<usize>,
}

impl<'a, N: Numeric> Num<'a, N> {
    pub fn new(value: &'a mut N) -> Self {
        Self {
            value,
            range: None,
            speed: 1.0,
            prefix: String::new(),
            name: None,
            max_decimals: None,
        }
    }

    #[must_use]
    pub fn range(mut self, r: RangeInclusive<N>) -> Self {
        self.range = Some(r.start().to_f64()..=r.end().to_f64());
        self
    }

    #[must_use]
    pub fn speed(mut self, s: impl Into<f64>) -> Self {
        self.speed = s.into();
        self
    }

    #[must_use]
    pub fn prefix(mut self, p: impl Into<String>) -> Self {
        self.prefix = p.into();
        self
    }

    #[must_use]
    pub fn max_decimals(mut self, n: usize) -> Self {
        self.max_decimals = Some(n);
        self
    }

    /// The value's name in a clamp note (default: the prefix, or the row's label).
    #[must_use]
    pub fn named(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }
}

impl<N: Numeric> Widget for Num<'_, N> {
    fn ui(self, ui: &mut Ui) -> Response {
        let typed = Rc::new(Cell::new(None::<f64>));
        let seen = Rc::clone(&typed);
        let mut dv = DragValue::new(self.value)
            .speed(self.speed)
            .update_while_editing(false)
            .custom_parser(move |s| {
                let t: String = s
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '_')
                    .map(|c| if c == '−' { '-' } else { c })
                    .collect();
                let v = t.parse::<f64>().ok();
                seen.set(v);
                v
            });
        if let Some(n) = self.max_decimals {
            dv = dv.max_decimals(n);
        }
        if !self.prefix.is_empty() {
            dv = dv.prefix(self.prefix.clone());
        }
        if let Some(r) = &self.range {
            dv = dv.range(r.clone());
        }
        let mut response = ui.add(dv);
        if let Some(r) = &self.range {
            response = response.on_hover_text(format!(
                "From {} to {}; type a value and press Enter.",
                short(*r.start()),
                short(*r.end())
            ));
            // Bounds given in f32 arrive widened (0.05 as 0.0500000007…): a value typed
            // as the bound itself is inside.
            let tol = 1e-6 * r.start().abs().max(r.end().abs()).max(1e-30);
            if let Some(v) = typed.get()
                && (v < r.start() - tol || v > r.end() + tol)
            {
                let name = self.name.unwrap_or_else(|| {
                    let p = self.prefix.trim().to_string();
                    if p.is_empty() {
                        ROW.with(|r| r.borrow().to_lowercase())
                    } else {
                        p
                    }
                });
                let (limit, word) = if v < *r.start() {
                    (*r.start(), "smallest")
                } else {
                    (*r.end(), "largest")
                };
                let note = format!(
                    "{name}: {} is outside {} to {}; set to the {word} allowed, {}",
                    short(v),
                    short(*r.start()),
                    short(*r.end()),
                    short(limit)
                );
                ui.ctx().data_mut(|d| {
                    d.get_temp_mut_or_default::<Vec<String>>(notes_id())
                        .push(note);
                });
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn numbers_read_short() {
        assert_eq!(short(1e-5), "1e-5");
        assert_eq!(short(0.001), "0.001");
        assert_eq!(short(1024.0), "1024");
        assert_eq!(short(1e7), "1e7");
        assert_eq!(short(f64::from(1e-5_f32)), "1e-5");
    }
}
