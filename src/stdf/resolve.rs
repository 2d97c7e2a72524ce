//! The first-PTR default rule and test identity, as a layer above the raw decoder.
//!
//! STDF lets the first PTR (MPR, FTR) of a test carry its limits, units, scales and
//! formats, and later records omit them. Raw records stay as written; this resolver
//! tracks the defaults and answers "what limits were in force for this result".
//!
//! A test is not identified by TEST_NUM alone: Advantest 93000 files use TEST_NUM 0 for
//! hundreds of tests that differ only by name, while Eagle ETS files name a test only in
//! its first PTR. So the identity is (record kind, TEST_NUM, TEST_TXT), and a record
//! without TEST_TXT joins the first test seen with its TEST_NUM.

use std::collections::HashMap;

use super::records::{Ftr, Mpr, Ptr, TestFlags};
use super::types::{ByteOrder, Cn};

/// Which record kind a test is logged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TestKind {
    /// PTR
    P,
    /// MPR
    M,
    /// FTR
    F,
}

impl TestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::P => "P",
            TestKind::M => "M",
            TestKind::F => "F",
        }
    }
}

/// A test of one file, and the defaults its first records established.
#[derive(Debug, Clone, PartialEq)]
pub struct TestInfo {
    pub key: u32,
    pub kind: TestKind,
    pub test_num: u32,
    pub name: String,
    /// Outer `None`: not set by any record yet. Inner `None`: "no limit" was declared.
    pub lo_limit: Option<Option<f32>>,
    pub hi_limit: Option<Option<f32>>,
    pub lo_spec: Option<Option<f32>>,
    pub hi_spec: Option<Option<f32>>,
    pub res_scal: Option<i8>,
    pub llm_scal: Option<i8>,
    pub hlm_scal: Option<i8>,
    pub units: Option<String>,
    pub c_resfmt: Option<String>,
    pub c_llmfmt: Option<String>,
    pub c_hlmfmt: Option<String>,
    pub start_in: Option<f32>,
    pub incr_in: Option<f32>,
    pub units_in: Option<String>,
    /// MPR pin indexes (RTN_INDX) from the first MPR that gave them.
    pub rtn_indx: Option<Vec<u16>>,
    /// Number of records seen for this test.
    pub executions: u64,
    /// Bumped whenever a default limit or scale is first set, so that cached
    /// resolutions that fell back on the defaults can tell they are stale.
    defaults_version: u32,
}

impl TestInfo {
    fn new(key: u32, kind: TestKind, test_num: u32, name: String) -> Self {
        TestInfo {
            key,
            kind,
            test_num,
            name,
            lo_limit: None,
            hi_limit: None,
            lo_spec: None,
            hi_spec: None,
            res_scal: None,
            llm_scal: None,
            hlm_scal: None,
            units: None,
            c_resfmt: None,
            c_llmfmt: None,
            c_hlmfmt: None,
            start_in: None,
            incr_in: None,
            units_in: None,
            rtn_indx: None,
            executions: 0,
            defaults_version: 0,
        }
    }
}

/// The limits and scales in force for one result.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub lo_limit: Option<f32>,
    pub hi_limit: Option<f32>,
    pub lo_spec: Option<f32>,
    pub hi_spec: Option<f32>,
    pub res_scal: Option<i8>,
    pub llm_scal: Option<i8>,
    pub hlm_scal: Option<i8>,
}

/// FxHash: keys here are short and trusted to be non-adversarial in cost (a hostile
/// file can only make itself slower), and SipHash dominated the per-PTR cost.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);
impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
pub type Fx = std::hash::BuildHasherDefault<FxHasher>;

/// Names per test number kept for the fast lookup; hostile files with thousands of names
/// under one number fall back to a hash of the name.
const NAMES_PER_NUM: usize = 8;

/// Tracks tests and their defaults across one file.
/// A test's name (as written) and its key.
type NamedKey = (Box<[u8]>, u32);

#[derive(Debug, Default)]
pub struct TestResolver {
    tests: Vec<TestInfo>,
    /// Per kind and number, the first `NAMES_PER_NUM` names seen and their keys: a lookup
    /// hashes a number and compares a name or two, instead of hashing the name.
    by_num: HashMap<(TestKind, u32), Vec<NamedKey>, Fx>,
    /// Every key by kind, number and name; consulted only for numbers with more names.
    by_name: HashMap<Vec<u8>, u32, Fx>,
    scratch: Vec<u8>,
    /// The last lookup: multi-site files log the same test for several sites in a row.
    last: Option<(TestKind, u32, Vec<u8>, u32)>,
    /// Recent PTR resolutions by test number; see [`TestResolver::ptr_body`].
    ptr_cache: Vec<PtrSeen>,
}

