//! The lake's tables, defined once: the Arrow schemas written to Parquet, the JSON
//! documents in `schemas/`, and the column builders all come from these lists.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Bumped whenever a table's columns change; stored in every Parquet file's metadata.
/// 2: repeated strings declared as plain strings (still dictionary-encoded in the pages).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    /// Dictionary-encoded string (low-cardinality, repeated on every row).
    Dict,
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    F32,
    F64,
    /// Seconds since the Unix epoch, as a UTC timestamp.
    Time,
    ListU16,
}

impl Ty {
    /// The type readers see. Repeated strings are dictionary-encoded in the Parquet
    /// pages but declared as plain strings: readers get ordinary string columns (not
    /// pandas categoricals, which most tools handle poorly), and engines that group or
    /// join on them use their fast string paths.
    pub fn arrow(self) -> DataType {
        match self {
            Ty::Str | Ty::Dict => DataType::Utf8,
            Ty::Bool => DataType::Boolean,
            Ty::U8 => DataType::UInt8,
            Ty::U16 => DataType::UInt16,
            Ty::U32 => DataType::UInt32,
            Ty::U64 => DataType::UInt64,
            Ty::I8 => DataType::Int8,
            Ty::I16 => DataType::Int16,
            Ty::I32 => DataType::Int32,
            Ty::F32 => DataType::Float32,
            Ty::F64 => DataType::Float64,
            Ty::Time => DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            Ty::ListU16 => DataType::List(Arc::new(Field::new("item", DataType::UInt16, true))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Ty::Str | Ty::Dict => "string",
            Ty::Bool => "bool",
            Ty::U8 => "uint8",
            Ty::U16 => "uint16",
            Ty::U32 => "uint32",
            Ty::U64 => "uint64",
            Ty::I8 => "int8",
            Ty::I16 => "int16",
            Ty::I32 => "int32",
            Ty::F32 => "float32",
            Ty::F64 => "float64",
            Ty::Time => "timestamp[s, UTC]",
            Ty::ListU16 => "list<uint16>",
        }
    }
}

/// One column: name, type, nullability, unit and description.
pub struct Col {
    pub name: &'static str,
    pub ty: Ty,
    pub nullable: bool,
    pub unit: &'static str,
    pub doc: &'static str,
}

const fn c(name: &'static str, ty: Ty, nullable: bool, unit: &'static str, doc: &'static str) -> Col {
    Col { name, ty, nullable, unit, doc }
}

const FILE_ID: Col = c("file_id", Ty::Dict, false, "", "Ingested file version: the first 16 hex digits of its sha256.");
const LOT_ID: Col =
    c("lot_id", Ty::Dict, false, "", "MIR.LOT_ID as written (empty when absent). The directory key `lot` holds its escaped form.");

pub struct Table {
    pub name: &'static str,
    pub doc: &'static str,
    pub cols: &'static [Col],
}

use Ty::*;

pub static FILES: Table = Table {
    name: "files",
    doc: "One row per ingested file version: where it came from, MIR/MRR fields, record counts and the derived stage.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("source_path", Str, false, "", "Path the file was ingested from."),
        c("file_name", Str, false, "", "Base name of the source path."),
        c("sha256", Str, false, "", "sha256 of the file's bytes as stored (compressed bytes for compressed files)."),
        c("size_bytes", U64, false, "byte", "Size of the file as stored."),
        c("byte_order", Str, false, "", "little or big, from FAR.CPU_TYPE and the FAR header."),
        c("compression", Str, false, "", "none, gzip, bzip2, zip or zstd, detected from the bytes."),
        c("stdf_version", Str, false, "", "V4, or V4-2007 when a VUR is present."),
        c("cpu_type", U8, true, "", "FAR.CPU_TYPE."),
        c("setup_t", Time, true, "", "MIR.SETUP_T."),
        c("start_t", Time, true, "", "MIR.START_T."),
        c("finish_t", Time, true, "", "MRR.FINISH_T."),
        c("stat_num", U8, true, "", "MIR.STAT_NUM: tester station."),
        c("mode_cod", Str, true, "", "MIR.MODE_COD: P production, E engineering, Q quality, ..."),
        c("rtst_cod", Str, true, "", "MIR.RTST_COD: retest code."),
        c("sublot_id", Str, true, "", "MIR.SBLOT_ID."),
        c("part_type", Str, true, "", "MIR.PART_TYP."),
        c("product", Str, true, "", "MIR.FAMLY_ID (product family)."),
        c("node_name", Str, true, "", "MIR.NODE_NAM: tester host."),
        c("tester_type", Str, true, "", "MIR.TSTR_TYP."),
        c("program", Str, true, "", "MIR.JOB_NAM."),
        c("program_rev", Str, true, "", "MIR.JOB_REV."),
        c("operator", Str, true, "", "MIR.OPER_NAM."),
        c("exec_type", Str, true, "", "MIR.EXEC_TYP: tester software."),
        c("exec_ver", Str, true, "", "MIR.EXEC_VER."),
        c("test_code", Str, true, "", "MIR.TEST_COD: test phase or step."),
        c("temperature", Str, true, "", "MIR.TST_TEMP as written."),
        c("temperature_c", F64, true, "degC", "MIR.TST_TEMP parsed as a number, when it is one."),
        c("user_text", Str, true, "", "MIR.USER_TXT."),
        c("package_type", Str, true, "", "MIR.PKG_TYP."),
        c("date_code", Str, true, "", "MIR.DATE_COD."),
        c("facility", Str, true, "", "MIR.FACIL_ID."),
        c("floor", Str, true, "", "MIR.FLOOR_ID."),
        c("process", Str, true, "", "MIR.PROC_ID: fab process."),
        c("spec_name", Str, true, "", "MIR.SPEC_NAM."),
        c("spec_ver", Str, true, "", "MIR.SPEC_VER."),
        c("flow_id", Str, true, "", "MIR.FLOW_ID."),
        c("setup_id", Str, true, "", "MIR.SETUP_ID."),
        c("design_rev", Str, true, "", "MIR.DSGN_REV."),
        c("engineer", Str, true, "", "MIR.ENG_ID."),
        c("serial_num", Str, true, "", "MIR.SERL_NUM: tester serial number."),
        c("disp_cod", Str, true, "", "MRR.DISP_COD: lot disposition."),
        c("usr_desc", Str, true, "", "MRR.USR_DESC."),
        c("exc_desc", Str, true, "", "MRR.EXC_DESC."),
        c("stage", Str, false, "", "wafer_sort (the file has WIR/WCR) or final_test."),
        c("insertion", Str, false, "", "Test insertion: TEST_COD, FLOW_ID and temperature joined by '/', e.g. FT1/ROOM/25."),
        c("records", U64, false, "", "Records in the file."),
        c("record_counts", Str, false, "", "Records per type, as a JSON object."),
        c("parts", U64, false, "", "PRR records."),
        c("problems", Str, false, "", "Problems found while reading, one per line (empty when none)."),
        c("ingested_at", Time, false, "", "When this version was ingested."),
    ],
};

