//! Every STDF V4 and V4-2007 record, field for field in specification order.
//!
//! Each field is an `Option`: `None` means the record ended before it (STDF lets writers
//! drop trailing fields). Values are kept exactly as written, so a missing-value
//! convention such as SOFT_BIN 65535 is still 65535 here; the accessor methods at the end
//! of this file turn those conventions into `None`. Bytes after the last decodable field
//! stay in `extra`, so that every record re-encodes byte for byte.

use super::types::*;

macro_rules! records {
    ($lt:lifetime; $(
        $(#[$m:meta])*
        $name:ident ($typ:literal, $sub:literal, $code:literal) {
            $( $f:ident : $t:ty $( [ $cnt:ident $(; $width:ident)? ] )? ),* $(,)?
        }
    )*) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct $name<$lt> {
                $( pub $f: Option<$t>, )*
                /// Bytes after the last field that could be decoded.
                pub extra: &$lt [u8],
            }

            #[allow(unused_mut, unused_variables, unused_assignments)]
            impl<$lt> $name<$lt> {
                pub const TYP: u8 = $typ;
                pub const SUB: u8 = $sub;
                pub const CODE: &'static str = $code;
                pub const FIELDS: &'static [&'static str] = &[$( stringify!($f) ),*];

                /// Decodes from the record's own body. Never fails: a field that does not
                /// fit is absent, and so is every field after it.
                #[inline]
                pub fn decode(body: &$lt [u8], order: ByteOrder) -> Self {
                    let mut c = Cursor::new(body, order);
                    let mut ok = true;
                    $(
                        let $f: Option<$t> = if ok {
                            let start = c.pos();
                            let v = records!(@read c, $t $(, $cnt $(, $width)?)?);
                            if v.is_none() {
                                ok = false;
                                c.set_pos(start);
                            }
                            v
                        } else {
                            None
                        };
                    )*
                    let _ = ok;
                    $name { $( $f, )* extra: c.rest() }
                }

                /// Writes fields up to the last present one; absent fields before it are
                /// written as zero or empty.
                pub fn encode(&self, w: &mut Writer) {
                    let present: &[bool] = &[$( self.$f.is_some() ),*];
                    let last = present.iter().rposition(|&p| p);
                    let mut i = 0usize;
                    $(
                        if last.is_some_and(|l| i <= l) {
                            records!(@write w, self, $f, $t $(, $cnt $(, $width)?)?);
                        }
                        i += 1;
                    )*
                    let _ = i;
                    w.bytes(self.extra);
                }

                /// A copy that borrows nothing, for a record kept past the chunk it was
                /// decoded from. Bytes beyond the last field (`extra`) are not kept.
                pub fn into_owned(self) -> $name<'static> {
                    $name { $( $f: self.$f.map(IntoStatic::into_static), )* extra: &[] }
                }

                /// Calls `f` with each field's name and value (None when absent).
                pub fn visit(&self, f: &mut dyn FnMut(&'static str, Option<&dyn Show>)) {
                    $( f(stringify!($f), self.$f.as_ref().map(|v| v as &dyn Show)); )*
                }
            }
        )*
    };
    (@read $c:ident, $t:ty) => { <$t as Field>::read(&mut $c) };
    (@read $c:ident, $t:ty, $cnt:ident) => {
        match $cnt { Some(n) => <$t as ArrayField>::read(&mut $c, n.as_count(), 0), None => None }
    };
    (@read $c:ident, $t:ty, $cnt:ident, $width:ident) => {
        match ($cnt, $width) {
            (Some(n), Some(wd)) => <$t as ArrayField>::read(&mut $c, n.as_count(), wd.as_count()),
            _ => None,
        }
    };
    (@write $w:ident, $s:ident, $f:ident, $t:ty) => {
        match &$s.$f { Some(v) => v.write($w), None => <$t as Field>::missing().write($w) }
    };
    (@write $w:ident, $s:ident, $f:ident, $t:ty, $cnt:ident) => {
        match &$s.$f { Some(v) => v.write($w, 0), None => {} }
    };
    (@write $w:ident, $s:ident, $f:ident, $t:ty, $cnt:ident, $width:ident) => {
        match &$s.$f {
            Some(v) => v.write($w, $s.$width.map(|x| x.as_count()).unwrap_or(0)),
            None => {}
        }
    };
}

