//! The encoder: writes records in either byte order.

use std::io::{self, Write};

use super::records::{Far, Record};
use super::types::{ByteOrder, Writer};

/// Writes records to `W`. A FAR's CPU_TYPE is set to match the chosen byte order, since
/// a reader takes the order from it.
pub struct StdfWriter<W: Write> {
    out: W,
    scratch: Writer,
    written: u64,
    records: u64,
}

impl<W: Write> StdfWriter<W> {
    pub fn new(out: W, order: ByteOrder) -> Self {
        StdfWriter { out, scratch: Writer::new(order), written: 0, records: 0 }
    }
    pub fn order(&self) -> ByteOrder {
        self.scratch.order
    }
    pub fn write(&mut self, rec: &Record<'_>) -> io::Result<()> {
        self.scratch.buf.clear();
        match rec {
            Record::Far(f) => Far { cpu_type: Some(self.scratch.order.cpu_type()), ..f.clone() }.encode(&mut self.scratch),
            r => r.encode_body(&mut self.scratch),
        }
        let (typ, sub) = rec.typ_sub();
        self.write_raw(typ, sub, None)
    }

    /// Writes a record whose body is already encoded (in this writer's byte order).
    pub fn write_body(&mut self, typ: u8, sub: u8, body: &[u8]) -> io::Result<()> {
        self.write_raw(typ, sub, Some(body))
    }

    fn write_raw(&mut self, typ: u8, sub: u8, body: Option<&[u8]>) -> io::Result<()> {
        let body = body.unwrap_or(&self.scratch.buf);
        let len = u16::try_from(body.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("record {typ}/{sub} body is {} bytes; STDF allows 65535", body.len()))
        })?;
        let lb = match self.scratch.order {
            ByteOrder::Little => len.to_le_bytes(),
            ByteOrder::Big => len.to_be_bytes(),
        };
        self.out.write_all(&[lb[0], lb[1], typ, sub])?;
        self.out.write_all(body)?;
        self.written += 4 + body.len() as u64;
        self.records += 1;
        Ok(())
    }
    pub fn bytes_written(&self) -> u64 {
        self.written
    }
    pub fn records_written(&self) -> u64 {
        self.records
    }
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Encodes records into a new byte vector.
pub fn encode_all<'a>(records: impl IntoIterator<Item = &'a Record<'a>>, order: ByteOrder) -> io::Result<Vec<u8>> {
    let mut w = StdfWriter::new(Vec::new(), order);
    for r in records {
        w.write(r)?;
    }
    Ok(w.into_inner())
}
