//! The Parquet lake: layout, manifest, lock, quarantine and ingest.
//!
//! Layout (hive-style, one directory key):
//!
//! ```text
//! lake/<table>/lot=<escaped lot id>/<file_id>.parquet
//! lake/_manifest/<seq>-<file_id>.json       one entry per committed file version
//! lake/_quarantine/<seq>-<sha16>.json       files that failed, with their error
//! lake/_staging/                            in-flight files (never read)
//! lake/_lock                                the single writer's pid
//! ```
//!
//! The directory key is `lot`, not `lot_id`: lot ids come from strangers' files, so the
//! directory holds an escaped form (see [`escape_lot`]) while every file carries the raw
//! `lot_id` column. Readers that glob the tree see both without a name clash.
//!
//! A file version becomes visible when its manifest entry is renamed into place, after
//! all its Parquet files: that rename is the commit. Our catalog reads only committed
//! files; a crash leaves at most unreferenced files, which the next writer removes before
//! it starts.

pub mod catalog;
pub mod group_by;
mod parquet_out;
mod results_final;
pub mod rows;
pub mod schema;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::record_batch::RecordBatch;
use parquet::basic::Compression as PqCompression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ingest::digest::{FileDigest, StreamHash, hex, sha256_file};
use crate::ingest::{BatchSink, FileMeta, IngestError, ingest_file};
use crate::stdf::StdfReader;
use schema::{Table, Ty};

/// Escapes a lot id into a directory name that cannot leave the lake or collide:
/// ASCII letters, digits and `-` stay; every other byte (including `.`, `/`, `_`, NUL)
/// becomes `%XX`; the empty id is `_` (which no escaped id can be); names longer than
/// 120 characters keep a prefix and gain `~` and a hash (which no short name contains).
pub fn escape_lot(lot: &str) -> String {
    if lot.is_empty() {
        return "_".into();
    }
    let mut s = String::with_capacity(lot.len());
    for b in lot.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.len() > 120 {
        let mut cut = 80;
        while s.as_bytes()[cut - 1] == b'%' || s.as_bytes()[cut - 2] == b'%' {
            cut -= 1;
        }
        let h = hex(&Sha256::digest(lot.as_bytes())[..8]);
        s = format!("{}~{h}", &s[..cut]);
    }
    s
}

/// One committed file version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub seq: u64,
    pub file_id: String,
    pub source_path: String,
    pub sha256: String,
    pub size: u64,
    pub lot_id: String,
    pub lot_dir: String,
    pub ingested_at: i64,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
    /// Parquet files, relative to the lake root.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub seq: u64,
    pub source_path: String,
    pub sha256: String,
    pub error: String,
    pub at: i64,
}

/// What `ingest` did with one input.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Ingested {
        path: String,
        file_id: String,
        rows: BTreeMap<String, u64>,
        replaced: Option<String>,
        /// Parts that waited on disk because the file had more than the memory budget.
        spilled_parts: u64,
    },
    Unchanged {
        path: String,
        file_id: String,
    },
    Quarantined {
        path: String,
        error: String,
    },
}

/// The lake's committed state, read from the manifest directory.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    /// Live entries: the newest per source path.
    pub live: Vec<ManifestEntry>,
    /// Entries superseded by a newer version of the same path.
    pub superseded: Vec<ManifestEntry>,
    pub quarantine: Vec<QuarantineEntry>,
    pub max_seq: u64,
}