/// A PTR body's bytes after its fixed fields, and what they resolved to.
#[derive(Debug, Default)]
struct PtrSeen {
    test_num: u32,
    tail: Vec<u8>,
    key: u32,
    version: u32,
    limits: Limits,
    extra: bool,
    used: bool,
}

/// PTR fields up to RESULT: TEST_NUM, HEAD_NUM, SITE_NUM, TEST_FLG, PARM_FLG, RESULT.
const PTR_FIXED: usize = 12;
/// Longer tails are resolved without the cache, which keeps it small whatever a file holds.
const PTR_TAIL_MAX: usize = 256;
const PTR_CACHE: usize = 256;

/// A PTR resolved: its fixed fields, its test key and the limits in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PtrResolved {
    pub test_num: Option<u32>,
    pub head: Option<u8>,
    pub site: Option<u8>,
    pub flags: TestFlags,
    pub result: Option<f32>,
    pub key: u32,
    pub limits: Limits,
    /// The body had bytes past its last field.
    pub extra: bool,
}

fn set_once<T>(slot: &mut Option<T>, v: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(v());
    }
}

fn text(c: &Option<Cn<'_>>) -> Option<String> {
    c.as_ref().filter(|c| !c.is_empty()).map(|c| c.to_str().into_owned())
}

