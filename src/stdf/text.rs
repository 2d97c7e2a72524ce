//! One record as one line: ATDF-like text (`PTR: TEST_NUM=1000 HEAD_NUM=1 … RESULT=2.1e-6`)
//! or a JSON object (`{"rec":"PTR","index":12,"offset":345,"fields":{…}}`). What `dump`
//! prints; fields a record left out are not shown.

use super::reader::{RawRecord, record_label};
use super::types::json_str;
use super::{ByteOrder, RecordType};

/// Appends the record as text: its code, then `NAME=value` for each present field.
pub fn text_line(raw: &RawRecord<'_>, order: ByteOrder, out: &mut String) {
    let rec = raw.decode(order);
    out.push_str(&record_label(raw.typ, raw.sub));
    out.push(':');
    rec.visit(&mut |name, v| {
        if let Some(v) = v {
            out.push(' ');
            out.push_str(&name.to_ascii_uppercase());
            out.push('=');
            v.text(out);
        }
    });
}

/// Appends the record as a JSON object: code, index, byte offset, present fields, and
/// the count of bytes beyond its last field when there are any.
pub fn json_line(raw: &RawRecord<'_>, order: ByteOrder, out: &mut String) {
    let rec = raw.decode(order);
    out.push_str("{\"rec\":");
    json_str(&record_label(raw.typ, raw.sub), out);
    out.push_str(&format!(",\"index\":{},\"offset\":{},\"fields\":", raw.index, raw.offset));
    rec.fields_json(out, false);
    if !rec.extra().is_empty() && rec.record_type() != RecordType::Unknown {
        out.push_str(",\"extra_bytes\":");
        out.push_str(&rec.extra().len().to_string());
    }
    out.push('}');
}
