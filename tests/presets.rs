//! Presets: the bundled ones load and round-trip; broken ones give messages that say where.

mod common;

use ebm_workbench::Preset;
use ebm_workbench::error::PresetError;

#[test]
fn bundled_presets_load_and_round_trip() {
    // Every file in presets/ is offered in the window's Examples menu, as it is on disk.
    let mut files: Vec<String> = std::fs::read_dir(common::preset_path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ron"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = ebm_workbench::preset::BUNDLED
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect();
    listed.sort();
    assert_eq!(files, listed);
    for (name, text) in ebm_workbench::preset::BUNDLED {
        assert_eq!(
            std::fs::read_to_string(common::preset_path(name)).unwrap(),
            *text
        );
        let p = common::bundled(name);
        let text = p.to_ron();
        let back = Preset::from_ron(&text).expect("written preset parses");
        assert_eq!(p, back, "{name} does not round-trip through RON");
    }
}

/// The examples gallery shows each example's description: what it shows, and how long it
/// takes here to show it and to run.
#[test]
fn every_example_says_what_it_shows_and_how_long_it_takes() {
    for (name, _) in ebm_workbench::preset::BUNDLED {
        let d = common::bundled(name).description;
        assert!(
            d.contains("Shows:"),
            "{name}: no `Shows:` sentence in {d:?}"
        );
        let here = d
            .split_once(" Here: ")
            .unwrap_or_else(|| panic!("{name}: no time in {d:?}"))
            .1;
        let total = here
            .split(", ")
            .last()
            .and_then(|t| t.split(" in all").next())
            .unwrap_or_default();
        let number = total
            .trim_start_matches("about ")
            .split(' ')
            .next()
            .and_then(|n| n.parse::<f64>().ok());
        assert!(
            number.is_some_and(|n| n > 0.0) && (total.ends_with(" s") || total.contains(" min")),
            "{name}: `{here}` does not say how long the run takes"
        );
    }
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ron");
    let text = std::fs::read_to_string(common::preset_path("eight_gaussians.ron")).unwrap();
    // Remove the comma after `steps: 2000` (line 8 of the file): a syntax error.
    let broken = text.replacen("steps: 2000,", "steps: 2000", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("steps: 2000"))
        .unwrap()
        + 1;
    std::fs::write(&path, broken).unwrap();
    let err = Preset::load(&path).unwrap_err();
    let msg = err.to_string();
    match err {
        PresetError::Syntax {
            path: p, line: l, ..
        } => {
            assert_eq!(p, path);
            // The parser stops at the next token, on the line after the missing comma.
            assert!(
                l == line || l == line + 1,
                "line {l}, expected near {line}: {msg}"
            );
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    assert!(msg.contains("broken.ron:"), "{msg}");
}

#[test]
fn unknown_data_set_names_the_allowed_ones() {
    let text = std::fs::read_to_string(common::preset_path("two_moons.ron")).unwrap();
    let bad = text.replace("Toy(two_moons)", "Toy(three_moons)");
    let msg = Preset::from_ron(&bad).unwrap_err().to_string();
    for allowed in ["eight_gaussians", "two_moons", "checkerboard", "swiss_roll"] {
        assert!(
            msg.contains(allowed),
            "message does not list {allowed}: {msg}"
        );
    }
    assert!(msg.contains("three_moons"), "{msg}");
}

#[test]
fn invalid_values_name_the_field() {
    let base = common::bundled("eight_gaussians.ron");
    let mut p = base.clone();
    p.sampler.kind = ebm_workbench::sampler::SamplerKind::Sgld {
        step_size: -0.1,
        noise: 0.01,
    };
    let msg = Preset::from_ron(&p.to_ron()).unwrap_err().to_string();
    assert!(msg.contains("sampler.kind.step_size"), "{msg}");
    assert!(msg.contains("> 0"), "{msg}");

    let mut p = base.clone();
    p.model.layers[2] = ebm_workbench::energy::LayerSpec::Linear(0);
    let msg = Preset::from_ron(&p.to_ron()).unwrap_err().to_string();
    assert!(msg.contains("model.layers[2]"), "{msg}");

    let mut p = base;
    p.sampler.kind = ebm_workbench::sampler::SamplerKind::Hmc {
        step_size: 0.1,
        leapfrog_steps: 0,
    };
    let msg = Preset::from_ron(&p.to_ron()).unwrap_err().to_string();
    assert!(msg.contains("sampler.kind.leapfrog_steps"), "{msg}");
    assert!(msg.contains("1 to 1000"), "{msg}");
}

#[test]
fn temperature_is_exposed_and_warned_about() {
    let p = common::bundled("eight_gaussians.ron");
    assert!((p.sampler.kind.temperature() - 1.0).abs() < 1e-6);
    assert!(p.temperature_warning().is_none());
    let mut cold = p;
    cold.sampler.kind = ebm_workbench::sampler::SamplerKind::Sgld {
        step_size: 1.0,
        noise: 0.01,
    };
    assert!((cold.sampler.kind.temperature() - 5e-5).abs() < 1e-7);
    assert!(cold.temperature_warning().unwrap().contains("T = "));
}

/// The data's source is one field, `data.source`; presets written before it, with the
/// toy set, the file, the target and the image set in fields of their own, still load, to
/// the same data (the file first, then the target, then the images, then the set, as
/// they were read), and are written back in the new form.
#[test]
fn old_presets_separate_data_fields_load_into_one_source() {
    let mixture = "Mixture(dim: 4, components: 2, spread: 1.0, std: 0.5)";
    for (old, new) in [
        (
            "set: two_moons".to_string(),
            "source: Toy(two_moons)".to_string(),
        ),
        (
            format!("set: two_moons, target: {mixture}"),
            format!("source: Target({mixture})"),
        ),
        (
            "images: digits, set: checkerboard".into(),
            "source: Images(digits)".into(),
        ),
        (
            format!("file: \"p.csv\", images: digits, target: Some({mixture})"),
            "source: File(\"p.csv\")".into(),
        ),
        (String::new(), "source: Toy(eight_gaussians)".into()),
    ] {
        let read = |data: &str| {
            let fields = if data.is_empty() {
                "size: 500".to_string()
            } else {
                format!("{data}, size: 500")
            };
            Preset::from_ron(&format!("(data: ({fields}))"))
                .unwrap_or_else(|e| panic!("({data}): {e}"))
        };
        let (o, n) = (read(&old), read(&new));
        assert_eq!(o.data, n.data, "{old} against {new}");
        let text = o.to_ron();
        let head = new.split('(').next().unwrap();
        assert!(text.contains(head), "written back as {text}");
        for gone in ["set:", "file:", "target:", "images:"] {
            assert!(!text.contains(gone), "{gone} written again: {text}");
        }
        assert_eq!(Preset::from_ron(&text).unwrap().data, o.data);
    }
}

/// `data.columns` is a list now; presets written with a pair still load (as a list), and
/// a target with a bad parameter names its field.
#[test]
fn columns_as_a_list_or_an_old_pair_and_targets_checked() {
    let base = common::bundled("two_moons.ron").to_ron().replace(
        "source: Toy(two_moons),",
        "source: File(\"p.csv\"), columns: COLS,",
    );
    for (cols, want) in [("(0, 3)", vec![0, 3]), ("[4, 0, 2]", vec![4, 0, 2])] {
        let p = Preset::from_ron(&base.replace("COLS", cols)).expect("the preset loads");
        assert_eq!(p.data.columns, Some(want));
    }
    let e = Preset::from_ron(&base.replace("COLS", "[1, 1]"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.columns"), "{e}");
    let bad = common::bundled("mixture_16d.ron")
        .to_ron()
        .replace("std: 0.5", "std: -1.0");
    let e = Preset::from_ron(&bad).unwrap_err().to_string();
    assert!(e.contains("data.target.std") && e.contains("> 0"), "{e}");
}
