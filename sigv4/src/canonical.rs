//! The canonical request: the one string both sides derive from an HTTP request and hash.
//!
//! ```text
//! METHOD\n
//! encoded path\n
//! canonical query\n
//! name:value\n ... (one line per signed header, sorted by name)\n
//! signed;header;names\n
//! payload hash
//! ```
//!
//! Each piece has a rule the server applies the same way; a mismatch in any byte is a
//! `SignatureDoesNotMatch`. The rules, and why they are what they are:
//! - the path is encoded once and not normalised (see [`crate::encode`]);
//! - query names and values are encoded (with `/` encoded too) *before* sorting, and sorted by
//!   encoded name then encoded value, so the order is that of the bytes actually sent;
//!   a parameter without value is `name=`;
//! - header names are lower-cased (HTTP names are case-insensitive, the signature is not);
//!   values are trimmed and inner runs of whitespace collapsed to one space, because proxies
//!   and HTTP libraries may re-fold whitespace; a header given several times is one line with
//!   the values joined by `,`, as HTTP allows a proxy to merge them.

use crate::encode::{encode_path, encode_query_component};

/// The canonical query string: names and values encoded with [`encode_query_component`],
/// sorted by encoded name then encoded value, joined as `name=value` with `&`.
///
/// A parameter without value (e.g. `lifecycle` in `?lifecycle`) gives `lifecycle=`. The HTTP
/// client sends this very string as the URL's query, so what is signed is what is sent.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (encode_query_component(name), encode_query_component(value)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A header value as it enters the canonical request: leading and trailing whitespace removed,
/// every inner run of whitespace (spaces, tabs) replaced by one space. Same as botocore's
/// `' '.join(value.split())` for ASCII input.
pub(crate) fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_ascii_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Signed headers in canonical form: lower-case names, sorted, duplicates merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanonicalHeaders {
    /// `(lower-case name, canonical value)`, sorted by name, names unique.
    entries: Vec<(String, String)>,
}

impl CanonicalHeaders {
    /// Builds the canonical form of `headers` (names in any case, values raw). A name given
    /// more than once becomes one entry whose values are joined by `,` in the order given.
    pub(crate) fn new<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut all: Vec<(String, String)> = headers
            .into_iter()
            .map(|(name, value)| {
                (
                    name.trim().to_ascii_lowercase(),
                    canonical_header_value(value),
                )
            })
            .collect();
        // Stable: the values of a repeated header keep their order.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries: Vec<(String, String)> = Vec::with_capacity(all.len());
        for (name, value) in all {
            match entries.last_mut() {
                Some((last, joined)) if *last == name => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => entries.push((name, value)),
            }
        }
        CanonicalHeaders { entries }
    }

    /// `name:value\n` for every header, in order.
    pub(crate) fn block(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.entries {
            out.push_str(name);
            out.push(':');
            out.push_str(value);
            out.push('\n');
        }
        out
    }

    /// The names joined by `;`: the `SignedHeaders` list.
    pub(crate) fn signed_names(&self) -> String {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        names.join(";")
    }
}

/// Assembles the canonical request from its parts. `canonical_query` is already canonical
/// (see [`canonical_query`]); `raw_path` is encoded here.
pub(crate) fn canonical_request(
    method: &str,
    raw_path: &str,
    canonical_query: &str,
    headers: &CanonicalHeaders,
    payload_hash: &str,
) -> String {
    let mut out = String::new();
    out.push_str(method);
    out.push('\n');
    out.push_str(&encode_path(raw_path));
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    out.push_str(&headers.block());
    out.push('\n');
    out.push_str(&headers.signed_names());
    out.push('\n');
    out.push_str(payload_hash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_sorted_by_encoded_name() {
        assert_eq!(
            canonical_query(&[("prefix", "J"), ("max-keys", "2")]),
            "max-keys=2&prefix=J"
        );
    }

    #[test]
    fn query_parameter_without_value_gets_equals() {
        assert_eq!(canonical_query(&[("lifecycle", "")]), "lifecycle=");
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn query_values_are_encoded_with_slash() {
        assert_eq!(
            canonical_query(&[
                ("list-type", "2"),
                ("continuation-token", "1/ab+cd=="),
                ("delimiter", "/"),
                ("prefix", "a b/"),
            ]),
            "continuation-token=1%2Fab%2Bcd%3D%3D&delimiter=%2F&list-type=2&prefix=a%20b%2F"
        );
    }

    #[test]
    fn query_repeated_name_sorted_by_value() {
        assert_eq!(
            canonical_query(&[("a", "z"), ("a", "b"), ("a", "")]),
            "a=&a=b&a=z"
        );
    }

    #[test]
    fn query_sorts_by_encoded_bytes_not_raw() {
        // Raw, ' ' (0x20) sorts before '!' (0x21); encoded, "%20" sorts after "%21".
        // Upper-case sorts before lower-case (byte order, not locale).
        assert_eq!(
            canonical_query(&[("a b", "1"), ("a!", "2"), ("B", "3")]),
            "B=3&a%20b=1&a%21=2"
        );
    }

    #[test]
    fn header_values_trimmed_and_collapsed() {
        assert_eq!(canonical_header_value("  a   b  c  "), "a b c");
        assert_eq!(canonical_header_value("a\t \tb"), "a b");
        assert_eq!(canonical_header_value("plain"), "plain");
        assert_eq!(canonical_header_value("   "), "");
        assert_eq!(canonical_header_value(""), "");
    }

    #[test]
    fn header_names_lowercased_sorted_and_merged() {
        let h = CanonicalHeaders::new([
            ("X-Amz-Meta-B", "2"),
            ("Host", "h"),
            ("x-amz-meta-b", " 1 "),
            ("Range", "bytes=0-9"),
        ]);
        assert_eq!(h.block(), "host:h\nrange:bytes=0-9\nx-amz-meta-b:2,1\n");
        assert_eq!(h.signed_names(), "host;range;x-amz-meta-b");
    }

    #[test]
    fn canonical_request_layout() {
        let h = CanonicalHeaders::new([("host", "h")]);
        assert_eq!(
            canonical_request("GET", "/b/a b", "x=1", &h, "UNSIGNED-PAYLOAD"),
            "GET\n/b/a%20b\nx=1\nhost:h\n\nhost\nUNSIGNED-PAYLOAD"
        );
    }
}
