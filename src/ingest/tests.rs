//! The `tests` table: each test's identity, default limits and units (from the test
//! resolver), and the TSR summaries, overall or summed over sites.

use std::collections::HashMap;
use std::io;

use super::{Out, own};
use crate::stdf::records::{self as r, count};
use crate::stdf::resolve::{TestKind, TestResolver};
use crate::table::{Rows, schema};

#[derive(Default, Clone)]
struct Tsr {
    exec: Option<u32>,
    fail: Option<u32>,
    alrm: Option<u32>,
    tim: Option<f32>,
    min: Option<f32>,
    max: Option<f32>,
    sums: Option<f32>,
    sqrs: Option<f32>,
    seq_name: Option<String>,
    label: Option<String>,
    overall: bool,
}

/// The tests of one file: the resolver that keys every PTR, MPR and FTR, the names and
/// units the results' keyed dictionaries need, and the TSRs.
pub(super) struct Tests {
    pub resolver: TestResolver,
    /// Name and units per test key, for the keyed dictionary columns of `results`.
    pub names: Vec<String>,
    pub units: Vec<String>,
    tsr: HashMap<u32, Tsr>,
}

impl Tests {
    pub fn new() -> Tests {
        Tests { resolver: TestResolver::new(), names: Vec::new(), units: Vec::new(), tsr: HashMap::new() }
    }

    /// Brings `names` and `units` up to every test seen so far.
    pub fn sync(&mut self) {
        let tests = self.resolver.tests();
        for t in &tests[self.names.len()..] {
            self.names.push(t.name.clone());
            self.units.push(String::new());
        }
        for (i, t) in tests.iter().enumerate() {
            if self.units[i].is_empty()
                && let Some(u) = &t.units
            {
                self.units[i] = u.clone();
            }
        }
    }

    /// An overall TSR (head 255) replaces per-site ones; per-site TSRs are summed.
    pub fn tsr(&mut self, t: &r::Tsr<'_>) {
        let kind = match t.test_typ.map(|c| c.0) {
            Some(b'M') => TestKind::M,
            Some(b'F') => TestKind::F,
            _ => TestKind::P,
        };
        let key = self.resolver.key(kind, t.test_num.unwrap_or(0), t.test_nam.as_ref());
        let overall = t.head_num == Some(255);
        let e = self.tsr.entry(key).or_default();
        let add = |a: Option<u32>, b: Option<u32>| match (a, count(b)) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        };
        if overall || !e.overall {
            if overall {
                *e = Tsr { overall: true, ..Default::default() };
                e.exec = count(t.exec_cnt);
                e.fail = count(t.fail_cnt);
                e.alrm = count(t.alrm_cnt);
            } else {
                e.exec = add(e.exec, t.exec_cnt);
                e.fail = add(e.fail, t.fail_cnt);
                e.alrm = add(e.alrm, t.alrm_cnt);
            }
            let opt = t.opt_flag.unwrap_or(0xff);
            let ok = |bit: u8| t.opt_flag.is_some() && opt & (1 << bit) == 0;
            e.tim = t.test_tim.filter(|_| ok(2)).or(e.tim);
            e.min = t.test_min.filter(|_| ok(0)).or(e.min);
            e.max = t.test_max.filter(|_| ok(1)).or(e.max);
            e.sums = t.tst_sums.filter(|_| ok(4)).or(e.sums);
            e.sqrs = t.tst_sqrs.filter(|_| ok(5)).or(e.sqrs);
            e.seq_name = own(&t.seq_name).or(e.seq_name.take());
            e.label = own(&t.test_lbl).or(e.label.take());
        }
    }

    pub fn write(&self, out: &mut Out<'_>, fid: &str, lot: &str) -> io::Result<()> {
        let mut tests = Rows::new(&schema::TESTS, fid, lot, &[]);
        for t in self.resolver.tests() {
            let s = self.tsr.get(&t.key).cloned().unwrap_or_default();
            tests
                .row()
                .u32(Some(t.key))
                .u32(Some(t.test_num))
                .str(Some(&t.name))
                .str(Some(t.kind.as_str()))
                .f32(t.lo_limit.flatten())
                .f32(t.hi_limit.flatten())
                .f32(t.lo_spec.flatten())
                .f32(t.hi_spec.flatten())
                .str(t.units.as_deref())
                .i8(t.res_scal)
                .i8(t.llm_scal)
                .i8(t.hlm_scal)
                .str(t.c_resfmt.as_deref())
                .u64(Some(t.executions))
                .u32(s.exec)
                .u32(s.fail)
                .u32(s.alrm)
                .f32(s.tim)
                .f32(s.min)
                .f32(s.max)
                .f32(s.sums)
                .f32(s.sqrs)
                .str(s.seq_name.as_deref())
                .str(s.label.as_deref())
                .end();
        }
        out.rows(&mut tests, &[])
    }
}
