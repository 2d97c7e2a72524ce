//! Derived tables: results that commands compute from the lake and write back into it
//! (the PAT outlier table, the qualification results and drift), so that SQL users can
//! trend them. One Parquet file per lot (or qualification) and table,
//! `lake/<table>/lot=<escaped lot>/<table>.parquet` (`qual=<id>` for qualifications); a
//! new run replaces its file by rename, so a reader sees the old rows or the new, never a
//! mix. They sit outside the manifest: they are not ingested files, and re-running the
//! command rebuilds them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::LakeLock;
use super::layout::escape_lot;

/// The tables written this way.
pub const DERIVED_TABLES: &[&str] = &["pat_outliers", "qual_results", "qual_drift"];

/// Each derived table's description and file path, for `schemas/`; `None` for a table
/// that is not one of [`DERIVED_TABLES`].
pub fn derived_table_doc(table: &str) -> Option<(&'static str, &'static str)> {
    Some(match table {
        "pat_outliers" => (
            "The PAT outlier table of `yieldlake pat`: one row per flagged part, screen and test, with the run's settings as JSON. One file per lot, replaced by each run.",
            "lake/pat_outliers/lot=<escaped lot id>/pat_outliers.parquet",
        ),
        "qual_results" => (
            "The results of `yieldlake qual`: one row per stress, lot and readpoint, with the stress and qualification verdicts. One file per qualification, replaced by each run.",
            "lake/qual_results/qual=<escaped plan id>/qual_results.parquet",
        ),
        "qual_drift" => (
            "The drift of `yieldlake qual`: one row per part, judged parameter and readpoint after t0, with its rule, limit and verdict. One file per qualification, replaced by each run.",
            "lake/qual_drift/qual=<escaped plan id>/qual_drift.parquet",
        ),
        _ => return None,
    })
}

/// Replaces `table`'s rows for `lot` with `batch`, under the writer lock.
pub fn write_derived(root: &Path, table: &str, lot: &str, batch: &RecordBatch) -> io::Result<PathBuf> {
    write_partition(root, table, "lot", lot, batch)
}

/// Replaces `table`'s rows of one qualification (by its plan id) with `batch`.
pub fn write_derived_qual(root: &Path, table: &str, qual_id: &str, batch: &RecordBatch) -> io::Result<PathBuf> {
    write_partition(root, table, "qual", qual_id, batch)
}

fn write_partition(root: &Path, table: &str, key: &str, value: &str, batch: &RecordBatch) -> io::Result<PathBuf> {
    if !root.join("_manifest").is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} is not a yieldlake lake", root.display())));
    }
    let _lock = LakeLock::acquire(root)?;
    let dir = root.join(table).join(format!("{key}={}", escape_lot(value)));
    fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{table}.parquet"));
    let tmp = dir.join(format!(".{table}.parquet.tmp"));
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut w = ArrowWriter::try_new(fs::File::create(&tmp)?, batch.schema(), Some(props)).map_err(io::Error::other)?;
    w.write(batch).map_err(io::Error::other)?;
    w.into_inner().map_err(io::Error::other)?.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The committed files of a derived table.
pub fn derived_files(root: &Path, table: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(lots) = fs::read_dir(root.join(table)) else { return out };
    for l in lots.flatten() {
        let p = l.path().join(format!("{table}.parquet"));
        if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}
