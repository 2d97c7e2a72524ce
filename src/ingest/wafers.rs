//! The `wafers` table: one row per WIR/WRR pair, with the WCR's geometry and the PRRs
//! seen on each wafer.

use std::io;

use super::{Out, own};
use crate::stdf::records::{self as r, count};
use crate::stdf::types::C1;
use crate::table::{Rows, schema};

#[derive(Default)]
struct WaferRow {
    head: Option<u8>,
    site_grp: Option<u8>,
    wafer_id: String,
    start_t: Option<u32>,
    finish_t: Option<u32>,
    part_cnt: Option<u32>,
    rtst_cnt: Option<u32>,
    abrt_cnt: Option<u32>,
    good_cnt: Option<u32>,
    func_cnt: Option<u32>,
    fabwf_id: Option<String>,
    frame_id: Option<String>,
    mask_id: Option<String>,
    parts: u32,
}

/// The wafers of one file, and which one each head is testing.
pub(super) struct Wafers {
    rows: Vec<WaferRow>,
    /// The wafer open on each head (between its WIR and WRR).
    current: [Option<u32>; 256],
    /// The last wafer opened: parts outside any WIR/WRR pair belong to it.
    last: Option<u32>,
    wcr: Option<r::Wcr<'static>>,
}

impl Wafers {
    pub fn new() -> Wafers {
        Wafers { rows: Vec::new(), current: [None; 256], last: None, wcr: None }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn wafer_id(&self, i: u32) -> &str {
        &self.rows[i as usize].wafer_id
    }

    /// A WIR or WCR makes the file a wafer-sort file.
    pub fn is_wafer_sort(&self) -> bool {
        !self.rows.is_empty() || self.wcr.is_some()
    }

    /// The wafer a part finished on `head` belongs to, counting the part.
    pub fn part_on(&mut self, head: Option<u8>) -> Option<u32> {
        let w = self.current[head.unwrap_or(1) as usize].or(self.last);
        if let Some(w) = w {
            self.rows[w as usize].parts += 1;
        }
        w
    }

    pub fn wir(&mut self, w: &r::Wir<'_>) {
        let idx = self.rows.len() as u32;
        self.rows.push(WaferRow {
            head: w.head_num,
            site_grp: w.site_grp,
            wafer_id: own(&w.wafer_id).unwrap_or_default(),
            start_t: w.start_t,
            ..Default::default()
        });
        self.current[w.head_num.unwrap_or(1) as usize] = Some(idx);
        self.last = Some(idx);
    }

    pub fn wrr(&mut self, w: &r::Wrr<'_>) {
        let idx = match self.current[w.head_num.unwrap_or(1) as usize].or(self.last) {
            Some(i) => i,
            None => {
                self.rows.push(WaferRow { head: w.head_num, site_grp: w.site_grp, ..Default::default() });
                (self.rows.len() - 1) as u32
            }
        };
        let wr = &mut self.rows[idx as usize];
        if wr.wafer_id.is_empty() {
            wr.wafer_id = own(&w.wafer_id).unwrap_or_default();
        }
        wr.finish_t = w.finish_t;
        wr.part_cnt = w.part_cnt;
        wr.rtst_cnt = count(w.rtst_cnt);
        wr.abrt_cnt = count(w.abrt_cnt);
        wr.good_cnt = count(w.good_cnt);
        wr.func_cnt = count(w.func_cnt);
        wr.fabwf_id = own(&w.fabwf_id);
        wr.frame_id = own(&w.frame_id);
        wr.mask_id = own(&w.mask_id);
        self.current[w.head_num.unwrap_or(1) as usize] = None;
    }

    pub fn wcr(&mut self, w: &r::Wcr<'_>) {
        self.wcr = Some(w.clone().into_owned());
    }

    pub fn write(&self, out: &mut Out<'_>, fid: &str, lot: &str) -> io::Result<()> {
        let mut wafers = Rows::new(&schema::WAFERS, fid, lot, &[]);
        let wcr = self.wcr.clone().unwrap_or_default();
        let units = match wcr.wf_units {
            Some(1) => Some("in"),
            Some(2) => Some("cm"),
            Some(3) => Some("mm"),
            Some(4) => Some("mil"),
            _ => None,
        };
        let ch = |c: Option<C1>| c.map(|c| c.as_char()).filter(|c| *c != ' ').map(|c| c.to_string());
        for (i, w) in self.rows.iter().enumerate() {
            wafers
                .row()
                .u32(Some(i as u32))
                .str(Some(&w.wafer_id))
                .u8(w.head)
                .u8(w.site_grp)
                .time(w.start_t)
                .time(w.finish_t)
                .u32(w.part_cnt)
                .u32(w.rtst_cnt)
                .u32(w.abrt_cnt)
                .u32(w.good_cnt)
                .u32(w.func_cnt)
                .str(w.fabwf_id.as_deref())
                .str(w.frame_id.as_deref())
                .str(w.mask_id.as_deref())
                .u32(Some(w.parts))
                .f32(wcr.wafr_siz.filter(|v| *v != 0.0))
                .f32(wcr.die_ht.filter(|v| *v != 0.0))
                .f32(wcr.die_wid.filter(|v| *v != 0.0))
                .str(units)
                .str(ch(wcr.wf_flat).as_deref())
                .i16(wcr.center_x.filter(|v| *v != -32768))
                .i16(wcr.center_y.filter(|v| *v != -32768))
                .str(ch(wcr.pos_x).as_deref())
                .str(ch(wcr.pos_y).as_deref())
                .end();
        }
        out.rows(&mut wafers, &[])
    }
}
