//! `yieldlake nightly` as a scheduler runs it: a first run over generated data writes
//! the touched lots' reports, the index and the summary; a second run with nothing new
//! does nothing; a corrupt file is quarantined (exit 3) and the rest reported; a run
//! while another holds the lock waits, then gives up with status 1; the config's schema
//! in `schemas/` is the generated one; retention keeps the newest run summaries; a run
//! killed with SIGKILL part-way leaves a state the next run completes.

use std::path::Path;

use serde_json::Value;
use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::stdf::{ByteOrder, Compression};

fn yl(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(args).output().unwrap()
}

fn gen_into(dir: &Path, profile: Profile, seed: u64) {
    generate(
        &GenOptions {
            profile,
            out: dir.to_path_buf(),
            lots: 1,
            wafers: 2,
            seed,
            scale: 0.05,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: None,
            tests: Some(6),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
}

#[test]
fn nightly_runs_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    gen_into(&inbox.join("ws"), Profile::AutoIcWs, 41);
    let cfg = dir.path().join("ops.toml");
    std::fs::write(
        &cfg,
        "format = \"yieldlake-nightly/1\"\nlake = \"lake\"\nout = \"reports\"\nlock_wait_s = 1\n[[inbox]]\ndir = \"inbox\"\npattern = \"*.stdf\"\n\
         [pat]\nk = 5.5\n[syl]\nwindow = 7\nmin_lots = 6\n[retention]\nkeep_runs = 2\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // First run: the lot's report, the index, the summary.
    let r = yl(&["nightly", "--config", c]);
    assert_eq!(r.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    let out = dir.path().join("reports");
    let lot_html = out.join("lots/lot-YL41-01.html");
    assert!(lot_html.is_file());
    let s: Value = serde_json::from_slice(&std::fs::read(out.join("nightly-summary.json")).unwrap()).unwrap();
    assert_eq!(s["new_files"], 2);
    assert_eq!(s["ingested"], 2);
    assert_eq!(s["lots"][0]["lot_id"], "YL41-01");
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("href=\"lots/lot-YL41-01.html\""), "{index}");
    // The config's PAT and SYL settings reach the report.
    let j: Value = serde_json::from_slice(&std::fs::read(out.join("lots/lot-YL41-01.json")).unwrap()).unwrap();
    assert_eq!(j["sections"]["pat_settings"]["pat"]["k"], 5.5, "{}", j["sections"]["pat_settings"]);
    assert_eq!(j["sections"]["syl_settings"]["window"], 7);
    // Second run, nothing new: nothing rewritten.
    let before = std::fs::metadata(&lot_html).unwrap().modified().unwrap();
    let r = yl(&["nightly", "--config", c]);
    assert_eq!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stdout).contains("no new files"));
    assert_eq!(std::fs::metadata(&lot_html).unwrap().modified().unwrap(), before);
    let s: Value = serde_json::from_slice(&std::fs::read(out.join("nightly-summary.json")).unwrap()).unwrap();
    assert_eq!(s["new_files"], 0);
    // A corrupt file and a new lot: the corrupt file is quarantined, the lot reported.
    gen_into(&inbox.join("ws2"), Profile::AutoIcWs, 42);
    std::fs::write(inbox.join("broken.stdf"), b"\x02\x00\x00\x0a\x02\x04this is not stdf").unwrap();
    let r = yl(&["nightly", "--config", c]);
    assert_eq!(r.status.code(), Some(3), "{}", String::from_utf8_lossy(&r.stderr));
    let s: Value = serde_json::from_slice(&std::fs::read(out.join("nightly-summary.json")).unwrap()).unwrap();
    assert!(s["quarantined"][0]["path"].as_str().unwrap().ends_with("broken.stdf"), "{s}");
    assert!(out.join("lots/lot-YL42-01.html").is_file());
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("lot-YL41-01.html") && index.contains("lot-YL42-01.html"));
    // Another run holds the lock (this test's own, live, process): wait 1 s, then status 1.
    std::fs::write(out.join(".nightly.lock"), format!("{}\n", std::process::id())).unwrap();
    gen_into(&inbox.join("ws3"), Profile::AutoIcWs, 43);
    let t = std::time::Instant::now();
    let r = yl(&["nightly", "--config", c]);
    assert_eq!(r.status.code(), Some(1));
    assert!(t.elapsed().as_secs_f64() >= 1.0);
    assert!(String::from_utf8_lossy(&r.stderr).contains("another nightly run"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!out.join("lots/lot-YL43-01.html").exists());
    // A lock left by a process that is gone (as after kill -9) is taken over, and the
    // files the killed run did not record are picked up.
    std::fs::write(out.join(".nightly.lock"), "999999999\n").unwrap();
    let r = yl(&["nightly", "--config", c]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.join("lots/lot-YL43-01.html").is_file());
    // Retention: four runs did work; the newest two summaries are kept.
    assert_eq!(std::fs::read_dir(out.join("runs")).unwrap().count(), 2);
    // A bad config names its line.
    std::fs::write(
        dir.path().join("bad.toml"),
        "format = \"yieldlake-nightly/1\"\nlake = \"lake\"\nout = \"reports\"\ninbox = []\nbogus = 1\n",
    )
    .unwrap();
    let r = yl(&["nightly", "--config", dir.path().join("bad.toml").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("bad.toml line 5"), "{}", String::from_utf8_lossy(&r.stderr));
}

/// SIGKILL at some point of a run (after its ingest has started): the next run takes the
/// dead run's lock over and leaves every lot reported, with no half-written file.
#[test]
fn a_killed_run_is_completed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    for (i, seed) in [51u64, 52, 53].into_iter().enumerate() {
        gen_into(&inbox.join(format!("ws{i}")), Profile::AutoIcWs, seed);
    }
    let cfg = dir.path().join("ops.toml");
    std::fs::write(
        &cfg,
        "format = \"yieldlake-nightly/1\"\nlake = \"lake\"\nout = \"reports\"\n[[inbox]]\ndir = \"inbox\"\npattern = \"*.stdf\"\n",
    )
    .unwrap();
    let out = dir.path().join("reports");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("yieldlake"))
        .args(["nightly", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the lake has its manifest (the ingest is under way).
    let t = std::time::Instant::now();
    while !dir.path().join("lake/_manifest").exists() && t.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let reported_before = out.join("lots").read_dir().map(|d| d.count()).unwrap_or(0);
    let r = yl(&["nightly", "--config", cfg.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "after a kill ({reported_before} files reported): {}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    for lot in ["YL51-01", "YL52-01", "YL53-01"] {
        let j: Value = serde_json::from_slice(&std::fs::read(out.join(format!("lots/lot-{lot}.json"))).unwrap()).unwrap();
        assert_eq!(j["lot_id"], lot);
        assert!(out.join(format!("lots/lot-{lot}.html")).is_file());
    }
    let leftovers: Vec<_> =
        out.join("lots").read_dir().unwrap().flatten().filter(|e| e.path().to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // And the run after that has nothing to do.
    let r = yl(&["nightly", "--config", cfg.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&r.stdout).contains("no new files"));
}

/// Every file in `schemas/` is what `yieldlake schemas` writes now.
#[test]
fn schemas_dir_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    assert!(yl(&["schemas", "--out", dir.path().to_str().unwrap()]).status.success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut n = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(root.join(&name)).unwrap_or_default(),
            "schemas/{name} is stale: run `cargo run -- schemas`"
        );
        n += 1;
    }
    assert_eq!(n, std::fs::read_dir(&root).unwrap().count(), "schemas/ holds files the code does not generate");
}
