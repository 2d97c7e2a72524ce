//! STDF field types.
//!
//! Decoded values borrow from the record body (`Cow::Borrowed`, raw array views), so
//! decoding a record allocates nothing; the same types hold owned data when a record is
//! built for encoding.

use std::borrow::Cow;
use std::fmt::Write as _;

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

/// An element type of a fixed-width array.
pub trait Elem: Copy + PartialEq + std::fmt::Debug + Show {
    const SIZE: usize;
    fn get(b: &[u8], order: ByteOrder) -> Self;
    fn put(&self, w: &mut Writer);
}
macro_rules! elem {
    ($t:ty, $n:literal, $w:ident) => {
        impl Elem for $t {
            const SIZE: usize = $n;
            #[inline(always)]
            fn get(b: &[u8], order: ByteOrder) -> Self {
                let a: [u8; $n] = b[..$n].try_into().unwrap();
                match order {
                    ByteOrder::Little => <$t>::from_le_bytes(a),
                    ByteOrder::Big => <$t>::from_be_bytes(a),
                }
            }
            fn put(&self, w: &mut Writer) {
                w.$w(*self)
            }
        }
    };
}
elem!(u8, 1, u1);
elem!(u16, 2, u2);
elem!(u32, 4, u4);
elem!(u64, 8, u8);
elem!(f32, 4, r4);

/// `k x TYPE` for fixed-width types: a view over the record bytes when decoded, or a
/// vector when built. Comparison is by value, whatever the representation.
#[derive(Debug, Clone)]
pub enum Array<'a, T: Elem> {
    Raw { bytes: &'a [u8], order: ByteOrder },
    Owned(Vec<T>),
}

impl<T: Elem> Default for Array<'_, T> {
    fn default() -> Self {
        Array::Owned(Vec::new())
    }
}
impl<T: Elem> Array<'_, T> {
    pub fn len(&self) -> usize {
        match self {
            Array::Raw { bytes, .. } => bytes.len() / T::SIZE,
            Array::Owned(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline]
    pub fn get(&self, i: usize) -> Option<T> {
        match self {
            Array::Raw { bytes, order } => bytes.get(i * T::SIZE..(i + 1) * T::SIZE).map(|b| T::get(b, *order)),
            Array::Owned(v) => v.get(i).copied(),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len()).map(move |i| self.get(i).expect("index within len"))
    }
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }
}
impl<T: Elem> From<Vec<T>> for Array<'static, T> {
    fn from(v: Vec<T>) -> Self {
        Array::Owned(v)
    }
}
impl<T: Elem> PartialEq for Array<'_, T> {
    // `a != a` is the generic NaN test: NaN equals NaN here, so that a decoded array
    // equals the one it was encoded from.
    #[allow(clippy::eq_op)]
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b || (a != a && b != b))
    }
}
impl<'a, T: Elem> ArrayField<'a> for Array<'a, T> {
    #[inline]
    fn read(c: &mut Cursor<'a>, count: usize, _width: usize) -> Option<Self> {
        let bytes = c.take(count.checked_mul(T::SIZE)?)?;
        Some(Array::Raw { bytes, order: c.order() })
    }
    fn write(&self, w: &mut Writer, _width: usize) {
        match self {
            Array::Raw { bytes, order } if *order == w.order => w.bytes(bytes),
            _ => self.iter().for_each(|v| v.put(w)),
        }
    }
    fn missing() -> Self {
        Array::default()
    }
}
impl<T: Elem> Show for Array<'_, T> {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.json(out);
        }
        out.push(']');
    }
}

