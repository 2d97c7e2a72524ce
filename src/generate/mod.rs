//! `yieldlake generate`: realistic synthetic STDF with a ground-truth sidecar.
//!
//! Every file `X.stdf[.gz…]` gets `X.truth.json` beside it, recording what was injected
//! (true yields, defect signatures, outliers, drift and failure times). Output depends
//! only on the options and the seed.

pub mod final_test;
pub mod out;
pub mod qual;
pub mod rng;
pub mod wafer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::stdf::{ByteOrder, Compression};

/// 2026-01-01T00:00:00Z: generated timestamps start here, so files never depend on the clock.
pub const BASE_TIME: u32 = 1_767_225_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    AutoIcWs,
    AutoIcFt,
    PowerMosfet,
    QualReadpoints,
    #[value(name = "v4-2007")]
    #[serde(rename = "v4-2007")]
    V42007,
    /// Every profile, each in its own sub-directory.
    All,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::AutoIcWs => "auto-ic-ws",
            Profile::AutoIcFt => "auto-ic-ft",
            Profile::PowerMosfet => "power-mosfet",
            Profile::QualReadpoints => "qual-readpoints",
            Profile::V42007 => "v4-2007",
            Profile::All => "all",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub profile: Profile,
    pub out: PathBuf,
    pub lots: u32,
    pub wafers: u32,
    pub seed: u64,
    /// Multiplies data volume: dies per wafer (wafer sort), parts (final test, qual).
    pub scale: f64,
    pub order: ByteOrder,
    pub compression: Compression,
    pub sites: Option<u8>,
    pub tests: Option<u32>,
    /// A product history for SYL/SBL: the 9th lot has low yield and the 11th an excess of
    /// hard bin 3, recorded in the truth as `lot_anomaly` (wafer sort; needs 12 lots).
    pub history: bool,
    /// qual-readpoints: the first this many of `qual::STRESSES` (5 by default, up to 10).
    pub qual_stresses: usize,
}

impl GenOptions {
    /// Dies per wafer: about 3,000 at scale 1.
    pub fn dies_per_wafer(&self) -> u32 {
        ((3000.0 * self.scale).round() as u32).max(12)
    }
    /// The abnormal lots of a `history` run.
    pub fn lot_anomaly(&self, lot: u32) -> Option<wafer::LotAnomaly> {
        match (self.history, lot) {
            (true, 8) => Some(wafer::LotAnomaly::LowYield),
            (true, 10) => Some(wafer::LotAnomaly::ExcessBin),
            _ => None,
        }
    }
    pub fn lot_id(&self, lot: u32) -> String {
        format!("YL{}-{:02}", self.seed, lot + 1)
    }
}

/// One written file.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub path: PathBuf,
    /// Uncompressed STDF bytes.
    pub bytes: u64,
    pub records: u64,
    pub truth_path: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct GenReport {
    pub files: Vec<Generated>,
    pub bytes: u64,
    pub seconds: f64,
}

impl GenReport {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

#[derive(Serialize)]
struct Sidecar<'a, T: Serialize> {
    profile: &'a str,
    file: String,
    seed: u64,
    lot_id: &'a str,
    generator: String,
    truth: &'a T,
}

fn sidecar<T: Serialize>(g: &mut Generated, profile: Profile, o: &GenOptions, lot_id: &str, truth: &T) -> std::io::Result<()> {
    let name = g.path.file_name().unwrap().to_string_lossy().to_string();
    let stem = name.split(".stdf").next().unwrap().to_string();
    let p = g.path.with_file_name(format!("{stem}.truth.json"));
    let s = Sidecar {
        profile: profile.name(),
        file: name,
        seed: o.seed,
        lot_id,
        generator: format!("yieldlake {}", env!("CARGO_PKG_VERSION")),
        truth,
    };
    let mut text = serde_json::to_string_pretty(&s).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&p, text)?;
    g.truth_path = Some(p);
    Ok(())
}

#[derive(Serialize)]
struct FtTruth<'a> {
    insertion: &'a final_test::InsertionTruth,
    /// Every part: serial -> (lot, wafer, X, Y). PRR.PART_TXT holds `LOT:WAFER_ID:X:Y`.
    trace: &'a [final_test::Trace],
}

#[derive(Serialize)]
struct QualTruth<'a> {
    readpoint: u32,
    stress: &'a qual::StressTruth,
}

/// Generates the files of `o.profile` under `o.out`; `progress` is called per file.
pub fn generate(o: &GenOptions, mut progress: impl FnMut(&Generated)) -> std::io::Result<GenReport> {
    let start = Instant::now();
    let mut files = Vec::new();
    let profiles: Vec<Profile> = if o.profile == Profile::All {
        vec![Profile::AutoIcWs, Profile::AutoIcFt, Profile::PowerMosfet, Profile::QualReadpoints, Profile::V42007]
    } else {
        vec![o.profile]
    };
    for p in profiles {
        let dir = if o.profile == Profile::All { o.out.join(p.name()) } else { o.out.clone() };
        generate_one(o, p, &dir, &mut |g| {
            progress(&g);
            files.push(g);
        })?;
    }
    let bytes = files.iter().map(|f| f.bytes).sum();
    Ok(GenReport { files, bytes, seconds: start.elapsed().as_secs_f64() })
}

fn generate_one(o: &GenOptions, p: Profile, dir: &Path, emit: &mut dyn FnMut(Generated)) -> std::io::Result<()> {
    match p {
        Profile::AutoIcWs | Profile::V42007 => {
            let v2007 = p == Profile::V42007;
            // The V4-2007 profile is one small wafer: it exists to exercise the new records.
            let (lots, wafers) = if v2007 { (1, 1) } else { (o.lots, o.wafers) };
            let small;
            let opts = if v2007 {
                small = GenOptions { scale: o.scale.min(0.02), ..o.clone() };
                &small
            } else {
                o
            };
            for lot in 0..lots {
                let lot_id = if v2007 { format!("YL{}-V7", o.seed) } else { o.lot_id(lot) };
                for w in 0..wafers {
                    let job = wafer::WaferJob { opts, lot_id: &lot_id, lot, wafer: w, v2007 };
                    let (mut g, truth) = wafer::write_wafer(&job, dir)?;
                    sidecar(&mut g, p, o, &lot_id, &truth)?;
                    emit(g);
                }
            }
        }
        Profile::AutoIcFt => {
            for lot in 0..o.lots {
                let lot_id = o.lot_id(lot);
                let parts = final_test::ft_parts(o, &lot_id);
                for (mut g, t) in final_test::write_ft_lot(o, lot, &lot_id, dir)? {
                    sidecar(&mut g, p, o, &lot_id, &FtTruth { insertion: &t, trace: &parts })?;
                    emit(g);
                }
            }
        }
        Profile::PowerMosfet => {
            for lot in 0..o.lots {
                let lot_id = format!("YL{}-P{:02}", o.seed, lot + 1);
                let (mut g, t) = final_test::write_mosfet_lot(o, lot, &lot_id, dir)?;
                sidecar(&mut g, p, o, &lot_id, &t)?;
                emit(g);
            }
        }
        Profile::QualReadpoints => {
            for lot in 0..o.lots {
                let lot_id = format!("YL{}-Q{:02}", o.seed, lot + 1);
                for (mut g, t, rp) in qual::write_qual_lot(o, lot, &lot_id, dir)? {
                    sidecar(&mut g, p, o, &lot_id, &QualTruth { readpoint: rp, stress: &t })?;
                    emit(g);
                }
            }
        }
        Profile::All => unreachable!("expanded by generate()"),
    }
    Ok(())
}
