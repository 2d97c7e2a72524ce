//! `report lot` on the sample data's wafer-sort lot: its yields equal the generator's
//! truth per wafer, its HTML holds a thumbnail per wafer and its provenance lists every
//! file of the lot with its sha256; the HTML is self-contained.

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
    // A lot that is not there: status 1 and a message.
    let r = yl(&["report", "lot", "--lake", lake.to_str().unwrap(), "--lot", "NOPE", "--out", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NOPE"));
}
