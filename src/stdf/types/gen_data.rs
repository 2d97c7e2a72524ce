//! GDR.GEN_DATA: self-describing typed values.

use super::*;

/// One GDR V*n value, type code first. `Pad` is the type-0 pad byte some testers insert
/// to align fields; it is kept so that records re-encode byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub enum GenValue<'a> {
    Pad,
    U1(u8),
    U2(u16),
    U4(u32),
    I1(i8),
    I2(i16),
    I4(i32),
    R4(f32),
    R8(f64),
    Cn(Cn<'a>),
    Bn(Bn<'a>),
    Dn(Dn<'a>),
    N1(u8),
}

impl<'a> GenValue<'a> {
    fn read(c: &mut Cursor<'a>) -> Option<Self> {
        Some(match c.u1()? {
            0 => GenValue::Pad,
            1 => GenValue::U1(c.u1()?),
            2 => GenValue::U2(c.u2()?),
            3 => GenValue::U4(c.u4()?),
            4 => GenValue::I1(c.i1()?),
            5 => GenValue::I2(c.i2()?),
            6 => GenValue::I4(c.i4()?),
            7 => GenValue::R4(c.r4()?),
            8 => GenValue::R8(c.r8()?),
            10 => GenValue::Cn(Cn::read(c)?),
            11 => GenValue::Bn(Bn::read(c)?),
            12 => GenValue::Dn(Dn::read(c)?),
            13 => GenValue::N1(c.u1()?),
            _ => return None,
        })
    }
    fn write(&self, w: &mut Writer) {
        match self {
            GenValue::Pad => w.u1(0),
            GenValue::U1(v) => {
                w.u1(1);
                w.u1(*v)
            }
            GenValue::U2(v) => {
                w.u1(2);
                w.u2(*v)
            }
            GenValue::U4(v) => {
                w.u1(3);
                w.u4(*v)
            }
            GenValue::I1(v) => {
                w.u1(4);
                w.u1(*v as u8)
            }
            GenValue::I2(v) => {
                w.u1(5);
                w.i2(*v)
            }
            GenValue::I4(v) => {
                w.u1(6);
                w.i4(*v)
            }
            GenValue::R4(v) => {
                w.u1(7);
                w.r4(*v)
            }
            GenValue::R8(v) => {
                w.u1(8);
                w.r8(*v)
            }
            GenValue::Cn(v) => {
                w.u1(10);
                v.write(w)
            }
            GenValue::Bn(v) => {
                w.u1(11);
                v.write(w)
            }
            GenValue::Dn(v) => {
                w.u1(12);
                v.write(w)
            }
            GenValue::N1(v) => {
                w.u1(13);
                w.u1(*v)
            }
        }
    }
}

/// GDR.GEN_DATA: FLD_CNT typed values. Type-0 pad bytes count toward FLD_CNT (as in
/// real UltraFLEX files) and are kept in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenData<'a>(pub Vec<GenValue<'a>>);

impl<'a> ArrayField<'a> for GenData<'a> {
    fn read(c: &mut Cursor<'a>, count: usize, _width: usize) -> Option<Self> {
        if count > c.remaining() {
            return None;
        }
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(GenValue::read(c)?);
        }
        Some(GenData(v))
    }
    fn write(&self, w: &mut Writer, _width: usize) {
        self.0.iter().for_each(|g| g.write(w))
    }
    fn missing() -> Self {
        GenData(Vec::new())
    }
}
impl Show for GenData<'_> {
    fn json(&self, out: &mut String) {
        out.push('[');
        let mut first = true;
        for g in &self.0 {
            if *g == GenValue::Pad {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            match g {
                GenValue::Pad => {}
                GenValue::U1(v) | GenValue::N1(v) => v.json(out),
                GenValue::U2(v) => v.json(out),
                GenValue::U4(v) => v.json(out),
                GenValue::I1(v) => v.json(out),
                GenValue::I2(v) => v.json(out),
                GenValue::I4(v) => v.json(out),
                GenValue::R4(v) => v.json(out),
                GenValue::R8(v) => v.json(out),
                GenValue::Cn(v) => v.json(out),
                GenValue::Bn(v) => v.json(out),
                GenValue::Dn(v) => v.json(out),
            }
        }
        out.push(']');
    }
}
