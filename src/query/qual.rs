//! Qualification data read for `analysis::qual`: the plan's profile (built in or a file),
//! the lake files of each stress and readpoint (by MIR fields or named explicitly) or a
//! CSV of measurements, turned into the readings `evaluate` takes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Float64Type, UInt32Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

use super::answers::{lit, not_found};
use crate::analysis::qual::plan::{self, BUILTIN_PROFILES, Locator, Plan, PlanError, PlanErrors, Profile};
use crate::analysis::qual::{self, Evaluation};

fn plan_errors(e: PlanErrors) -> DataFusionError {
    not_found(e.to_string())
}

/// The profile a plan names: a built-in id, or a file relative to the plan's directory.
pub fn load_profile(name: &str, plan_dir: &Path) -> std::result::Result<Profile, PlanErrors> {
    if let Some((id, text)) = BUILTIN_PROFILES.iter().find(|(id, _)| id.eq_ignore_ascii_case(name)) {
        return plan::parse_profile(text, &format!("profiles/{id}"));
    }
    let p = plan_dir.join(name);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        PlanErrors(vec![PlanError {
            file: p.display().to_string(),
            line: None,
            message: format!(
                "{e}: the profile is neither a built-in ({}) nor a readable file",
                BUILTIN_PROFILES.iter().map(|(i, _)| *i).collect::<Vec<_>>().join(", ")
            ),
        }])
    })?;
    plan::parse_profile(&text, &p.display().to_string())
}

/// The readpoint a lake file holds: USER_TXT `readpoint=N`, else the number in FLOW_ID
/// (T0 is 0).
fn file_readpoint(user_text: Option<&str>, flow_id: Option<&str>) -> Option<f64> {
    if let Some(u) = user_text {
        for kv in u.split([';', ' ', ',']) {
            if let Some(v) = kv.trim().strip_prefix("readpoint=") {
                return v.trim().parse().ok();
            }
        }
    }
    let f = flow_id?.trim();
    if f.eq_ignore_ascii_case("t0") {
        return Some(0.0);
    }
    let digits: String = f.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse().ok()
}

struct LakeFile {
    file_id: String,
    lot_id: String,
    source_path: String,
    file_name: String,
    test_code: Option<String>,
    readpoint: Option<f64>,
}

async fn lake_files(ctx: &SessionContext) -> Result<Vec<LakeFile>> {
    let b = ctx.sql("SELECT file_id, lot_id, source_path, file_name, test_code, user_text, flow_id FROM files").await?.collect().await?;
    let mut out = Vec::new();
    for b in &b {
        let s = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8);
        let cols = (0..7).map(s).collect::<std::result::Result<Vec<_>, _>>()?;
        let c: Vec<&StringArray> = cols.iter().map(|a| a.as_string::<i32>()).collect();
        let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for i in 0..b.num_rows() {
            out.push(LakeFile {
                file_id: c[0].value(i).into(),
                lot_id: c[1].value(i).into(),
                source_path: c[2].value(i).into(),
                file_name: c[3].value(i).into(),
                test_code: opt(c[4], i),
                readpoint: file_readpoint(opt(c[5], i).as_deref(), opt(c[6], i).as_deref()),
            });
        }
    }
    Ok(out)
}

/// lot, serial, readpoint, test, value, lo, hi, passed, line.
type CsvRow = (String, String, f64, String, f64, Option<f64>, Option<f64>, Option<bool>, usize);

