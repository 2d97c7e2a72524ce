//! The `functional` table: one row per FTR, with OPT_FLAG's invalid fields left out.

use super::text;
use crate::stdf::records as r;
use crate::table::Rows;

/// One FTR's row, keyed to its test and to the part open on its site.
pub(super) fn ftr_row(fr: &mut Rows, f: &r::Ftr<'_>, part: Option<u32>, key: u32) {
    let tf = f.test_flg.unwrap_or(0);
    let opt = f.opt_flag.unwrap_or(0xff);
    let valid = |bit: u8| f.opt_flag.is_some() && opt & (1 << bit) == 0;
    let pins: Option<Vec<u16>> = f.fail_pin.as_ref().map(|d| d.set_bits().map(|b| b as u16).collect());
    fr.row()
        .u32(part)
        .u32(Some(key))
        .u32(Some(f.test_num.unwrap_or(0)))
        .key(key)
        .u8(Some(f.head_num.unwrap_or(1)))
        .u8(Some(f.site_num.unwrap_or(1)))
        .u8(Some(tf))
        .bool(r::TestFlags { test_flg: tf, parm_flg: 0 }.passed())
        .u32(f.cycl_cnt.filter(|_| valid(0)))
        .u32(f.rel_vadr.filter(|_| valid(1)))
        .u32(f.rept_cnt.filter(|_| valid(2)))
        .u32(f.num_fail.filter(|_| valid(3)))
        .i32(f.xfail_ad.filter(|_| valid(4)))
        .i32(f.yfail_ad.filter(|_| valid(4)))
        .i16(f.vect_off.filter(|_| valid(5)))
        .str(text(&f.vect_nam).as_deref())
        .str(text(&f.time_set).as_deref())
        .str(text(&f.op_code).as_deref())
        .str(text(&f.alarm_id).as_deref())
        .str(text(&f.prog_txt).as_deref())
        .str(text(&f.rslt_txt).as_deref())
        .u8(f.patg_num.filter(|&p| p != 255))
        .list_u16(pins.as_deref())
        .end();
}