impl TestResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The test key for a record of `kind` with this number and TEST_TXT.
    pub fn key(&mut self, kind: TestKind, test_num: u32, name: Option<&Cn<'_>>) -> u32 {
        let name = name.map(|n| n.as_bytes()).unwrap_or(&[]);
        if let Some((k, n, nm, key)) = &self.last
            && *k == kind
            && *n == test_num
            && nm.as_slice() == name
        {
            return *key;
        }
        let key = self.key_uncached(kind, test_num, name);
        match &mut self.last {
            Some(l) => {
                l.0 = kind;
                l.1 = test_num;
                l.2.clear();
                l.2.extend_from_slice(name);
                l.3 = key;
            }
            None => self.last = Some((kind, test_num, name.to_vec(), key)),
        }
        key
    }

    fn key_uncached(&mut self, kind: TestKind, test_num: u32, name: &[u8]) -> u32 {
        let listed = self.by_num.get(&(kind, test_num));
        if let Some(list) = listed {
            // A PTR without TEST_TXT is the number's first test (ETS omits later names).
            if name.is_empty()
                && let Some(&(_, k)) = list.first()
            {
                return k;
            }
            if let Some(&(_, k)) = list.iter().find(|(n, _)| **n == *name) {
                return k;
            }
        }
        self.scratch.clear();
        self.scratch.push(kind as u8);
        self.scratch.extend_from_slice(&test_num.to_le_bytes());
        self.scratch.extend_from_slice(name);
        if listed.is_some_and(|l| l.len() >= NAMES_PER_NUM)
            && let Some(&k) = self.by_name.get(self.scratch.as_slice())
        {
            return k;
        }
        let k = self.tests.len() as u32;
        let name_s = super::types::decode_text(name).into_owned();
        self.tests.push(TestInfo::new(k, kind, test_num, name_s));
        self.by_name.insert(self.scratch.clone(), k);
        let list = self.by_num.entry((kind, test_num)).or_default();
        if list.len() < NAMES_PER_NUM {
            list.push((name.into(), k));
        }
        k
    }

    /// Resolves a PTR from its body. A test's later PTRs usually repeat the bytes after
    /// RESULT exactly (name, OPT_FLAG, limits, units), and then they resolve the same way
    /// while the test's defaults stand: those PTRs are answered from a cache, without
    /// decoding past RESULT, hashing or comparing names.
    #[inline]
    pub fn ptr_body(&mut self, body: &[u8], order: ByteOrder) -> PtrResolved {
        if body.len() >= PTR_FIXED {
            let (fixed, tail) = body.split_at(PTR_FIXED);
            let u4 = |b: &[u8]| {
                let b = [b[0], b[1], b[2], b[3]];
                match order {
                    ByteOrder::Little => u32::from_le_bytes(b),
                    ByteOrder::Big => u32::from_be_bytes(b),
                }
            };
            let test_num = u4(&fixed[0..4]);
            if let Some(seen) = self.ptr_cache.get(ptr_slot(test_num))
                && seen.used
                && seen.test_num == test_num
                && *seen.tail == *tail
                && self.tests[seen.key as usize].defaults_version == seen.version
            {
                self.tests[seen.key as usize].executions += 1;
                return PtrResolved {
                    test_num: Some(test_num),
                    head: Some(fixed[4]),
                    site: Some(fixed[5]),
                    flags: TestFlags { test_flg: fixed[6], parm_flg: fixed[7] },
                    result: Some(f32::from_bits(u4(&fixed[8..12]))),
                    key: seen.key,
                    limits: seen.limits,
                    extra: seen.extra,
                };
            }
        }
        let p = Ptr::decode(body, order);
        let r = self.ptr_resolved(&p);
        if let (Some(test_num), Some(tail)) = (p.test_num, body.get(PTR_FIXED..))
            && tail.len() <= PTR_TAIL_MAX
        {
            if self.ptr_cache.is_empty() {
                self.ptr_cache.resize_with(PTR_CACHE, PtrSeen::default);
            }
            let seen = &mut self.ptr_cache[ptr_slot(test_num)];
            seen.test_num = test_num;
            seen.tail.clear();
            seen.tail.extend_from_slice(tail);
            seen.key = r.key;
            seen.version = self.tests[r.key as usize].defaults_version;
            seen.limits = r.limits;
            seen.extra = r.extra;
            seen.used = true;
        }
        r
    }

    /// Resolves a decoded PTR, without the cache.
    pub fn ptr_resolved(&mut self, p: &Ptr<'_>) -> PtrResolved {
        let (key, limits) = self.ptr(p);
        PtrResolved {
            test_num: p.test_num,
            head: p.head_num,
            site: p.site_num,
            flags: p.flags(),
            result: p.result,
            key,
            limits,
            extra: !p.extra.is_empty(),
        }
    }

    /// Resolves a PTR: its test key and the limits in force for it.
    pub fn ptr(&mut self, p: &Ptr<'_>) -> (u32, Limits) {
        let k = self.key(TestKind::P, p.test_num.unwrap_or(0), p.test_txt.as_ref());
        let t = &mut self.tests[k as usize];
        t.executions += 1;
        let lim = resolve_common(
            t,
            Common {
                opt: p.opt_flag,
                res_scal: p.res_scal,
                llm_scal: p.llm_scal,
                hlm_scal: p.hlm_scal,
                lo_limit: p.lo_limit,
                hi_limit: p.hi_limit,
                lo_spec: p.lo_spec,
                hi_spec: p.hi_spec,
            },
        );
        // Strings are only copied the first time they appear for a test.
        if t.units.is_none() {
            t.units = text(&p.units);
        }
        if t.c_resfmt.is_none() {
            t.c_resfmt = text(&p.c_resfmt);
        }
        if t.c_llmfmt.is_none() {
            t.c_llmfmt = text(&p.c_llmfmt);
        }
        if t.c_hlmfmt.is_none() {
            t.c_hlmfmt = text(&p.c_hlmfmt);
        }
        (k, lim)
    }

    /// Resolves an MPR: its test key, limits, and the pin indexes in force.
    pub fn mpr(&mut self, m: &Mpr<'_>) -> (u32, Limits) {
        let k = self.key(TestKind::M, m.test_num.unwrap_or(0), m.test_txt.as_ref());
        let t = &mut self.tests[k as usize];
        t.executions += 1;
        let lim = resolve_common(
            t,
            Common {
                opt: m.opt_flag,
                res_scal: m.res_scal,
                llm_scal: m.llm_scal,
                hlm_scal: m.hlm_scal,
                lo_limit: m.lo_limit,
                hi_limit: m.hi_limit,
                lo_spec: m.lo_spec,
                hi_spec: m.hi_spec,
            },
        );
        let opt = m.opt_flag.unwrap_or(0xff);
        if opt & 0x02 == 0 && m.start_in.is_some() {
            set_once(&mut t.start_in, || m.start_in.unwrap_or_default());
            set_once(&mut t.incr_in, || m.incr_in.unwrap_or_default());
        }
        if t.rtn_indx.is_none()
            && let Some(ix) = m.rtn_indx.as_ref().filter(|ix| !ix.is_empty())
        {
            t.rtn_indx = Some(ix.to_vec());
        }
        if t.units.is_none() {
            t.units = text(&m.units);
        }
        if t.units_in.is_none() {
            t.units_in = text(&m.units_in);
        }
        if t.c_resfmt.is_none() {
            t.c_resfmt = text(&m.c_resfmt);
        }
        (k, lim)
    }

    /// Resolves an FTR's test key.
    pub fn ftr(&mut self, f: &Ftr<'_>) -> u32 {
        let k = self.key(TestKind::F, f.test_num.unwrap_or(0), f.test_txt.as_ref());
        self.tests[k as usize].executions += 1;
        k
    }

    pub fn tests(&self) -> &[TestInfo] {
        &self.tests
    }
    pub fn test(&self, key: u32) -> &TestInfo {
        &self.tests[key as usize]
    }
    /// Pin indexes in force for an MPR: its own RTN_INDX, or the test's default.
    pub fn mpr_pins<'s>(&'s self, key: u32, m: &Mpr<'_>) -> Option<std::borrow::Cow<'s, [u16]>> {
        match m.rtn_indx.as_ref().filter(|ix| !ix.is_empty()) {
            Some(ix) => Some(std::borrow::Cow::Owned(ix.to_vec())),
            // The test's default is borrowed: an MPR that omits RTN_INDX copies nothing.
            None => self.tests[key as usize].rtn_indx.as_deref().map(std::borrow::Cow::Borrowed),
        }
    }
}