pub static WAFERS: Table = Table {
    name: "wafers",
    doc: "One row per wafer (WIR/WRR), with the file's WCR configuration.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("wafer_index", U32, false, "", "Order of the wafer's WIR in the file, from 0."),
        c("wafer_id", Str, false, "", "WIR.WAFER_ID (or WRR.WAFER_ID when the WIR has none)."),
        c("head_num", U8, true, "", "WIR.HEAD_NUM."),
        c("site_grp", U8, true, "", "WIR.SITE_GRP (255: all sites)."),
        c("start_t", Time, true, "", "WIR.START_T."),
        c("finish_t", Time, true, "", "WRR.FINISH_T."),
        c("part_cnt", U32, true, "", "WRR.PART_CNT."),
        c("rtst_cnt", U32, true, "", "WRR.RTST_CNT (absent when 4294967295)."),
        c("abrt_cnt", U32, true, "", "WRR.ABRT_CNT (absent when 4294967295)."),
        c("good_cnt", U32, true, "", "WRR.GOOD_CNT (absent when 4294967295)."),
        c("func_cnt", U32, true, "", "WRR.FUNC_CNT (absent when 4294967295)."),
        c("fabwf_id", Str, true, "", "WRR.FABWF_ID."),
        c("frame_id", Str, true, "", "WRR.FRAME_ID."),
        c("mask_id", Str, true, "", "WRR.MASK_ID."),
        c("parts", U32, false, "", "PRR records on this wafer."),
        c("wafer_size", F32, true, "wf_units", "WCR.WAFR_SIZ (diameter)."),
        c("die_height", F32, true, "wf_units", "WCR.DIE_HT."),
        c("die_width", F32, true, "wf_units", "WCR.DIE_WID."),
        c("wf_units", Str, true, "", "WCR.WF_UNITS as a unit name: in, cm, mm, mil (absent when unknown)."),
        c("wf_flat", Str, true, "", "WCR.WF_FLAT: U, D, L or R (flat or notch direction)."),
        c("center_x", I16, true, "", "WCR.CENTER_X (absent when -32768)."),
        c("center_y", I16, true, "", "WCR.CENTER_Y (absent when -32768)."),
        c("pos_x", Str, true, "", "WCR.POS_X: positive X direction, L or R."),
        c("pos_y", Str, true, "", "WCR.POS_Y: positive Y direction, U or D."),
    ],
};

