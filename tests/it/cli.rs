//! The command line, run as a user runs it.

use assert_cmd::Command;
use yieldlake::stdf::ByteOrder;
use yieldlake::stdf::catalog::every_record_type;
use yieldlake::stdf::writer::encode_all;

fn bin() -> Command {
    Command::cargo_bin("yieldlake").unwrap()
}

#[test]
fn info_json_matches_expected_for_corpus() {
    let Some(files) = crate::common::corpus_files() else {
        return;
    };
    let paths: Vec<_> = files.iter().map(|f| f.1.clone()).collect();
    let out = bin().arg("info").arg("--json").args(&paths).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), files.len());
    for (line, (name, _, exp)) in lines.iter().zip(&files) {
        assert_eq!(line["parts"], exp["parts"], "{name}");
        assert_eq!(line["parts_pass"], exp["parts_pass"], "{name}");
        assert_eq!(line["records"], exp["records"], "{name}");
        let stage = line["stage"].as_str().unwrap();
        assert_eq!(stage == "wafer_sort", exp.get("wafers").is_some(), "{name}: stage {stage}");
    }
}

#[test]
fn info_reports_bad_files_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.stdf");
    std::fs::write(&good, encode_all(&every_record_type(), ByteOrder::Big).unwrap()).unwrap();
    let bad = dir.path().join("bad.stdf");
    std::fs::write(&bad, b"not an stdf file").unwrap();
    let out = bin().arg("info").arg(&bad).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("bad.stdf") && text.contains("not an STDF file"), "{text}");
    assert!(text.contains("big-endian") && text.contains("STDF V4-2007"), "{text}");
    assert!(text.contains("parts       1: 1 pass"), "{text}");
}

#[test]
fn dump_filters_types_and_reads_stdin() {
    let bytes = encode_all(&every_record_type(), ByteOrder::Little).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let out = bin().args(["dump", "-", "--type", "ptr,PRR", "--json"]).write_stdin(gz.finish().unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["rec"], "PTR");
    assert_eq!(lines[0]["fields"]["RESULT"], 1.25);
    assert_eq!(lines[0]["fields"]["TEST_TXT"], "IDDQ");
    assert_eq!(lines[1]["rec"], "PRR");
    assert_eq!(lines[1]["fields"]["Y_COORD"], -4);
    let text = bin().args(["dump", "-", "--type", "MIR"]).write_stdin(bytes).output().unwrap();
    let t = String::from_utf8(text.stdout).unwrap();
    assert!(t.starts_with("MIR: SETUP_T=1700000000") && t.contains("LOT_ID=LOT-Ä1"), "{t}");
}

/// The README's one-command demo runs end to end and agrees with its ground truth.
#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().current_dir(env!("CARGO_MANIFEST_DIR")).args(["demo", "--out"]).arg(dir.path().join("demo")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("byte-identical to the committed sample-data/"), "{text}");
    assert!(!text.contains("MISMATCH"), "{text}");
    assert!(text.contains("ingested 26 files") && text.contains("0 quarantined"), "{text}");
    assert!(text.contains("| YL2026-01-W01 |"), "{text}");
}

/// `yieldlake X | head` closes standard output early: the command ends quietly with
/// status 0, as other Unix tools do, never with a panic or an error message.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::BufRead;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/auto-ic-ws/YL2026-01_WS1_W01.stdf");
    let lake = dir.path().join("lake");
    let ok = bin().arg("ingest").arg(&sample).arg("--lake").arg(&lake).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let exe = assert_cmd::cargo::cargo_bin("yieldlake");
    let run = |args: &[&std::ffi::OsStr], lines: usize| {
        let mut child = std::process::Command::new(&exe).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Read as `head -n LINES` does, then close the pipe while the command still writes.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        for _ in 0..lines {
            let mut l = String::new();
            stdout.read_line(&mut l).unwrap();
            assert!(!l.is_empty());
        }
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    };
    // `dump` writes far more than a pipe holds; `tables`, `info` and `sql` find the pipe
    // closed before they write.
    run(&["dump".as_ref(), sample.as_os_str()], 1);
    run(&["dump".as_ref(), "--json".as_ref(), sample.as_os_str()], 3);
    run(&["tables".as_ref(), "--lake".as_ref(), lake.as_os_str()], 0);
    run(&["info".as_ref(), sample.as_os_str()], 0);
    run(&["sql".as_ref(), "SELECT * FROM results".as_ref(), "--format".as_ref(), "csv".as_ref(), "--lake".as_ref(), lake.as_os_str()], 1);
}

/// A quarantined file is reported once on a terminal-style run: in the report on stdout,
/// not again as a warning on stderr.
#[test]
fn quarantine_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.stdf");
    std::fs::write(&junk, b"this is not STDF").unwrap();
    let out = bin().arg("ingest").arg(&junk).arg("--lake").arg(dir.path().join("lake")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("not an STDF file").count(), 1, "{stdout}");
    assert!(stdout.contains("quarantined ") && stdout.contains("notes.stdf"), "{stdout}");
    assert!(!stderr.contains("notes.stdf") && !stderr.contains("not an STDF file"), "{stderr}");
    // With JSON logs (for log collectors) the outcome is logged, and the report still has it.
    let out = bin().args(["--log-format", "json", "ingest"]).arg(&junk).arg("--lake").arg(dir.path().join("lake2")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged: Vec<serde_json::Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(logged.iter().any(|l| l["fields"]["message"] == "quarantined" && l["level"] == "WARN"), "{stderr}");
}
