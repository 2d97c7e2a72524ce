//! A file's tables written into its staging directory, on an encoder thread of their own.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::record_batch::RecordBatch;
use parquet::basic::Compression as PqCompression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::layout::escape_lot;
use super::writer::{ParquetWriter, TableFile};
use crate::table::{BatchSink, Table, Ty};

/// Writes a file's tables into a staging directory.
///
/// Parquet encoding runs on its own thread, fed through a short bounded queue: with the
/// reader thread in front of the assembler (decode, resolve, build rows), one file keeps
/// two cores busy while memory stays at a few batches.
pub struct StagingSink {
    /// The file's staging directory: its Parquet files and, for huge files, spilled parts.
    pub(super) dir: PathBuf,
    pub(super) lot_dir: String,
    pub(super) lot_id: String,
    tx: Option<std::sync::mpsc::SyncSender<(&'static Table, RecordBatch)>>,
    encoder: Option<std::thread::JoinHandle<io::Result<Vec<&'static str>>>>,
    /// The file id that replaces `placeholder` when the files are closed.
    file_id: Arc<OnceLock<String>>,
}

impl StagingSink {
    /// `placeholder`: the file id written into the batches, when the real one is not known
    /// yet; [`StagingSink::finish`] is then given the real one.
    pub(super) fn new(dir: PathBuf, writer: ParquetWriter, placeholder: Option<String>) -> StagingSink {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(&'static Table, RecordBatch)>(2);
        let staging = dir.clone();
        let file_id = Arc::new(OnceLock::new());
        let final_id = file_id.clone();
        let encoder = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || -> io::Result<Vec<&'static str>> {
                let mut writers: BTreeMap<&'static str, TableFile> = BTreeMap::new();
                for (table, batch) in rx {
                    let w = match writers.entry(table.name) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            let f = fs::File::create(dir.join(format!("{}.parquet", table.name)))?;
                            e.insert(TableFile::create(writer, f, table, props(table), placeholder.as_deref())?)
                        }
                    };
                    w.write(&batch).map_err(|e| io::Error::other(format!("writing {}: {e}", table.name)))?;
                }
                // Close every file and make it durable before the caller commits.
                let mut done = Vec::new();
                for (t, w) in writers {
                    w.close(final_id.get().map(String::as_str))
                        .and_then(|f| f.sync_all())
                        .map_err(|e| io::Error::other(format!("writing {t}: {e}")))?;
                    done.push(t);
                }
                Ok(done)
            })
            .expect("spawn the Parquet encoder thread");
        StagingSink { dir: staging, lot_dir: String::new(), lot_id: String::new(), tx: Some(tx), encoder: Some(encoder), file_id }
    }

    /// Closes the files, with the file id in place of the placeholder; returns the tables
    /// written, or the encoder's error.
    pub(super) fn finish(&mut self, file_id: Option<&str>) -> io::Result<Vec<&'static str>> {
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

pub(super) fn props(table: &Table) -> WriterProperties {
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
        self.dir.clone()
    }
}