impl Manifest {
    pub fn load(lake: &Path) -> io::Result<Manifest> {
        let mut all: Vec<ManifestEntry> = Vec::new();
        let mut m = Manifest::default();
        for (dir, is_q) in [("_manifest", false), ("_quarantine", true)] {
            let d = lake.join(dir);
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd {
                let p = e?.path();
                if p.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let text = fs::read(&p)?;
                if is_q {
                    if let Ok(q) = serde_json::from_slice::<QuarantineEntry>(&text) {
                        m.max_seq = m.max_seq.max(q.seq);
                        m.quarantine.push(q);
                    }
                } else {
                    let e: ManifestEntry = serde_json::from_slice(&text)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))?;
                    m.max_seq = m.max_seq.max(e.seq);
                    all.push(e);
                }
            }
        }
        all.sort_by_key(|e| e.seq);
        let mut newest: HashMap<String, usize> = HashMap::new();
        for (i, e) in all.iter().enumerate() {
            newest.insert(e.source_path.clone(), i);
        }
        for (i, e) in all.into_iter().enumerate() {
            if newest.get(&e.source_path) == Some(&i) {
                m.live.push(e);
            } else {
                m.superseded.push(e);
            }
        }
        m.quarantine.sort_by_key(|q| q.seq);
        Ok(m)
    }

    /// Committed Parquet files of a table, relative to the lake root.
    pub fn table_files(&self, table: &str) -> Vec<String> {
        let prefix = format!("{table}/");
        let mut v: Vec<String> = self.live.iter().flat_map(|e| e.files.iter().filter(|f| f.starts_with(&prefix)).cloned()).collect();
        v.sort();
        v.dedup();
        v
    }
    pub fn rows(&self, table: &str) -> u64 {
        self.live.iter().map(|e| e.rows.get(table).copied().unwrap_or(0)).sum()
    }
}

/// The writer's exclusive lock. Readers never take it. A lock left by a killed writer
/// (its pid no longer runs) is taken over.
pub struct LakeLock {
    path: PathBuf,
}

impl LakeLock {
    pub fn acquire(lake: &Path) -> io::Result<LakeLock> {
        fs::create_dir_all(lake)?;
        let path = lake.join("_lock");
        for _ in 0..3 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    f.sync_all()?;
                    return Ok(LakeLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(&path).unwrap_or_default().trim().parse::<u32>().ok();
                    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists() && p != std::process::id());
                    if alive {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "the lake {} is being written by process {} (lock file {})",
                                lake.display(),
                                pid.unwrap(),
                                path.display()
                            ),
                        ));
                    }
                    // Stale: its writer is gone.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("could not take the lock {}", path.display())))
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes a file's tables into a staging directory.
///
/// Parquet encoding runs on its own thread, fed through a short bounded queue: with the
/// reader thread in front of the assembler (decode, resolve, build rows), one file keeps
/// two cores busy while memory stays at a few batches.
struct StagingSink {
    /// The file's staging directory: its Parquet files and, for huge files, spilled parts.
    dir: PathBuf,
    spill_parts: usize,
    lot_dir: String,
    lot_id: String,
    tx: Option<std::sync::mpsc::SyncSender<(&'static Table, RecordBatch)>>,
    encoder: Option<std::thread::JoinHandle<io::Result<Vec<&'static str>>>>,
    /// The file id that replaces `placeholder` when the files are closed.
    file_id: Arc<OnceLock<String>>,
}

impl StagingSink {
    /// `placeholder`: the file id written into the batches, when the real one is not known
    /// yet; [`StagingSink::finish`] is then given the real one.
    fn new(dir: PathBuf, spill_parts: usize, placeholder: Option<String>) -> StagingSink {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(&'static Table, RecordBatch)>(2);
        let staging = dir.clone();
        let file_id = Arc::new(OnceLock::new());
        let final_id = file_id.clone();
        let encoder = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || -> io::Result<Vec<&'static str>> {
                let mut writers: BTreeMap<&'static str, parquet_out::TableWriter> = BTreeMap::new();
                for (table, batch) in rx {
                    let w = match writers.entry(table.name) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            let f = fs::File::create(dir.join(format!("{}.parquet", table.name)))?;
                            let patch = placeholder.as_deref().map(|p| ("file_id", p));
                            e.insert(parquet_out::TableWriter::try_new(f, table, props(table), patch).map_err(io::Error::other)?)
                        }
                    };
                    w.write(&batch).map_err(|e| io::Error::other(format!("writing {}: {e}", table.name)))?;
                }
                // Close every file and make it durable before the caller commits.
                let mut done = Vec::new();
                for (t, w) in writers {
                    w.close(final_id.get().map(String::as_str))
                        .map_err(io::Error::other)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| io::Error::other(format!("writing {t}: {e}")))?;
                    done.push(t);
                }
                Ok(done)
            })
            .expect("spawn the Parquet encoder thread");
        StagingSink {
            dir: staging,
            spill_parts,
            lot_dir: String::new(),
            lot_id: String::new(),
            tx: Some(tx),
            encoder: Some(encoder),
            file_id,
        }
    }

    /// Closes the files, with the file id in place of the placeholder; returns the tables
    /// written, or the encoder's error.
    fn finish(&mut self, file_id: Option<&str>) -> io::Result<Vec<&'static str>> {
        if let Some(id) = file_id {
            let _ = self.file_id.set(id.to_string());
        }
        self.tx = None;
        match self.encoder.take() {
            Some(h) => h.join().unwrap_or_else(|_| Err(io::Error::other("the Parquet encoder thread panicked"))),
            None => Ok(Vec::new()),
        }
    }
}