/// `k x N*1`: nibbles packed two per byte, the first in the low four bits.
#[derive(Debug, Clone)]
pub enum Nibbles<'a> {
    Raw { bytes: &'a [u8], len: usize },
    Owned(Vec<u8>),
}
impl Default for Nibbles<'_> {
    fn default() -> Self {
        Nibbles::Owned(Vec::new())
    }
}
impl Nibbles<'_> {
    pub fn len(&self) -> usize {
        match self {
            Nibbles::Raw { len, .. } => *len,
            Nibbles::Owned(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Option<u8> {
        if i >= self.len() {
            return None;
        }
        match self {
            Nibbles::Raw { bytes, .. } => bytes.get(i / 2).map(|b| if i % 2 == 0 { b & 0x0f } else { b >> 4 }),
            Nibbles::Owned(v) => v.get(i).map(|b| b & 0x0f),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.len()).map(move |i| self.get(i).unwrap_or(0))
    }
}
impl PartialEq for Nibbles<'_> {
    fn eq(&self, o: &Self) -> bool {
        // Compare packed bytes so that an odd count's unused high nibble also round-trips.
        let pack = |n: &Nibbles| -> Vec<u8> {
            match n {
                Nibbles::Raw { bytes, .. } => bytes.to_vec(),
                Nibbles::Owned(v) => pack_nibbles(v),
            }
        };
        self.len() == o.len() && pack(self) == pack(o)
    }
}
fn pack_nibbles(v: &[u8]) -> Vec<u8> {
    v.chunks(2).map(|c| (c[0] & 0x0f) | (c.get(1).copied().unwrap_or(0) << 4)).collect()
}
impl<'a> ArrayField<'a> for Nibbles<'a> {
    fn read(c: &mut Cursor<'a>, count: usize, _width: usize) -> Option<Self> {
        let bytes = c.take(count.div_ceil(2))?;
        Some(Nibbles::Raw { bytes, len: count })
    }
    fn write(&self, w: &mut Writer, _width: usize) {
        match self {
            Nibbles::Raw { bytes, .. } => w.bytes(bytes),
            Nibbles::Owned(v) => w.bytes(&pack_nibbles(v)),
        }
    }
    fn missing() -> Self {
        Nibbles::default()
    }
}
impl Show for Nibbles<'_> {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}", v);
        }
        out.push(']');
    }
}

/// `k x U*f` (STR): unsigned values whose width `f` (1, 2, 4 or 8) is an earlier field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UfArray(pub Vec<u64>);

impl<'a> ArrayField<'a> for UfArray {
    fn read(c: &mut Cursor<'a>, count: usize, width: usize) -> Option<Self> {
        if !matches!(width, 1 | 2 | 4 | 8) {
            // A width of 0 means the array is empty whatever the count says.
            return if count == 0 || width == 0 { Some(UfArray(Vec::new())) } else { None };
        }
        // Check the bytes exist before allocating, so a hostile count cannot inflate memory.
        let bytes = c.take(count.checked_mul(width)?)?;
        let mut sub = Cursor::new(bytes, c.order());
        let v = (0..count)
            .map(|_| match width {
                1 => sub.u1().map(u64::from),
                2 => sub.u2().map(u64::from),
                4 => sub.u4().map(u64::from),
                _ => sub.u8(),
            })
            .collect::<Option<Vec<u64>>>()?;
        Some(UfArray(v))
    }
    fn write(&self, w: &mut Writer, width: usize) {
        for &v in &self.0 {
            w.uf(v, width)
        }
    }
    fn missing() -> Self {
        UfArray::default()
    }
}
impl Show for UfArray {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}", v);
        }
        out.push(']');
    }
}

/// `k x C*n` or `k x S*n`: variable-length strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrArray<S>(pub Vec<S>);

impl<'a, S: Field<'a>> ArrayField<'a> for StrArray<S> {
    fn read(c: &mut Cursor<'a>, count: usize, _width: usize) -> Option<Self> {
        // Each element takes at least one byte, so the remaining bytes bound the count.
        if count > c.remaining() {
            return None;
        }
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(S::read(c)?);
        }
        Some(StrArray(v))
    }
    fn write(&self, w: &mut Writer, _width: usize) {
        self.0.iter().for_each(|s| s.write(w))
    }
    fn missing() -> Self {
        StrArray(Vec::new())
    }
}
impl<S: Show> Show for StrArray<S> {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.json(out);
        }
        out.push(']');
    }
}

/// `k x C*f` (STR.USER_TXT): fixed-width strings whose width is an earlier field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedStrArray<'a>(pub Vec<Cow<'a, [u8]>>);

impl<'a> ArrayField<'a> for FixedStrArray<'a> {
    fn read(c: &mut Cursor<'a>, count: usize, width: usize) -> Option<Self> {
        let all = c.take(count.checked_mul(width)?)?;
        if width == 0 {
            return Some(FixedStrArray(vec![Cow::Borrowed(&[][..]); count.min(65535)]));
        }
        Some(FixedStrArray(all.chunks(width).map(Cow::Borrowed).collect()))
    }
    fn write(&self, w: &mut Writer, width: usize) {
        for s in &self.0 {
            let b = &s[..s.len().min(width)];
            w.bytes(b);
            for _ in b.len()..width {
                w.u1(b' ');
            }
        }
    }
    fn missing() -> Self {
        FixedStrArray(Vec::new())
    }
}
impl Show for FixedStrArray<'_> {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(&decode_text(v), out);
        }
        out.push(']');
    }
}

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