/// Readings of one stress from a CSV: lot,serial,readpoint,test,value[,lo,hi,passed].
fn csv_readings(path: &Path, stress: &str) -> std::result::Result<RecordBatch, PlanErrors> {
    let file = path.display().to_string();
    let perr = |line: Option<usize>, m: String| PlanErrors(vec![PlanError { file: file.clone(), line, message: m }]);
    let text = std::fs::read_to_string(path).map_err(|e| perr(None, e.to_string()))?;
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = lines.next().map(|(_, h)| h.split(',').map(|c| c.trim().to_ascii_lowercase()).collect()).unwrap_or_default();
    let col = |n: &str| header.iter().position(|h| h == n);
    let need = ["lot", "serial", "readpoint", "test", "value"];
    let idx: Vec<usize> = need
        .iter()
        .map(|n| {
            col(n).ok_or_else(|| perr(Some(1), format!("no column {n:?}; the columns are lot,serial,readpoint,test,value[,lo,hi,passed]")))
        })
        .collect::<std::result::Result<_, _>>()?;
    let (lo_i, hi_i, pass_i) = (col("lo"), col("hi"), col("passed"));
    let mut rows: Vec<CsvRow> = Vec::new();
    for (ln, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let num = |i: usize, what: &str| -> std::result::Result<f64, PlanErrors> {
            get(i)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| perr(Some(ln + 1), format!("{what} {:?} is not a number", get(i))))
        };
        let opt = |i: Option<usize>, what: &str| -> std::result::Result<Option<f64>, PlanErrors> {
            match i.map(get) {
                None | Some("") => Ok(None),
                Some(_) => num(i.unwrap_or(0), what).map(Some),
            }
        };
        let rp = num(idx[2], "readpoint")?;
        if rp < 0.0 {
            return Err(perr(Some(ln + 1), format!("readpoint {rp} is negative")));
        }
        if get(idx[1]).is_empty() {
            return Err(perr(Some(ln + 1), "serial is empty".into()));
        }
        let passed = match pass_i.map(get) {
            None | Some("") => None,
            Some("1" | "true" | "pass") => Some(true),
            Some("0" | "false" | "fail") => Some(false),
            Some(x) => return Err(perr(Some(ln + 1), format!("passed {x:?} must be 1/0, true/false or pass/fail"))),
        };
        rows.push((
            get(idx[0]).into(),
            get(idx[1]).into(),
            rp,
            get(idx[3]).into(),
            num(idx[4], "value")?,
            opt(lo_i, "lo")?,
            opt(hi_i, "hi")?,
            passed,
            ln + 1,
        ));
    }
    // Without a passed column a part passes when every reading is within its limits.
    let mut part_pass: HashMap<(String, String, u64), bool> = HashMap::new();
    for r in &rows {
        let ok = r.7.unwrap_or(!(r.5.is_some_and(|l| r.4 < l) || r.6.is_some_and(|h| r.4 > h)));
        let e = part_pass.entry((r.0.clone(), r.1.clone(), r.2.to_bits())).or_insert(true);
        *e &= ok;
    }
    let n = rows.len();
    let src = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    RecordBatch::try_new(
        qual::readings_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(stress, n))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| Some(part_pass[&(r.0.clone(), r.1.clone(), r.2.to_bits())])).collect::<Vec<_>>(),
            )),
            Arc::new(rows.iter().map(|r| r.3.parse::<u32>().ok()).collect::<UInt32Array>()),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3.as_str()))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))),
            Arc::new(rows.iter().map(|r| r.5).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| r.6).collect::<Float64Array>()),
            // One source per part and readpoint: the CSV (lines differ per test).
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("{src} (readpoint {})", r.2)))),
        ],
    )
    .map_err(|e| perr(None, e.to_string()))
}

