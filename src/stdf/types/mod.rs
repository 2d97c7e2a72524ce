//! STDF field types.
//!
//! Decoded values borrow from the record body (`Cow::Borrowed`, raw array views), so
//! decoding a record allocates nothing; the same types hold owned data when a record is
//! built for encoding.

mod arrays;
mod gen_data;
mod owned;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use arrays::{Array, Elem, FixedStrArray, Nibbles, StrArray, UfArray};
pub use gen_data::{GenData, GenValue};
pub use owned::IntoStatic;

/// Byte order of a file, from FAR.CPU_TYPE (1 = big-endian, 2 = little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// The FAR.CPU_TYPE value an encoder writes for this order.
    pub fn cpu_type(self) -> u8 {
        match self {
            ByteOrder::Big => 1,
            ByteOrder::Little => 2,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

/// Bounds-checked reads from one record body. Every read returns `None` at the end of the
/// body instead of failing, because STDF allows trailing fields to be left out.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    order: ByteOrder,
}

macro_rules! cursor_num {
    ($name:ident, $t:ty, $n:literal) => {
        #[inline(always)]
        pub fn $name(&mut self) -> Option<$t> {
            let b: [u8; $n] = self.buf.get(self.pos..self.pos + $n)?.try_into().ok()?;
            self.pos += $n;
            Some(match self.order {
                ByteOrder::Little => <$t>::from_le_bytes(b),
                ByteOrder::Big => <$t>::from_be_bytes(b),
            })
        }
    };
}

impl<'a> Cursor<'a> {
    #[inline]
    pub fn new(buf: &'a [u8], order: ByteOrder) -> Self {
        Cursor { buf, pos: 0, order }
    }
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }
    #[inline]
    pub fn order(&self) -> ByteOrder {
        self.order
    }
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
    /// Takes `n` bytes if present; a length field can never make us read (or allocate)
    /// past the body.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    #[inline(always)]
    pub fn u1(&mut self) -> Option<u8> {
        let v = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }
    #[inline(always)]
    pub fn i1(&mut self) -> Option<i8> {
        self.u1().map(|v| v as i8)
    }
    cursor_num!(u2, u16, 2);
    cursor_num!(u4, u32, 4);
    cursor_num!(u8, u64, 8);
    cursor_num!(i2, i16, 2);
    cursor_num!(i4, i32, 4);
    cursor_num!(r4, f32, 4);
    cursor_num!(r8, f64, 8);
}

/// Accumulates an encoded record body.
#[derive(Debug)]
pub struct Writer {
    pub buf: Vec<u8>,
    pub order: ByteOrder,
}

macro_rules! writer_num {
    ($name:ident, $t:ty) => {
        #[inline]
        pub fn $name(&mut self, v: $t) {
            match self.order {
                ByteOrder::Little => self.buf.extend_from_slice(&v.to_le_bytes()),
                ByteOrder::Big => self.buf.extend_from_slice(&v.to_be_bytes()),
            }
        }
    };
}

impl Writer {
    pub fn new(order: ByteOrder) -> Self {
        Writer { buf: Vec::with_capacity(256), order }
    }
    #[inline]
    pub fn u1(&mut self, v: u8) {
        self.buf.push(v);
    }
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    writer_num!(u2, u16);
    writer_num!(u4, u32);
    writer_num!(u8, u64);
    writer_num!(i2, i16);
    writer_num!(i4, i32);
    writer_num!(r4, f32);
    writer_num!(r8, f64);
    /// Writes an unsigned value in `width` bytes (STR's U*f fields).
    pub fn uf(&mut self, v: u64, width: usize) {
        match width {
            1 => self.u1(v as u8),
            2 => self.u2(v as u16),
            4 => self.u4(v as u32),
            8 => self.u8(v),
            _ => {}
        }
    }
}

/// Text output for `dump`: JSON values, plus an ATDF-like plain form.
pub trait Show {
    fn json(&self, out: &mut String);
    fn text(&self, out: &mut String) {
        self.json(out)
    }
}

