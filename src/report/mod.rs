//! Pictures and documents from the analysis layer's numbers: SVG charts (wafer maps,
//! histograms, Weibull probability and drift plots), PNG renderings of them, SEMI G85 map
//! files, and the verification reports (a `Doc` written as HTML and PDF, and JSON). Nothing here computes a
//! statistic; it draws and writes what `analysis` returns.

pub mod cells;
pub mod doc;
pub mod files;
pub mod fonts;
pub mod g85;
pub mod histogram;
pub mod html;
pub mod lot;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod png;
pub mod qual;
pub mod svg;
pub mod wafermap;
pub mod weibull;
