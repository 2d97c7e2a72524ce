pub mod cli;
pub mod stdf;
