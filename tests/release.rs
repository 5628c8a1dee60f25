//! scripts/release.sh, run twice from the same commit into two temporary
//! folders: the two runs write byte-identical artifacts (same SHA256SUMS), the
//! sums are the files' real SHA-256, the spin.toml fragment pins the Spin build
//! by that digest and agrees with spin.toml, the two components are the two
//! builds, and the CLI is a static binary that reports the release's version.
//!
//! Each run is a full release build in a clone of its own (about 2 minutes of
//! CPU); the two run side by side and share cargo's download cache, nothing
//! else.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_file(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).expect("read artifact")))
}

const BASE_URL: &str = "https://releases.example.test/cors-gateway";

fn release(version: &str, out: &Path) -> BTreeMap<String, String> {
    let started = Instant::now();
    let result = Command::new("bash")
        .arg(root().join("scripts/release.sh"))
        .arg(version)
        .arg(out)
        .current_dir(root())
        // The release is HEAD's commit either way; a developer's uncommitted
        // changes are not in it.
        .env("RELEASE_ALLOW_DIRTY", "1")
        .env("RELEASE_BASE_URL", BASE_URL)
        .output()
        .expect("run scripts/release.sh");
    assert!(
        result.status.success(),
        "scripts/release.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    eprintln!(
        "release.sh into {} took {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).expect("SHA256SUMS");
    sums.lines()
        .map(|l| {
            let (digest, name) = l.split_once("  ").expect("sha256sum line: DIGEST  NAME");
            (name.to_string(), digest.to_string())
        })
        .collect()
}

/// True when the ELF file has no PT_INTERP program header: the kernel runs it
/// without a dynamic loader, i.e. it is statically linked.
fn elf_is_static(bytes: &[u8]) -> bool {
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF file");
    assert_eq!(bytes[4], 2, "64-bit ELF");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn two_release_builds_of_one_commit_are_identical_and_pin_the_spin_build() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let version = manifest["package"]["version"].as_str().unwrap().to_string();

    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // At the same time: each build has long single-threaded stretches (LTO
    // with one codegen unit), so two of them share 2 cores well.
    let started = Instant::now();
    let (sums_a, sums_b) = std::thread::scope(|s| {
        let first = s.spawn(|| release(&version, &a));
        let second = s.spawn(|| release(&version, &b));
        (first.join().unwrap(), second.join().unwrap())
    });
    eprintln!(
        "two release builds: {:.0} s wall time",
        started.elapsed().as_secs_f64()
    );

    let portable = format!("cors-gateway-{version}.wasm");
    let spin = format!("cors-gateway-spin-{version}.wasm");
    let p3 = format!("cors-gateway-p3-{version}.wasm");
    let spin_p3 = format!("cors-gateway-spin-p3-{version}.wasm");
    let cli = format!("cors-gateway-{version}-x86_64-unknown-linux-musl");
    let names: Vec<&str> = sums_a.keys().map(String::as_str).collect();
    let mut want = vec![
        portable.as_str(),
        spin.as_str(),
        p3.as_str(),
        spin_p3.as_str(),
        cli.as_str(),
        "spin-fragment.toml",
    ];
    want.sort();
    assert_eq!(names, want, "the release's files");
    assert_eq!(
        sums_a, sums_b,
        "two builds of the same commit must be byte-identical"
    );
    for (name, digest) in &sums_a {
        assert_eq!(&sha256_file(&a.join(name)), digest, "SHA256SUMS for {name}");
    }

    // All are components (the component binary's preamble: version 0xd,
    // layer 1), and only the Spin builds import Spin's interfaces.
    let portable_bytes = std::fs::read(a.join(&portable)).unwrap();
    let spin_bytes = std::fs::read(a.join(&spin)).unwrap();
    let p3_bytes = std::fs::read(a.join(&p3)).unwrap();
    let spin_p3_bytes = std::fs::read(a.join(&spin_p3)).unwrap();
    for bytes in [&portable_bytes, &spin_bytes, &p3_bytes, &spin_p3_bytes] {
        assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00");
    }
    // The 0.3 build exports the 0.3 handler; the others the 0.2 one.
    assert!(contains(&p3_bytes, b"wasi:http/handler@0.3"));
    assert!(!contains(&p3_bytes, b"wasi:http/incoming-handler@0.2"));
    assert!(contains(&portable_bytes, b"wasi:http/incoming-handler@0.2"));
    assert!(!contains(&portable_bytes, b"key-value@"));
    assert!(!contains(&p3_bytes, b"key-value@"));
    assert!(contains(&spin_bytes, b"key-value@"));
    // The WASI 0.3 Spin build: the 0.3 handler and Spin's interfaces.
    assert!(contains(&spin_p3_bytes, b"wasi:http/handler@0.3"));
    assert!(!contains(&spin_p3_bytes, b"wasi:http/incoming-handler@0.2"));
    assert!(contains(&spin_p3_bytes, b"key-value@"));
    // No build path of the machine that built it. Two builds here share
    // cargo's home, so only this catches a missing remap of it (checked: the
    // builds without any remapping were still identical to each other and
    // failed here on registry paths under $HOME).
    let home = std::env::var("HOME").unwrap_or_default();
    for bytes in [&portable_bytes, &spin_bytes, &p3_bytes, &spin_p3_bytes] {
        assert!(!contains(bytes, b"/tmp/"));
        assert!(home.len() < 2 || !contains(bytes, home.as_bytes()));
    }

    // The fragment pins exactly the Spin build, and keeps spin.toml's shape.
    let fragment: toml::Value =
        toml::from_str(&std::fs::read_to_string(a.join("spin-fragment.toml")).unwrap())
            .expect("the fragment is TOML");
    let component = &fragment["component"]["cors-gateway"];
    assert_eq!(
        component["source"]["url"].as_str(),
        Some(format!("{BASE_URL}/{spin}").as_str())
    );
    assert_eq!(
        component["source"]["digest"].as_str(),
        Some(format!("sha256:{}", hex(&Sha256::digest(&spin_bytes))).as_str())
    );
    let repo: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).unwrap()).unwrap();
    let repo_component = &repo["component"]["cors-gateway"];
    assert_eq!(component["variables"], repo_component["variables"]);
    // The released component has no policy built in: it mounts the folder the
    // repository's spin.toml offers as the run-time alternative.
    assert_eq!(
        component["files"],
        toml::from_str::<toml::Value>(
            r#"files = [{ source = "policies", destination = "/policies" }]"#
        )
        .unwrap()["files"]
    );
    // The key-value source is off in both, with the same two lines to turn it on.
    assert!(
        component.get("key_value_stores").is_none()
            && repo_component.get("key_value_stores").is_none()
    );
    let kv_lines = "# key_value_stores = [\"default\"]\n# environment = { CORS_POLICY_KV_STORE = \"default\" }";
    assert!(std::fs::read_to_string(a.join("spin-fragment.toml"))
        .unwrap()
        .contains(kv_lines));
    assert_eq!(fragment["variables"], repo["variables"]);
    assert_eq!(fragment["trigger"], repo["trigger"]);
    assert!(component.get("build").is_none());

    // The CLI: static, and the release's version.
    let cli_path = a.join(&cli);
    assert!(elf_is_static(&std::fs::read(&cli_path).unwrap()));
    let out = Command::new(&cli_path).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("cors-gateway {version}")
    );
    let status = Command::new(&cli_path)
        .args(["check", "tests/policies/clean.json"])
        .current_dir(root())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The script refuses what would make a release lie about itself.
#[test]
fn release_refuses_a_version_cargo_does_not_have_and_a_bad_version() {
    let tmp = tempfile::tempdir().unwrap();
    for (version, needle) in [
        ("99.0.0", "set it to 99.0.0"),
        ("1.2", "VERSION must look like"),
    ] {
        let out = Command::new("bash")
            .arg(root().join("scripts/release.sh"))
            .arg(version)
            .arg(tmp.path().join("out"))
            .current_dir(root())
            .env("RELEASE_ALLOW_DIRTY", "1")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{version}: {err}");
    }
}