pub static PARTS: Table = Table {
    name: "parts",
    doc: "One row per tested part or die touch (PIR/PRR), with retests resolved within the file.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("part_seq", U32, false, "", "Order of the part's PIR in the file, from 0. Joins results and functional."),
        c("head_num", U8, true, "", "PRR.HEAD_NUM."),
        c("site_num", U8, true, "", "PRR.SITE_NUM."),
        c("wafer_index", U32, true, "", "The wafer this part was tested on (wafers.wafer_index); absent at final test."),
        c("wafer_id", Str, true, "", "WAFER_ID of that wafer."),
        c("x", I16, true, "", "PRR.X_COORD (absent when -32768)."),
        c("y", I16, true, "", "PRR.Y_COORD (absent when -32768)."),
        c("part_id", Str, true, "", "PRR.PART_ID."),
        c("part_txt", Str, true, "", "PRR.PART_TXT; absent when empty."),
        c("hard_bin", U16, true, "", "PRR.HARD_BIN."),
        c("soft_bin", U16, true, "", "PRR.SOFT_BIN (absent when 65535)."),
        c("part_flg", U8, true, "", "PRR.PART_FLG as written."),
        c("pass_fail", Str, false, "", "pass, fail, or unknown (PART_FLG bit 4: no pass/fail indication)."),
        c("passed", Bool, true, "", "true pass, false fail, absent when unknown."),
        c("abnormal", Bool, false, "", "PART_FLG bit 2: abnormal end of testing."),
        c("supersedes", Bool, false, "", "PART_FLG bit 0 or 1: this touch supersedes an earlier one of the same part id or X/Y."),
        c("num_test", U16, true, "", "PRR.NUM_TEST."),
        c("test_time", F64, true, "s", "PRR.TEST_T in seconds (written in ms)."),
        c(
            "touch_key",
            Str,
            true,
            "",
            "What identifies the part across touches: w:<wafer>:<x>:<y> for dies, p:<part_id> otherwise; absent when neither exists.",
        ),
        c("retest_index", U32, false, "", "0 for the first touch of a die (wafer, X, Y) or part id in this file, 1 for the next, ..."),
        c("is_final", Bool, false, "", "This is the last touch of its die or part in the file, the one that decides it."),
        c("results", U32, false, "", "PTR and MPR results recorded for this part."),
    ],
};

