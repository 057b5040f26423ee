//! Every symbol the window writes has a glyph in its fonts: the formulas of the tooltips
//! (∇, ←, ⁺, ⁻) must not show as missing-glyph boxes; and the window writes no combining
//! mark (egui lays text out glyph by glyph: the hat of R̂ would not be drawn).
#![cfg(feature = "gui")]

use std::collections::BTreeSet;
use std::path::Path;

/// The characters inside the string literals of a Rust source (comments skipped).
fn literal_chars(src: &str, out: &mut BTreeSet<char>) {
    let mut chars = src.chars().peekable();
    let (mut in_str, mut in_comment) = (false, false);
    let mut prev = '\0';
    while let Some(c) = chars.next() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
            }
        } else if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {
                    out.insert(c);
                }
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            in_comment = true;
        } else if c == '"' && prev != '\'' {
            in_str = true;
        }
        prev = c;
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_symbol_the_window_writes_has_a_glyph() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut chars = BTreeSet::new();
    for f in &files {
        literal_chars(&std::fs::read_to_string(f).expect("read"), &mut chars);
    }
    let symbols: Vec<char> = chars.into_iter().filter(|c| !c.is_ascii()).collect();
    // The formulas a learner needs are among them (the scan reads the strings).
    for c in ['∇', '←', '⁺', '⁻', 'θ'] {
        assert!(
            symbols.contains(&c),
            "no `{c}` found in the sources' strings"
        );
    }
    let ctx = egui::Context::default();
    ebm_workbench::gui::theme::install_fonts(&ctx);
    ctx.run_ui(egui::RawInput::default(), |_| {})
        .textures_delta
        .clear();
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        let id = egui::FontId::new(14.0, family);
        let missing: String = symbols
            .iter()
            .filter(|c| !ctx.fonts_mut(|f| f.has_glyph(&id, **c)))
            .collect();
        assert!(missing.is_empty(), "no glyph in {id:?} for: {missing}");
    }
}

#[test]
fn the_window_writes_no_combining_marks() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gui"),
        &mut files,
    );
    for f in &files {
        let mut chars = BTreeSet::new();
        literal_chars(&std::fs::read_to_string(f).expect("read"), &mut chars);
        let marks: String = chars
            .iter()
            .filter(|c| ('\u{300}'..='\u{36f}').contains(*c))
            .collect();
        assert!(
            marks.is_empty(),
            "{}: combining marks {marks:?}",
            f.display()
        );
    }
}

#[test]
fn egui_alone_lacks_them() {
    // What the bundled font is for: without it, the formulas show boxes.
    let ctx = egui::Context::default();
    ctx.run_ui(egui::RawInput::default(), |_| {})
        .textures_delta
        .clear();
    let id = egui::FontId::proportional(14.0);
    assert!(
        !"∇←⁺⁻"
            .chars()
            .all(|c| ctx.fonts_mut(|f| f.has_glyph(&id, c)))
    );
}