impl Drop for StagingSink {
    fn drop(&mut self) {
        let _ = self.finish(None);
    }
}

fn props(table: &Table) -> WriterProperties {
    // Snappy decodes fastest of the widely readable codecs; large row groups for the big
    // scan table, with row-group statistics on numbers so that filters on test_num and
    // part_seq prune.
    let rg = if table.name == "results" { 1 << 20 } else { 1 << 17 };
    let mut b = WriterProperties::builder()
        .set_compression(PqCompression::SNAPPY)
        .set_max_row_group_row_count(Some(rg))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("yieldlake {}", env!("CARGO_PKG_VERSION")));
    for c in table.cols {
        let path = || parquet::schema::types::ColumnPath::from(c.name);
        match c.ty {
            // Numbers are written plain: a dictionary costs a hash per value while writing
            // and a gather per value while reading, and Snappy takes most of what it saves.
            // Strings that are (nearly) unique per row: a dictionary would only be discarded.
            Ty::Str if matches!(c.name, "part_id" | "touch_key" | "fields" | "source_path" | "sha256") => {
                b = b.set_column_dictionary_enabled(path(), false)
            }
            Ty::Dict | Ty::Str => {}
            _ => b = b.set_column_dictionary_enabled(path(), false),
        }
        // Min/max of a repeated string is a per-row string comparison that prunes nothing
        // (file_id and lot_id are constant per file; names are not filtered by range).
        if matches!(c.ty, Ty::Dict | Ty::Str) {
            b = b.set_column_statistics_enabled(path(), EnabledStatistics::None);
        }
    }
    b.build()
}

impl BatchSink for StagingSink {
    fn start(&mut self, lot_id: &str) -> io::Result<()> {
        self.lot_id = lot_id.to_string();
        self.lot_dir = escape_lot(lot_id);
        Ok(())
    }
    fn write(&mut self, table: &'static Table, batch: RecordBatch) -> io::Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send((table, batch)).is_ok()).unwrap_or(false);
        if sent {
            Ok(())
        } else {
            // The encoder stopped: report its error.
            Err(self.finish(None).err().unwrap_or_else(|| io::Error::other("the Parquet encoder stopped")))
        }
    }
    fn spill_dir(&self) -> PathBuf {
        // Inside the staging directory, so that a crash leaves nothing the next run does not
        // clear away with the rest of the staging.
        self.dir.clone()
    }
    fn spill_parts(&self) -> usize {
        self.spill_parts
    }
}

/// Options for one ingest run.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Parts per file held in memory before they spill to disk (None: the default, or
    /// `YIELDLAKE_SPILL_PARTS`).
    pub spill_parts: Option<usize>,
}

/// Summary of an ingest run.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub outcomes: Vec<Outcome>,
    pub ingested: usize,
    pub unchanged: usize,
    pub quarantined: usize,
    pub input_bytes: u64,
    pub seconds: f64,
}

