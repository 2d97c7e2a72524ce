//! The lake's committed state: one JSON entry per committed file version in `_manifest/`,
//! and one per quarantined input in `_quarantine/`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

    /// A cheap fingerprint of what a reader of the lake would see: the manifest's entry
    /// names and sizes, and each derived table file's size and modification time. A
    /// long-lived reader (`yieldlake serve`) compares it before each query and reloads
    /// the manifest only when it changed.
    pub fn stamp(lake: &Path) -> io::Result<u64> {
        use std::hash::{Hash, Hasher};
        let mut names: Vec<(String, u64)> = Vec::new();
        for e in fs::read_dir(lake.join("_manifest"))? {
            let e = e?;
            names.push((e.file_name().to_string_lossy().into_owned(), e.metadata().map(|m| m.len()).unwrap_or(0)));
        }
        for t in super::DERIVED_TABLES {
            for f in super::derived_files(lake, t) {
                if let Ok(m) = fs::metadata(&f) {
                    let at =
                        m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
                    names.push((f.to_string_lossy().into_owned(), m.len() ^ at.rotate_left(17)));
                }
            }
        }
        names.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        names.hash(&mut h);
        Ok(h.finish())
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
