//! Every file the tool writes is written atomically: a write that fails says why, names
//! the file, and leaves the old file as it was.

mod common;

use common::{bin, small};
use ebm_workbench::Session;
use std::path::Path;

/// Makes the next atomic write of `path` from this process fail: its temporary file's
/// name is taken by a folder.
fn block(path: &Path) {
    let name = path.file_name().expect("a name").to_string_lossy();
    let tmp = path
        .parent()
        .expect("a folder")
        .join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::create_dir_all(tmp).expect("the blocking folder");
}

#[test]
fn a_failed_write_leaves_the_old_preset_model_and_checkpoint_intact() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = small(8);
    let mut s = Session::new(&p).expect("session");
    let rows = vec![s.step().expect("a step")];
    let (preset, model, ck) = (
        dir.path().join("p.ron"),
        dir.path().join("m.safetensors"),
        dir.path().join("c.ckpt"),
    );
    p.save(&preset).expect("first save");
    ebm_workbench::export::save(&model, &p, &[2], s.params()).expect("first export");
    s.checkpoint(&rows).save(&ck).expect("first checkpoint");
    let before: Vec<Vec<u8>> = [&preset, &model, &ck]
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    // Something changed, then every write fails.
    s.step().expect("another step");
    let mut q = p.clone();
    q.name = "changed".into();
    for f in [&preset, &model, &ck] {
        block(f);
    }
    assert!(q.save(&preset).is_err());
    let e = ebm_workbench::export::save(&model, &q, &[2], s.params())
        .expect_err("blocked")
        .to_string();
    assert!(e.contains("m.safetensors"), "{e}");
    assert!(s.checkpoint(&rows).save(&ck).is_err());
    let after: Vec<Vec<u8>> = [&preset, &model, &ck]
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    assert_eq!(before, after, "the old files changed");
}

#[test]
fn the_command_line_names_the_file_it_cannot_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut p = small(8);
    p.steps = 2;
    let preset = dir.path().join("p.ron");
    p.save(&preset).expect("save");
    let missing = dir.path().join("no such folder");
    for (flag, file) in [
        ("--metrics", "m.csv"),
        ("--export", "m.safetensors"),
        ("--checkpoint", "c.ckpt"),
    ] {
        let target = missing.join(file);
        let o = bin()
            .arg("train")
            .arg(&preset)
            .args(["-q", flag])
            .arg(&target)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flag}");
        assert!(
            err.contains(file) && err.contains("No such file"),
            "{flag}: {err}"
        );
    }
}
