pub mod cli;
pub mod generate;
pub mod stdf;
