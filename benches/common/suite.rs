//! The query suite (`tests/query-suite.sql`) as (name, SQL) pairs: one `-- name:` block
//! per query. Shared by the serve benchmark and `tests/it/serve.rs` (by `#[path]`).

pub fn suite() -> Vec<(String, String)> {
    include_str!("../../tests/query-suite.sql")
        .split("-- name: ")
        .skip(1)
        .map(|b| {
            let (name, sql) = b.split_once('\n').expect("a name line, then the query");
            (name.trim().to_string(), sql.trim().trim_end_matches(';').to_string())
        })
        .collect()
}
