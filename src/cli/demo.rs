//! `demo`: the main job end to end on the bundled sample data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::output::outln;
use anyhow::{Context, Result};

use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::stdf::summary::summarize;
use yieldlake::stdf::{ByteOrder, Compression, StdfReader};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(files(&p));
            } else {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// PAT on the wafer-sort lot against the injected outliers, and SYL/SBL on a generated
/// 12-lot history against its abnormal lots.
async fn screens_steps(ctx: &datafusion::prelude::SessionContext, out: &Path, first: usize) -> Result<u32> {
    use std::collections::BTreeSet;
    use yieldlake::analysis::pat::{GdbnConfig, PatConfig};
    use yieldlake::analysis::syl::Status;
    use yieldlake::query::screens::{self, PatRequest};
    let lot = "YL2026-01";
    let mut mismatches = 0;
    outln!("\n{first}. outlier screens (yieldlake pat --lot {lot} --dynamic --gdbn), against the injected outliers:\n");
    let req = PatRequest {
        cfg: PatConfig::default(),
        dynamic: true,
        limits: None,
        gdbn: Some(GdbnConfig::default()),
        nnr: None,
        zpat: None,
        maps: false,
    };
    let run = screens::pat(ctx, lot, &req).await?;
    let rows = yieldlake::analysis::pat::json_lines(&run.outliers);
    let found: BTreeSet<(String, i64, i64, u64)> = rows
        .iter()
        .filter(|r| r["screen"] == "dynamic")
        .map(|r| {
            (
                r["wafer_id"].as_str().unwrap_or("").to_string(),
                r["x"].as_i64().unwrap_or(0),
                r["y"].as_i64().unwrap_or(0),
                r["test_num"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut truth = BTreeSet::new();
    for f in files(&out.join("auto-ic-ws")) {
        if f.to_string_lossy().ends_with(".truth.json") {
            let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&f)?)?;
            for o in t["truth"]["outliers"].as_array().into_iter().flatten() {
                truth.insert((
                    t["truth"]["wafer_id"].as_str().unwrap_or("").to_string(),
                    o["x"].as_i64().unwrap_or(0),
                    o["y"].as_i64().unwrap_or(0),
                    o["test_num"].as_u64().unwrap_or(0),
                ));
            }
        }
    }
    let hit = truth.intersection(&found).count();
    mismatches += (hit < truth.len()) as u32;
    let all = run.loss.last().expect("the lot row");
    outln!(
        "   dynamic PAT found {hit} of the {} injected outliers ({} other flags); GDBN flagged {} good dies; yield {:.2} % -> {:.2} % after screening{}",
        truth.len(),
        found.len() - hit,
        all.by_screen.get("gdbn").copied().unwrap_or(0),
        all.yield_before.unwrap_or(0.0),
        all.yield_after.unwrap_or(0.0),
        if hit < truth.len() { "  <-- MISMATCH" } else { "" }
    );

    let hist = out.join("history");
    let o = GenOptions {
        profile: Profile::AutoIcWs,
        out: hist.clone(),
        lots: 12,
        wafers: 2,
        seed: 3,
        scale: 0.2,
        order: ByteOrder::Little,
        compression: Compression::None,
        sites: None,
        tests: Some(6),
        history: true,
        qual_stresses: 5,
    };
    let rep = generate(&o, |_| {})?;
    let mut abnormal = BTreeSet::new();
    for g in &rep.files {
        let t: serde_json::Value = serde_json::from_slice(&std::fs::read(g.truth_path.as_ref().expect("sidecar"))?)?;
        if t["truth"].get("lot_anomaly").is_some() {
            abnormal.insert(t["lot_id"].as_str().unwrap_or("").to_string());
        }
    }
    let lake = out.join("history-lake");
    let lk = yieldlake::lake::Lake::open_for_write(&lake)?;
    yieldlake::job::ingest(
        &lk,
        &rep.files.iter().map(|g| g.path.clone()).collect::<Vec<_>>(),
        &yieldlake::job::IngestConfig::default(),
        &|_, _| {},
    );
    drop(lk);
    let hctx = yieldlake::query::session(&lake, &super::sql::EngineArgs::default().config()).await?;
    let v = screens::syl(&hctx, "YL-AMS2400", None, &Default::default()).await?;
    let flagged: BTreeSet<String> =
        v.iter().filter(|l| matches!(l.status, Status::Review | Status::Hold)).map(|l| l.lot_id.clone()).collect();
    mismatches += (flagged != abnormal) as u32;
    outln!(
        "\n{}. lot disposition (yieldlake syl --product YL-AMS2400) over a generated 12-lot history in {}:\n",
        first + 1,
        lake.display()
    );
    for l in v.iter().filter(|l| l.status != Status::InsufficientHistory) {
        let why: Vec<String> = l
            .reasons
            .iter()
            .map(|r| {
                format!("{}{} {:.2} vs {:.2}", r.limit, r.bin.map(|b| format!(" bin {b}")).unwrap_or_default(), r.value, r.limit_value)
            })
            .collect();
        outln!("   {} yield {:>6.2} %  SYL1 {:>6.2}  {:?} {}", l.lot_id, l.yield_pct, l.syl1.unwrap_or(f64::NAN), l.status, why.join("; "));
    }
    outln!(
        "   truth: abnormal lots {}; flagged {}{}",
        abnormal.iter().cloned().collect::<Vec<_>>().join(", "),
        flagged.iter().cloned().collect::<Vec<_>>().join(", "),
        if flagged == abnormal { "" } else { "  <-- MISMATCH" }
    );
    Ok(mismatches)
}

/// The sample qualification plan evaluated on the generated qual-readpoints lot: every
/// hard failure of the truth is found by its readpoint, and the results land in the lake.
/// The lake over Arrow Flight SQL on a loopback port, as a BI tool would see it: the bin
/// Pareto through the Rust Flight SQL client must equal the embedded engine's.
async fn serve_step(ctx: &datafusion::prelude::SessionContext, lake: &Path, n: usize) -> Result<u32> {
    use futures::TryStreamExt;
    let cfg = yieldlake::serve::ServeConfig {
        lake: lake.to_path_buf(),
        addr: "127.0.0.1:0".parse()?,
        tokens: None,
        allow_remote: false,
        tls: None,
        memory_limit: 1 << 30,
        max_concurrent: 2,
        max_prepared: 100,
        spill_dir: None,
        query: super::sql::EngineArgs::default().config(),
    };
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(yieldlake::serve::serve(
        cfg,
        move |a| {
            let _ = addr_tx.send(a);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = addr_rx.await.context("the Flight SQL server did not start")?;
    let sql = "SELECT lot_id, hard_bin, count(*) AS n FROM final_parts GROUP BY lot_id, hard_bin ORDER BY lot_id, n DESC, hard_bin";
    outln!("\n{n}. the same SQL over Arrow Flight SQL (yieldlake serve --lake {}), as BI tools and ADBC drivers connect:", lake.display());
    outln!("   {sql}\n   server on grpc://{addr}; the bin Pareto through the Rust Flight SQL client:\n");
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut client = arrow_flight::sql::client::FlightSqlServiceClient::new(channel);
    let info = client.execute(sql.to_string(), None).await?;
    let mut remote = Vec::new();
    for ep in info.endpoint {
        let ticket = ep.ticket.context("a Flight endpoint without a ticket")?;
        remote.extend(client.do_get(ticket).await?.try_collect::<Vec<_>>().await?);
    }
    let local = yieldlake::query::query(ctx, sql, false).await?.collect().await?;
    let text = |b: &[arrow::array::RecordBatch]| -> Result<String> {
        let plain: Vec<_> = b.iter().map(super::sql::plain).collect::<Result<_>>()?;
        Ok(arrow::util::pretty::pretty_format_batches(&plain)?.to_string())
    };
    let (r, l) = (text(&remote)?, text(&local)?);
    let shown: Vec<&str> = r.lines().take(8).collect();
    outln!("{}\n   ... {} rows", shown.join("\n"), remote.iter().map(|b| b.num_rows()).sum::<usize>());
    let _ = stop_tx.send(());
    server.await??;
    let mismatches = if r == l {
        outln!("   identical to the embedded engine's answer");
        0
    } else {
        outln!("   MISMATCH: Flight SQL and the embedded engine differ");
        1
    };
    #[cfg(feature = "cluster")]
    let mismatches = mismatches + cluster_step(lake, sql, &l).await?;
    Ok(mismatches)
}

/// The same SQL on Apache DataFusion Ballista: a scheduler and an executor (here in this
/// process, on loopback ports; `yieldlake-scheduler` and `yieldlake-executor` run them
/// as processes) and `sql --cluster` as the client.
#[cfg(feature = "cluster")]
async fn cluster_step(lake: &Path, sql: &str, local: &str) -> Result<u32> {
    use yieldlake::serve::cluster::{ExecutorSettings, SchedulerSettings, run_executor, run_scheduler};
    let port = |what: &str| -> Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0").with_context(|| format!("a free port for the {what}"))?.local_addr()?.port())
    };
    let sched = port("scheduler")?;
    let scheduler = tokio::spawn(run_scheduler(SchedulerSettings {
        bind_host: "127.0.0.1".into(),
        bind_port: sched,
        external_host: "127.0.0.1".into(),
        executor_timeout_seconds: 30,
    }));
    // The executor retries its registration until the scheduler listens.
    let executor = tokio::spawn(run_executor(ExecutorSettings {
        bind_host: "127.0.0.1".into(),
        external_host: "127.0.0.1".into(),
        bind_port: port("executor's Flight service")?,
        bind_grpc_port: port("executor's gRPC service")?,
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: sched,
        vcores: 2,
        work_dir: None,
        heartbeat_seconds: 5,
    }));
    let url = format!("df://127.0.0.1:{sched}");
    outln!("\n   and on an Apache DataFusion Ballista cluster (yieldlake sql --cluster {url}; scheduler and executor in-process here):");
    let cfg = super::sql::EngineArgs::default().config();
    let cfg = yieldlake::query::QueryConfig { cluster: Some(url), ..cfg };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Until the executor has registered, the scheduler has nowhere to run the query.
    let batches = loop {
        let ctx = yieldlake::query::session(lake, &cfg).await?;
        match yieldlake::query::query(&ctx, sql, false).await?.collect().await {
            Ok(b) => break b,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::info!("cluster not ready yet: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("the query on the Ballista cluster"),
        }
    };
    scheduler.abort();
    executor.abort();
    let plain: Vec<_> = batches.iter().map(super::sql::plain).collect::<Result<_>>()?;
    let text = arrow::util::pretty::pretty_format_batches(&plain)?.to_string();
    Ok(if text == local {
        outln!("   {} rows, identical to the embedded engine's answer", batches.iter().map(|b| b.num_rows()).sum::<usize>());
        0
    } else {
        outln!("   MISMATCH: the Ballista cluster and the embedded engine differ");
        1
    })
}

async fn qual_step(ctx: &datafusion::prelude::SessionContext, out: &Path, lake: &Path, n: usize) -> Result<u32> {
    use yieldlake::analysis::qual::{self, plan};
    let text = include_str!("../../sample-data/qual-plan.toml");
    let plan_path = out.join("qual-plan.toml");
    std::fs::write(&plan_path, text)?;
    let p = plan::parse_plan(text, "sample-data/qual-plan.toml")?;
    let profile = yieldlake::query::qual::load_profile(&p.profile, out)?;
    let e = yieldlake::query::qual::qual(ctx, &p, text, &plan_path, &profile).await?;
    yieldlake::lake::write_derived_qual(lake, "qual_results", &e.id, &qual::results_table(&e)?)?;
    yieldlake::lake::write_derived_qual(lake, "qual_drift", &e.id, &qual::drift_table(&e)?)?;
    outln!("\n{n}. qualification (yieldlake qual --plan sample-data/qual-plan.toml) against {}:\n", e.profile.name);
    let mut mismatches = 0;
    for s in &e.stresses {
        // Truth: each hard failure is first seen failed no later than the readpoint after it.
        let mut expected = 0;
        let mut found = 0;
        for f in files(&out.join("qual-readpoints")) {
            let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if !(name.contains(&format!("_{}_0000", s.name)) && name.ends_with(".truth.json") && name.contains("_00000")) {
                continue;
            }
            let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&f)?)?;
            for part in t["truth"]["stress"]["parts"].as_array().into_iter().flatten() {
                let Some(h) = part["hard_fail_readpoint"].as_f64() else { continue };
                expected += 1;
                found += s.failures.iter().any(|x| x.serial == part["serial"].as_str().unwrap_or("") && x.readpoint <= h) as u32;
            }
        }
        mismatches += (found != expected) as u32;
        outln!(
            "   {:<6} {:>6} {:<6} {:>3} units, {} failed, {} missing, p_U(60 %) {:>6.2} %, {}: {}{}",
            s.name,
            s.readpoints.last().copied().unwrap_or(0.0),
            s.unit.label(),
            s.units,
            s.failed,
            s.missing,
            100.0 * s.defect_rate.first().map(|d| d.upper).unwrap_or(f64::NAN),
            s.verdict.label(),
            if found == expected {
                format!("hard failures found {found} of {expected} (truth)")
            } else {
                format!("hard failures found {found} of {expected}  <-- MISMATCH")
            },
            s.weibull.as_ref().map(|w| format!("; Weibull beta {:.2}, eta {:.0}", w.beta, w.eta)).unwrap_or_default()
        );
    }
    for g in e.gaps.iter().filter(|g| g.kind == "missing_stress") {
        outln!("   gap: {}", g.detail);
    }
    outln!("   verdict: {} ({} gaps; the sample lot is 1 x 19 units where AEC-Q101 asks 3 x 77)", e.verdict.label(), e.gaps.len());
    let q = "SELECT stress, test_name, count(*) AS readings, round(max(abs(relative)) * 100, 1) AS max_drift_pct, sum(CASE WHEN flagged THEN 1 ELSE 0 END) AS flagged \
             FROM qual_drift WHERE rule = 'relative' GROUP BY stress, test_name ORDER BY stress, test_name";
    outln!("\n   drift across the qualification, from the lake (yieldlake sql):\n   {q}\n");
    let ctx2 = yieldlake::query::session(lake, &super::sql::EngineArgs::default().config()).await?;
    let b = yieldlake::query::query(&ctx2, q, false).await?.collect().await?;
    outln!("{}", arrow::util::pretty::pretty_format_batches(&b)?);
    let dir = out.join("report");
    std::fs::create_dir_all(&dir)?;
    let at = super::pat::now_rfc3339();
    let qual = yieldlake::report::files::write(
        &dir.join(format!("qual-{}", super::answers::file_safe(&e.id))),
        &yieldlake::report::qual::doc(&e, &at),
        &yieldlake::report::qual::json(&e, &at),
    )?;
    let lot = "YL2026-01";
    let inp = yieldlake::report::lot::LotInputs {
        lot,
        quarantined: &[],
        generated_at: &at,
        pat: &Default::default(),
        limits: None,
        syl: &Default::default(),
    };
    let r = yieldlake::report::lot::lot_report(ctx, &inp).await?;
    let lot_w = yieldlake::report::files::write(&dir.join(format!("lot-{lot}")), &r.doc, &r.json)?;
    let (html, lot_html) = (qual.html, lot_w.html);
    let pdfs = [qual.pdf, lot_w.pdf].into_iter().flatten().map(|p| p.display().to_string()).collect::<Vec<_>>();
    outln!(
        "\n{}. the reports (yieldlake report lot --lot {lot} and report qual --plan sample-data/qual-plan.toml, --lake {} --out {}):\n   {}\n   {}\n   {}\n   each with its JSON; open the HTML in a browser",
        n + 1,
        lake.display(),
        dir.display(),
        lot_html.display(),
        html.display(),
        if pdfs.is_empty() { "(no PDF: built without the `pdf` feature)".to_string() } else { pdfs.join("\n   ") }
    );
    Ok(mismatches)
}

/// Yield, site-to-site and wafer maps of the wafer-sort lot, each checked against truth.
async fn answers_steps(ctx: &datafusion::prelude::SessionContext, out: &Path, first: usize) -> Result<u32> {
    use arrow::array::AsArray;
    use yieldlake::query::answers::{self, BinKind, By};
    let lot = "YL2026-01";
    let mut mismatches = 0;
    outln!("\n{first}. yield of the wafer-sort lot (yieldlake yield --lot {lot} --by wafer), against the truth sidecars:\n");
    let y = answers::yields(ctx, By::Wafer, Some(lot)).await?;
    let t = &y.tables.yields;
    let grp = t.column_by_name("grp").unwrap().as_string::<i32>();
    let u = |c: &str| t.column_by_name(c).unwrap().as_primitive::<arrow::datatypes::UInt64Type>().clone();
    let f = |c: &str| t.column_by_name(c).unwrap().as_primitive::<arrow::datatypes::Float64Type>().clone();
    let (units, fp, fin, rec) = (u("units"), f("first_pass_yield"), f("final_yield"), u("recovered"));
    for i in 0..t.num_rows() {
        // The lot's final-test parts (the same lot id) sit outside any wafer.
        let Some((_, w)) = grp.value(i).split_once('/') else { continue };
        let truth_path = out.join("auto-ic-ws").join(format!("{lot}_WS1_W{}.truth.json", &w[w.len().saturating_sub(2)..]));
        let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth_path)?)?;
        let ok = truth["truth"]["dies"].as_u64() == Some(units.value(i))
            && (truth["truth"]["true_yield"].as_f64().unwrap_or(-1.0) - fin.value(i)).abs() < 1e-12;
        mismatches += (!ok) as u32;
        outln!(
            "   {w}: {} dies, first-pass yield {:.2} %, final yield {:.2} % (truth {:.2} %), {} recovered on retest{}",
            units.value(i),
            100.0 * fp.value(i),
            100.0 * fin.value(i),
            100.0 * truth["truth"]["true_yield"].as_f64().unwrap_or(0.0),
            rec.value(i),
            if ok { "" } else { "  <-- MISMATCH" }
        );
    }
    let bad = y.checks.column_by_name("agrees").unwrap().as_boolean().false_count();
    outln!("   tester summaries (WRR, HBR/SBR, PCR) vs PRRs: {} counts, {bad} disagree", y.checks.num_rows());
    outln!("\n   the same lot at final test, cold -> room -> hot (yieldlake yield --lot {lot} --by insertion):");
    let chain = answers::insertion_chain(ctx, Some(lot)).await?;
    outln!("{}", arrow::util::pretty::pretty_format_batches(&[chain])?);

    outln!("\n{}. site-to-site (yieldlake yield --by site): location shifts flagged after Benjamini-Hochberg:\n", first + 1);
    let s = answers::site_to_site(ctx, Some(lot), &Default::default()).await?;
    if let Some(i) = &s.independence {
        outln!("   site x pass/fail: {}, p = {:.3}", i.method, i.p_value);
    }
    let flagged = arrow::compute::filter_record_batch(&s.shifts, s.shifts.column_by_name("flagged").unwrap().as_boolean())?;
    outln!("{}", arrow::util::pretty::pretty_format_batches(&[flagged.project(&[0, 1, 2, 7, 9, 12])?])?);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("auto-ic-ws").join(format!("{lot}_WS1_W01.truth.json")))?)?;
    outln!("   truth: site {} offset on test {}", truth["truth"]["offset_site"], truth["truth"]["offset_test_num"]);

    let maps_dir = out.join("maps");
    std::fs::create_dir_all(&maps_dir)?;
    let maps = answers::wafer_maps(ctx, lot, None, BinKind::Hard, None).await?;
    for m in &maps {
        let (img, _) = yieldlake::report::wafermap::draw_wafer(m, yieldlake::report::wafermap::MapKind::Bins, "hard", None);
        let stem = maps_dir.join(format!("{}_{}", m.lot_id, m.wafer_id));
        std::fs::write(stem.with_extension("svg"), img.svg())?;
        std::fs::write(stem.with_extension("png"), img.png().map_err(anyhow::Error::msg)?)?;
        yieldlake::report::g85::write_g85(m, &Default::default(), std::fs::File::create(stem.with_extension("g85.xml"))?)?;
    }
    outln!(
        "\n{}. wafer maps (yieldlake wafermap --lot {lot}): {} wafers as SVG, PNG and SEMI G85 in {}",
        first + 2,
        maps.len(),
        maps_dir.display()
    );
    Ok(mismatches)
}