pub static RESULTS: Table = Table {
    name: "results",
    doc: "One row per PTR result and per MPR pin result. RESULT is stored in the test's base units as written: RES_SCAL is only the display exponent and is not applied.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c(
            "part_seq",
            U32,
            true,
            "",
            "The part (parts.part_seq) open on this head/site when the result was logged; absent for results outside any part.",
        ),
        c(
            "test_key",
            U32,
            false,
            "",
            "Test identity within the file (tests.test_key): kind, TEST_NUM and TEST_TXT; unnamed records join the first test of their number.",
        ),
        c("test_num", U32, false, "", "TEST_NUM."),
        c("test_name", Dict, false, "", "TEST_TXT, or the name of the test this record joined."),
        c("head_num", U8, false, "", "HEAD_NUM."),
        c("site_num", U8, false, "", "SITE_NUM."),
        c("rec_type", Dict, false, "", "P (PTR) or M (MPR)."),
        c("pin_index", U16, true, "", "MPR only: the PMR index of this pin (RTN_INDX, or the test's first RTN_INDX)."),
        c("result", F32, true, "unit", "The measured value in base units (column `units`); absent when the record has none."),
        c("test_flg", U8, false, "", "TEST_FLG as written."),
        c("parm_flg", U8, false, "", "PARM_FLG as written."),
        c(
            "passed",
            Bool,
            true,
            "",
            "From TEST_FLG bits 6/7 (MPR: and the pin's RTN_STAT is not used); absent when no pass/fail is indicated.",
        ),
        c("valid", Bool, false, "", "The result is usable: TEST_FLG bits 1,2,4,5 and PARM_FLG bits 0-2 are clear."),
        c("alarm", Bool, false, "", "TEST_FLG bit 0."),
        c("lo_limit", F32, true, "unit", "Low test limit in force (first-PTR default rule applied); absent when the test has none."),
        c("hi_limit", F32, true, "unit", "High test limit in force."),
        c("units", Dict, false, "", "Base units of result and limits (empty when unknown)."),
        c(
            "res_scal",
            I8,
            true,
            "",
            "Display exponent for results: show result * 10^res_scal with the SI prefix (3 = milli, 6 = micro, 9 = nano).",
        ),
    ],
};

pub static FUNCTIONAL: Table = Table {
    name: "functional",
    doc: "One row per FTR.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("part_seq", U32, true, "", "The part open on this head/site."),
        c("test_key", U32, false, "", "Test identity (tests.test_key)."),
        c("test_num", U32, false, "", "TEST_NUM."),
        c("test_name", Dict, false, "", "TEST_TXT, or the joined test's name."),
        c("head_num", U8, false, "", "HEAD_NUM."),
        c("site_num", U8, false, "", "SITE_NUM."),
        c("test_flg", U8, false, "", "TEST_FLG."),
        c("passed", Bool, true, "", "From TEST_FLG bits 6/7."),
        c("cycl_cnt", U32, true, "", "CYCL_CNT (absent when OPT_FLAG bit 0 says invalid)."),
        c("rel_vadr", U32, true, "", "REL_VADR (OPT_FLAG bit 1)."),
        c("rept_cnt", U32, true, "", "REPT_CNT (OPT_FLAG bit 2)."),
        c("num_fail", U32, true, "", "NUM_FAIL: pins failing (OPT_FLAG bit 3)."),
        c("xfail_ad", I32, true, "", "XFAIL_AD (OPT_FLAG bit 4)."),
        c("yfail_ad", I32, true, "", "YFAIL_AD (OPT_FLAG bit 4)."),
        c("vect_off", I16, true, "", "VECT_OFF (OPT_FLAG bit 5)."),
        c("vect_nam", Str, true, "", "VECT_NAM; absent when empty."),
        c("time_set", Str, true, "", "TIME_SET; absent when empty."),
        c("op_code", Str, true, "", "OP_CODE; absent when empty."),
        c("alarm_id", Str, true, "", "ALARM_ID; absent when empty."),
        c("prog_txt", Str, true, "", "PROG_TXT; absent when empty."),
        c("rslt_txt", Str, true, "", "RSLT_TXT; absent when empty."),
        c("patg_num", U8, true, "", "PATG_NUM (absent when 255)."),
        c("fail_pins", ListU16, true, "", "PMR indexes of failing pins, from FAIL_PIN."),
    ],
};

