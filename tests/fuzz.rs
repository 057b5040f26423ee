//! Hostile input: thousands of mutated files fed to every loader — preset RON,
//! safetensors model, checkpoint (with its checksum made right again, so that the
//! header and arrays are parsed), CSV, NPY tables and images, IDX images and labels —
//! with fixed seeds. A loader may refuse an input, never panic; sizes claimed by a
//! header are checked before anything is allocated from them.

mod common;

use ebm_workbench::data::{file, images};
use ebm_workbench::train::session::Checkpoint;
use ebm_workbench::{Preset, Session, export};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// xorshift64*: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits: flipped bits, random bytes, a run of 0xFF or of ASCII
/// digits (a size field made huge), a cut, an insertion, a duplicated slice.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = v.len().max(1);
        let at = rng.below(n).min(v.len());
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = rng.next() as u8;
            }
            2 => {
                let k = (1 + rng.below(8)).min(v.len() - at);
                v[at..at + k].fill(0xFF);
            }
            3 => {
                let digits: Vec<u8> = (0..1 + rng.below(14))
                    .map(|_| b'0' + rng.below(10) as u8)
                    .collect();
                let end = (at + digits.len()).min(v.len());
                v.splice(at..end, digits);
            }
            4 => v.truncate(at),
            5 => {
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, extra);
            }
            _ => {
                let k = rng.below(64).min(v.len() - at);
                let slice = v[at..at + k].to_vec();
                v.splice(at..at, slice);
            }
        }
    }
    v
}

/// Feeds `tries` mutations of `seed` to `load` (each written to `path` when the loader
/// reads files); returns how many it refused. Fails on the first panic, naming the input.
fn fuzz(name: &str, seed: &[u8], tries: usize, mut load: impl FnMut(&[u8]) -> bool) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    let mut refused = 0;
    assert!(load(seed), "{name}: the unmutated input must load");
    for i in 0..tries {
        let input = mutate(seed, &mut rng);
        match catch_unwind(AssertUnwindSafe(|| load(&input))) {
            Ok(ok) => refused += usize::from(!ok),
            Err(_) => panic!(
                "{name}: mutation {i} panicked; input ({} bytes): {:?}",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(300)])
            ),
        }
    }
    eprintln!("{name}: {tries} mutations, {refused} refused");
    refused
}

fn through_file(dir: &Path, file: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[test]
fn presets_never_panic() {
    let text = common::bundled_text("digits_conv.ron");
    let refused = fuzz("preset", text.as_bytes(), 3000, |b| {
        Preset::from_ron(&String::from_utf8_lossy(b)).is_ok()
    });
    assert!(refused > 1000);
}

#[test]
fn models_never_panic() {
    let p = common::small(8);
    let s = Session::new(&p).expect("session");
    let bytes = export::to_bytes(&p, &[2], s.params()).expect("bytes");
    let refused = fuzz("safetensors model", &bytes, 3000, |b| {
        export::from_bytes(Path::new("m.safetensors"), b).is_ok()
    });
    assert!(refused > 1000);
}

#[test]
fn checkpoints_never_panic_even_past_their_checksum() {
    let mut p = common::small(8);
    p.sampler.init = ebm_workbench::sampler::Init::ReplayBuffer {
        size: 50,
        reinit_prob: 0.05,
    };
    p.eval.eval_every = 2;
    let mut s = Session::new(&p).expect("session");
    let rows: Vec<_> = (0..3).map(|_| s.step().expect("step")).collect();
    let bytes = s.checkpoint(&rows).to_bytes();
    let path = Path::new("c.ckpt");
    // As they come: the checksum refuses every change.
    let refused = fuzz("checkpoint", &bytes, 1000, |b| {
        Checkpoint::from_bytes(path, b).is_ok()
    });
    assert_eq!(refused, 1000 - count_unchanged(&bytes, 1000));
    // With the checksum made right: the header and the arrays are parsed and resumed.
    fuzz("checkpoint with a valid checksum", &bytes, 1500, |b| {
        if b.len() < 4 {
            return Checkpoint::from_bytes(path, b).is_ok();
        }
        let mut b = b[..b.len() - 4].to_vec();
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        match Checkpoint::from_bytes(path, &b) {
            // What resumes must also train: a step, then a roll-back to the last good
            // state (both read what the checkpoint restored).
            Ok(ck) => match Session::resume(&ck) {
                Ok((mut s, _)) => {
                    let _ = s.step();
                    s.restore_last_good();
                    let _ = s.step();
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        }
    });
}

/// How many of the first `tries` mutations leave the input as it was (they load).
fn count_unchanged(seed: &[u8], tries: usize) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ "checkpoint".len() as u64);
    (0..tries)
        .filter(|_| mutate(seed, &mut rng) == seed)
        .count()
}

#[test]
fn tables_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let csv = format!("x,y,label\n{}", "0.5,1.5,0\n-1,2e3,1\n3,4,2\n".repeat(8));
    fuzz("CSV", csv.as_bytes(), 1500, |b| {
        let p = through_file(dir.path(), "t.csv", b);
        file::read_table(&p, None, Some(2)).is_ok()
    });
    let npy = common::npy_bytes(
        "<f4",
        &[25, 3],
        &(0..75)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    fuzz("NPY table", &npy, 1500, |b| {
        let p = through_file(dir.path(), "t.npy", b);
        file::read_table(&p, None, None).is_ok()
    });
}

#[test]
fn image_files_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let n = 24_u32;
    let mut idx = vec![0, 0, 8, 3];
    for v in [n, 4, 4] {
        idx.extend_from_slice(&v.to_be_bytes());
    }
    idx.extend((0..n * 16).map(|i| (i % 251) as u8));
    fuzz("IDX images", &idx, 1500, |b| {
        let p = through_file(dir.path(), "i-idx3-ubyte", b);
        images::read_images(&p, None).is_ok()
    });
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&n.to_be_bytes());
    lab.extend((0..n).map(|i| (i % 10) as u8));
    fuzz("IDX labels", &lab, 1500, |b| {
        let p = through_file(dir.path(), "l-idx1-ubyte", b);
        images::read_labels(&p).is_ok()
    });
    let npy = common::npy_bytes(
        "|u1",
        &[24, 1, 3, 5],
        &(0..24 * 15).map(|i| (i % 256) as u8).collect::<Vec<u8>>(),
    );
    fuzz("NPY images", &npy, 1500, |b| {
        let p = through_file(dir.path(), "i.npy", b);
        images::read_images(&p, None).is_ok()
    });
}