/// Reads the plan's data and evaluates it. `plan_path` locates CSVs and profile files
/// and names the plan in messages.
pub async fn qual(ctx: &SessionContext, plan: &Plan, plan_text: &str, plan_path: &Path, profile: &Profile) -> Result<Evaluation> {
    let plan_file = plan_path.display().to_string();
    let dir = plan_path.parent().unwrap_or(Path::new("."));
    let loc = Locator::new(plan_text);
    let files = lake_files(ctx).await?;
    let mut errs = Vec::new();
    // file id -> (stress, readpoint, display name)
    let mut chosen: BTreeMap<String, (String, f64, String)> = BTreeMap::new();
    let mut batches = Vec::new();
    for (si, s) in plan.stresses.iter().enumerate() {
        if let Some(csv) = &s.data.csv {
            match csv_readings(&dir.join(csv), &s.name) {
                Ok(b) => batches.push(b),
                Err(e) => errs.extend(e.0),
            }
            continue;
        }
        if !s.data.files.is_empty() {
            for rf in &s.data.files {
                for name in &rf.files {
                    let hit = files.iter().find(|f| {
                        f.file_id == *name || f.file_name == *name || f.source_path == *name || Path::new(&f.source_path).ends_with(name)
                    });
                    match hit {
                        Some(f) => {
                            chosen.insert(f.file_id.clone(), (s.name.clone(), rf.readpoint, f.file_name.clone()));
                        }
                        None => errs.push(PlanError {
                            file: plan_file.clone(),
                            line: loc.find(&format!("{name:?}")).or(loc.key("stress", si, "files")),
                            message: format!("stress {}: file {name:?} is not in the lake (give a file id, file name or source path of an ingested file)", s.name),
                        }),
                    }
                }
            }
            continue;
        }
        let code = s.data.test_code.as_deref().unwrap_or(&s.name);
        let mut found = 0;
        for f in
            files.iter().filter(|f| plan.lots.contains(&f.lot_id) && f.test_code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(code)))
        {
            match f.readpoint {
                Some(rp) => {
                    chosen.insert(f.file_id.clone(), (s.name.clone(), rp, f.file_name.clone()));
                    found += 1;
                }
                None => errs.push(PlanError {
                    file: plan_file.clone(),
                    line: loc.table("stress", si),
                    message: format!(
                        "stress {}: file {} has no readpoint (USER_TXT readpoint=N or a number in FLOW_ID); name it under data.files",
                        s.name, f.file_name
                    ),
                }),
            }
        }
        if found == 0 {
            errs.push(PlanError {
                file: plan_file.clone(),
                line: loc.table("stress", si),
                message: format!("stress {}: no file of lots {} in the lake has MIR TEST_COD {code:?}", s.name, plan.lots.join(", ")),
            });
        }
    }
    if !errs.is_empty() {
        return Err(plan_errors(PlanErrors(errs)));
    }
    if !chosen.is_empty() {
        let ids = chosen.keys().map(|k| lit(k)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT p.file_id, p.lot_id, p.part_seq, p.part_id, p.passed, r.test_num, r.test_name, CAST(r.result AS DOUBLE) AS value, \
             CAST(r.lo_limit AS DOUBLE) AS lo, CAST(r.hi_limit AS DOUBLE) AS hi \
             FROM parts p LEFT JOIN results r ON r.file_id = p.file_id AND r.part_seq = p.part_seq AND r.rec_type = 'P' AND r.valid \
             WHERE p.is_final AND p.file_id IN ({ids})"
        );
        for b in ctx.sql(&sql).await?.collect().await? {
            let utf8 = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8);
            let (fid, lot, pid, tname) = (utf8(0)?, utf8(1)?, utf8(3)?, utf8(6)?);
            let (fid, lot, pid, tname) = (fid.as_string::<i32>(), lot.as_string::<i32>(), pid.as_string::<i32>(), tname.as_string::<i32>());
            let seq = arrow::compute::cast(b.column(2), &arrow::datatypes::DataType::UInt32)?;
            let seq = seq.as_primitive::<UInt32Type>();
            let tnum = arrow::compute::cast(b.column(5), &arrow::datatypes::DataType::UInt32)?;
            let passed = b.column(4).as_boolean();
            let f64c = |i: usize| b.column(i).as_primitive::<Float64Type>();
            let n = b.num_rows();
            let mut keep = Vec::with_capacity(n);
            for i in 0..n {
                if pid.is_null(i) || pid.value(i).is_empty() {
                    let (_, _, name) = &chosen[fid.value(i)];
                    errs.push(PlanError {
                        file: name.clone(),
                        line: None,
                        message: format!("part {} has no PRR PART_ID: a qualification needs serialised parts", seq.value(i)),
                    });
                    continue;
                }
                keep.push(i);
            }
            let take = |a: &dyn Array| arrow::compute::take(a, &UInt32Array::from_iter_values(keep.iter().map(|&i| i as u32)), None);
            let ch: Vec<&(String, f64, String)> = keep.iter().map(|&i| &chosen[fid.value(i)]).collect();
            batches.push(RecordBatch::try_new(
                qual::readings_schema(),
                vec![
                    Arc::new(StringArray::from_iter_values(ch.iter().map(|c| c.0.as_str()))),
                    Arc::new(Float64Array::from_iter_values(ch.iter().map(|c| c.1))),
                    take(lot)?,
                    take(pid)?,
                    take(passed)?,
                    take(tnum.as_ref())?,
                    take(tname)?,
                    take(f64c(7))?,
                    take(f64c(8))?,
                    take(f64c(9))?,
                    Arc::new(StringArray::from_iter_values(ch.iter().map(|c| c.2.as_str()))),
                ],
            )?);
        }
    }
    if !errs.is_empty() {
        errs.truncate(20);
        return Err(plan_errors(PlanErrors(errs)));
    }
    qual::evaluate(plan, plan_text, &plan_file, profile, &batches).map_err(plan_errors)
}
