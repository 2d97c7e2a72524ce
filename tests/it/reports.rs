//! `report lot` on the sample data's wafer-sort lot: its yields equal the generator's
//! truth per wafer, its HTML holds a thumbnail per wafer and its provenance lists every
//! file of the lot with its sha256; the HTML is self-contained. Reports are deterministic
//! (byte-identical HTML, JSON and PDF for the same lake and settings; the generation time
//! is the only field that changes), and a PAT limits file's sha256 is in the provenance.

use std::path::Path;

use serde_json::Value;

fn yl(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(args).output().unwrap()
}

#[test]
fn report_lot_matches_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lake = dir.path().join("lake");
    let ws = root.join("sample-data/auto-ic-ws");
    let ft = root.join("sample-data/auto-ic-ft");
    assert!(yl(&["ingest", "--lake", lake.to_str().unwrap(), ws.to_str().unwrap(), ft.to_str().unwrap()]).status.success());
    let out = dir.path().join("report");
    let r = yl(&["report", "lot", "--lake", lake.to_str().unwrap(), "--lot", "YL2026-01", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: Value = serde_json::from_slice(&std::fs::read(out.join("lot-YL2026-01.json")).unwrap()).unwrap();
    assert_eq!(j["format"], "yieldlake-lot-report/1");
    // Its shape is the one `schemas/lot-report.json` is generated from (no field unknown).
    let typed: yieldlake::report::lot::LotReportJson = serde_json::from_value(j.clone()).expect("the documented shape");
    assert!(typed.sections.wafers.is_some_and(|w| !w.is_empty()) && typed.sections.pat_outliers.is_some());
    let html = std::fs::read_to_string(out.join("lot-YL2026-01.html")).unwrap();
    let s = &j["sections"];
    let mut wafers = 0;
    for f in crate::generate_walk(&ws) {
        if !f.to_string_lossy().ends_with(".truth.json") {
            continue;
        }
        let t: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let w = t["truth"]["wafer_id"].as_str().unwrap();
        let row = s["yields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["grp"].as_str().unwrap().ends_with(&format!("/{w}")))
            .expect("a yield row per wafer");
        assert_eq!(row["units"], t["truth"]["dies"], "{w}");
        assert!((row["final_yield"].as_f64().unwrap() - t["truth"]["true_yield"].as_f64().unwrap()).abs() < 1e-12, "{w}");
        assert!(html.contains(&format!("title=\"{w}\"")), "no thumbnail for {w}");
        wafers += 1;
    }
    assert_eq!(s["wafers"].as_array().unwrap().len(), wafers);
    // Provenance: every file of the lot, with its sha256.
    let files = s["files"].as_array().unwrap();
    let on_disk =
        crate::generate_walk(&ws).into_iter().chain(crate::generate_walk(&ft)).filter(|p| p.to_string_lossy().ends_with(".stdf")).count();
    assert_eq!(files.len(), on_disk);
    for f in files {
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
        assert!(html.contains(f["sha256"].as_str().unwrap()));
    }
    assert!(s["pat_yield_loss"].as_array().is_some_and(|v| !v.is_empty()));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"));
    // The JSON says the lot's final yield and lowest Cpk, from the library's tables.
    let lot_row = &s["lot_yield"];
    let fy = lot_row["final_yield"].as_f64().unwrap();
    assert!(html.contains(&format!("final yield {:.2} %", 100.0 * fy)));
    let cpks: Vec<f64> = s["capability"].as_array().unwrap().iter().filter_map(|r| r["cpk"].as_f64()).collect();
    let min = cpks.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(s["lowest_cpk"].as_f64(), Some(min));
    assert!(html.contains(&format!("Lowest Cpk: {min:.4}.")));
    // The lot's status is its worst SYL/SBL status, and the header says it.
    let rank = |st: &str| ["insufficient_history", "normal", "review", "hold"].iter().position(|x| *x == st).unwrap();
    let worst = s["syl"].as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).max_by_key(|st| rank(st));
    let want = match worst {
        Some("hold") => "HOLD",
        Some("review") => "REVIEW",
        Some("normal") => "NORMAL",
        _ => "NOT JUDGED",
    };
    assert_eq!(j["status"], want);
    assert!(html.contains("id=\"lot-status\"") && html.contains(&format!(">{want}</td>")));
    // A lot that is not there: status 1 and a message.
    let r = yl(&["report", "lot", "--lake", lake.to_str().unwrap(), "--lot", "NOPE", "--out", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NOPE"));
}

#[test]
fn reports_are_deterministic_and_record_the_limits_file() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lake = dir.path().join("lake");
    let l = lake.to_str().unwrap();
    let ws = root.join("sample-data/auto-ic-ws");
    let ft = root.join("sample-data/auto-ic-ft");
    let qr = root.join("sample-data/qual-readpoints");
    assert!(yl(&["ingest", "--lake", l, ws.to_str().unwrap(), ft.to_str().unwrap(), qr.to_str().unwrap()]).status.success());
    let at = "2026-11-30T12:00:00Z";
    let lot = |out: &Path, extra: &[&str]| {
        let mut a = vec!["report", "lot", "--lake", l, "--lot", "YL2026-01", "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        let r = yl(&a);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    };
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    lot(&a, &["--generated-at", at]);
    lot(&b, &["--generated-at", at]);
    lot(&c, &[]);
    let read = |d: &Path, ext: &str| std::fs::read(d.join(format!("lot-YL2026-01.{ext}"))).unwrap();
    for ext in ["html", "json"] {
        assert!(read(&a, ext) == read(&b, ext), "lot report .{ext} differs between two runs");
    }
    #[cfg(feature = "pdf")]
    {
        let pdf = read(&a, "pdf");
        assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000);
        assert!(pdf == read(&b, "pdf"), "lot report PDF differs between two runs");
    }
    // Without --generated-at only the generation time differs.
    let (ja, jc): (Value, Value) = (serde_json::from_slice(&read(&a, "json")).unwrap(), serde_json::from_slice(&read(&c, "json")).unwrap());
    let now = jc["generated_at"].as_str().unwrap().to_string();
    assert_ne!(now, at);
    let html_c = String::from_utf8(read(&c, "html")).unwrap().replace(&now, at);
    assert!(html_c.as_bytes() == read(&a, "html").as_slice());
    let mut jc2 = jc.clone();
    jc2["generated_at"] = Value::from(at);
    assert_eq!(ja, jc2);
    // The qualification report too.
    let plan = root.join("sample-data/qual-plan.toml");
    let qual = |out: &Path| {
        let r =
            yl(&["report", "qual", "--plan", plan.to_str().unwrap(), "--lake", l, "--out", out.to_str().unwrap(), "--generated-at", at]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    };
    let (qa, qb) = (dir.path().join("qa"), dir.path().join("qb"));
    qual(&qa);
    qual(&qb);
    #[allow(unused_mut)]
    let mut exts = vec!["html", "json"];
    #[cfg(feature = "pdf")]
    exts.push("pdf");
    for ext in exts {
        let f = format!("qual-SIC1200-Q101-SAMPLE.{ext}");
        assert!(std::fs::read(qa.join(&f)).unwrap() == std::fs::read(qb.join(&f)).unwrap(), "{f} differs between two runs");
    }
    // A static PAT limits file: its path and sha256 in the provenance, its limits applied.
    let lf = dir.path().join("limits.toml");
    let r = yl(&["pat", "limits", "--lake", l, "--product", "YL-AMS2400", "--creator", "ci", "--force", "--out", lf.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let sha: String = sha2::Sha256::digest(std::fs::read(&lf).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    let d = dir.path().join("d");
    lot(&d, &["--pat-limits", lf.to_str().unwrap()]);
    let j: Value = serde_json::from_slice(&read(&d, "json")).unwrap();
    assert_eq!(j["sections"]["pat_limits_file"]["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(j["sections"]["pat_limits_file"]["path"].as_str(), lf.to_str());
    assert!(String::from_utf8(read(&d, "html")).unwrap().contains(&sha));
    // A limits file that is not one: status 1, named.
    std::fs::write(&lf, "format = 3\n").unwrap();
    let r = yl(&["report", "lot", "--lake", l, "--lot", "YL2026-01", "--out", d.to_str().unwrap(), "--pat-limits", lf.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("limits.toml"));
}
