//! The token file of `yieldlake serve`: bearer tokens stored as sha256 hashes, each with
//! the lots or products it may read.
//!
//! ```toml
//! [[token]]
//! name = "fab-a-quality"
//! sha256 = "<64 hex digits>"
//! products = ["AUTO-IC"]     # optional; with `lots`, the union of both
//! lots = ["LOT0001"]         # optional; neither means every row
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One client's credentials and what it may read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub name: String,
    /// sha256 of the token, lower-case hex: the file never holds a token itself.
    pub sha256: String,
    #[serde(default)]
    pub lots: BTreeSet<String>,
    #[serde(default)]
    pub products: BTreeSet<String>,
}

impl Token {
    /// Whether the token reads every row (neither lots nor products named).
    pub fn unlimited(&self) -> bool {
        self.lots.is_empty() && self.products.is_empty()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    #[serde(default)]
    pub token: Vec<Token>,
}

/// The sha256 of a token as the file stores it.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenFile {
    pub fn read(path: &Path) -> Result<TokenFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the token file", path.display()))?;
        TokenFile::parse(&text).with_context(|| format!("{}: invalid token file", path.display()))
    }

    pub fn parse(text: &str) -> Result<TokenFile> {
        let f: TokenFile = toml::from_str(text)?;
        let mut names = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        for t in &f.token {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                bail!("token {:?}: sha256 must be 64 lower-case hex digits (the hash, never the token itself)", t.name);
            }
            if !names.insert(t.name.as_str()) {
                bail!("token name {:?} is listed twice", t.name);
            }
            if !hashes.insert(t.sha256.as_str()) {
                bail!("token {:?}: the same hash is listed twice", t.name);
            }
        }
        if f.token.is_empty() {
            bail!("no [[token]] entries: nobody could connect");
        }
        Ok(f)
    }

    /// The entry whose hash is the token's, if any.
    pub fn find(&self, token: &str) -> Option<&Token> {
        let h = hash(token);
        self.token.iter().find(|t| t.sha256 == h)
    }
}

/// A new random token (32 bytes, hex) with the file entry that admits it.
pub fn new_token(name: &str, lots: &[String], products: &[String]) -> Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let list = |v: &[String]| format!("[{}]", v.iter().map(|s| toml::Value::String(s.clone()).to_string()).collect::<Vec<_>>().join(", "));
    let mut entry = format!("[[token]]\nname = {}\nsha256 = \"{}\"\n", toml::Value::String(name.to_string()), hash(&token));
    if !lots.is_empty() {
        entry.push_str(&format!("lots = {}\n", list(lots)));
    }
    if !products.is_empty() {
        entry.push_str(&format!("products = {}\n", list(products)));
    }
    Ok((token, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_new_tokens_match_their_entries() {
        let f = TokenFile::parse(include_str!("../../contrib/serve/tokens.example.toml")).unwrap();
        assert_eq!(f.token.len(), 3);
        assert!(f.token[0].unlimited() && !f.token[1].unlimited());
        let (token, entry) = new_token("a \"quoted\" name", &["L1".into()], &["P".into()]).unwrap();
        let f = TokenFile::parse(&entry).unwrap();
        assert_eq!(f.find(&token).map(|t| t.name.as_str()), Some("a \"quoted\" name"));
        assert!(!entry.contains(&token) && f.find("other").is_none());
        assert_eq!(f.token[0].lots.iter().collect::<Vec<_>>(), ["L1"]);
    }

    #[test]
    fn bad_files_are_refused() {
        let h = "a".repeat(64);
        for (text, why) in [
            ("", "no [[token]]"),
            ("[[token]]\nname = \"x\"\nsha256 = \"plain-token\"\n", "64 lower-case hex"),
            (&format!("[[token]]\nname = \"x\"\nsha256 = \"{}\"\n", "A".repeat(64)), "64 lower-case hex"),
            (&format!("[[token]]\nname = \"x\"\nsha256 = \"{h}\"\n[[token]]\nname = \"x\"\nsha256 = \"{}\"\n", "b".repeat(64)), "twice"),
            (&format!("[[token]]\nname = \"x\"\nsha256 = \"{h}\"\nlot = [\"L\"]\n"), "unknown field"),
        ] {
            let e = format!("{:#}", TokenFile::parse(text).unwrap_err());
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
