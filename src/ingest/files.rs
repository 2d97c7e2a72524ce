//! The `files` table: one row per file version, with every MIR and MRR field, record
//! counts, the derived stage and insertion, and the problems found while reading.

use std::collections::BTreeMap;
use std::io;

use super::{FileMeta, Out, own};
use crate::stdf::reader::record_label;
use crate::stdf::records::{self as r, Record};
use crate::stdf::summary::Problems;
use crate::stdf::types::{C1, Cn};
use crate::table::{Rows, schema};

/// What the files row needs from the whole file.
pub(super) struct FileRow {
    mir: Option<r::Mir<'static>>,
    mrr: Option<r::Mrr<'static>>,
    pub cpu_type: Option<u8>,
    /// A VUR makes the file V4-2007.
    pub vur: bool,
    /// Records seen per type*256+subtype.
    rec_counts: Vec<u64>,
    pub problems: Problems,
}

impl FileRow {
    pub fn new() -> FileRow {
        FileRow { mir: None, mrr: None, cpu_type: None, vur: false, rec_counts: vec![0; 65536], problems: Problems::default() }
    }

    #[inline]
    pub fn count(&mut self, typ: u8, sub: u8) {
        self.rec_counts[typ as usize * 256 + sub as usize] += 1;
    }

    /// Notes what a record tells about the file's health (balance of PIR/PRR, BPS/EPS, …).
    pub fn seen(&mut self, rec: &Record<'_>) {
        self.problems.record(rec);
    }

    pub fn mir(&mut self, m: &r::Mir<'_>) {
        self.mir = Some(m.clone().into_owned());
    }

    pub fn mrr(&mut self, m: &r::Mrr<'_>) {
        self.mrr = Some(m.clone().into_owned());
    }

    /// Writes the row, last of the file's tables.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        out: &mut Out<'_>,
        meta: &FileMeta,
        lot: &str,
        reader_problems: &[String],
        order: &str,
        compression: &str,
        wafer_sort: bool,
        parts_total: u64,
        open_parts: u64,
    ) -> io::Result<()> {
        let mut problems = reader_problems.to_vec();
        self.problems.open_parts = open_parts;
        problems.extend(self.problems.list());
        let mir = self.mir.clone().unwrap_or_default();
        let mrr = self.mrr.clone().unwrap_or_default();
        let g = |c: &Option<Cn<'_>>| own(c).filter(|s| !s.is_empty());
        let stage = if wafer_sort { "wafer_sort" } else { "final_test" };
        let temp = g(&mir.tst_temp);
        let temp_c = temp.as_deref().and_then(|t| t.trim().trim_end_matches(['C', 'c']).trim().parse::<f64>().ok());
        let insertion = [g(&mir.test_cod), g(&mir.flow_id), temp.clone()].into_iter().flatten().collect::<Vec<_>>().join("/");
        let mut rc: BTreeMap<String, u64> = BTreeMap::new();
        for (i, &n) in self.rec_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            rc.insert(record_label((i >> 8) as u8, i as u8), n);
        }
        let total: u64 = rc.values().sum();
        // The reader has reached the end of the file by now, so a digest computed while
        // reading is complete.
        let sha256 = meta.sha256.sha256()?;
        let file_name = std::path::Path::new(&meta.source_path).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut files = Rows::new(&schema::FILES, &meta.file_id, lot, &[]);
        let c1 = |c: Option<C1>| c.map(|c| c.as_char().to_string());
        files
            .row()
            .str(Some(&meta.source_path))
            .str(Some(&file_name))
            .str(Some(&sha256))
            .u64(Some(meta.size))
            .str(Some(order))
            .str(Some(compression))
            .str(Some(if self.vur { "V4-2007" } else { "V4" }))
            .u8(self.cpu_type)
            .time(mir.setup_t)
            .time(mir.start_t)
            .time(mrr.finish_t)
            .u8(mir.stat_num)
            .str(c1(mir.mode_cod).as_deref())
            .str(c1(mir.rtst_cod).as_deref())
            .str(g(&mir.sblot_id).as_deref())
            .str(g(&mir.part_typ).as_deref())
            .str(g(&mir.famly_id).as_deref())
            .str(g(&mir.node_nam).as_deref())
            .str(g(&mir.tstr_typ).as_deref())
            .str(g(&mir.job_nam).as_deref())
            .str(g(&mir.job_rev).as_deref())
            .str(g(&mir.oper_nam).as_deref())
            .str(g(&mir.exec_typ).as_deref())
            .str(g(&mir.exec_ver).as_deref())
            .str(g(&mir.test_cod).as_deref())
            .str(temp.as_deref())
            .f64(temp_c)
            .str(g(&mir.user_txt).as_deref())
            .str(g(&mir.pkg_typ).as_deref())
            .str(g(&mir.date_cod).as_deref())
            .str(g(&mir.facil_id).as_deref())
            .str(g(&mir.floor_id).as_deref())
            .str(g(&mir.proc_id).as_deref())
            .str(g(&mir.spec_nam).as_deref())
            .str(g(&mir.spec_ver).as_deref())
            .str(g(&mir.flow_id).as_deref())
            .str(g(&mir.setup_id).as_deref())
            .str(g(&mir.dsgn_rev).as_deref())
            .str(g(&mir.eng_id).as_deref())
            .str(g(&mir.serl_num).as_deref())
            .str(c1(mrr.disp_cod).as_deref())
            .str(g(&mrr.usr_desc).as_deref())
            .str(g(&mrr.exc_desc).as_deref())
            .str(Some(stage))
            .str(Some(&insertion))
            .u64(Some(total))
            .str(Some(&serde_json::to_string(&rc).unwrap_or_default()))
            .u64(Some(parts_total))
            .str(Some(&problems.join("\n")))
            .time_i64(meta.ingested_at)
            .end();
        out.rows(&mut files, &[])
    }
}
