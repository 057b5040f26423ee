//! The user's own points: CSV and NPY files train like the toy sets, and every broken
//! file is reported with the file and the place in it, changing nothing.

mod common;

use ebm_workbench::data::file::{read_points, read_table};
use ebm_workbench::{Preset, Session};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write the test file");
    p
}

/// Points on a noisy ring of radius 2 (deterministic).
fn ring(n: usize) -> Vec<[f64; 2]> {
    (0..n)
        .map(|i| {
            let t = i as f64 * 2.399_963; // golden angle
            let r = 2.0 + 0.15 * ((i * 7919 % 101) as f64 / 50.0 - 1.0);
            [r * t.cos(), r * t.sin()]
        })
        .collect()
}

fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(
        &u16::try_from(header.len())
            .expect("a short header")
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn csv_with_header_comments_and_any_separator_reads_all_points() {
    let dir = tempfile::tempdir().unwrap();
    let pts = ring(50);
    for (name, sep) in [
        ("a.csv", ","),
        ("b.csv", ";"),
        ("c.tsv", "\t"),
        ("d.txt", "  "),
    ] {
        let mut text = "# a ring\nx,y\n".replace(',', sep);
        for p in &pts {
            text.push_str(&format!("{}{sep}{}\n", p[0], p[1]));
        }
        text.push('\n');
        let got = read_points(&write(dir.path(), name, text.as_bytes()), None).unwrap();
        assert_eq!(got.len(), 100, "{name}");
        assert!((f64::from(got[2]) - pts[1][0]).abs() < 1e-6, "{name}");
        assert!((f64::from(got[3]) - pts[1][1]).abs() < 1e-6, "{name}");
    }
}

#[test]
fn a_bad_csv_row_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y\n");
    for p in ring(30) {
        text.push_str(&format!("{},{}\n", p[0], p[1]));
    }
    let mut bad = text.clone();
    bad.push_str("0.5,abc\n");
    let e = read_points(&write(dir.path(), "bad.csv", bad.as_bytes()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.csv:line 32, column 2"), "{e}");
    assert!(e.contains("`abc` is not a number"), "{e}");

    // A row of another width (one field is said as one).
    for (name, row, want) in [
        (
            "ragged.csv",
            "1,2,3\n",
            "ragged.csv:line 32: 3 fields, but line 1 has 2",
        ),
        (
            "short.csv",
            "7\n",
            "short.csv:line 32: 1 field, but line 1 has 2",
        ),
    ] {
        let e = read_points(
            &write(dir.path(), name, format!("{text}{row}").as_bytes()),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(want), "{e}");
    }

    let mut nan = text.clone();
    nan.push_str("NaN,1\n");
    let e = read_points(&write(dir.path(), "nan.csv", nan.as_bytes()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nan.csv:line 32, column 1"), "{e}");
    assert!(e.contains("not a finite number"), "{e}");

    let e = read_points(&write(dir.path(), "few.csv", b"1,2\n3,4\n"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("few.csv: 2 points is too few"), "{e}");

    let e = read_points(&dir.path().join("missing.csv"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.csv: cannot read"), "{e}");
}

/// Every column is a feature unless the preset picks some (in its order) or names the
/// labels; a column that is not there is named.
#[test]
fn wider_tables_use_every_column_or_the_ones_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,x,label,y\n");
    for (i, p) in ring(40).iter().enumerate() {
        text.push_str(&format!("{i},{},{},{}\n", p[0], i % 3, p[1]));
    }
    let path = write(dir.path(), "wide.csv", text.as_bytes());
    let r = ring(40);
    let all = read_table(&path, None, None).unwrap();
    assert_eq!((all.dim, all.points.len()), (4, 160));
    assert!((f64::from(all.points[4 * 39 + 3]) - r[39][1]).abs() < 1e-6);
    let e = read_points(&path, Some(&[1, 4])).unwrap_err().to_string();
    assert!(e.contains("column 4, but the table has 4"), "{e}");
    let got = read_table(&path, Some(&[3, 1, 0]), None).unwrap();
    assert_eq!((got.dim, got.points.len()), (3, 120));
    assert!((f64::from(got.points[3 * 39]) - r[39][1]).abs() < 1e-6);
    assert!((f64::from(got.points[3 * 39 + 1]) - r[39][0]).abs() < 1e-6);
    assert_eq!(got.points[3 * 39 + 2], 39.0);
    // The label column is not a feature.
    let labelled = read_table(&path, None, Some(2)).unwrap();
    assert_eq!(labelled.dim, 3);
    assert_eq!(labelled.labels.unwrap()[5], 2);
    let e = read_table(&path, Some(&[1, 2]), Some(2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("both a feature"), "{e}");
}

#[test]
fn npy_float32_float64_c_and_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    let pts = ring(25);
    let c32: Vec<u8> = pts
        .iter()
        .flat_map(|p| p.iter().flat_map(|v| (*v as f32).to_le_bytes()))
        .collect();
    let f64_fortran: Vec<u8> = (0..2)
        .flat_map(|c| pts.iter().map(move |p| p[c]))
        .flat_map(f64::to_le_bytes)
        .collect();
    let a = read_points(
        &write(dir.path(), "a.npy", &npy("<f4", "(25, 2)", false, &c32)),
        None,
    )
    .unwrap();
    let b = read_points(
        &write(
            dir.path(),
            "b.npy",
            &npy("<f8", "(25, 2)", true, &f64_fortran),
        ),
        None,
    )
    .unwrap();
    assert_eq!(a.len(), 50);
    assert_eq!(a, b);
    assert!((f64::from(a[9]) - pts[4][1]).abs() < 1e-6);

    let e = read_points(
        &write(dir.path(), "u.npy", &npy("<U5", "(25, 2)", false, &c32)),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("u.npy:descr: dtype '<U5' is not supported"),
        "{e}"
    );
    let e = read_points(
        &write(dir.path(), "v.npy", &npy("<f4", "(50,)", false, &c32)),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("v.npy:shape") && e.contains("must be 2-D"),
        "{e}"
    );
    let e = read_points(
        &write(
            dir.path(),
            "t.npy",
            &npy("<f4", "(25, 2)", false, &c32[..100]),
        ),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("t.npy: the file is truncated"), "{e}");
    let e = read_points(&write(dir.path(), "x.npy", b"x,y\n1,2\n"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.npy: not a NumPy .npy file"), "{e}");
}

/// Integer arrays (int32, int64) load as the same numbers, in C and Fortran order.
#[test]
fn npy_integer_arrays_load_as_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<[i64; 2]> = (0..25).map(|i| [i - 12, 3 * i * i - 1000]).collect();
    let i32_c: Vec<u8> = pts
        .iter()
        .flat_map(|p| {
            p.iter()
                .flat_map(|v| i32::try_from(*v).unwrap().to_le_bytes())
        })
        .collect();
    let i64_f: Vec<u8> = (0..2)
        .flat_map(|c| pts.iter().map(move |p| p[c]))
        .flat_map(i64::to_le_bytes)
        .collect();
    let want: Vec<f32> = pts.iter().flat_map(|p| p.map(|v| v as f32)).collect();
    for (name, bytes) in [
        ("i4.npy", npy("<i4", "(25, 2)", false, &i32_c)),
        ("i8.npy", npy("<i8", "(25, 2)", true, &i64_f)),
    ] {
        let got = read_points(&write(dir.path(), name, &bytes), None).unwrap();
        assert_eq!(got, want, "{name}");
    }
}

/// A preset naming a CSV next to it trains on those points: the data box follows the
/// data, no true NLL is claimed, and the held-out NLL falls.
#[test]
fn a_preset_with_a_relative_csv_trains_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for p in ring(2000) {
        text.push_str(&format!("{},{}\n", p[0] + 5.0, p[1]));
    }
    write(dir.path(), "ring.csv", text.as_bytes());
    let mut p = common::small(32);
    p.data.source = ebm_workbench::data::DataSource::File(PathBuf::from("ring.csv"));
    p.eval.eval_every = 100;
    p.optimizer.lr = 3e-3;
    let preset_path = dir.path().join("ring.ron");
    p.save(&preset_path).unwrap();
    let saved = std::fs::read_to_string(&preset_path).unwrap();
    assert!(saved.contains("source: File(\"ring.csv\")"), "{saved}");

    let loaded = Preset::load(&preset_path).unwrap();
    assert!(loaded.data.file().unwrap().is_absolute());
    let mut s = Session::new(&loaded).unwrap();
    let d = s.data();
    assert_eq!(d.n_train() + d.n_test(), 2000);
    assert!(d.true_nll().is_none());
    // The box is the points' bounding box widened by a tenth of its extent on each side.
    let b = d.data_box.clone();
    let all: Vec<f32> = d.train.iter().chain(&d.test).copied().collect();
    for j in 0..2 {
        let col = all.iter().skip(j).step_by(2);
        let lo = col.clone().fold(f32::INFINITY, |m, v| m.min(*v));
        let hi = col.fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let pad = 0.1 * (hi - lo);
        assert!(
            (b.lo[j] - (lo - pad)).abs() < 1e-4 && (b.hi[j] - (hi + pad)).abs() < 1e-4,
            "axis {j}: box {b:?}, points from {lo} to {hi}"
        );
    }
    let before = s.evaluate().nll;
    for _ in 0..600 {
        s.step().unwrap();
    }
    let after = s.evaluate().nll;
    assert!(after < before - 0.5, "NLL {before} -> {after}");

    std::fs::remove_file(dir.path().join("ring.csv")).unwrap();
    let e = Session::new(&loaded).err().unwrap().to_string();
    // The file gone: named, with the folder where it (or its .gz) was looked for.
    assert!(
        e.contains("ring.csv: no such file")
            && e.contains("ring.csv.gz")
            && e.contains(&dir.path().display().to_string()),
        "{e}"
    );
    // A gzipped table beside it is not taken for it (tables are read uncompressed):
    // the message says to gunzip it.
    std::fs::write(dir.path().join("ring.csv.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
    let e = Session::new(&loaded).err().unwrap().to_string();
    assert!(
        e.contains("ring.csv: no such file")
            && e.contains("ring.csv.gz is there")
            && e.contains("gunzip"),
        "{e}"
    );
}

/// A label column makes a file usable for JEM: labels are read with the points, checked,
/// and the classifier learns them.
#[test]
fn a_labelled_csv_trains_a_jem_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y,class\n");
    for p in ring(1500) {
        // Three classes: the ring's thirds by angle.
        let a = p[1].atan2(p[0]) + std::f64::consts::PI;
        let class = ((a / (2.0 * std::f64::consts::PI / 3.0)) as usize).min(2);
        text.push_str(&format!("{},{},{class}\n", p[0], p[1]));
    }
    let path = write(dir.path(), "thirds.csv", text.as_bytes());
    let t = ebm_workbench::data::file::read_table(&path, None, Some(2)).unwrap();
    assert_eq!((t.points.len(), t.dim), (3000, 2));
    let labels = t.labels.unwrap();
    assert_eq!(labels.iter().max(), Some(&2));

    let mut bad = text.clone();
    bad.push_str("0.1,0.2,1.5\n");
    let e = ebm_workbench::data::file::read_table(
        &write(dir.path(), "bad.csv", bad.as_bytes()),
        None,
        Some(2),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bad.csv:line 1502, column 3"), "{e}");
    assert!(e.contains("not a whole number"), "{e}");

    let mut p = common::small(32);
    p.data.source = ebm_workbench::data::DataSource::File(path);
    p.objective.kind = ebm_workbench::preset::ObjectiveKind::Jem { ce_weight: 1.0 };
    p.model.outputs = 3;
    p.optimizer.lr = 3e-3;
    p.eval.eval_every = 100;
    // Without the label column JEM is refused, naming the field.
    let mut unlabelled = p.clone();
    unlabelled.data.labels = None;
    let e = unlabelled.validate().unwrap_err().to_string();
    assert!(e.contains("data.labels"), "{e}");
    p.data.labels = Some(2);
    p.validate().unwrap();
    // One logit per class of the file.
    let mut wrong = p.clone();
    wrong.model.outputs = 4;
    let e = Session::new(&wrong).err().unwrap().to_string();
    assert!(
        e.contains("thirds.csv") && e.contains("3 classes") && e.contains("model.outputs = 4"),
        "{e}"
    );

    let mut s = Session::new(&p).unwrap();
    for _ in 0..300 {
        s.step().unwrap();
    }
    let c = s.classify().unwrap();
    assert!(c.accuracy > 0.9, "{c:?}");
}

/// A file of five columns trains as 5-D data: the NLL by AIS, no grid.
#[test]
fn a_five_column_file_trains_in_five_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b,c,d,e\n");
    for (i, p) in ring(1500).iter().enumerate() {
        let t = i as f64 * 0.01;
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            p[0],
            p[1],
            t.sin(),
            p[0] * 0.5,
            (t * 3.0).cos()
        ));
    }
    let mut p = common::small(16);
    p.data.source =
        ebm_workbench::data::DataSource::File(write(dir.path(), "five.csv", text.as_bytes()));
    p.eval.eval_every = 20;
    p.eval.ais_temperatures = 50;
    let mut s = Session::new(&p).unwrap();
    assert_eq!(s.data().dim, 5);
    assert_eq!(s.data().space, ebm_workbench::data::Space::Vector { d: 5 });
    assert_eq!(s.data().data_box.dim(), 5);
    let before = s.evaluate();
    assert_eq!(before.method, ebm_workbench::eval::Method::Ais);
    for _ in 0..40 {
        let m = s.step().unwrap();
        assert!(m.sample_term_cos_exact.is_none());
    }
    assert!(s.evaluate().nll.is_finite());
}
