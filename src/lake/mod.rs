//! The Parquet lake: layout, manifest, lock, staging, commit and quarantine.
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
//! all its Parquet files: that rename is the commit. Readers see only committed files; a
//! crash leaves at most unreferenced files, which the next writer removes before it
//! starts. The per-file job that drives a file through staging to commit is `job`.

mod derived;
mod layout;
mod lock;
mod manifest;
mod parquet_out;
mod staging;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use derived::{DERIVED_TABLES, derived_files, derived_table_doc, write_derived, write_derived_qual};
pub use layout::escape_lot;
pub use lock::LakeLock;
pub use manifest::{Manifest, ManifestEntry, QuarantineEntry};
pub use staging::StagingSink;
pub use writer::ParquetWriter;

use crate::table::schema;

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
pub const FILE_ID_PLACEHOLDER: &str = "~file-id-pending";
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

    /// Whether a live version has this size: only then can a file be one of them, and
    /// only then is it worth hashing before reading it.
    pub fn live_has_size(&self, size: u64) -> bool {
        self.state.lock().unwrap().live.iter().any(|e| e.size == size)
    }

    /// The file id of the live version with these bytes, if any.
    pub fn live_with_sha(&self, sha256: &str) -> Option<String> {
        self.state.lock().unwrap().live.iter().find(|e| e.sha256 == sha256).map(|e| e.file_id.clone())
    }

    /// Records a file that failed, with its error. Nothing of it is visible.
    pub fn quarantine(&self, source: &str, sha256: &str, error: &str) {
        let mut st = self.state.lock().unwrap();
        st.max_seq += 1;
        let q = QuarantineEntry {
            seq: st.max_seq,
            source_path: source.to_string(),
            sha256: sha256.to_string(),
            error: error.to_string(),
            at: now(),
        };
        let name = format!("{:012}-{}.json", q.seq, &sha256.get(..16).unwrap_or("unreadable"));
        let _ = write_atomic(&self.root.join("_quarantine").join(name), &serde_json::to_vec_pretty(&q).unwrap());
        st.quarantine.push(q);
    }

    /// A new staging directory and the sink that writes a file's tables into it.
    /// `placeholder`: the file id the batches carry while the real one is not yet known.
    pub fn stage(&self, writer: ParquetWriter, placeholder: Option<String>) -> io::Result<StagingSink> {
        let dir = self.root.join("_staging").join(self.staging_seq.fetch_add(1, Ordering::Relaxed).to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(StagingSink::new(dir, writer, placeholder))
    }

    /// Drops a staged file: its encoder stops and its directory goes.
    pub fn discard(&self, sink: StagingSink) {
        let dir = sink.dir.clone();
        drop(sink);
        let _ = fs::remove_dir_all(dir);
    }

    /// Closes the staged files with their file id, moves them into the table
    /// directories, and commits the version by renaming its manifest entry into place.
    /// Replaces the live version of the same path. On an error nothing becomes visible
    /// and the staging is removed; the caller quarantines the file with the message.
    pub fn commit(&self, mut sink: StagingSink, version: NewVersion) -> Result<Committed, String> {
        let file_id = version.sha256[..16].to_string();
        let staging = sink.dir.clone();
        let fail = |e: String| {
            let _ = fs::remove_dir_all(&staging);
            e
        };
        let tables = sink.finish(Some(&file_id)).map_err(|e| fail(e.to_string()))?;
        let mut rel_files = Vec::new();
        for t in &tables {
            let rel = format!("{t}/lot={}/{file_id}.parquet", sink.lot_dir);
            let dst = self.root.join(&rel);
            fs::create_dir_all(dst.parent().unwrap())
                .and_then(|_| fs::rename(staging.join(format!("{t}.parquet")), &dst))
                .map_err(|e| fail(format!("placing {rel}: {e}")))?;
            rel_files.push(rel);
        }
        let _ = fs::remove_dir_all(&staging);
        let mut st = self.state.lock().unwrap();
        // The same bytes may have been committed meanwhile from another path (same file_id,
        // so the files just placed are identical): keep one entry.
        if let Some(e) = st.live.iter().find(|e| e.sha256 == version.sha256) {
            return Ok(Committed::AlreadyPresent { file_id: e.file_id.clone() });
        }
        st.max_seq += 1;
        let entry = ManifestEntry {
            seq: st.max_seq,
            file_id: file_id.clone(),
            source_path: version.source_path.clone(),
            sha256: version.sha256,
            size: version.size,
            lot_id: sink.lot_id.clone(),
            lot_dir: sink.lot_dir.clone(),
            ingested_at: version.ingested_at,
            rows: version.rows,
            files: rel_files,
        };
        let name = format!("{:012}-{file_id}.json", entry.seq);
        write_atomic(&self.root.join("_manifest").join(&name), &serde_json::to_vec_pretty(&entry).unwrap())
            .map_err(|e| format!("committing: {e}"))?;
        // The older version of the same path, if any, is now superseded: remove it.
        let mut replaced = None;
        if let Some(i) = st.live.iter().position(|e| e.source_path == version.source_path) {
            let old = st.live.remove(i);
            for f in &old.files {
                let _ = fs::remove_file(self.root.join(f));
            }
            let _ = fs::remove_file(self.root.join("_manifest").join(format!("{:012}-{}.json", old.seq, old.file_id)));
            replaced = Some(old.file_id);
        }
        st.live.push(entry);
        Ok(Committed::New { file_id, replaced })
    }
}

/// What a committed version records besides its files.
pub struct NewVersion {
    pub source_path: String,
    pub sha256: String,
    pub size: u64,
    pub ingested_at: i64,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
}

/// How a commit ended.
pub enum Committed {
    New {
        file_id: String,
        replaced: Option<String>,
    },
    /// The same bytes were committed meanwhile from another path.
    AlreadyPresent {
        file_id: String,
    },
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
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
