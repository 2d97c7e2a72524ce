//! `yieldlake syl`: statistical yield and bin limits (AEC-Q002) over a product's lots,
//! and each lot's disposition with its reasons.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use yieldlake::analysis::syl::{BinModel, Status, SylConfig, YieldModel};
use yieldlake::query::screens;

use super::answers::with_session;
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct SylArgs {
    #[arg(long)]
    lake: PathBuf,
    /// The product (MIR PART_TYP).
    #[arg(long)]
    product: String,
    /// Only this stage (wafer_sort, final_test) or insertion (e.g. FT1/HOT/125).
    #[arg(long)]
    stage: Option<String>,
    /// Limits from this many most recent earlier lots.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Earlier lots needed before a lot is judged.
    #[arg(long, default_value_t = 6)]
    min_lots: usize,
    /// normal: μ − 3σ / μ − 4σ of yield; logit: the same on logit(yield), for yields near 100 %.
    #[arg(long, value_enum, default_value_t = YieldModel::Normal)]
    yield_model: YieldModel,
    /// normal: μ + 3σ / μ + 4σ of bin %; poisson: Poisson tail limits, for rare bins.
    #[arg(long, value_enum, default_value_t = BinModel::Normal)]
    bin_model: BinModel,
    /// Print JSON: one object per lot with its limits, status and reasons.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(a: SylArgs) -> Result<ExitCode> {
    if a.min_lots < 2 || a.window < a.min_lots {
        anyhow::bail!("--min-lots must be at least 2 and --window at least --min-lots");
    }
    let cfg = SylConfig { window: a.window, min_lots: a.min_lots, yield_model: a.yield_model, bin_model: a.bin_model };
    with_session(&a.lake, &a.engine, async |ctx| {
        let v = screens::syl(ctx, &a.product, a.stage.as_deref(), &cfg).await?;
        if a.json {
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "product": a.product, "settings": cfg, "lots": v }))?);
            return Ok(());
        }
        outln!("{:<16} {:<20} {:>7} {:>8} {:>8} {:>8}  status  reasons", "lot", "stage", "units", "yield%", "SYL1", "SYL2");
        for l in &v {
            let f = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
            let reasons: Vec<String> = l
                .reasons
                .iter()
                .map(|r| match r.bin {
                    Some(b) => format!("{} bin {b}: {:.2} % > {:.2} %", r.limit, r.value, r.limit_value),
                    None => format!("{}: {:.2} % < {:.2} %", r.limit, r.value, r.limit_value),
                })
                .collect();
            let status = match l.status {
                Status::Normal => "normal",
                Status::Review => "REVIEW",
                Status::Hold => "HOLD",
                Status::InsufficientHistory => "(history)",
            };
            outln!(
                "{:<16} {:<20} {:>7} {:>8.2} {:>8} {:>8}  {status:<7} {}",
                l.lot_id,
                l.scope,
                l.units,
                l.yield_pct,
                f(l.syl1),
                f(l.syl2),
                reasons.join("; ")
            );
        }
        Ok(())
    })
}
