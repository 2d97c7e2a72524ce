//! The `bins` and `sites` tables: HBR/SBR and SDR records, as the tester summarised them.

use std::io;

use super::{Out, own};
use crate::stdf::records::{self as r, count};
use crate::table::{Rows, schema};

/// One HBR or SBR: type, head, site, bin, count, pass/fail, name.
type BinRow = (char, Option<u8>, Option<u8>, u16, Option<u32>, Option<char>, Option<String>);

#[derive(Default)]
pub(super) struct BinsAndSites {
    bins: Vec<BinRow>,
    sites: Vec<r::Sdr<'static>>,
}

impl BinsAndSites {
    pub fn hbr(&mut self, h: &r::Hbr<'_>) {
        let pf = h.hbin_pf.map(|c| c.as_char());
        self.bins.push(('H', h.head_num, h.site_num, h.hbin_num.unwrap_or(0), h.hbin_cnt, pf, own(&h.hbin_nam)));
    }

    pub fn sbr(&mut self, s: &r::Sbr<'_>) {
        let pf = s.sbin_pf.map(|c| c.as_char());
        self.bins.push(('S', s.head_num, s.site_num, s.sbin_num.unwrap_or(0), s.sbin_cnt, pf, own(&s.sbin_nam)));
    }

    pub fn sdr(&mut self, s: &r::Sdr<'_>) {
        self.sites.push(s.clone().into_owned());
    }

    pub fn write(&self, out: &mut Out<'_>, fid: &str, lot: &str) -> io::Result<()> {
        let mut bins = Rows::new(&schema::BINS, fid, lot, &[]);
        for (t, h, s, n, c, pf, name) in &self.bins {
            bins.row()
                .str(Some(if *t == 'H' { "H" } else { "S" }))
                .u8(*h)
                .u8(*s)
                .bool(Some(*h == Some(255)))
                .u16(Some(*n))
                .u32(count(*c))
                .str(pf.map(|c| c.to_string()).as_deref())
                .str(name.as_deref())
                .end();
        }
        out.rows(&mut bins, &[])?;

        let mut sites = Rows::new(&schema::SITES, fid, lot, &[]);
        for s in &self.sites {
            let nums: Vec<u8> = s.site_num.as_ref().map(|a| a.to_vec()).unwrap_or_default();
            for n in nums {
                sites.row().u8(s.head_num).u8(s.site_grp).u8(Some(n));
                for f in [
                    &s.hand_typ,
                    &s.hand_id,
                    &s.card_typ,
                    &s.card_id,
                    &s.load_typ,
                    &s.load_id,
                    &s.dib_typ,
                    &s.dib_id,
                    &s.cabl_typ,
                    &s.cabl_id,
                    &s.cont_typ,
                    &s.cont_id,
                    &s.lasr_typ,
                    &s.lasr_id,
                    &s.extr_typ,
                    &s.extr_id,
                ] {
                    sites.str(own(f).as_deref());
                }
                sites.end();
            }
        }
        out.rows(&mut sites, &[])
    }
}
