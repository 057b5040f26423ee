//! Export then load gives the same network; broken files give clear errors.

mod common;

use ebm_workbench::error::ModelFileError;
use ebm_workbench::{Session, export};

#[test]
fn export_then_load_gives_identical_energies() {
    let preset = common::small(24);
    let mut s = Session::new(&preset).unwrap();
    for _ in 0..5 {
        s.step().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    export::save(&path, s.preset(), &[2], s.params()).unwrap();
    let export::Model {
        preset: p2,
        params: params2,
        input_shape,
        described,
    } = export::load(&path).unwrap();
    assert_eq!(input_shape, vec![2]);
    assert!(described, "the file carries its preset");
    assert_eq!(&p2, s.preset());
    assert_eq!(params2.as_slice(), s.params());
    let x: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let e1 = s.energy(&x);
    let mut s2 = Session::from_params(&p2, params2).unwrap();
    assert_eq!(e1, s2.energy(&x));

    // Any safetensors reader sees the tensors by name with the preset in the metadata.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names.first().copied(), Some("layers.0.bias"));
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), &[24, 2]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert!(meta.metadata().as_ref().unwrap()["preset"].contains("eight_gaussians"));
    assert_eq!(meta.metadata().as_ref().unwrap()["input_shape"], "[2]");
}

#[test]
fn wrong_shape_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let small = common::small(24);
    let s = Session::new(&small).unwrap();
    // Write 24-wide tensors but claim a 32-wide network in the metadata.
    let mut bytes = export::to_bytes(s.preset(), &[2], s.params()).unwrap();
    let claimed = common::small(32).to_ron();
    let original = small.to_ron();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    let esc = |t: &str| serde_json_escape(t);
    let new_header = header.replace(&esc(&original), &esc(&claimed));
    assert_ne!(header, new_header);
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&bytes.split_off(8 + header_len));
    std::fs::write(&path, out).unwrap();
    let err = export::load(&path).unwrap_err();
    match &err {
        ModelFileError::Shape {
            name,
            found,
            expected,
            ..
        } => {
            assert_eq!(name, "layers.0.weight");
            assert_eq!(found, &vec![24, 2]);
            assert_eq!(expected, &vec![32, 2]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
    assert!(err.to_string().contains("model.safetensors"));

    std::fs::write(&path, b"not a model").unwrap();
    let err = export::load(&path).unwrap_err();
    assert!(matches!(err, ModelFileError::Format { .. }), "{err}");
}

/// JSON string escaping as the safetensors header writes it (quotes, backslashes, newlines).
fn serde_json_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
