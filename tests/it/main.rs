//! One integration-test binary (one link step), with a module per area.

mod alloc;
mod cli;
mod common;
mod corpus;
mod generate;
mod hostile;
mod resolver;
mod roundtrip;