struct Common {
    opt: Option<u8>,
    res_scal: Option<i8>,
    llm_scal: Option<i8>,
    hlm_scal: Option<i8>,
    lo_limit: Option<f32>,
    hi_limit: Option<f32>,
    lo_spec: Option<f32>,
    hi_spec: Option<f32>,
}

/// Applies OPT_FLAG as the spec defines it for PTR and MPR: bit 0 RES_SCAL invalid,
/// 2/3 no low/high spec limit, 4/5 LO/HI_LIMIT invalid (use the default), 6/7 no
/// low/high limit. A missing OPT_FLAG means every optional field takes its default.
fn resolve_common(t: &mut TestInfo, c: Common) -> Limits {
    let before = (t.lo_limit, t.hi_limit, t.lo_spec, t.hi_spec, t.res_scal, t.llm_scal, t.hlm_scal);
    let lim = resolve_limits(t, c);
    if before != (t.lo_limit, t.hi_limit, t.lo_spec, t.hi_spec, t.res_scal, t.llm_scal, t.hlm_scal) {
        t.defaults_version += 1;
    }
    lim
}

#[inline]
fn ptr_slot(test_num: u32) -> usize {
    (test_num.wrapping_mul(0x9e37_79b1) >> 24) as usize % PTR_CACHE
}

fn resolve_limits(t: &mut TestInfo, c: Common) -> Limits {
    let opt = c.opt;
    let bit = |b: u8| opt.is_some_and(|o| o & (1 << b) != 0);
    let has_opt = opt.is_some();

    let res_scal = if has_opt && !bit(0) && c.res_scal.is_some() { c.res_scal } else { None };
    if let Some(v) = res_scal {
        set_once(&mut t.res_scal, || v);
    }

    let side = |no_limit: bool, invalid: bool, own: Option<f32>, own_scal: Option<i8>| -> (Option<Option<f32>>, Option<i8>) {
        if !has_opt {
            (None, None)
        } else if no_limit {
            (Some(None), None)
        } else if !invalid && own.is_some() {
            (Some(own), own_scal)
        } else {
            (None, None)
        }
    };
    let (lo_own, llm_own) = side(bit(6), bit(4), c.lo_limit, c.llm_scal);
    let (hi_own, hlm_own) = side(bit(7), bit(5), c.hi_limit, c.hlm_scal);
    if let Some(v) = lo_own {
        set_once(&mut t.lo_limit, || v);
        if let Some(s) = llm_own {
            set_once(&mut t.llm_scal, || s);
        }
    }
    if let Some(v) = hi_own {
        set_once(&mut t.hi_limit, || v);
        if let Some(s) = hlm_own {
            set_once(&mut t.hlm_scal, || s);
        }
    }
    let spec = |no: bool, own: Option<f32>| -> Option<Option<f32>> {
        if has_opt && no {
            Some(None)
        } else if has_opt {
            own.map(Some)
        } else {
            None
        }
    };
    let lo_spec_own = spec(bit(2), c.lo_spec);
    let hi_spec_own = spec(bit(3), c.hi_spec);
    if let Some(v) = lo_spec_own {
        set_once(&mut t.lo_spec, || v);
    }
    if let Some(v) = hi_spec_own {
        set_once(&mut t.hi_spec, || v);
    }

    Limits {
        lo_limit: lo_own.unwrap_or_else(|| t.lo_limit.flatten()),
        hi_limit: hi_own.unwrap_or_else(|| t.hi_limit.flatten()),
        lo_spec: lo_spec_own.unwrap_or_else(|| t.lo_spec.flatten()),
        hi_spec: hi_spec_own.unwrap_or_else(|| t.hi_spec.flatten()),
        res_scal: res_scal.or(t.res_scal),
        llm_scal: if lo_own.is_some() { llm_own.or(t.llm_scal) } else { t.llm_scal },
        hlm_scal: if hi_own.is_some() { hlm_own.or(t.hlm_scal) } else { t.hlm_scal },
    }
}