/// Expands files, directories (recursively) and glob patterns into input files.
pub fn expand_inputs(inputs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        let s = p.to_string_lossy();
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() || s == "-" {
            out.push(p.clone());
        } else if s.contains(['*', '?', '[']) {
            let before = out.len();
            glob_expand(&s, &mut out)?;
            if out.len() == before {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("no file matches {s}")));
            }
        } else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{s}: no such file or directory")));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(d: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut v: Vec<_> = fs::read_dir(d)?.collect::<Result<_, _>>()?;
    v.sort_by_key(|e| e.path());
    for e in v {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if !(name.ends_with(".json") || name.ends_with(".md") || name.ends_with(".txt") || name == "REGENERATE") {
            out.push(p);
        }
    }
    Ok(())
}

/// Minimal glob: `*`, `?` within path components.
fn glob_expand(pattern: &str, out: &mut Vec<PathBuf>) -> io::Result<()> {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], s) || (!s.is_empty() && matches(p, &s[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let (base, comps): (PathBuf, Vec<&str>) = if let Some(rest) = pattern.strip_prefix('/') {
        (PathBuf::from("/"), rest.split('/').collect())
    } else {
        (PathBuf::from("."), pattern.split('/').collect())
    };
    let mut cur = vec![base];
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for d in &cur {
            if !c.contains(['*', '?']) {
                let p = d.join(c);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(rd) = fs::read_dir(d) else { continue };
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if matches(c.as_bytes(), n.as_bytes()) && (last || e.path().is_dir()) {
                    next.push(e.path());
                }
            }
        }
        cur = next;
    }
    for p in cur {
        let p = p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p);
        if p.is_dir() { walk(&p, out)? } else { out.push(p) }
    }
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(d) = path.parent()
        && let Ok(f) = fs::File::open(d)
    {
        let _ = f.sync_all();
    }
    Ok(())
}

/// An open lake for writing.
pub struct Lake {
    pub root: PathBuf,
    _lock: LakeLock,
    state: Mutex<Manifest>,
    /// Names this run's staging directories (the lock makes this run the only writer).
    staging_seq: AtomicU64,
}

/// The file id written while a file's sha256 is still being computed: as long as a real
/// id, and replaced in the Parquet files before they are committed.
const FILE_ID_PLACEHOLDER: &str = "~file-id-pending";
const _: () = assert!(FILE_ID_PLACEHOLDER.len() == 16);