/// A scalar or self-describing field (its length, if any, is stored inside the field).
pub trait Field<'a>: Sized {
    fn read(c: &mut Cursor<'a>) -> Option<Self>;
    fn write(&self, w: &mut Writer);
    /// What an encoder writes for an absent field that is followed by a present one.
    fn missing() -> Self;
}

/// A `k x TYPE` array whose count (and for `U*f`/`C*f`, element width) is held in earlier
/// fields of the record.
pub trait ArrayField<'a>: Sized {
    fn read(c: &mut Cursor<'a>, count: usize, width: usize) -> Option<Self>;
    fn write(&self, w: &mut Writer, width: usize);
    fn missing() -> Self;
}

/// Converts a count field's value to an array length.
pub trait AsCount {
    fn as_count(&self) -> usize;
}
impl AsCount for u8 {
    fn as_count(&self) -> usize {
        *self as usize
    }
}
impl AsCount for u16 {
    fn as_count(&self) -> usize {
        *self as usize
    }
}
impl AsCount for u32 {
    fn as_count(&self) -> usize {
        *self as usize
    }
}

macro_rules! num_field {
    ($t:ty, $r:ident) => {
        impl<'a> Field<'a> for $t {
            #[inline(always)]
            fn read(c: &mut Cursor<'a>) -> Option<Self> {
                c.$r()
            }
            #[inline]
            fn write(&self, w: &mut Writer) {
                w.$r(*self)
            }
            fn missing() -> Self {
                0 as $t
            }
        }
    };
}
num_field!(u8, u1);
num_field!(u16, u2);
num_field!(u32, u4);
num_field!(u64, u8);
num_field!(i16, i2);
num_field!(i32, i4);
num_field!(f32, r4);
num_field!(f64, r8);

impl<'a> Field<'a> for i8 {
    #[inline(always)]
    fn read(c: &mut Cursor<'a>) -> Option<Self> {
        c.i1()
    }
    fn write(&self, w: &mut Writer) {
        w.u1(*self as u8)
    }
    fn missing() -> Self {
        0
    }
}

macro_rules! show_int {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn json(&self, out: &mut String) { let _ = write!(out, "{}", self); }
        }
    )*};
}
show_int!(u8, u16, u32, u64, i8, i16, i32);

fn show_float(v: f64, out: &mut String) {
    if v.is_finite() {
        let _ = write!(out, "{}", v);
    } else {
        // JSON has no NaN/Inf; quote them so the line stays valid JSON.
        let _ = write!(out, "\"{}\"", v);
    }
}
impl Show for f32 {
    fn json(&self, out: &mut String) {
        // Print the shortest form that round-trips an f32, not its f64 widening.
        if self.is_finite() {
            let _ = write!(out, "{}", self);
        } else {
            show_float(*self as f64, out)
        }
    }
}
impl Show for f64 {
    fn json(&self, out: &mut String) {
        show_float(*self, out)
    }
}

/// Writes `s` as a JSON string literal.
pub fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes text bytes: UTF-8 when valid, otherwise Latin-1 (every byte is a character),
/// so that no tester string is ever rejected or mangled into replacement characters.
pub fn decode_text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(b.iter().map(|&c| c as char).collect()),
    }
}

/// C*1: one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct C1(pub u8);

impl C1 {
    pub fn as_char(self) -> char {
        self.0 as char
    }
}
impl<'a> Field<'a> for C1 {
    #[inline(always)]
    fn read(c: &mut Cursor<'a>) -> Option<Self> {
        c.u1().map(C1)
    }
    fn write(&self, w: &mut Writer) {
        w.u1(self.0)
    }
    fn missing() -> Self {
        C1(b' ')
    }
}
impl Show for C1 {
    fn json(&self, out: &mut String) {
        json_str(&(self.0 as char).to_string(), out)
    }
    fn text(&self, out: &mut String) {
        out.push(self.0 as char)
    }
}

