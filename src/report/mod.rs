//! Pictures and documents from the analysis layer's numbers: SVG charts (wafer maps,
//! histograms, Weibull probability plots), PNG renderings of them, and SEMI G85 map files. Nothing here computes
//! a statistic; it draws and writes what `analysis` returns.

pub mod g85;
pub mod histogram;
pub mod png;
pub mod svg;
pub mod wafermap;
pub mod weibull;
