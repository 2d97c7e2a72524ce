//! The views registered with every session: the SQL quality teams would otherwise write
//! by hand. `yieldlake tables --json` publishes them, so that DuckDB, polars or Spark
//! users define the same views over the same files.

/// Views registered with every session.
pub const VIEWS: &[(&str, &str, &str)] = &[
    ("final_parts", "Only the deciding (last) touch of each die or part in each file.", "SELECT * FROM parts WHERE is_final"),
    (
        "results_final",
        "Results joined to their part, die, site and wafer; final touches only.",
        "SELECT r.*, p.wafer_index, p.wafer_id, p.x, p.y, p.part_id, p.hard_bin, p.soft_bin, p.passed AS part_passed, p.retest_index \
         FROM results r JOIN parts p ON r.file_id = p.file_id AND r.part_seq = p.part_seq WHERE p.is_final",
    ),
    (
        "final_dies",
        "The deciding touch of each die across all files of its lot: a re-probe in a later file (by MIR start time) supersedes earlier ones.",
        "SELECT * FROM (SELECT p.*, f.start_t AS file_start_t, row_number() OVER (PARTITION BY p.lot_id, p.touch_key          ORDER BY f.start_t DESC NULLS LAST, f.finish_t DESC NULLS LAST, f.file_id DESC, p.part_seq DESC) AS lot_touch_rank          FROM parts p JOIN files f ON p.file_id = f.file_id WHERE p.touch_key LIKE 'w:%') AS touches WHERE lot_touch_rank = 1",
    ),
];

/// Views over the derived tables (see `lake::derived`): yieldlake sessions only, as the
/// derived tables are not ingested files.
pub const DERIVED_VIEWS: &[(&str, &str, &str)] = &[(
    "pat_final_parts",
    "final_parts with each part's bin after the latest PAT screening of its lot: screened parts take the PAT bin.",
    "SELECT p.*, o.screens, CASE WHEN o.pat_bin IS NULL THEN p.hard_bin ELSE o.pat_bin END AS screened_hard_bin, \
     (coalesce(p.passed, false) AND o.pat_bin IS NULL) AS screened_passed FROM final_parts p LEFT JOIN \
     (SELECT file_id, part_seq, min(pat_bin) AS pat_bin, string_agg(DISTINCT screen, ',') AS screens FROM pat_outliers GROUP BY file_id, part_seq) o \
     ON p.file_id = o.file_id AND p.part_seq = o.part_seq",
)];
