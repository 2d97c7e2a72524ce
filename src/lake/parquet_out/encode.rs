//! Encoding helpers: statistics, definition levels, bit packing and RLE.

use super::*;

/// Min and max.
pub(super) fn min_max<T: Copy + PartialOrd>(v: &[T]) -> Option<(T, T)> {
    Some(lane_min_max(v, *v.first()?))
}

/// Min and max of the values that are not NaN, if any.
pub(super) fn float_min_max<T: Copy + PartialOrd>(v: &[T]) -> Option<(T, T)> {
    #[allow(clippy::eq_op)]
    let first = *v.iter().find(|x| *x == *x)?;
    Some(lane_min_max(v, first))
}

/// Min and max starting from `first`, in 16 independent lanes so that the compiler
/// vectorizes the loop. A comparison with NaN is false, so NaN never replaces a value.
pub(super) fn lane_min_max<T: Copy + PartialOrd>(v: &[T], first: T) -> (T, T) {
    let mut lo = [first; 16];
    let mut hi = [first; 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..16 {
            lo[j] = if c[j] < lo[j] { c[j] } else { lo[j] };
            hi[j] = if c[j] > hi[j] { c[j] } else { hi[j] };
        }
    }
    let (mut l, mut h) = (first, first);
    for x in lo.into_iter().chain(hi).chain(rest.iter().copied()) {
        if x < l {
            l = x;
        }
        if x > h {
            h = x;
        }
    }
    (l, h)
}

/// Definition levels of a flat nullable column (1 present, 0 null), RLE/bit-packed.
pub(super) fn def_levels(a: &ArrayRef, out: &mut Vec<u8>) {
    let n = a.len();
    match a.logical_nulls() {
        None => {
            // One run of n ones.
            varint((n as u64) << 1, out);
            out.push(1);
        }
        Some(nulls) => encode_hybrid(nulls.iter().map(u32::from), n, 1, out),
    }
}

/// Bits needed for keys below `n`.
pub(super) fn bit_width(n: u32) -> u8 {
    (32 - n.saturating_sub(1).leading_zeros()) as u8
}

pub(super) fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// [`encode_hybrid`] for keys of at most 8 bits held in bytes: whole groups of eight are
/// packed straight from the slice.
pub(super) fn pack_small(keys: &[u8], width: u8, out: &mut Vec<u8>) {
    debug_assert!(width <= 8);
    if keys.is_empty() || width == 0 {
        return encode_hybrid(keys.iter().map(|&k| k as u32), keys.len(), width, out);
    }
    for run in keys.chunks(63 * 8) {
        out.push(((run.len().div_ceil(8) << 1) | 1) as u8);
        let mut groups = run.chunks_exact(8);
        for g in &mut groups {
            let acc = g.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
            out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
        }
        let rest = groups.remainder();
        if !rest.is_empty() {
            let acc = rest.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
            out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
        }
    }
}

/// Parquet's RLE/bit-packing hybrid: one RLE run when every key is 0 bits wide,
/// otherwise bit-packed runs of at most 63 groups of 8 (one header byte each).
pub(super) fn encode_hybrid(mut values: impl Iterator<Item = u32>, n: usize, width: u8, out: &mut Vec<u8>) {
    if n == 0 {
        return;
    }
    if width == 0 {
        varint((n as u64) << 1, out);
        return;
    }
    let mut left = n;
    while left > 0 {
        let run = left.min(63 * 8);
        let groups = run.div_ceil(8);
        out.push(((groups << 1) | 1) as u8);
        let mut taken = 0;
        for _ in 0..groups {
            let mut g = [0u32; 8];
            for v in g.iter_mut() {
                if taken < run {
                    *v = values.next().unwrap_or(0);
                    taken += 1;
                }
            }
            if width <= 8 {
                // Eight values of at most 8 bits: `width` bytes of one u64.
                let acc = g.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
                out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
            } else {
                let mut acc = 0u64;
                let mut bits = 0u32;
                for v in g {
                    acc |= (v as u64) << bits;
                    bits += width as u32;
                    while bits >= 8 {
                        out.push(acc as u8);
                        acc >>= 8;
                        bits -= 8;
                    }
                }
            }
        }
        left -= run;
    }
}
