//! Where things live in the lake, and the escaping that keeps strangers' lot ids inside it.

use sha2::{Digest, Sha256};

/// Escapes a lot id into a directory name that cannot leave the lake or collide:
/// ASCII letters, digits and `-` stay; every other byte (including `.`, `/`, `_`, NUL)
/// becomes `%XX`; the empty id is `_` (which no escaped id can be); names longer than
/// 120 characters keep a prefix and gain `~` and a hash (which no short name contains).
pub fn escape_lot(lot: &str) -> String {
    if lot.is_empty() {
        return "_".into();
    }
    let mut s = String::with_capacity(lot.len());
    for b in lot.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.len() > 120 {
        let mut cut = 80;
        while s.as_bytes()[cut - 1] == b'%' || s.as_bytes()[cut - 2] == b'%' {
            cut -= 1;
        }
        let h = hex(&Sha256::digest(lot.as_bytes())[..8]);
        s = format!("{}~{h}", &s[..cut]);
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
