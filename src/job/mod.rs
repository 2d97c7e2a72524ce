//! The per-file job: expand the inputs, hash, stage, ingest, commit or quarantine. Files
//! run in parallel; every input ends ingested, unchanged or quarantined, and a bad file
//! never stops the rest of the batch.

mod inputs;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use inputs::expand_inputs;

use crate::ingest::digest::{FileDigest, StreamHash, sha256_file};
use crate::ingest::spill::DEFAULT_SPILL_PARTS;
use crate::ingest::{FileMeta, IngestError, ingest_file};
use crate::lake::{Committed, FILE_ID_PLACEHOLDER, Lake, NewVersion, ParquetWriter, now};
use crate::stdf::StdfReader;

/// What an ingest run may use, lowered from flags (and their environment variables) by
/// the CLI.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Parts per file held in memory before they spill to disk.
    pub spill_parts: usize,
    /// Which Parquet writer encodes the files.
    pub writer: ParquetWriter,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { threads: 0, spill_parts: DEFAULT_SPILL_PARTS, writer: ParquetWriter::Fast }
    }
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

/// Ingests files in parallel into an open lake; `on_done` hears of each file as it ends
/// (with its size), for progress.
pub fn ingest(lake: &Lake, inputs: &[PathBuf], cfg: &IngestConfig, on_done: &(dyn Fn(&Outcome, u64) + Sync)) -> IngestReport {
    let start = std::time::Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build().expect("thread pool");
    let outcomes: Vec<(Outcome, u64)> = pool.install(|| {
        use rayon::prelude::*;
        inputs
            .par_iter()
            .map(|p| {
                let size = fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let o = ingest_one(lake, p, cfg);
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

fn quarantined(lake: &Lake, source: &str, sha: &str, error: String) -> Outcome {
    lake.quarantine(source, sha, &error);
    Outcome::Quarantined { path: source.to_string(), error }
}

fn ingest_one(lake: &Lake, path: &Path, cfg: &IngestConfig) -> Outcome {
    let source = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().to_string();
    let size = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return quarantined(lake, &source, "", format!("{}: {e}", path.display())),
    };
    // Same bytes, same size: when a live version has this size, hash first, so that a
    // re-run over unchanged files reads each once and writes nothing. Otherwise the
    // bytes cannot be a live version's, and the file is hashed by the read that ingests
    // it; its id is then known only at the end, and the writer patches it in at close
    // (the fallback writer cannot, so with it every file is hashed first).
    let (digest, file_id, hashing) = if lake.live_has_size(size) || !cfg.writer.patches_file_id() {
        let sha = match sha256_file(path) {
            Ok((sha, _)) => sha,
            Err(e) => return quarantined(lake, &source, "", format!("{}: {e}", path.display())),
        };
        if let Some(file_id) = lake.live_with_sha(&sha) {
            return Outcome::Unchanged { path: source, file_id };
        }
        (FileDigest::Known(sha.clone()), Some(sha[..16].to_string()), None)
    } else {
        match StreamHash::open(path) {
            Ok((h, r)) => (FileDigest::Reading(h), None, Some(r)),
            Err(e) => return quarantined(lake, &source, "", format!("{}: {e}", path.display())),
        }
    };
    // The error paths below need the sha256 (quarantine entries are named by it).
    let sha_of = |d: &FileDigest| d.sha256().unwrap_or_default();
    let placeholder = file_id.is_none().then(|| FILE_ID_PLACEHOLDER.to_string());
    let mut sink = match lake.stage(cfg.writer, placeholder) {
        Ok(s) => s,
        Err(e) => return quarantined(lake, &source, &sha_of(&digest), e.to_string()),
    };
    let meta = FileMeta {
        file_id: file_id.unwrap_or_else(|| FILE_ID_PLACEHOLDER.to_string()),
        source_path: source.clone(),
        sha256: digest.clone(),
        size,
        ingested_at: now(),
    };
    let reader = match hashing {
        Some(r) => StdfReader::from_read(path.to_string_lossy().into(), Box::new(r), Some(size)),
        None => StdfReader::open_streaming(path),
    };
    let stats = match reader.map_err(IngestError::Stdf).and_then(|r| ingest_file(r, &meta, &mut sink, cfg.spill_parts)) {
        Ok(stats) => stats,
        Err(e) => {
            lake.discard(sink);
            return quarantined(lake, &source, &sha_of(&digest), e.to_string());
        }
    };
    let sha = match digest.sha256() {
        Ok(s) => s,
        Err(e) => {
            lake.discard(sink);
            return quarantined(lake, &source, "", format!("{}: {e}", path.display()));
        }
    };
    let rows: BTreeMap<String, u64> = stats.rows.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let version = NewVersion { source_path: source.clone(), sha256: sha.clone(), size, ingested_at: meta.ingested_at, rows: rows.clone() };
    match lake.commit(sink, version) {
        Ok(Committed::New { file_id, replaced }) => {
            Outcome::Ingested { path: source, file_id, rows, replaced, spilled_parts: stats.spilled_parts }
        }
        Ok(Committed::AlreadyPresent { file_id }) => Outcome::Unchanged { path: source, file_id },
        Err(e) => quarantined(lake, &source, &sha, e),
    }
}
