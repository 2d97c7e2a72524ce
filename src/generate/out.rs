//! Writing one generated file: compression, byte order, and the summary records
//! (HBR/SBR/PCR/TSR) that must agree with the PRRs written.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::stdf::records::*;
use crate::stdf::types::{C1, Cn};
use crate::stdf::{ByteOrder, Compression, Record, StdfWriter};

/// Compressed or plain output. zip is written through a temporary plain file, since a zip
/// entry needs its size up front for a deterministic archive.
pub enum Enc {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Bzip2(bzip2::write::BzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Write for Enc {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Enc::Plain(w) => w.write(b),
            Enc::Gzip(w) => w.write(b),
            Enc::Bzip2(w) => w.write(b),
            Enc::Zstd(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Enc::Plain(w) => w.flush(),
            Enc::Gzip(w) => w.flush(),
            Enc::Bzip2(w) => w.flush(),
            Enc::Zstd(w) => w.flush(),
        }
    }
}

pub fn extension(c: Compression) -> &'static str {
    match c {
        Compression::None => "stdf",
        Compression::Gzip => "stdf.gz",
        Compression::Bzip2 => "stdf.bz2",
        Compression::Zstd => "stdf.zst",
        Compression::Zip => "stdf.zip",
    }
}

pub struct Out {
    pub w: StdfWriter<Enc>,
    path: PathBuf,
    compression: Compression,
    plain_for_zip: Option<PathBuf>,
}

impl Out {
    /// Creates `dir/stem.<ext>`; returns the writer and the final path.
    pub fn create(dir: &Path, stem: &str, order: ByteOrder, compression: Compression) -> io::Result<Out> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{stem}.{}", extension(compression)));
        let (target, plain_for_zip) = if compression == Compression::Zip {
            let p = dir.join(format!(".{stem}.stdf.partial"));
            (p.clone(), Some(p))
        } else {
            (path.clone(), None)
        };
        let f = BufWriter::with_capacity(1 << 20, File::create(&target)?);
        let enc = match compression {
            Compression::None | Compression::Zip => Enc::Plain(f),
            // mtime 0 and no file name: the output depends only on the data.
            Compression::Gzip => Enc::Gzip(flate2::GzBuilder::new().mtime(0).write(f, flate2::Compression::new(6))),
            Compression::Bzip2 => Enc::Bzip2(bzip2::write::BzEncoder::new(f, bzip2::Compression::new(6))),
            Compression::Zstd => Enc::Zstd(zstd::stream::write::Encoder::new(f, 3)?),
        };
        Ok(Out { w: StdfWriter::new(enc, order), path, compression, plain_for_zip })
    }

    pub fn rec(&mut self, r: Record<'_>) -> io::Result<()> {
        self.w.write(&r)
    }

    /// Finishes compression; returns (path, uncompressed bytes, records).
    pub fn finish(self) -> io::Result<(PathBuf, u64, u64)> {
        let bytes = self.w.bytes_written();
        let records = self.w.records_written();
        match self.w.into_inner() {
            Enc::Plain(mut w) => w.flush()?,
            Enc::Gzip(w) => w.finish()?.flush()?,
            Enc::Bzip2(w) => w.finish()?.flush()?,
            Enc::Zstd(w) => w.finish()?.flush()?,
        }
        if let Some(plain) = self.plain_for_zip {
            let mut zw = zip::ZipWriter::new(File::create(&self.path)?);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .last_modified_time(zip::DateTime::default())
                .large_file(bytes >= u32::MAX as u64);
            let name = self.path.file_name().unwrap().to_string_lossy().trim_end_matches(".zip").to_string();
            zw.start_file(name, opts).map_err(io::Error::other)?;
            io::copy(&mut File::open(&plain)?, &mut zw)?;
            zw.finish().map_err(io::Error::other)?;
            std::fs::remove_file(plain)?;
        }
        let _ = self.compression;
        Ok((self.path, bytes, records))
    }
}

pub fn cn<'a>(s: &'a str) -> Option<Cn<'a>> {
    Some(Cn(Cow::Borrowed(s.as_bytes())))
}
pub fn cs(s: String) -> Option<Cn<'static>> {
    Some(Cn(Cow::Owned(s.into_bytes())))
}

/// A test as the generator writes it.
#[derive(Clone, Debug)]
pub struct TestDef {
    pub num: u32,
    pub name: String,
    pub units: &'static str,
    pub res_scal: i8,
    pub lo: f32,
    pub hi: f32,
    pub mean: f64,
    pub sd: f64,
}

