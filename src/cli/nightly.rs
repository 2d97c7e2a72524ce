//! `yieldlake nightly --config ops.toml`: the operator's scheduled run. Ingests the inbox
//! files that are new or changed since the last run, regenerates the reports of the lots
//! they touched (and of the qualification plans over those lots), updates `index.html`
//! and writes a run summary. One run at a time; the exit code tells the scheduler what
//! happened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use yieldlake::job::{self, IngestConfig, Outcome};
use yieldlake::lake::{Lake, Manifest};
use yieldlake::report::files::write_atomic;
use yieldlake::report::svg::esc;

use super::answers::file_safe;
use super::output::outln;

pub const FORMAT: &str = "yieldlake-nightly/1";

/// The nightly configuration (schema: `schemas/nightly.json`; example:
/// `contrib/nightly/ops.toml`). Relative paths are relative to the config file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Must be "yieldlake-nightly/1".
    pub format: String,
    /// The lake (created on the first run).
    pub lake: PathBuf,
    /// Where reports, `index.html`, the run summary and the run state go.
    pub out: PathBuf,
    /// Directories searched (recursively) for files whose name matches the pattern.
    pub inbox: Vec<Inbox>,
    /// Seconds a run waits for another run to finish before giving up.
    #[serde(default = "default_wait")]
    pub lock_wait_s: f64,
    #[serde(default)]
    pub reports: Reports,
    /// PAT in the lot reports: dynamic limits, plus static limits when a file is named.
    #[serde(default)]
    pub pat: PatSettings,
    /// SYL/SBL (AEC-Q002) in the lot reports and the index's lot status.
    #[serde(default)]
    pub syl: SylSettings,
    #[serde(default)]
    pub retention: Retention,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatSettings {
    /// Limits are centre ± k robust sigma (AEC-Q001: 6).
    #[serde(default = "default_k")]
    pub k: f64,
    /// A static limits file written by `yieldlake pat limits`; its sha256 goes in each
    /// lot report's provenance.
    #[serde(default)]
    pub limits: Option<PathBuf>,
}

impl Default for PatSettings {
    fn default() -> Self {
        PatSettings { k: default_k(), limits: None }
    }
}

fn default_k() -> f64 {
    yieldlake::analysis::pat::PatConfig::default().k
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SylSettings {
    /// The most recent earlier lots the limits come from.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Fewer earlier lots than this: no limits (status "insufficient_history").
    #[serde(default = "default_min_lots")]
    pub min_lots: usize,
}

impl Default for SylSettings {
    fn default() -> Self {
        SylSettings { window: default_window(), min_lots: default_min_lots() }
    }
}

fn default_window() -> usize {
    yieldlake::analysis::syl::SylConfig::default().window
}

fn default_min_lots() -> usize {
    yieldlake::analysis::syl::SylConfig::default().min_lots
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Run summaries kept in `runs/` (the newest; `nightly-summary.json` is always the last).
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
    /// Reports not rebuilt for this many days are deleted (and leave the index); 0 keeps
    /// every report.
    #[serde(default)]
    pub report_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep_runs: default_keep_runs(), report_days: 0 }
    }
}

fn default_keep_runs() -> usize {
    30
}

fn default_wait() -> f64 {
    600.0
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    pub dir: PathBuf,
    /// A file-name glob, e.g. "*.stdf*" (default: every file).
    #[serde(default = "default_pattern")]
    pub pattern: String,
}

fn default_pattern() -> String {
    "*".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// Lot reports only for these products (MIR PART_TYP); every product when empty.
    #[serde(default)]
    pub products: Vec<String>,
    /// Qualification plans whose report is rebuilt when a file of one of their lots arrives.
    #[serde(default)]
    pub plans: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct NightlyArgs {
    #[arg(long)]
    config: PathBuf,
}

/// The run lock of an output directory, waited for up to `wait`.
struct RunLock(PathBuf);

impl RunLock {
    fn acquire(out: &Path, wait: Duration) -> Result<RunLock> {
        let path = out.join(".nightly.lock");
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(RunLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default().trim().parse::<u32>().ok();
                    if !pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                        // Left by a run that was killed.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() >= wait {
                        anyhow::bail!(
                            "another nightly run (process {}) holds {} and did not finish within {:.0} s; this run did nothing",
                            pid.unwrap_or(0),
                            path.display(),
                            wait.as_secs_f64()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the last run saw of each inbox file: size and modification time (ns).
type State = BTreeMap<String, (u64, u128)>;

fn stamp(p: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.len(), m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()))
}

fn walk(dir: &Path, pat: &glob::Pattern, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, pat, out);
        } else if p.file_name().is_some_and(|n| pat.matches(&n.to_string_lossy())) {
            out.push(p);
        }
    }
}

