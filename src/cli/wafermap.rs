//! `yieldlake wafermap`: bin maps, parametric, stacked and retest maps (SVG and PNG from
//! one drawing), and SEMI G85 files for the assembly house.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rayon::prelude::*;
use yieldlake::analysis::wafermap::{WaferMap, stacked};
use yieldlake::query::answers::{self, BinKind};
use yieldlake::report::cells::MapImage;
use yieldlake::report::g85::{G85Options, write_g85};
use yieldlake::report::wafermap::{MapKind, draw_stacked, draw_wafer};

use super::answers::{file_safe, with_session};
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct WafermapArgs {
    #[arg(long)]
    lake: PathBuf,
    #[arg(long)]
    lot: String,
    /// One wafer (WAFER_ID); every wafer of the lot when absent.
    #[arg(long)]
    wafer: Option<String>,
    #[arg(long, value_enum, default_value_t = BinKind::Hard)]
    bin: BinKind,
    /// Also draw this test's values (number or name) as a heat map.
    #[arg(long)]
    test: Option<String>,
    /// Also draw the lot's stacked fail-rate map.
    #[arg(long)]
    stacked: bool,
    /// Also draw retest maps (first-touch bin against final bin).
    #[arg(long)]
    retest: bool,
    /// Bins written as good in G85 (default: the passing bins).
    #[arg(long, value_delimiter = ',')]
    good_bins: Vec<u16>,
    /// Skip the G85 files.
    #[arg(long)]
    no_g85: bool,
    /// Skip the PNG renderings (SVG only).
    #[arg(long)]
    no_png: bool,
    /// Print the written files as JSON.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(serde::Serialize)]
struct Written {
    wafer_id: String,
    dies: usize,
    yield_pct: Option<f64>,
    files: Vec<String>,
    notes: Vec<String>,
}

fn write_pic(a: &WafermapArgs, stem: &str, img: &MapImage, files: &mut Vec<String>) -> Result<()> {
    let p = a.out.join(format!("{stem}.svg"));
    std::fs::write(&p, img.svg()).with_context(|| format!("writing {}", p.display()))?;
    files.push(p.display().to_string());
    if !a.no_png {
        let p = a.out.join(format!("{stem}.png"));
        std::fs::write(&p, img.png().map_err(anyhow::Error::msg)?).with_context(|| format!("writing {}", p.display()))?;
        files.push(p.display().to_string());
    }
    Ok(())
}

fn one_wafer(a: &WafermapArgs, m: &WaferMap, bin_kind: &str) -> Result<Written> {
    let stem = file_safe(&format!("{}_{}", m.lot_id, m.wafer_id));
    let mut files = Vec::new();
    let (img, _) = draw_wafer(m, MapKind::Bins, bin_kind, None);
    write_pic(a, &format!("{stem}_{bin_kind}bin"), &img, &mut files)?;
    if let Some(t) = &a.test {
        let (img, _) = draw_wafer(m, MapKind::Parametric, bin_kind, Some(t));
        write_pic(a, &format!("{stem}_test_{}", file_safe(t)), &img, &mut files)?;
    }
    if a.retest {
        let (img, _) = draw_wafer(m, MapKind::Retest, bin_kind, None);
        write_pic(a, &format!("{stem}_retest"), &img, &mut files)?;
    }
    if !a.no_g85 {
        let opts = G85Options {
            good_bins: (!a.good_bins.is_empty()).then(|| a.good_bins.iter().copied().collect::<BTreeSet<u16>>()),
            ..Default::default()
        };
        let p = a.out.join(format!("{stem}.g85.xml"));
        let f = std::io::BufWriter::new(std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?);
        write_g85(m, &opts, f)?;
        files.push(p.display().to_string());
    }
    Ok(Written { wafer_id: m.wafer_id.clone(), dies: m.dies.len(), yield_pct: m.yield_pct, files, notes: m.notes.clone() })
}

pub fn run(a: WafermapArgs) -> Result<ExitCode> {
    with_session(&a.lake.clone(), &a.engine.clone(), async |ctx| {
        let maps = answers::wafer_maps(ctx, &a.lot, a.wafer.as_deref(), a.bin, a.test.as_deref()).await?;
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        let bin_kind = if a.bin == BinKind::Hard { "hard" } else { "soft" };
        let mut written: Vec<Written> = maps.par_iter().map(|m| one_wafer(&a, m, bin_kind)).collect::<Result<_>>()?;
        if a.stacked {
            let st = stacked(&maps);
            let (img, _) = draw_stacked(&a.lot, maps.len(), &st, &maps[0].geometry);
            let mut files = Vec::new();
            write_pic(&a, &format!("{}_stacked", file_safe(&a.lot)), &img, &mut files)?;
            written.push(Written { wafer_id: "(stacked)".into(), dies: st.len(), yield_pct: None, files, notes: vec![] });
        }
        if a.json {
            outln!("{}", serde_json::to_string_pretty(&written)?);
        } else {
            for w in &written {
                let y = w.yield_pct.map(|y| format!(", yield {y:.2} %")).unwrap_or_default();
                outln!("{} {}: {} dies{y}", a.lot, w.wafer_id, w.dies);
                for n in &w.notes {
                    outln!("  note: {n}");
                }
                for f in &w.files {
                    outln!("  {f}");
                }
            }
        }
        Ok(())
    })
}