pub fn run(out: PathBuf) -> Result<ExitCode> {
    outln!(
        "yieldlake demo: generate -> verify against sample-data -> summarise -> dump -> ingest -> SQL -> yield, sites, wafer maps -> PAT, SYL/SBL -> qualification -> report\n"
    );
    // The same options as sample-data/REGENERATE.
    let o = GenOptions {
        profile: Profile::All,
        out: out.clone(),
        lots: 1,
        wafers: 2,
        seed: 2026,
        scale: 0.25,
        order: ByteOrder::Little,
        compression: Compression::None,
        sites: None,
        tests: None,
        history: false,
        qual_stresses: 5,
    };
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let rep = generate(&o, |_| {})?;
    outln!("1. generated {} STDF files ({:.1} MB) with ground truth in {}", rep.files.len(), rep.bytes as f64 / 1e6, out.display());

    let sample = Path::new("sample-data");
    if sample.is_dir() {
        let mut same = 0;
        let mut differ = Vec::new();
        for f in files(&out) {
            let rel = f.strip_prefix(&out).unwrap();
            match std::fs::read(sample.join(rel)) {
                Ok(b) if b == std::fs::read(&f)? => same += 1,
                _ => differ.push(rel.display().to_string()),
            }
        }
        if differ.is_empty() {
            outln!("2. byte-identical to the committed sample-data/ ({same} files)");
        } else {
            outln!("2. differs from sample-data/ in {} files, e.g. {}", differ.len(), differ[0]);
        }
    }

    outln!("3. summaries (yieldlake info), checked against each file's ground truth:\n");
    let mut mismatches = 0u32;
    for g in &rep.files {
        let s = summarize(StdfReader::open(&g.path)?, |_| {});
        let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(g.truth_path.as_ref().unwrap())?)?;
        let t = &truth["truth"];
        let (label, ok) = if let Some(dies) = t["dies"].as_u64() {
            let y = s.dies_final_pass as f64 / s.dies_tested.max(1) as f64;
            (
                format!(
                    "wafer {}: {} dies, yield {:.2} % (truth {:.2} %)",
                    t["wafer_id"].as_str().unwrap_or("?"),
                    s.dies_tested,
                    100.0 * y,
                    100.0 * t["true_yield"].as_f64().unwrap_or(0.0)
                ),
                dies == s.dies_tested && s.dies_final_pass == t["dies_final_pass"].as_u64().unwrap_or(0),
            )
        } else if let Some(ins) = t.get("insertion") {
            // Only failing parts are retested, so passing PRRs count the parts that pass
            // on their final touch.
            let final_pass = ins["final_pass"].as_u64().unwrap_or(0);
            (
                format!(
                    "{} insertion at {} C: {} PRRs, {} pass (truth {} PRRs, {final_pass} pass)",
                    ins["insertion"].as_str().unwrap_or("?"),
                    ins["temperature_c"],
                    s.parts,
                    s.parts_pass,
                    ins["prr_records"]
                ),
                s.parts == ins["prr_records"].as_u64().unwrap_or(0) && s.parts_pass == final_pass,
            )
        } else if let Some(st) = t.get("stress") {
            // Hard failures carry bin 9 from the readpoint that first sees them on.
            let rp = t["readpoint"].as_u64().unwrap_or(0);
            let parts = st["parts"].as_array().map_or(&[][..], |a| a.as_slice());
            let dead = parts.iter().filter(|p| p["hard_fail_readpoint"].as_u64().is_some_and(|h| rp >= h)).count() as u64;
            let bin9 = s.hard_bins.get(&9).copied().unwrap_or(0);
            (
                format!(
                    "{} readpoint {} {}: {} parts, {} failed hard (truth {}, {dead})",
                    st["stress"].as_str().unwrap_or("?"),
                    t["readpoint"],
                    st["unit"].as_str().unwrap_or(""),
                    s.parts,
                    bin9,
                    parts.len()
                ),
                s.parts == parts.len() as u64 && bin9 == dead,
            )
        } else {
            let final_pass = t["final_pass"].as_u64().unwrap_or(0);
            (format!("{} parts, {} pass (truth {final_pass} pass)", s.parts, s.parts_pass), s.parts_pass == final_pass)
        };
        mismatches += (!ok) as u32;
        outln!(
            "   {:<34} {:<10} {:>7} records  {}{}",
            g.path.file_name().unwrap().to_string_lossy(),
            s.stage.as_str(),
            s.total_records,
            label,
            if ok { "" } else { "  <-- MISMATCH" }
        );
    }
    let ws = rep.files.iter().find(|g| g.path.to_string_lossy().contains("auto-ic-ws")).unwrap();
    outln!("\n4. the first PTRs of {} (yieldlake dump --type PTR --limit 3):\n", ws.path.display());
    super::dump::dump(&ws.path, &["PTR".to_string()], false, Some(3))?;

    let lake = out.join("lake");
    let inputs: Vec<PathBuf> = rep.files.iter().map(|g| g.path.clone()).collect();
    let lk = yieldlake::lake::Lake::open_for_write(&lake)?;
    let ir = yieldlake::job::ingest(&lk, &inputs, &yieldlake::job::IngestConfig::default(), &|_, _| {});
    drop(lk);
    outln!(
        "\n5. ingested {} files into the Parquet lake {} ({} quarantined, {:.2} s)",
        ir.ingested,
        lake.display(),
        ir.quarantined,
        ir.seconds
    );
    let queries = [
        (
            "yield per wafer (yieldlake sql over the final_parts view)",
            "SELECT wafer_id, count(*) AS dies, sum(CASE WHEN passed THEN 1 ELSE 0 END) AS pass, round(100.0 * avg(CASE WHEN passed THEN 1.0 ELSE 0.0 END), 2) AS yield_pct FROM final_parts WHERE wafer_id IS NOT NULL GROUP BY wafer_id ORDER BY wafer_id",
        ),
        (
            "hard-bin Pareto of the wafer-sort lot",
            "SELECT hard_bin, count(*) AS dies FROM final_parts p JOIN files f ON p.file_id = f.file_id WHERE f.stage = 'wafer_sort' AND f.lot_id = 'YL2026-01' GROUP BY hard_bin ORDER BY dies DESC",
        ),
        (
            "Cpk of three tests on wafer 1 (results_final view, cpk and robust_sigma functions)",
            "SELECT test_name, count(*) AS n, round(avg(result), 9) AS mean, round(robust_sigma(result), 9) AS robust_sigma, round(cpk(avg(result), stddev(result), min(lo_limit), max(hi_limit)), 2) AS cpk FROM results_final WHERE wafer_id = 'YL2026-01-W01' AND test_num IN (1000, 1020, 1050) GROUP BY test_name ORDER BY test_name",
        ),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let ctx = yieldlake::query::session(&lake, &super::sql::EngineArgs::default().config()).await?;
        for (i, (title, q)) in queries.iter().enumerate() {
            outln!("\n{}. {title}:\n   {q}\n", 6 + i);
            let batches = yieldlake::query::query(&ctx, q, false).await?.collect().await?;
            outln!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
        }
        mismatches += answers_steps(&ctx, &out, 6 + queries.len()).await?;
        mismatches += screens_steps(&ctx, &out, 9 + queries.len()).await?;
        mismatches += serve_step(&ctx, &lake, 11 + queries.len()).await?;
        mismatches += qual_step(&ctx, &out, &lake, 12 + queries.len()).await?;
        anyhow::Ok(())
    })?;
    outln!(
        "\nNext: yieldlake sql --lake {} (a prompt), yieldlake tables --lake {}, yieldlake info {}/auto-ic-ws/*.stdf",
        lake.display(),
        lake.display(),
        out.display()
    );
    Ok(if mismatches == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
