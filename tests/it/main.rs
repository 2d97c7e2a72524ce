//! One integration-test binary (one link step), with a module per area.

mod alloc;
mod answers;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod common;
mod corpus;
mod generate;
mod group_by;
mod hostile;
mod lake;
mod lake_job;
mod layers;
mod nightly;
mod qual;
mod reliability;
mod reports;
mod resolver;
mod roundtrip;
mod screens;
mod serve;

/// Every file below a directory (used by several modules).
pub fn generate_walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { v.extend(generate_walk(&p)) } else { v.push(p) }
    }
    v
}
