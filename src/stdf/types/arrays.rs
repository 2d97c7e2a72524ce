//! Array fields: `k x TYPE` for fixed-width elements, nibbles, `U*f`, and strings.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::*;

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
            Nibbles::Raw { bytes, .. } => bytes.get(i / 2).map(|b| if i.is_multiple_of(2) { b & 0x0f } else { b >> 4 }),
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