records! { 'a;
    /// File Attributes Record.
    Far (0, 10, "FAR") { cpu_type: u8, stdf_ver: u8 }
    /// Audit Trail Record.
    Atr (0, 20, "ATR") { mod_tim: u32, cmd_line: Cn<'a> }
    /// Master Information Record.
    Mir (1, 10, "MIR") {
        setup_t: u32, start_t: u32, stat_num: u8, mode_cod: C1, rtst_cod: C1, prot_cod: C1,
        burn_tim: u16, cmod_cod: C1, lot_id: Cn<'a>, part_typ: Cn<'a>, node_nam: Cn<'a>,
        tstr_typ: Cn<'a>, job_nam: Cn<'a>, job_rev: Cn<'a>, sblot_id: Cn<'a>, oper_nam: Cn<'a>,
        exec_typ: Cn<'a>, exec_ver: Cn<'a>, test_cod: Cn<'a>, tst_temp: Cn<'a>, user_txt: Cn<'a>,
        aux_file: Cn<'a>, pkg_typ: Cn<'a>, famly_id: Cn<'a>, date_cod: Cn<'a>, facil_id: Cn<'a>,
        floor_id: Cn<'a>, proc_id: Cn<'a>, oper_frq: Cn<'a>, spec_nam: Cn<'a>, spec_ver: Cn<'a>,
        flow_id: Cn<'a>, setup_id: Cn<'a>, dsgn_rev: Cn<'a>, eng_id: Cn<'a>, rom_cod: Cn<'a>,
        serl_num: Cn<'a>, supr_nam: Cn<'a>,
    }
    /// Master Results Record.
    Mrr (1, 20, "MRR") { finish_t: u32, disp_cod: C1, usr_desc: Cn<'a>, exc_desc: Cn<'a> }
    /// Part Count Record.
    Pcr (1, 30, "PCR") {
        head_num: u8, site_num: u8, part_cnt: u32, rtst_cnt: u32, abrt_cnt: u32, good_cnt: u32,
        func_cnt: u32,
    }
    /// Hardware Bin Record.
    Hbr (1, 40, "HBR") { head_num: u8, site_num: u8, hbin_num: u16, hbin_cnt: u32, hbin_pf: C1, hbin_nam: Cn<'a> }
    /// Software Bin Record.
    Sbr (1, 50, "SBR") { head_num: u8, site_num: u8, sbin_num: u16, sbin_cnt: u32, sbin_pf: C1, sbin_nam: Cn<'a> }
    /// Pin Map Record.
    Pmr (1, 60, "PMR") {
        pmr_indx: u16, chan_typ: u16, chan_nam: Cn<'a>, phy_nam: Cn<'a>, log_nam: Cn<'a>,
        head_num: u8, site_num: u8,
    }
    /// Pin Group Record.
    Pgr (1, 62, "PGR") { grp_indx: u16, grp_nam: Cn<'a>, indx_cnt: u16, pmr_indx: Array<'a, u16> [indx_cnt] }
    /// Pin List Record.
    Plr (1, 63, "PLR") {
        grp_cnt: u16, grp_indx: Array<'a, u16> [grp_cnt], grp_mode: Array<'a, u16> [grp_cnt],
        grp_radx: Array<'a, u8> [grp_cnt], pgm_char: StrArray<Cn<'a>> [grp_cnt],
        rtn_char: StrArray<Cn<'a>> [grp_cnt], pgm_chal: StrArray<Cn<'a>> [grp_cnt],
        rtn_chal: StrArray<Cn<'a>> [grp_cnt],
    }
    /// Retest Data Record.
    Rdr (1, 70, "RDR") { num_bins: u16, rtst_bin: Array<'a, u16> [num_bins] }
    /// Site Description Record.
    Sdr (1, 80, "SDR") {
        head_num: u8, site_grp: u8, site_cnt: u8, site_num: Array<'a, u8> [site_cnt],
        hand_typ: Cn<'a>, hand_id: Cn<'a>, card_typ: Cn<'a>, card_id: Cn<'a>, load_typ: Cn<'a>,
        load_id: Cn<'a>, dib_typ: Cn<'a>, dib_id: Cn<'a>, cabl_typ: Cn<'a>, cabl_id: Cn<'a>,
        cont_typ: Cn<'a>, cont_id: Cn<'a>, lasr_typ: Cn<'a>, lasr_id: Cn<'a>, extr_typ: Cn<'a>,
        extr_id: Cn<'a>,
    }
    /// Pattern Sequence Record (V4-2007).
    Psr (1, 90, "PSR") {
        cont_flg: u8, psr_indx: u16, psr_nam: Cn<'a>, opt_flg: u8, totp_cnt: u16, locp_cnt: u16,
        pat_bgn: Array<'a, u64> [locp_cnt], pat_end: Array<'a, u64> [locp_cnt],
        pat_file: StrArray<Cn<'a>> [locp_cnt], pat_lbl: StrArray<Cn<'a>> [locp_cnt],
        file_uid: StrArray<Cn<'a>> [locp_cnt], atpg_dsc: StrArray<Cn<'a>> [locp_cnt],
        src_id: StrArray<Cn<'a>> [locp_cnt],
    }
    /// Name Map Record (V4-2007).
    Nmr (1, 91, "NMR") {
        cont_flg: u8, totm_cnt: u16, locm_cnt: u16, pmr_indx: Array<'a, u16> [locm_cnt],
        atpg_nam: StrArray<Cn<'a>> [locm_cnt],
    }
    /// Scan Cell Name Record (V4-2007).
    Cnr (1, 92, "CNR") { chn_num: u16, bit_pos: u32, cell_nam: Sn<'a> }
    /// Scan Structure Record (V4-2007).
    Ssr (1, 93, "SSR") { ssr_nam: Cn<'a>, chn_cnt: u16, chn_list: Array<'a, u16> [chn_cnt] }
    /// Chain Description Record (V4-2007).
    Cdr (1, 94, "CDR") {
        cont_flg: u8, cdr_indx: u16, chn_nam: Cn<'a>, chn_len: u32, sin_pin: u16, sout_pin: u16,
        mstr_cnt: u8, m_clks: Array<'a, u16> [mstr_cnt], slav_cnt: u8,
        s_clks: Array<'a, u16> [slav_cnt], inv_val: u8, lst_cnt: u16,
        cell_lst: StrArray<Sn<'a>> [lst_cnt],
    }
    /// Wafer Information Record.
    Wir (2, 10, "WIR") { head_num: u8, site_grp: u8, start_t: u32, wafer_id: Cn<'a> }
    /// Wafer Results Record.
    Wrr (2, 20, "WRR") {
        head_num: u8, site_grp: u8, finish_t: u32, part_cnt: u32, rtst_cnt: u32, abrt_cnt: u32,
        good_cnt: u32, func_cnt: u32, wafer_id: Cn<'a>, fabwf_id: Cn<'a>, frame_id: Cn<'a>,
        mask_id: Cn<'a>, usr_desc: Cn<'a>, exc_desc: Cn<'a>,
    }
    /// Wafer Configuration Record.
    Wcr (2, 30, "WCR") {
        wafr_siz: f32, die_ht: f32, die_wid: f32, wf_units: u8, wf_flat: C1, center_x: i16,
        center_y: i16, pos_x: C1, pos_y: C1,
    }
    /// Part Information Record.
    Pir (5, 10, "PIR") { head_num: u8, site_num: u8 }
    /// Part Results Record.
    Prr (5, 20, "PRR") {
        head_num: u8, site_num: u8, part_flg: u8, num_test: u16, hard_bin: u16, soft_bin: u16,
        x_coord: i16, y_coord: i16, test_t: u32, part_id: Cn<'a>, part_txt: Cn<'a>, part_fix: Bn<'a>,
    }
    /// Test Synopsis Record.
    Tsr (10, 30, "TSR") {
        head_num: u8, site_num: u8, test_typ: C1, test_num: u32, exec_cnt: u32, fail_cnt: u32,
        alrm_cnt: u32, test_nam: Cn<'a>, seq_name: Cn<'a>, test_lbl: Cn<'a>, opt_flag: u8,
        test_tim: f32, test_min: f32, test_max: f32, tst_sums: f32, tst_sqrs: f32,
    }
    /// Parametric Test Record.
    Ptr (15, 10, "PTR") {
        test_num: u32, head_num: u8, site_num: u8, test_flg: u8, parm_flg: u8, result: f32,
        test_txt: Cn<'a>, alarm_id: Cn<'a>, opt_flag: u8, res_scal: i8, llm_scal: i8,
        hlm_scal: i8, lo_limit: f32, hi_limit: f32, units: Cn<'a>, c_resfmt: Cn<'a>,
        c_llmfmt: Cn<'a>, c_hlmfmt: Cn<'a>, lo_spec: f32, hi_spec: f32,
    }
    /// Multiple-Result Parametric Record.
    Mpr (15, 15, "MPR") {
        test_num: u32, head_num: u8, site_num: u8, test_flg: u8, parm_flg: u8, rtn_icnt: u16,
        rslt_cnt: u16, rtn_stat: Nibbles<'a> [rtn_icnt], rtn_rslt: Array<'a, f32> [rslt_cnt],
        test_txt: Cn<'a>, alarm_id: Cn<'a>, opt_flag: u8, res_scal: i8, llm_scal: i8,
        hlm_scal: i8, lo_limit: f32, hi_limit: f32, start_in: f32, incr_in: f32,
        rtn_indx: Array<'a, u16> [rtn_icnt], units: Cn<'a>, units_in: Cn<'a>, c_resfmt: Cn<'a>,
        c_llmfmt: Cn<'a>, c_hlmfmt: Cn<'a>, lo_spec: f32, hi_spec: f32,
    }
    /// Functional Test Record.
    Ftr (15, 20, "FTR") {
        test_num: u32, head_num: u8, site_num: u8, test_flg: u8, opt_flag: u8, cycl_cnt: u32,
        rel_vadr: u32, rept_cnt: u32, num_fail: u32, xfail_ad: i32, yfail_ad: i32,
        vect_off: i16, rtn_icnt: u16, pgm_icnt: u16, rtn_indx: Array<'a, u16> [rtn_icnt],
        rtn_stat: Nibbles<'a> [rtn_icnt], pgm_indx: Array<'a, u16> [pgm_icnt],
        pgm_stat: Nibbles<'a> [pgm_icnt], fail_pin: Dn<'a>, vect_nam: Cn<'a>, time_set: Cn<'a>,
        op_code: Cn<'a>, test_txt: Cn<'a>, alarm_id: Cn<'a>, prog_txt: Cn<'a>, rslt_txt: Cn<'a>,
        patg_num: u8, spin_map: Dn<'a>,
    }
    /// Scan Test Record (V4-2007). The spec names two fields CYC_CNT; the second (the
    /// U*2 count of CYC_OFST) is `ofst_cnt` here.
    Str (15, 30, "STR") {
        cont_flg: u8, test_num: u32, head_num: u8, site_num: u8, psr_ref: u16, test_flg: u8,
        log_typ: Cn<'a>, test_txt: Cn<'a>, alarm_id: Cn<'a>, prog_txt: Cn<'a>, rslt_txt: Cn<'a>,
        z_val: u8, fmu_flg: u8, mask_map: Dn<'a>, fal_map: Dn<'a>, cyc_cnt: u64, totf_cnt: u32,
        totl_cnt: u32, cyc_base: u64, bit_base: u32, cond_cnt: u16, lim_cnt: u16, cyc_size: u8,
        pmr_size: u8, chn_size: u8, pat_size: u8, bit_size: u8, u1_size: u8, u2_size: u8,
        u3_size: u8, utx_size: u8, cap_bgn: u16, lim_indx: Array<'a, u16> [lim_cnt],
        lim_spec: Array<'a, u32> [lim_cnt], cond_lst: StrArray<Cn<'a>> [cond_cnt],
        ofst_cnt: u16, cyc_ofst: UfArray [ofst_cnt; cyc_size],
        pmr_cnt: u16, pmr_indx: UfArray [pmr_cnt; pmr_size],
        chn_cnt: u16, chn_num: UfArray [chn_cnt; chn_size],
        exp_cnt: u16, exp_data: Array<'a, u8> [exp_cnt],
        cap_cnt: u16, cap_data: Array<'a, u8> [cap_cnt],
        new_cnt: u16, new_data: Array<'a, u8> [new_cnt],
        pat_cnt: u16, pat_num: UfArray [pat_cnt; pat_size],
        bpos_cnt: u16, bit_pos: UfArray [bpos_cnt; bit_size],
        usr1_cnt: u16, usr1: UfArray [usr1_cnt; u1_size],
        usr2_cnt: u16, usr2: UfArray [usr2_cnt; u2_size],
        usr3_cnt: u16, usr3: UfArray [usr3_cnt; u3_size],
        txt_cnt: u16, user_txt: FixedStrArray<'a> [txt_cnt; utx_size],
    }
    /// Begin Program Section Record.
    Bps (20, 10, "BPS") { seq_name: Cn<'a> }
    /// End Program Section Record.
    Eps (20, 20, "EPS") { }
    /// Generic Data Record.
    Gdr (50, 10, "GDR") { fld_cnt: u16, gen_data: GenData<'a> [fld_cnt] }
    /// Datalog Text Record.
    Dtr (50, 30, "DTR") { text_dat: Cn<'a> }
}

/// Version Update Record (V4-2007). Two layouts are in use: the spec's single UPD_NAM,
/// and a U*1 count followed by that many names. Both decode to `names`, and the layout
/// is remembered so that the record re-encodes as it was.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vur<'a> {
    pub names: Vec<Cn<'a>>,
    pub counted: bool,
    pub extra: &'a [u8],
}

impl<'a> Vur<'a> {
    pub const TYP: u8 = 0;
    pub const SUB: u8 = 30;
    pub const CODE: &'static str = "VUR";
    pub const FIELDS: &'static [&'static str] = &["upd_nam"];

    pub fn decode(body: &'a [u8], order: ByteOrder) -> Self {
        // The counted layout is chosen only when it accounts for every byte exactly; a
        // single name never does (its first character would have to be a valid length).
        let mut c = Cursor::new(body, order);
        if let Some(k) = c.u1()
            && k > 0
        {
            let names: Option<Vec<Cn>> = (0..k).map(|_| Cn::read(&mut c)).collect();
            if let Some(names) = names
                && c.remaining() == 0
                && names.iter().all(|n| !n.is_empty() && n.as_bytes()[0].is_ascii_graphic())
            {
                return Vur { names, counted: true, extra: &[] };
            }
        }
        let mut c = Cursor::new(body, order);
        match Cn::read(&mut c) {
            Some(n) => Vur { names: vec![n], counted: false, extra: c.rest() },
            None => Vur { names: vec![], counted: false, extra: body },
        }
    }
    pub fn encode(&self, w: &mut Writer) {
        if self.counted {
            w.u1(self.names.len() as u8);
        }
        self.names.iter().for_each(|n| n.write(w));
        w.bytes(self.extra);
    }
    pub fn visit(&self, f: &mut dyn FnMut(&'static str, Option<&dyn Show>)) {
        let arr = StrArray(self.names.clone());
        f("upd_nam", Some(&arr));
    }
}

/// A record type this crate does not know (or a reserved one). Kept raw, never dropped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unknown<'a> {
    pub typ: u8,
    pub sub: u8,
    pub body: &'a [u8],
}

macro_rules! record_enum {
    ($($v:ident),*) => {
        /// One decoded record.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Record<'a> {
            $( $v($v<'a>), )*
            Unknown(Unknown<'a>),
        }

        /// Record kinds, for filtering and counting without decoding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RecordType {
            $( $v, )*
            Unknown,
        }

        impl RecordType {
            pub const ALL: &'static [RecordType] = &[$( RecordType::$v, )*];

            #[inline]
            pub fn of(typ: u8, sub: u8) -> RecordType {
                // A match compiles to a decision on TYP then SUB; a chain of ifs tested
                // every record against the types before it (PTR was the 20th).
                match (typ, sub) {
                    $( ($v::TYP, $v::SUB) => RecordType::$v, )*
                    _ => RecordType::Unknown,
                }
            }
            pub fn code(self) -> &'static str {
                match self { $( RecordType::$v => $v::CODE, )* RecordType::Unknown => "UNKNOWN" }
            }
            pub fn from_code(s: &str) -> Option<RecordType> {
                let s = s.trim().to_ascii_uppercase();
                $( if s == $v::CODE { return Some(RecordType::$v); } )*
                None
            }
            pub fn typ_sub(self) -> Option<(u8, u8)> {
                match self { $( RecordType::$v => Some(($v::TYP, $v::SUB)), )* RecordType::Unknown => None }
            }
            pub fn fields(self) -> &'static [&'static str] {
                match self { $( RecordType::$v => $v::FIELDS, )* RecordType::Unknown => &[] }
            }
        }

        impl<'a> Record<'a> {
            /// Decodes one record body. Infallible by design: see the module docs.
            #[inline]
            pub fn decode(typ: u8, sub: u8, body: &'a [u8], order: ByteOrder) -> Record<'a> {
                match RecordType::of(typ, sub) {
                    $( RecordType::$v => Record::$v($v::decode(body, order)), )*
                    RecordType::Unknown => Record::Unknown(Unknown { typ, sub, body }),
                }
            }
            pub fn record_type(&self) -> RecordType {
                match self { $( Record::$v(_) => RecordType::$v, )* Record::Unknown(_) => RecordType::Unknown }
            }
            pub fn typ_sub(&self) -> (u8, u8) {
                match self { $( Record::$v(_) => ($v::TYP, $v::SUB), )* Record::Unknown(u) => (u.typ, u.sub) }
            }
            pub fn code(&self) -> &'static str {
                self.record_type().code()
            }
            /// Appends this record's body (no header) to `w`.
            pub fn encode_body(&self, w: &mut Writer) {
                match self { $( Record::$v(r) => r.encode(w), )* Record::Unknown(u) => w.bytes(u.body) }
            }
            /// Bytes after the decodable fields (the whole body for an unknown record).
            pub fn extra(&self) -> &'a [u8] {
                match self { $( Record::$v(r) => r.extra, )* Record::Unknown(u) => u.body }
            }
            /// The fields as a JSON object (`{"TEST_NUM":1,...}`), absent fields left out;
            /// with `extra`, trailing bytes beyond the fields as `"_extra_hex"`.
            pub fn fields_json(&self, out: &mut String, extra: bool) {
                out.push('{');
                let mut first = true;
                self.visit(&mut |name, v| {
                    if let Some(v) = v {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        out.push('"');
                        out.push_str(&name.to_ascii_uppercase());
                        out.push_str("\":");
                        v.json(out);
                    }
                });
                if extra && !self.extra().is_empty() && self.record_type() != RecordType::Unknown {
                    if !first {
                        out.push(',');
                    }
                    out.push_str("\"_extra_hex\":\"");
                    for b in self.extra() {
                        out.push_str(&format!("{b:02x}"));
                    }
                    out.push('"');
                }
                out.push('}');
            }
            pub fn visit(&self, f: &mut dyn FnMut(&'static str, Option<&dyn Show>)) {
                match self {
                    $( Record::$v(r) => r.visit(f), )*
                    Record::Unknown(u) => {
                        let b = Bn(std::borrow::Cow::Borrowed(u.body));
                        f("body", Some(&b))
                    }
                }
            }
        }
    };
}

record_enum!(
    Far, Atr, Vur, Mir, Mrr, Pcr, Hbr, Sbr, Pmr, Pgr, Plr, Rdr, Sdr, Psr, Nmr, Cnr, Ssr, Cdr, Wir, Wrr, Wcr, Pir, Prr, Tsr, Ptr, Mpr, Ftr,
    Str, Bps, Eps, Gdr, Dtr
);

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

// ---- Missing-value conventions, exposed as `None` ----

/// PART_FLG bits 3 and 4: pass, fail, or no pass/fail indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PassFail {
    Pass,
    Fail,
    Unknown,
}

impl PassFail {
    pub fn as_str(self) -> &'static str {
        match self {
            PassFail::Pass => "pass",
            PassFail::Fail => "fail",
            PassFail::Unknown => "unknown",
        }
    }
}

impl Prr<'_> {
    pub fn pass_fail(&self) -> PassFail {
        let f = self.part_flg.unwrap_or(0);
        if f & 0x10 != 0 {
            PassFail::Unknown
        } else if f & 0x08 != 0 {
            PassFail::Fail
        } else {
            PassFail::Pass
        }
    }
    /// SOFT_BIN, with 65535 meaning "no soft bin".
    pub fn soft_bin(&self) -> Option<u16> {
        self.soft_bin.filter(|&b| b != 65535)
    }
    pub fn hard_bin(&self) -> Option<u16> {
        self.hard_bin
    }
    /// X_COORD, with -32768 meaning "no coordinate".
    pub fn x(&self) -> Option<i16> {
        self.x_coord.filter(|&v| v != -32768)
    }
    pub fn y(&self) -> Option<i16> {
        self.y_coord.filter(|&v| v != -32768)
    }
    /// PART_FLG bits 0/1: this touch supersedes an earlier one of the same part id (0) or
    /// the same X/Y (1).
    pub fn supersedes(&self) -> bool {
        self.part_flg.unwrap_or(0) & 0x03 != 0
    }
    /// PART_FLG bit 2: the part ended abnormally.
    pub fn abnormal(&self) -> bool {
        self.part_flg.unwrap_or(0) & 0x04 != 0
    }
}

/// 4294967295 marks an unknown count in PCR, WRR, TSR and similar.
#[inline]
pub fn count(v: Option<u32>) -> Option<u32> {
    v.filter(|&c| c != u32::MAX)
}

impl Wcr<'_> {
    /// WF_UNITS 0 means unknown units; sizes of 0 mean unknown.
    pub fn wafer_size(&self) -> Option<f32> {
        self.wafr_siz.filter(|&v| v != 0.0)
    }
}

/// Pass/fail/validity of a parametric result from TEST_FLG and PARM_FLG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestFlags {
    pub test_flg: u8,
    pub parm_flg: u8,
}

impl TestFlags {
    /// Bit 6 clear: the pass/fail bit (7) is valid.
    pub fn pass_fail_valid(&self) -> bool {
        self.test_flg & 0x40 == 0
    }
    /// `Some(true)` passed, `Some(false)` failed, `None` no pass/fail indication.
    pub fn passed(&self) -> Option<bool> {
        self.pass_fail_valid().then_some(self.test_flg & 0x80 == 0)
    }
    /// The RESULT value is not usable: bit 1 (invalid result), 2 (unreliable), 4 (not
    /// executed) or 5 (aborted), or PARM_FLG bits 0-2 (scale, drift, oscillation).
    pub fn result_invalid(&self) -> bool {
        self.test_flg & 0b0011_0110 != 0 || self.parm_flg & 0b0000_0111 != 0
    }
    pub fn alarm(&self) -> bool {
        self.test_flg & 0x01 != 0
    }
    pub fn executed(&self) -> bool {
        self.test_flg & 0x10 == 0
    }
}

impl Ptr<'_> {
    pub fn flags(&self) -> TestFlags {
        TestFlags { test_flg: self.test_flg.unwrap_or(0), parm_flg: self.parm_flg.unwrap_or(0) }
    }
}
impl Mpr<'_> {
    pub fn flags(&self) -> TestFlags {
        TestFlags { test_flg: self.test_flg.unwrap_or(0), parm_flg: self.parm_flg.unwrap_or(0) }
    }
}