#[test]
fn a_header_claiming_a_trillion_elements_is_refused_before_allocating() {
    let dir = tempfile::tempdir().expect("tmp");
    let t0 = std::time::Instant::now();
    // NPY: a table and images of 10¹² rows backed by 8 bytes.
    let npy = common::npy_bytes("<f4", &[1_000_000_000_000, 2], &[0; 8]);
    let p = through_file(dir.path(), "huge.npy", &npy);
    let e = file::read_table(&p, None, None)
        .expect_err("10¹² rows")
        .to_string();
    assert!(e.contains("huge.npy"), "{e}");
    let npy = common::npy_bytes("|u1", &[1_000_000_000_000, 1, 28, 28], &[0; 8]);
    let p = through_file(dir.path(), "huge_images.npy", &npy);
    assert!(images::read_images(&p, None).is_err());
    // IDX: 2³² − 1 images of 65 535².
    let mut idx = vec![0, 0, 8, 3];
    for v in [u32::MAX, 65_535, 65_535] {
        idx.extend_from_slice(&v.to_be_bytes());
    }
    let p = through_file(dir.path(), "huge-idx3-ubyte", &idx);
    assert!(images::read_images(&p, None).is_err());
    // A checkpoint whose (checksummed) header lists an array of 10¹² values.
    let p = common::small(8);
    let s = Session::new(&p).expect("session");
    let bytes = s.checkpoint(&[]).to_bytes();
    // Found in the bytes themselves: the binary length fields before the header need
    // not be UTF-8, and a lossy decoding would move every offset after them.
    let at = bytes
        .windows(6)
        .position(|w| w == b"\"len\":")
        .expect("an array length")
        + 6;
    let end = at
        + bytes[at..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .expect("digits");
    let mut b = bytes[..at].to_vec();
    b.extend_from_slice(b"1000000000000");
    b.extend_from_slice(&bytes[end..bytes.len() - 4]);
    // The header's length field counts the new digits.
    let header_len =
        u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) + 13 - (end - at) as u64;
    b[8..16].copy_from_slice(&header_len.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let e = Checkpoint::from_bytes(Path::new("huge.ckpt"), &b)
        .expect_err("10¹² values")
        .to_string();
    assert!(
        e.contains("huge.ckpt") && e.contains("bytes of arrays"),
        "{e}"
    );
    assert!(
        t0.elapsed().as_secs() < 5,
        "refusing took {:?}",
        t0.elapsed()
    );
}