/// Writes PTRs the way many testers do: the first of each test carries limits, units
/// and scales; later ones stop after TEST_TXT and rely on the first-PTR default rule.
pub fn write_ptr(out: &mut Out, t: &TestDef, first: bool, head: u8, site: u8, value: f32) -> io::Result<()> {
    let pass = value >= t.lo && value <= t.hi;
    let parm = if pass {
        0
    } else if value > t.hi {
        0x08
    } else {
        0x10
    };
    let mut p = Ptr {
        test_num: Some(t.num),
        head_num: Some(head),
        site_num: Some(site),
        test_flg: Some(if pass { 0 } else { 0x80 }),
        parm_flg: Some(parm),
        result: Some(value),
        test_txt: cn(&t.name),
        ..Default::default()
    };
    if first {
        // OPT_FLAG: bit 1 is reserved and set; bits 2/3 say there are no spec limits.
        p.alarm_id = cn("");
        p.opt_flag = Some(0x02 | 0x04 | 0x08);
        p.res_scal = Some(t.res_scal);
        p.llm_scal = Some(t.res_scal);
        p.hlm_scal = Some(t.res_scal);
        p.lo_limit = Some(t.lo);
        p.hi_limit = Some(t.hi);
        p.units = cn(t.units);
        p.c_resfmt = cn("%9.4f");
        p.c_llmfmt = cn("%9.4f");
        p.c_hlmfmt = cn("%9.4f");
        p.lo_spec = Some(0.0);
        p.hi_spec = Some(0.0);
    }
    out.rec(Record::Ptr(p))
}

/// Bin definitions: number -> (name, pass).
pub type BinNames = BTreeMap<u16, (&'static str, bool)>;

/// Counts that the summary records must agree with: every PRR written is counted once.
#[derive(Default)]
pub struct Tally {
    /// (site or 255 for all) -> bin -> count
    hard: BTreeMap<(u8, u16), u32>,
    soft: BTreeMap<(u8, u16), u32>,
    /// site -> (parts, retests, good)
    pcr: BTreeMap<u8, (u32, u32, u32)>,
    /// test -> (exec, fail, min, max, sum, sumsq)
    tsr: BTreeMap<u32, (u32, u32, f64, f64, f64, f64)>,
}

impl Tally {
    pub fn part(&mut self, site: u8, hard: u16, soft: u16, pass: bool, retest: bool) {
        for s in [site, 255] {
            *self.hard.entry((s, hard)).or_default() += 1;
            *self.soft.entry((s, soft)).or_default() += 1;
            let e = self.pcr.entry(s).or_default();
            e.0 += 1;
            e.1 += retest as u32;
            e.2 += pass as u32;
        }
    }
    pub fn result(&mut self, test: u32, v: f32, fail: bool) {
        let v = v as f64;
        let e = self.tsr.entry(test).or_insert((0, 0, f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0));
        e.0 += 1;
        e.1 += fail as u32;
        e.2 = e.2.min(v);
        e.3 = e.3.max(v);
        e.4 += v;
        e.5 += v * v;
    }
    pub fn totals(&self) -> (u32, u32, u32) {
        self.pcr.get(&255).copied().unwrap_or_default()
    }

    /// TSRs (overall), HBR/SBR per site and overall, PCR per site and overall.
    pub fn write_summaries(
        &self,
        out: &mut Out,
        head: u8,
        tests: &[(u32, &str, u8)],
        hbins: &BinNames,
        sbins: &BinNames,
    ) -> io::Result<()> {
        for (num, name, typ) in tests {
            let Some(&(exec, fail, mn, mx, sum, sq)) = self.tsr.get(num) else { continue };
            out.rec(Record::Tsr(Tsr {
                head_num: Some(255),
                site_num: Some(255),
                test_typ: Some(C1(*typ)),
                test_num: Some(*num),
                exec_cnt: Some(exec),
                fail_cnt: Some(fail),
                alrm_cnt: Some(0),
                test_nam: cn(name),
                seq_name: cn("main"),
                test_lbl: cn(""),
                opt_flag: Some(if *typ == b'P' { 0x04 } else { 0xff }),
                test_tim: Some(0.0),
                test_min: Some(mn as f32),
                test_max: Some(mx as f32),
                tst_sums: Some(sum as f32),
                tst_sqrs: Some(sq as f32),
                extra: &[],
            }))?;
        }
        let head_of = |s: u8| if s == 255 { 255 } else { head };
        for (&(site, bin), &n) in &self.hard {
            let (name, pass) = hbins.get(&bin).copied().unwrap_or(("UNKNOWN", false));
            out.rec(Record::Hbr(Hbr {
                head_num: Some(head_of(site)),
                site_num: Some(site),
                hbin_num: Some(bin),
                hbin_cnt: Some(n),
                hbin_pf: Some(C1(if pass { b'P' } else { b'F' })),
                hbin_nam: cn(name),
                extra: &[],
            }))?;
        }
        for (&(site, bin), &n) in &self.soft {
            let (name, pass) = sbins.get(&bin).copied().unwrap_or(("UNKNOWN", false));
            out.rec(Record::Sbr(Sbr {
                head_num: Some(head_of(site)),
                site_num: Some(site),
                sbin_num: Some(bin),
                sbin_cnt: Some(n),
                sbin_pf: Some(C1(if pass { b'P' } else { b'F' })),
                sbin_nam: cn(name),
                extra: &[],
            }))?;
        }
        for (&site, &(parts, rtst, good)) in &self.pcr {
            out.rec(Record::Pcr(Pcr {
                head_num: Some(head_of(site)),
                site_num: Some(site),
                part_cnt: Some(parts),
                rtst_cnt: Some(rtst),
                abrt_cnt: Some(0),
                good_cnt: Some(good),
                func_cnt: Some(u32::MAX),
                extra: &[],
            }))?;
        }
        Ok(())
    }
}

/// The MIR fields that differ between profiles.
pub struct MirSpec<'a> {
    pub t: u32,
    pub lot: &'a str,
    pub sublot: &'a str,
    pub part_typ: &'a str,
    pub node: &'a str,
    pub tester: &'a str,
    pub job: &'a str,
    pub test_cod: &'a str,
    pub temp: &'a str,
    pub flow: &'a str,
    pub mode: u8,
    pub rtst: u8,
    pub user_txt: &'a str,
    pub pkg: &'a str,
}

