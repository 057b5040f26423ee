//! Every platform builds: the dependencies the program needs everywhere are not tied to
//! one target. (A dependency written after a `[target.…dependencies]` header in
//! Cargo.toml belongs to that table: on macOS and Windows it would be missing.)

#[test]
fn only_libc_is_tied_to_a_platform() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let package = m["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "ebm-workbench"))
        .expect("this package");
    let deps = package["dependencies"].as_array().expect("dependencies");
    let mut everywhere = Vec::new();
    for d in deps {
        let name = d["name"].as_str().unwrap_or_default();
        match (d["target"].as_str(), name) {
            (Some(t), "libc") => assert!(t.contains("linux"), "libc is for Linux: {t}"),
            (Some(t), _) => panic!(
                "`{name}` is tied to `{t}`: other platforms lose it (move it above the [target] table in Cargo.toml)"
            ),
            (None, _) => everywhere.push(name.to_string()),
        }
    }
    for needed in [
        "candle-core",
        "candle-nn",
        "serde",
        "ron",
        "safetensors",
        "eframe",
        "egui",
        "egui_plot",
        "rfd",
        "image",
        "png",
        "flate2",
        "crc32fast",
        "rand_chacha",
    ] {
        assert!(
            everywhere.iter().any(|n| n == needed),
            "`{needed}` is not a dependency on every platform: {everywhere:?}"
        );
    }
}
