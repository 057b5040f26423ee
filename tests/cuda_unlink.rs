//! `scripts/cuda/unlink.py`, the step that lets one CUDA build start on machines without
//! the CUDA libraries, on stand-ins small enough to build here: a "driver" (unversioned,
//! as libcuda is) and a "cuRAND" (with a version node, as NVIDIA's libraries have), and a
//! program that links both and carries the binary's tag. Without the step the loader
//! refuses to start it; after it, it starts without them and, once it has loaded them
//! with dlopen, calls into both. Needs `cc` and `python3` (Linux, x86-64 or aarch64).
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DRIVER: &str = "int cuInit(unsigned f) { return 7 + (int)f; }\n";
const CURAND: &str =
    "int curandCreateGenerator(void **g, int kind) { *g = 0; return 40 + kind; }\n";
const VERSIONS: &str = "libcurand.so.10 { global: *; };\n";

/// Prints what it finds after the tag, then, with an argument, loads each library and
/// calls one function of each.
const PROGRAM: &str = r#"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
int cuInit(unsigned f);
int curandCreateGenerator(void **g, int kind);
__attribute__((used)) static const char names[512] = "EBM-WORKBENCH-CUDA-LIBRARIES:";
ADDRESS_TAKEN
int main(int argc, char **argv) {
    const char *volatile at = names;
    char list[512];
    strncpy(list, at + 29, sizeof list - 1);
    list[sizeof list - 1] = 0;
    printf("started\n");
    if (argc < 2) return 0;
    for (char *name = strtok(list, "\n"); name; name = strtok(0, "\n")) {
        if (!dlopen(name, RTLD_NOW | RTLD_GLOBAL)) { printf("%s\n", dlerror()); return 3; }
    }
    void *g;
    printf("cuInit=%d curand=%d\n", cuInit(2), curandCreateGenerator(&g, 2));
    return 0;
}
"#;

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> Output {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stand-in libraries in `dir/lib`, and the program linked against them with `flags`.
fn build(dir: &Path, flags: &[&str], address_taken: bool) -> PathBuf {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).expect("the stand-ins are written");
    std::fs::write(dir.join("driver.c"), DRIVER).expect("the stand-ins are written");
    std::fs::write(dir.join("curand.c"), CURAND).expect("the stand-ins are written");
    std::fs::write(dir.join("curand.map"), VERSIONS).expect("the stand-ins are written");
    ok(Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(lib.join("libcuda.so.1"))
        .arg(dir.join("driver.c")));
    ok(Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcurand.so.10"])
        .arg(format!(
            "-Wl,--version-script={}",
            dir.join("curand.map").display()
        ))
        .arg("-o")
        .arg(lib.join("libcurand.so.10"))
        .arg(dir.join("curand.c")));
    for (link, to) in [
        ("libcuda.so", "libcuda.so.1"),
        ("libcurand.so", "libcurand.so.10"),
    ] {
        let _ = std::fs::remove_file(lib.join(link));
        std::os::unix::fs::symlink(to, lib.join(link)).expect("the stand-ins are written");
    }
    let taken = if address_taken {
        "int (*volatile keep)(unsigned) = cuInit;"
    } else {
        ""
    };
    let src = dir.join("program.c");
    std::fs::write(&src, PROGRAM.replace("ADDRESS_TAKEN", taken))
        .expect("the stand-ins are written");
    let exe = dir.join(if address_taken { "taken" } else { "program" });
    ok(Command::new("cc")
        .arg("-O1")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .args(["-lcuda", "-lcurand", "-ldl"])
        .args(flags));
    exe
}

fn unlink(exe: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cuda/unlink.py");
    run(Command::new("python3").arg(script).arg(exe))
}

fn tools_present() -> bool {
    let has = |c: &str| Command::new(c).arg("--version").output().is_ok();
    if has("cc") && has("python3") {
        true
    } else {
        eprintln!("skipped: needs cc and python3");
        false
    }
}

#[test]
fn the_unlinked_program_starts_without_the_libraries_and_calls_them_once_loaded() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Lazy binding, as a build with `-C relro-level=partial` links.
    let exe = build(dir.path(), &["-Wl,-z,relro"], false);
    let lib = dir.path().join("lib");

    // What a CUDA build does on a machine without a driver: the loader refuses it.
    let before = run(&mut Command::new(&exe));
    assert!(!before.status.success());
    assert!(text(&before).contains("libcuda.so.1"), "{}", text(&before));

    let o = unlink(&exe);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("loads at first use: libcuda.so.1, libcurand.so.10"),
        "{}",
        text(&o)
    );

    // It starts with neither library anywhere.
    let o = ok(&mut Command::new(&exe));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "started");
    // Without them, loading names the missing one.
    let o = run(Command::new(&exe).arg("load"));
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("libcuda.so.1"), "{}", text(&o));
    // With them, the calls reach both, the versioned one too.
    let o = ok(Command::new(&exe).arg("load").env("LD_LIBRARY_PATH", &lib));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("cuInit=9 curand=42"),
        "{}",
        text(&o)
    );
    // Done once: a second pass changes nothing.
    let o = unlink(&exe);
    assert!(
        o.status.success() && text(&o).contains("nothing to do"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_program_that_binds_at_start_is_refused_and_left_as_it_was() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let now = build(dir.path(), &["-Wl,-z,relro,-z,now"], false);
    let bytes = std::fs::read(&now).unwrap();
    let o = unlink(&now);
    assert!(!o.status.success());
    assert!(text(&o).contains("relro-level=partial"), "{}", text(&o));
    assert_eq!(
        std::fs::read(&now).unwrap(),
        bytes,
        "a refused file is not touched"
    );

    // A CUDA function whose address is taken is bound at start-up too.
    let taken = build(dir.path(), &["-Wl,-z,relro"], true);
    let o = unlink(&taken);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cuInit is bound at start-up"),
        "{}",
        text(&o)
    );
}