pub fn write_header(out: &mut Out, m: &MirSpec<'_>) -> io::Result<()> {
    out.rec(Record::Far(Far { cpu_type: Some(out.w.order().cpu_type()), stdf_ver: Some(4), extra: &[] }))?;
    write_mir(out, m)
}

pub fn write_mir(out: &mut Out, m: &MirSpec<'_>) -> io::Result<()> {
    out.rec(Record::Mir(Mir {
        setup_t: Some(m.t - 600),
        start_t: Some(m.t),
        stat_num: Some(1),
        mode_cod: Some(C1(m.mode)),
        rtst_cod: Some(C1(m.rtst)),
        prot_cod: Some(C1(b' ')),
        burn_tim: Some(65535),
        cmod_cod: Some(C1(b' ')),
        lot_id: cn(m.lot),
        part_typ: cn(m.part_typ),
        node_nam: cn(m.node),
        tstr_typ: cn(m.tester),
        job_nam: cn(m.job),
        job_rev: cn("B2"),
        sblot_id: cn(m.sublot),
        oper_nam: cn("op17"),
        exec_typ: cn("yieldlake-gen"),
        exec_ver: cn(env!("CARGO_PKG_VERSION")),
        test_cod: cn(m.test_cod),
        tst_temp: cn(m.temp),
        user_txt: cn(m.user_txt),
        aux_file: cn(""),
        pkg_typ: cn(m.pkg),
        famly_id: cn("YL"),
        date_cod: cn("2645"),
        facil_id: cn("FAB9"),
        floor_id: cn("F2"),
        proc_id: cn("BCD180"),
        oper_frq: cn(""),
        spec_nam: cn("DS-1001"),
        spec_ver: cn("C"),
        flow_id: cn(m.flow),
        setup_id: cn(""),
        dsgn_rev: cn("A1"),
        eng_id: cn(""),
        rom_cod: cn(""),
        serl_num: cn(""),
        supr_nam: cn(""),
        extra: &[],
    }))
}

pub fn write_sdr(out: &mut Out, head: u8, sites: u8, handler: &str) -> io::Result<()> {
    out.rec(Record::Sdr(Sdr {
        head_num: Some(head),
        site_grp: Some(1),
        site_cnt: Some(sites),
        site_num: Some((1..=sites).collect::<Vec<u8>>().into()),
        hand_typ: cn(handler),
        hand_id: cn("H1"),
        card_typ: cn("probecard"),
        card_id: cn("PC-42"),
        ..Default::default()
    }))
}

#[allow(clippy::too_many_arguments)]
pub fn write_prr(
    out: &mut Out,
    head: u8,
    site: u8,
    flags: u8,
    num_test: u16,
    hard: u16,
    soft: u16,
    xy: Option<(i16, i16)>,
    test_t: u32,
    part_id: String,
    part_txt: String,
) -> io::Result<()> {
    let (x, y) = xy.unwrap_or((-32768, -32768));
    out.rec(Record::Prr(Prr {
        head_num: Some(head),
        site_num: Some(site),
        part_flg: Some(flags),
        num_test: Some(num_test),
        hard_bin: Some(hard),
        soft_bin: Some(soft),
        x_coord: Some(x),
        y_coord: Some(y),
        test_t: Some(test_t),
        part_id: cs(part_id),
        part_txt: cs(part_txt),
        part_fix: None,
        extra: &[],
    }))
}

pub fn write_mrr(out: &mut Out, t: u32) -> io::Result<()> {
    out.rec(Record::Mrr(Mrr { finish_t: Some(t), disp_cod: Some(C1(b' ')), usr_desc: cn(""), exc_desc: cn(""), extra: &[] }))
}
