//! Content types of uploaded files, chosen by name from a `mime.types` file, as s3fs does
//! (`-o mime=FILE`, default `/etc/mime.types`): the last extension, else the one before it
//! (`model.onnx.gz` tries `gz`, then `onnx`), else `application/octet-stream`.

use std::collections::HashMap;
use std::path::Path;

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentTypes {
    by_extension: HashMap<String, String>,
}

impl ContentTypes {
    /// Parse the `mime.types` format: `type ext ext ...` per line, `#` comments.
    pub fn parse(text: &str) -> Self {
        let mut by_extension = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(content_type) = words.next() else {
                continue;
            };
            for ext in words {
                by_extension
                    .entry(ext.to_string())
                    .or_insert_with(|| content_type.to_string());
            }
        }
        ContentTypes { by_extension }
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    pub fn len(&self) -> usize {
        self.by_extension.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_extension.is_empty()
    }

    /// The content type of a file named `name`.
    pub fn for_name(&self, name: &str) -> &str {
        let mut parts = name.rsplit('.');
        let last = parts.next();
        let before = parts.next();
        if name.contains('.') {
            for ext in [last, before].into_iter().flatten() {
                if let Some(t) = self.lookup(ext) {
                    return t;
                }
            }
        }
        DEFAULT_CONTENT_TYPE
    }

    fn lookup(&self, ext: &str) -> Option<&str> {
        if ext.is_empty() {
            return None;
        }
        self.by_extension
            .get(ext)
            .or_else(|| self.by_extension.get(&ext.to_ascii_lowercase()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_pick_types_like_s3fs() {
        let t = ContentTypes::parse(
            "# comment\ntext/plain\t\ttxt text\napplication/json json\napplication/gzip gz\napplication/x-empty\n",
        );
        assert_eq!(t.for_name("a.txt"), "text/plain");
        assert_eq!(t.for_name("A.TXT"), "text/plain");
        assert_eq!(t.for_name("config.json"), "application/json");
        assert_eq!(t.for_name("model.onnx.gz"), "application/gzip");
        assert_eq!(
            t.for_name("notes.txt.bak"),
            "text/plain",
            "the extension before the last"
        );
        assert_eq!(t.for_name("model.onnx"), DEFAULT_CONTENT_TYPE);
        assert_eq!(
            t.for_name("txt"),
            DEFAULT_CONTENT_TYPE,
            "a bare name has no extension"
        );
        assert_eq!(t.for_name(".txt"), "text/plain");
        assert_eq!(
            ContentTypes::default().for_name("a.txt"),
            DEFAULT_CONTENT_TYPE
        );
    }
}
