//! STDF V4 / V4-2007 decoding and encoding.
//!
//! Layers, bottom up: [`reader`] frames records without copying their bodies;
//! [`records`] decodes a body into typed fields (borrowing, never failing);
//! [`resolve`] applies the first-PTR default rule and test identity; [`writer`] encodes.

pub mod catalog;
pub mod error;
pub mod reader;
pub mod records;
pub mod resolve;
pub mod summary;
pub mod text;
pub mod types;
pub mod writer;

pub use error::{ErrorKind, StdfError};
pub use reader::{Compression, RawRecord, StdfReader};
pub use records::*;
pub use resolve::{Limits, PtrResolved, TestInfo, TestKind, TestResolver};
pub use types::{ByteOrder, Cn, Show};
pub use writer::StdfWriter;
