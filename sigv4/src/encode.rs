//! Percent-encoding for S3 paths and query components.
//!
//! SigV4 in general asks clients to encode each path segment *twice* and to normalise the path
//! (`.`/`..` removal, `//` collapsing) before signing. S3 is the documented exception: the
//! canonical URI is the path encoded **once**, byte for byte, with no normalisation. That is
//! what lets S3 keys contain `//`, `./`, a trailing `/` or an empty segment: S3 signs and
//! serves the key exactly as stored. If we normalised or double-encoded, any key with such
//! bytes would either fail the signature check or address a different object.
//!
//! The encoding is RFC 3986's: the unreserved characters `A-Z a-z 0-9 - _ . ~` stay, every
//! other byte becomes `%XX` with upper-case hex (non-ASCII characters are encoded as their
//! UTF-8 bytes). In a path `/` also stays; in a query component it is encoded too. Note that a
//! space is `%20`, never `+`: S3 reads `+` in a path as a literal plus, so a key containing `+`
//! must be sent as `%2B`.
//!
//! The HTTP client builds its request target with these same functions, so the bytes sent on
//! the wire and the bytes signed can never disagree.

/// Upper-case hex digits, as SigV4 requires (`%2F`, not `%2f`).
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 unreserved characters: never encoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Encodes every byte of `s` except the unreserved ones and, if `keep_slash`, `/`.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// Encodes a raw S3 request path once: unreserved characters and `/` kept, every other byte
/// `%XX` (upper-case hex). Nothing is normalised: `//`, empty segments, `.` and `..` segments
/// and a trailing `/` come out as they went in.
///
/// The result is both the path to send and the canonical URI to sign.
pub fn encode_path(raw_path: &str) -> String {
    encode(raw_path, true)
}

/// Encodes one query-string name or value: like [`encode_path`] but `/` is encoded as `%2F`
/// too (SigV4 requires it in the canonical query, e.g. `delimiter=%2F`).
pub fn encode_query_component(s: &str) -> String {
    encode(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_and_slash_kept_in_path() {
        let all = "ABCXYZabcxyz0189-_.~/";
        assert_eq!(encode_path(all), all);
    }

    #[test]
    fn every_other_ascii_byte_encoded_in_path() {
        assert_eq!(encode_path("/test$file.text"), "/test%24file.text");
        assert_eq!(encode_path("/a b+c"), "/a%20b%2Bc");
        assert_eq!(
            encode_path("/%41"),
            "/%2541",
            "an existing % is encoded, not kept"
        );
        assert_eq!(encode_path("/k=v&x?y#z"), "/k%3Dv%26x%3Fy%23z");
        assert_eq!(encode_path("/!*'();:@,"), "/%21%2A%27%28%29%3B%3A%40%2C");
        assert_eq!(encode_path("/\u{0}\u{7f}"), "/%00%7F");
        assert_eq!(encode_path("/a\\b"), "/a%5Cb");
    }

    #[test]
    fn hex_is_upper_case() {
        assert_eq!(encode_path("/\u{ff}"), "/%C3%BF");
        assert_eq!(encode_query_component("/"), "%2F");
    }

    #[test]
    fn non_ascii_is_encoded_as_utf8_bytes() {
        assert_eq!(
            encode_path("/bucket/café/模型.onnx"),
            "/bucket/caf%C3%A9/%E6%A8%A1%E5%9E%8B.onnx"
        );
    }

    #[test]
    fn path_is_not_normalised() {
        assert_eq!(encode_path("/b//k"), "/b//k");
        assert_eq!(encode_path("/b/./../k/"), "/b/./../k/");
        assert_eq!(encode_path("//"), "//");
        assert_eq!(encode_path("/bucket/"), "/bucket/");
        assert_eq!(encode_path(""), "");
    }

    #[test]
    fn query_component_encodes_slash_and_reserved() {
        assert_eq!(encode_query_component("1/ab+cd=="), "1%2Fab%2Bcd%3D%3D");
        assert_eq!(encode_query_component("a b/"), "a%20b%2F");
        assert_eq!(encode_query_component("~._-"), "~._-");
        assert_eq!(encode_query_component(""), "");
    }
}
