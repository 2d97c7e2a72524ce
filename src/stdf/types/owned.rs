//! Copies of decoded values that borrow nothing, so that a record can outlive the chunk
//! it was decoded from (the MIR, MRR, WCR and SDRs a file's summary rows need at its end).
//! Every record type gets `into_owned` from the record macro through this trait.

use std::borrow::Cow;

use super::*;

/// The same value with every borrow turned into an owned copy.
pub trait IntoStatic {
    type Static;
    fn into_static(self) -> Self::Static;
}

macro_rules! already_static {
    ($($t:ty),*) => {$(
        impl IntoStatic for $t {
            type Static = $t;
            fn into_static(self) -> $t {
                self
            }
        }
    )*};
}
already_static!(u8, u16, u32, u64, i8, i16, i32, f32, f64, C1, UfArray);

macro_rules! owned_bytes {
    ($($t:ident),*) => {$(
        impl IntoStatic for $t<'_> {
            type Static = $t<'static>;
            fn into_static(self) -> $t<'static> {
                self.into_owned()
            }
        }
    )*};
}
owned_bytes!(Cn, Sn, Bn);

impl IntoStatic for Dn<'_> {
    type Static = Dn<'static>;
    fn into_static(self) -> Dn<'static> {
        Dn { bits: self.bits, data: Cow::Owned(self.data.into_owned()) }
    }
}

impl<T: Elem> IntoStatic for Array<'_, T> {
    type Static = Array<'static, T>;
    fn into_static(self) -> Array<'static, T> {
        Array::Owned(self.to_vec())
    }
}

impl IntoStatic for Nibbles<'_> {
    type Static = Nibbles<'static>;
    fn into_static(self) -> Nibbles<'static> {
        Nibbles::Owned(self.iter().collect())
    }
}

impl<S: IntoStatic> IntoStatic for StrArray<S> {
    type Static = StrArray<S::Static>;
    fn into_static(self) -> StrArray<S::Static> {
        StrArray(self.0.into_iter().map(IntoStatic::into_static).collect())
    }
}

impl IntoStatic for FixedStrArray<'_> {
    type Static = FixedStrArray<'static>;
    fn into_static(self) -> FixedStrArray<'static> {
        FixedStrArray(self.0.into_iter().map(|c| Cow::Owned(c.into_owned())).collect())
    }
}

impl IntoStatic for GenValue<'_> {
    type Static = GenValue<'static>;
    fn into_static(self) -> GenValue<'static> {
        match self {
            GenValue::Pad => GenValue::Pad,
            GenValue::U1(v) => GenValue::U1(v),
            GenValue::U2(v) => GenValue::U2(v),
            GenValue::U4(v) => GenValue::U4(v),
            GenValue::I1(v) => GenValue::I1(v),
            GenValue::I2(v) => GenValue::I2(v),
            GenValue::I4(v) => GenValue::I4(v),
            GenValue::R4(v) => GenValue::R4(v),
            GenValue::R8(v) => GenValue::R8(v),
            GenValue::Cn(v) => GenValue::Cn(v.into_owned()),
            GenValue::Bn(v) => GenValue::Bn(v.into_owned()),
            GenValue::Dn(v) => GenValue::Dn(v.into_static()),
            GenValue::N1(v) => GenValue::N1(v),
        }
    }
}

impl IntoStatic for GenData<'_> {
    type Static = GenData<'static>;
    fn into_static(self) -> GenData<'static> {
        GenData(self.0.into_iter().map(IntoStatic::into_static).collect())
    }
}