pub static TESTS: Table = Table {
    name: "tests",
    doc: "One row per test per file: identity, limits and units from its first records, and TSR statistics where present.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("test_key", U32, false, "", "Test identity within the file."),
        c("test_num", U32, false, "", "TEST_NUM."),
        c("test_name", Str, false, "", "TEST_TXT of the test's first named record."),
        c("rec_type", Str, false, "", "P (PTR), M (MPR) or F (FTR)."),
        c("lo_limit", F32, true, "unit", "Default low limit (first record that gave one)."),
        c("hi_limit", F32, true, "unit", "Default high limit."),
        c("lo_spec", F32, true, "unit", "Low specification limit."),
        c("hi_spec", F32, true, "unit", "High specification limit."),
        c("units", Str, true, "", "Base units."),
        c("res_scal", I8, true, "", "RES_SCAL display exponent."),
        c("llm_scal", I8, true, "", "LLM_SCAL."),
        c("hlm_scal", I8, true, "", "HLM_SCAL."),
        c("c_resfmt", Str, true, "", "C_RESFMT."),
        c("executions", U64, false, "", "Records logged for this test in the file (MPR: records, not pins)."),
        c("tsr_exec_cnt", U32, true, "", "TSR.EXEC_CNT (overall TSR, or the sum over per-site TSRs)."),
        c("tsr_fail_cnt", U32, true, "", "TSR.FAIL_CNT."),
        c("tsr_alrm_cnt", U32, true, "", "TSR.ALRM_CNT."),
        c("tsr_test_tim", F32, true, "s", "TSR.TEST_TIM."),
        c("tsr_min", F32, true, "unit", "TSR.TEST_MIN."),
        c("tsr_max", F32, true, "unit", "TSR.TEST_MAX."),
        c("tsr_sums", F32, true, "unit", "TSR.TST_SUMS."),
        c("tsr_sqrs", F32, true, "unit^2", "TSR.TST_SQRS."),
        c("seq_name", Str, true, "", "TSR.SEQ_NAME."),
        c("test_label", Str, true, "", "TSR.TEST_LBL."),
    ],
};

pub static BINS: Table = Table {
    name: "bins",
    doc: "One row per HBR and SBR: per head/site, or overall (head 255).",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("bin_type", Str, false, "", "H (HBR) or S (SBR)."),
        c("head_num", U8, true, "", "HEAD_NUM (255: all heads)."),
        c("site_num", U8, true, "", "SITE_NUM."),
        c("overall", Bool, false, "", "HEAD_NUM is 255: counts over all sites."),
        c("bin_num", U16, false, "", "HBIN_NUM or SBIN_NUM."),
        c("bin_count", U32, true, "", "HBIN_CNT or SBIN_CNT."),
        c("pass_fail", Str, true, "", "HBIN_PF/SBIN_PF: P, F or blank."),
        c("bin_name", Str, true, "", "HBIN_NAM/SBIN_NAM."),
    ],
};

pub static SITES: Table = Table {
    name: "sites",
    doc: "One row per site of each SDR.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("head_num", U8, true, "", "SDR.HEAD_NUM."),
        c("site_grp", U8, true, "", "SDR.SITE_GRP."),
        c("site_num", U8, true, "", "One of SDR.SITE_NUM."),
        c("hand_typ", Str, true, "", "Handler or prober type."),
        c("hand_id", Str, true, "", "Handler or prober id."),
        c("card_typ", Str, true, "", "Probe card type."),
        c("card_id", Str, true, "", "Probe card id."),
        c("load_typ", Str, true, "", "Load board type."),
        c("load_id", Str, true, "", "Load board id."),
        c("dib_typ", Str, true, "", "DIB board type."),
        c("dib_id", Str, true, "", "DIB board id."),
        c("cabl_typ", Str, true, "", "Interface cable type."),
        c("cabl_id", Str, true, "", "Interface cable id."),
        c("cont_typ", Str, true, "", "Contactor type."),
        c("cont_id", Str, true, "", "Contactor id."),
        c("lasr_typ", Str, true, "", "Laser type."),
        c("lasr_id", Str, true, "", "Laser id."),
        c("extr_typ", Str, true, "", "Extra equipment type."),
        c("extr_id", Str, true, "", "Extra equipment id."),
    ],
};

pub static OTHER_RECORDS: Table = Table {
    name: "other_records",
    doc: "Every record not held by another table (ATR, PCR, PMR, PGR, PLR, RDR, GDR, DTR, BPS, EPS, the V4-2007 records and unknown types), so that nothing in a file is lost.",
    cols: &[
        FILE_ID,
        LOT_ID,
        c("record_index", U64, false, "", "Index of the record in the file, from 0."),
        c("byte_offset", U64, false, "byte", "Offset of the record header in the (decompressed) file."),
        c("rec_type", Dict, false, "", "Record code (PMR, GDR, ...; UNKNOWN(t,s) for unknown types)."),
        c("rec_typ", U8, false, "", "REC_TYP."),
        c("rec_sub", U8, false, "", "REC_SUB."),
        c("part_seq", U32, true, "", "The part open on the record's site, when the record has HEAD_NUM/SITE_NUM and one is open."),
        c("fields", Str, false, "", "The record's fields as a JSON object (absent fields left out; unknown records as {\"body\": hex})."),
    ],
};