pub fn run(a: NightlyArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("reading {}", a.config.display()))?;
    let mut cfg: OpsConfig = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            eprintln!("error: {} line {}: {}", a.config.display(), line.map(|l| l.to_string()).unwrap_or("?".into()), e.message());
            return Ok(ExitCode::from(1));
        }
    };
    if cfg.format != FORMAT {
        eprintln!("error: {}: format is {:?}; this version reads {FORMAT:?}", a.config.display(), cfg.format);
        return Ok(ExitCode::from(1));
    }
    let base = a.config.parent().map(Path::to_path_buf).unwrap_or_default();
    let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    cfg.lake = abs(&cfg.lake);
    cfg.out = abs(&cfg.out);
    if !(cfg.pat.k.is_finite() && cfg.pat.k > 0.0) || cfg.syl.window == 0 {
        eprintln!("error: {}: pat.k must be a positive number and syl.window at least 1", a.config.display());
        return Ok(ExitCode::from(1));
    }
    let limits = match &cfg.pat.limits {
        Some(p) => match super::pat::read_limits(&abs(p))? {
            Ok((f, sha)) => Some((f, abs(p).display().to_string(), sha)),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let pat_cfg = yieldlake::analysis::pat::PatConfig { k: cfg.pat.k, ..Default::default() };
    let syl_cfg = yieldlake::analysis::syl::SylConfig { window: cfg.syl.window, min_lots: cfg.syl.min_lots, ..Default::default() };
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let started = super::pat::now_rfc3339();
    let _lock = match RunLock::acquire(&cfg.out, Duration::from_secs_f64(cfg.lock_wait_s.max(0.0))) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    // Half-written reports of a run that was killed (ours hold the lock, so none is live).
    for sub in ["lots", "qual", "runs", "."] {
        if let Ok(rd) = std::fs::read_dir(cfg.out.join(sub)) {
            for e in rd.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // 1. New or changed inbox files.
    let state_path = cfg.out.join("nightly-state.json");
    let mut state: State = std::fs::read(&state_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let mut files = Vec::new();
    for i in &cfg.inbox {
        let pat = glob::Pattern::new(&i.pattern).with_context(|| format!("inbox pattern {:?}", i.pattern))?;
        walk(&abs(&i.dir), &pat, &mut files);
    }
    files.sort();
    let new: Vec<PathBuf> =
        files.into_iter().filter(|p| stamp(p).is_some_and(|s| state.get(&p.display().to_string()) != Some(&s))).collect();
    let summary_path = cfg.out.join("nightly-summary.json");
    if new.is_empty() {
        let summary = serde_json::json!({"format": "yieldlake-nightly-summary/1", "started": started, "new_files": 0, "lots": [], "reports": [], "quarantined": [], "hold": []});
        write_atomic(&summary_path, (serde_json::to_string_pretty(&summary)? + "\n").as_bytes())?;
        outln!("nightly: no new files; nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    // 2. Ingest them.
    let lk = Lake::open_for_write(&cfg.lake).with_context(|| format!("opening the lake {}", cfg.lake.display()))?;
    let rep = job::ingest(&lk, &new, &IngestConfig::default(), &|_, _| {});
    drop(lk);
    let mut ids = BTreeSet::new();
    let mut quarantined = Vec::new();
    for o in &rep.outcomes {
        match o {
            Outcome::Ingested { file_id, .. } => {
                ids.insert(file_id.clone());
            }
            Outcome::Quarantined { path, error } => quarantined.push(serde_json::json!({"path": path, "error": error})),
            // Already in the lake but new to the state: a run killed after its ingest.
            // Their lots' reports may be missing, so they are rebuilt too.
            Outcome::Unchanged { file_id, .. } => {
                ids.insert(file_id.clone());
            }
        }
    }
    // 3. The lots those files touched, and their reports.
    let q: Vec<(String, String)> = Manifest::load(&cfg.lake)
        .map(|m| m.quarantine.iter().map(|q| (q.source_path.clone(), q.error.clone())).collect())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (lots, reports, hold) = rt.block_on(async {
        let ctx = yieldlake::query::session(&cfg.lake, &super::sql::EngineArgs::default().config()).await?;
        let mut lots: Vec<(String, String)> = Vec::new();
        if !ids.is_empty() {
            let list = ids.iter().map(|i| yieldlake::query::answers::lit(i)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT DISTINCT lot_id, coalesce(nullif(part_type, ''), product, '') FROM files WHERE file_id IN ({list}) ORDER BY 1"
            );
            for b in ctx.sql(&sql).await?.collect().await? {
                use arrow::array::AsArray;
                let (l, p) = (
                    arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?,
                    arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8)?,
                );
                for i in 0..b.num_rows() {
                    lots.push((l.as_string::<i32>().value(i).to_string(), p.as_string::<i32>().value(i).to_string()));
                }
            }
        }
        let at = super::pat::now_rfc3339();
        let lot_dir = cfg.out.join("lots");
        std::fs::create_dir_all(&lot_dir)?;
        let mut reports = Vec::new();
        let mut hold = Vec::new();
        for (lot, product) in &lots {
            if !cfg.reports.products.is_empty() && !cfg.reports.products.contains(product) {
                continue;
            }
            let inp = yieldlake::report::lot::LotInputs {
                lot,
                quarantined: &q,
                generated_at: &at,
                pat: &pat_cfg,
                limits: limits.as_ref().map(|(f, p, h)| (f, p.as_str(), h.as_str())),
                syl: &syl_cfg,
            };
            let r = yieldlake::report::lot::lot_report(&ctx, &inp).await?;
            let w = yieldlake::report::files::write(&lot_dir.join(format!("lot-{}", file_safe(lot))), &r.doc, &r.json)?;
            if r.json["sections"]["syl"].as_array().is_some_and(|v| v.iter().any(|s| s["status"] == "hold")) {
                hold.push(lot.clone());
            }
            reports.push(w.html.display().to_string());
        }
        let qual_dir = cfg.out.join("qual");
        for p in &cfg.reports.plans {
            let p = abs(p);
            let text = std::fs::read_to_string(&p).with_context(|| format!("reading the plan {}", p.display()))?;
            let plan = yieldlake::analysis::qual::plan::parse_plan(&text, &p.display().to_string())?;
            if !plan.lots.iter().any(|l| lots.iter().any(|(t, _)| t == l)) {
                continue;
            }
            let profile = yieldlake::query::qual::load_profile(&plan.profile, p.parent().unwrap_or(Path::new(".")))?;
            let e = yieldlake::query::qual::qual(&ctx, &plan, &text, &p, &profile).await?;
            std::fs::create_dir_all(&qual_dir)?;
            let w = yieldlake::report::files::write(
                &qual_dir.join(format!("qual-{}", file_safe(&e.id))),
                &yieldlake::report::qual::doc(&e, &at),
                &yieldlake::report::qual::json(&e, &at),
            )?;
            reports.push(w.html.display().to_string());
        }
        anyhow::Ok((lots, reports, hold))
    })?;
    // 4. The index of every report, newest first (after retention removed the old ones).
    retain_reports(&cfg.out, &cfg.retention)?;
    write_index(&cfg.out)?;
    // 5. The run summary, then the state (a run killed before this point is redone).
    let summary = serde_json::json!({
        "format": "yieldlake-nightly-summary/1",
        "started": started,
        "finished": super::pat::now_rfc3339(),
        "new_files": new.len(),
        "ingested": rep.ingested,
        "unchanged": rep.unchanged,
        "quarantined": quarantined,
        "lots": lots.iter().map(|(l, p)| serde_json::json!({"lot_id": l, "product": p})).collect::<Vec<_>>(),
        "reports": reports,
        "hold": hold,
    });
    let text = serde_json::to_string_pretty(&summary)? + "\n";
    let runs = cfg.out.join("runs");
    std::fs::create_dir_all(&runs)?;
    write_atomic(&runs.join(format!("{}.json", started.replace(':', ""))), text.as_bytes())?;
    write_atomic(&summary_path, text.as_bytes())?;
    retain_runs(&cfg.out, &cfg.retention)?;
    for p in &new {
        if let Some(s) = stamp(p) {
            state.insert(p.display().to_string(), s);
        }
    }
    write_atomic(&state_path, serde_json::to_string(&state)?.as_bytes())?;
    outln!(
        "nightly: {} new files ({} ingested, {} unchanged, {} quarantined); {} lots touched; {} reports; {} on hold; index {}",
        new.len(),
        rep.ingested,
        rep.unchanged,
        quarantined.len(),
        lots.len(),
        reports.len(),
        hold.len(),
        cfg.out.join("index.html").display()
    );
    Ok(if !hold.is_empty() {
        ExitCode::from(4)
    } else if !quarantined.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Keeps the newest `keep_runs` run summaries.
fn retain_runs(out: &Path, r: &Retention) -> Result<()> {
    if let Ok(rd) = std::fs::read_dir(out.join("runs")) {
        // Named by start time, so name order is time order.
        let mut runs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        runs.sort();
        let extra = runs.len().saturating_sub(r.keep_runs.max(1));
        for p in &runs[..extra] {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

/// Deletes reports (HTML, PDF, JSON) not rebuilt within `report_days` (0: none).
fn retain_reports(out: &Path, r: &Retention) -> Result<()> {
    if r.report_days == 0 {
        return Ok(());
    }
    let max_age = Duration::from_secs(u64::from(r.report_days) * 86_400);
    for sub in ["lots", "qual"] {
        let Ok(rd) = std::fs::read_dir(out.join(sub)) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|a| a > max_age);
            if old && p.extension().is_some_and(|x| x == "json" || x == "html" || x == "pdf") {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    Ok(())
}

/// `index.html`: every report in the output directory, newest first, with each lot's
/// SYL status and each qualification's verdict, read from the reports' JSON.
fn write_index(out: &Path) -> Result<()> {
    let mut rows: Vec<(String, String, String, String, String)> = Vec::new();
    for (sub, kind) in [("lots", "lot"), ("qual", "qualification")] {
        let Ok(rd) = std::fs::read_dir(out.join(sub)) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Ok(j) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&p)?) else { continue };
            let at = j["generated_at"].as_str().unwrap_or("").to_string();
            let (name, status) = if kind == "lot" {
                let st: Vec<String> = j["sections"]["syl"]
                    .as_array()
                    .map(|v| v.iter().map(|s| s["status"].as_str().unwrap_or("").to_string()).collect())
                    .unwrap_or_default();
                (j["lot_id"].as_str().unwrap_or("").to_string(), if st.is_empty() { "not judged".to_string() } else { st.join(", ") })
            } else {
                (j["evaluation"]["id"].as_str().unwrap_or("").to_string(), j["evaluation"]["verdict"].as_str().unwrap_or("").to_string())
            };
            let href =
                format!("{sub}/{}", p.with_extension("html").file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default());
            rows.push((at, kind.to_string(), name, status, href));
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>yieldlake reports</title><style>body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em}\
         table{border-collapse:collapse}td,th{border:1px solid #999;padding:.25em .6em;text-align:left}th{background:#EEE}.hold{color:#B71C1C;font-weight:bold}.review{color:#E65100}</style></head>\
         <body><h1>Reports</h1><table id=\"reports\"><tr><th>Generated</th><th>Kind</th><th>Lot or qualification</th><th>Status</th></tr>",
    );
    for (at, kind, name, status, href) in &rows {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td class=\"{}\">{}</td></tr>",
            esc(at),
            kind,
            esc(href),
            esc(name),
            esc(&status.to_lowercase()),
            esc(status)
        ));
    }
    h.push_str("</table></body></html>\n");
    Ok(write_atomic(&out.join("index.html"), h.as_bytes())?)
}

/// The JSON Schema of the config, as kept in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(OpsConfig)).unwrap_or_default()
}
