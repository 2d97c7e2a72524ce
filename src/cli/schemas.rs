//! `yieldlake schemas`: the table schemas, and the JSON Schemas of the qualification plan
//! and profile, as the documents kept in `schemas/`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use yieldlake::table::schema;

use super::output::outln;

#[derive(clap::Args)]
pub struct SchemasArgs {
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
}

pub fn run(a: SchemasArgs) -> Result<ExitCode> {
    let out = &a.out;
    std::fs::create_dir_all(out)?;
    for t in schema::TABLES {
        let p = out.join(format!("{}.json", t.name));
        std::fs::write(&p, schema::schema_file_text(t))?;
        outln!("wrote {}", p.display());
    }
    // The tables commands write back into the lake.
    for (name, sch) in [
        ("pat_outliers", yieldlake::analysis::pat::outliers_schema()),
        ("qual_results", yieldlake::analysis::qual::results_schema()),
        ("qual_drift", yieldlake::analysis::qual::drift_schema()),
    ] {
        let (doc, path) =
            yieldlake::lake::derived_table_doc(name).ok_or_else(|| anyhow::anyhow!("{name} is not a derived table of the lake"))?;
        let p = out.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string_pretty(&schema::derived_table_json(name, doc, path, &sch))? + "\n")?;
        outln!("wrote {}", p.display());
    }
    for (name, v) in [
        ("qual-plan", yieldlake::analysis::qual::plan::plan_json_schema()),
        ("qual-profile", yieldlake::analysis::qual::plan::profile_json_schema()),
        ("qual-report", yieldlake::report::qual::json_schema()),
        ("lot-report", yieldlake::report::lot::json_schema()),
        ("nightly", super::nightly::json_schema()),
    ] {
        let p = out.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string_pretty(&v)? + "\n")?;
        outln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