macro_rules! byte_string {
    ($(#[$m:meta])* $name:ident, $len:ident, $lent:ty, $max:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
        pub struct $name<'a>(pub Cow<'a, [u8]>);

        impl<'a> $name<'a> {
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
            /// UTF-8, or Latin-1 when the bytes are not valid UTF-8.
            pub fn to_str(&self) -> Cow<'_, str> {
                decode_text(&self.0)
            }
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
            pub fn into_owned(self) -> $name<'static> {
                $name(Cow::Owned(self.0.into_owned()))
            }
        }
        impl<'a> From<&'a str> for $name<'a> {
            fn from(s: &'a str) -> Self {
                $name(Cow::Borrowed(s.as_bytes()))
            }
        }
        impl From<String> for $name<'static> {
            fn from(s: String) -> Self {
                $name(Cow::Owned(s.into_bytes()))
            }
        }
        impl<'a> Field<'a> for $name<'a> {
            #[inline(always)]
            fn read(c: &mut Cursor<'a>) -> Option<Self> {
                let n = c.$len()? as usize;
                c.take(n).map(|b| $name(Cow::Borrowed(b)))
            }
            fn write(&self, w: &mut Writer) {
                // Longer values cannot be represented; truncate rather than corrupt the file.
                let b = &self.0[..self.0.len().min($max)];
                w.$len(b.len() as $lent);
                w.bytes(b);
            }
            fn missing() -> Self {
                $name(Cow::Borrowed(&[]))
            }
        }
    };
}

byte_string!(
    /// C*n: a string with a one-byte length.
    Cn, u1, u8, 255
);
byte_string!(
    /// S*n: a string with a two-byte length (V4-2007).
    Sn, u2, u16, 65535
);
byte_string!(
    /// B*n: bytes with a one-byte count.
    Bn, u1, u8, 255
);

impl Show for Cn<'_> {
    fn json(&self, out: &mut String) {
        json_str(&self.to_str(), out)
    }
    fn text(&self, out: &mut String) {
        out.push_str(&self.to_str())
    }
}
impl Show for Sn<'_> {
    fn json(&self, out: &mut String) {
        json_str(&self.to_str(), out)
    }
    fn text(&self, out: &mut String) {
        out.push_str(&self.to_str())
    }
}
fn show_hex(b: &[u8], out: &mut String) {
    for x in b {
        let _ = write!(out, "{:02x}", x);
    }
}
impl Show for Bn<'_> {
    fn json(&self, out: &mut String) {
        out.push('"');
        show_hex(&self.0, out);
        out.push('"');
    }
    fn text(&self, out: &mut String) {
        show_hex(&self.0, out)
    }
}

/// D*n: a bit field with a two-byte bit count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn<'a> {
    pub bits: u16,
    pub data: Cow<'a, [u8]>,
}

impl Dn<'_> {
    /// Indices of the set bits (for FTR.FAIL_PIN these are PMR indexes of failing pins).
    pub fn set_bits(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.bits as usize).filter(|i| self.data.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
    }
    pub fn from_bits(bits: &[usize], nbits: u16) -> Dn<'static> {
        let mut data = vec![0u8; (nbits as usize).div_ceil(8)];
        for &b in bits {
            if b < nbits as usize {
                data[b / 8] |= 1 << (b % 8);
            }
        }
        Dn { bits: nbits, data: Cow::Owned(data) }
    }
}
impl<'a> Field<'a> for Dn<'a> {
    fn read(c: &mut Cursor<'a>) -> Option<Self> {
        let bits = c.u2()?;
        let data = c.take((bits as usize).div_ceil(8))?;
        Some(Dn { bits, data: Cow::Borrowed(data) })
    }
    fn write(&self, w: &mut Writer) {
        w.u2(self.bits);
        let n = (self.bits as usize).div_ceil(8);
        let d = &self.data[..n.min(self.data.len())];
        w.bytes(d);
        for _ in d.len()..n {
            w.u1(0);
        }
    }
    fn missing() -> Self {
        Dn::default()
    }
}
impl Show for Dn<'_> {
    fn json(&self, out: &mut String) {
        let _ = write!(out, "{{\"bits\":{},\"hex\":\"", self.bits);
        show_hex(&self.data, out);
        out.push_str("\"}");
    }
    fn text(&self, out: &mut String) {
        let _ = write!(out, "{}:", self.bits);
        show_hex(&self.data, out);
    }
}