impl Lake {
    /// Takes the writer lock, then removes whatever a crashed writer left behind:
    /// staging directories, Parquet files no live entry references, superseded entries.
    pub fn open_for_write(root: &Path) -> io::Result<Lake> {
        let lock = LakeLock::acquire(root)?;
        for d in ["_manifest", "_quarantine", "_staging"] {
            fs::create_dir_all(root.join(d))?;
        }
        let m = Manifest::load(root)?;
        let _ = fs::remove_dir_all(root.join("_staging"));
        fs::create_dir_all(root.join("_staging"))?;
        for d in ["_manifest", "_quarantine"] {
            for e in fs::read_dir(root.join(d))?.flatten() {
                if e.path().to_string_lossy().ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let referenced: HashSet<&String> = m.live.iter().flat_map(|e| e.files.iter()).collect();
        for t in schema::TABLES {
            let td = root.join(t.name);
            let Ok(rd) = fs::read_dir(&td) else { continue };
            for lot in rd.flatten() {
                let Ok(files) = fs::read_dir(lot.path()) else { continue };
                for f in files.flatten() {
                    let rel = f.path().strip_prefix(root).unwrap().to_string_lossy().to_string();
                    if !referenced.contains(&rel) {
                        let _ = fs::remove_file(f.path());
                    }
                }
                let _ = fs::remove_dir(lot.path()); // only if empty
            }
        }
        for e in &m.superseded {
            let _ = fs::remove_file(root.join("_manifest").join(format!("{:012}-{}.json", e.seq, e.file_id)));
        }
        let m = Manifest { superseded: vec![], ..m };
        Ok(Lake { root: root.to_path_buf(), _lock: lock, state: Mutex::new(m), staging_seq: AtomicU64::new(0) })
    }

    pub fn manifest(&self) -> Manifest {
        self.state.lock().unwrap().clone()
    }

    /// Ingests files in parallel; every input ends ingested, unchanged or quarantined.
    pub fn ingest(&self, inputs: &[PathBuf], opts: &IngestOptions, on_done: &(dyn Fn(&Outcome, u64) + Sync)) -> IngestReport {
        let start = std::time::Instant::now();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build().expect("thread pool");
        let outcomes: Vec<(Outcome, u64)> = pool.install(|| {
            use rayon::prelude::*;
            inputs
                .par_iter()
                .map(|p| {
                    let size = fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                    let o = self.ingest_one(p, opts);
                    on_done(&o, size);
                    (o, size)
                })
                .collect()
        });
        let mut rep = IngestReport { seconds: start.elapsed().as_secs_f64(), ..Default::default() };
        for (o, size) in outcomes {
            rep.input_bytes += size;
            match &o {
                Outcome::Ingested { .. } => rep.ingested += 1,
                Outcome::Unchanged { .. } => rep.unchanged += 1,
                Outcome::Quarantined { .. } => rep.quarantined += 1,
            }
            rep.outcomes.push(o);
        }
        rep
    }

    fn quarantine(&self, source: &str, sha: &str, error: String) -> Outcome {
        let mut st = self.state.lock().unwrap();
        st.max_seq += 1;
        let q =
            QuarantineEntry { seq: st.max_seq, source_path: source.to_string(), sha256: sha.to_string(), error: error.clone(), at: now() };
        let name = format!("{:012}-{}.json", q.seq, &sha.get(..16).unwrap_or("unreadable"));
        let _ = write_atomic(&self.root.join("_quarantine").join(name), &serde_json::to_vec_pretty(&q).unwrap());
        st.quarantine.push(q);
        Outcome::Quarantined { path: source.to_string(), error }
    }

    fn ingest_one(&self, path: &Path, opts: &IngestOptions) -> Outcome {
        let source = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().to_string();
        let size = match fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) => return self.quarantine(&source, "", format!("{}: {e}", path.display())),
        };
        // Same bytes, same size: when a live version has this size, hash first, so that a
        // re-run over unchanged files reads each once and writes nothing. Otherwise the
        // bytes cannot be a live version's, and the file is hashed by the read that
        // ingests it; its id is then known only at the end (see `parquet_out::Patch`).
        let same_size = self.state.lock().unwrap().live.iter().any(|e| e.size == size);
        let (digest, file_id, hashing) = if same_size {
            let sha = match sha256_file(path) {
                Ok((sha, _)) => sha,
                Err(e) => return self.quarantine(&source, "", format!("{}: {e}", path.display())),
            };
            if let Some(e) = self.state.lock().unwrap().live.iter().find(|e| e.sha256 == sha) {
                return Outcome::Unchanged { path: source, file_id: e.file_id.clone() };
            }
            (FileDigest::Known(sha.clone()), Some(sha[..16].to_string()), None)
        } else {
            match StreamHash::open(path) {
                Ok((h, r)) => (FileDigest::Reading(h), None, Some(r)),
                Err(e) => return self.quarantine(&source, "", format!("{}: {e}", path.display())),
            }
        };
        // The error paths below need the sha256 (quarantine entries are named by it).
        let sha_of = |d: &FileDigest| d.sha256().unwrap_or_default();
        let staging = self.root.join("_staging").join(self.staging_seq.fetch_add(1, Ordering::Relaxed).to_string());
        let _ = fs::remove_dir_all(&staging);
        if let Err(e) = fs::create_dir_all(&staging) {
            return self.quarantine(&source, &sha_of(&digest), e.to_string());
        }
        let meta = FileMeta {
            file_id: file_id.clone().unwrap_or_else(|| FILE_ID_PLACEHOLDER.to_string()),
            source_path: source.clone(),
            sha256: digest.clone(),
            size,
            ingested_at: now(),
        };
        let placeholder = file_id.is_none().then(|| FILE_ID_PLACEHOLDER.to_string());
        let mut sink = StagingSink::new(staging.clone(), opts.spill_parts.unwrap_or_else(crate::ingest::spill::spill_parts), placeholder);
        let reader = match hashing {
            Some(r) => StdfReader::from_read(path.to_string_lossy().into(), Box::new(r), Some(size)),
            None => StdfReader::open_streaming(path),
        };
        let res = reader.map_err(IngestError::Stdf).and_then(|r| ingest_file(r, &meta, &mut sink));
        let stats = match res {
            Ok(stats) => stats,
            Err(e) => {
                drop(sink);
                let _ = fs::remove_dir_all(&staging);
                return self.quarantine(&source, &sha_of(&digest), e.to_string());
            }
        };
        let sha = match digest.sha256() {
            Ok(s) => s,
            Err(e) => {
                drop(sink);
                let _ = fs::remove_dir_all(&staging);
                return self.quarantine(&source, "", format!("{}: {e}", path.display()));
            }
        };
        let file_id = sha[..16].to_string();
        // Close the Parquet files, then move them into the table directories.
        let files = match sink.finish(Some(&file_id)) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return self.quarantine(&source, &sha, e.to_string());
            }
        };
        let mut rel_files = Vec::new();
        for t in &files {
            let rel = format!("{t}/lot={}/{file_id}.parquet", sink.lot_dir);
            let dst = self.root.join(&rel);
            if let Err(e) = fs::create_dir_all(dst.parent().unwrap()).and_then(|_| fs::rename(staging.join(format!("{t}.parquet")), &dst)) {
                let _ = fs::remove_dir_all(&staging);
                return self.quarantine(&source, &sha, format!("placing {rel}: {e}"));
            }
            rel_files.push(rel);
        }
        let _ = fs::remove_dir_all(&staging);
        // Commit: the manifest entry's rename makes the version visible.
        let mut st = self.state.lock().unwrap();
        // The same bytes may have been committed meanwhile from another path (same file_id,
        // so the files just placed are identical): keep one entry.
        if let Some(e) = st.live.iter().find(|e| e.sha256 == sha) {
            return Outcome::Unchanged { path: source, file_id: e.file_id.clone() };
        }
        st.max_seq += 1;
        let entry = ManifestEntry {
            seq: st.max_seq,
            file_id: file_id.clone(),
            source_path: source.clone(),
            sha256: sha.clone(),
            size,
            lot_id: sink.lot_id.clone(),
            lot_dir: sink.lot_dir.clone(),
            ingested_at: meta.ingested_at,
            rows: stats.rows.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            files: rel_files,
        };
        let name = format!("{:012}-{file_id}.json", entry.seq);
        if let Err(e) = write_atomic(&self.root.join("_manifest").join(&name), &serde_json::to_vec_pretty(&entry).unwrap()) {
            drop(st);
            return self.quarantine(&source, &entry.sha256, format!("committing: {e}"));
        }
        // The older version of the same path, if any, is now superseded: remove it.
        let mut replaced = None;
        if let Some(i) = st.live.iter().position(|e| e.source_path == source) {
            let old = st.live.remove(i);
            for f in &old.files {
                let _ = fs::remove_file(self.root.join(f));
            }
            let _ = fs::remove_file(self.root.join("_manifest").join(format!("{:012}-{}.json", old.seq, old.file_id)));
            replaced = Some(old.file_id);
        }
        let entry_rows = entry.rows.clone();
        st.live.push(entry);
        Outcome::Ingested { path: source, file_id, rows: entry_rows, replaced, spilled_parts: stats.spilled_parts }
    }
}