pub static TABLES: [&Table; 9] = [&FILES, &WAFERS, &PARTS, &RESULTS, &FUNCTIONAL, &TESTS, &BINS, &SITES, &OTHER_RECORDS];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

impl Table {
    /// The schema readers see (stored in each file's Arrow schema hint).
    pub fn arrow_schema(&self) -> SchemaRef {
        self.schema_with(|t| t.arrow())
    }
    /// The schema of the batches ingest builds: repeated strings as Arrow dictionaries,
    /// which the writer turns into Parquet dictionary pages without touching each row.
    pub fn build_schema(&self) -> SchemaRef {
        self.schema_with(|t| match t {
            Ty::Dict => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            t => t.arrow(),
        })
    }
    /// The schema SQL sees: strings as views, which the Parquet reader fills straight
    /// from dictionary pages and which DataFusion groups and joins on without copying.
    /// Without the files' schema metadata: it names the table, and DataFusion refuses a
    /// UNION of two tables whose metadata differ (its physical and logical schemas
    /// disagree), so SQL sees none.
    pub fn query_schema(&self) -> SchemaRef {
        let s = self.schema_with(|t| match t {
            Ty::Dict | Ty::Str => DataType::Utf8View,
            t => t.arrow(),
        });
        Arc::new(Schema::new(s.fields().clone()))
    }
    fn schema_with(&self, ty: impl Fn(Ty) -> DataType) -> SchemaRef {
        let fields: Vec<Field> = self.cols.iter().map(|c| Field::new(c.name, ty(c.ty), c.nullable)).collect();
        let mut md = std::collections::HashMap::new();
        md.insert("yieldlake.table".to_string(), self.name.to_string());
        md.insert("yieldlake.schema_version".to_string(), SCHEMA_VERSION.to_string());
        Arc::new(Schema::new_with_metadata(fields, md))
    }
    pub fn col_index(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c.name == name)
    }
    /// The JSON document kept in `schemas/<table>.json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "table": self.name,
            "schema_version": SCHEMA_VERSION,
            "description": self.doc,
            "path": format!("lake/{}/lot=<escaped lot id>/<file_id>.parquet", self.name),
            "columns": self.cols.iter().map(|c| serde_json::json!({
                "name": c.name,
                "type": c.ty.name(),
                "nullable": c.nullable,
                "unit": c.unit,
                "description": c.doc,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The type name of `schemas/`, for tables whose schema is Arrow's own (the derived
/// tables): [`Ty::name`] of the column type with that Arrow type, else Arrow's own name.
fn arrow_type_name(t: &DataType) -> String {
    use Ty::*;
    [Str, Bool, U8, U16, U32, U64, I8, I16, I32, F32, F64, Time, ListU16]
        .into_iter()
        .find(|ty| ty.arrow() == *t)
        .map(|ty| ty.name().to_string())
        .unwrap_or_else(|| t.to_string().to_lowercase())
}

/// The JSON document of a derived table (one a command writes back into the lake), in the
/// shape of [`Table::json`]; its columns carry no units or descriptions.
pub fn derived_table_json(name: &str, description: &str, path: &str, schema: &Schema) -> serde_json::Value {
    serde_json::json!({
        "table": name,
        "schema_version": SCHEMA_VERSION,
        "description": description,
        "path": path,
        "columns": schema.fields().iter().map(|f| serde_json::json!({
            "name": f.name(),
            "type": arrow_type_name(f.data_type()),
            "nullable": f.is_nullable(),
        })).collect::<Vec<_>>(),
    })
}

/// The exact text of `schemas/<table>.json`.
pub fn schema_file_text(t: &Table) -> String {
    let mut s = serde_json::to_string_pretty(&t.json()).expect("serialisable");
    s.push('\n');
    s
}
