//! Turning the paged LIST of a directory prefix into directory entries.
//!
//! Subtleties, each handled here once:
//! - A directory is listed with delimiter `/`: objects are files, common prefixes are
//!   directories. Pages are followed to the end (directories of any size).
//! - The directory's own marker object (`P` itself, e.g. `dir/`) is not an entry.
//! - A file `a` and a directory `a/` both present: the directory wins and the name appears
//!   once. They need not be adjacent in the listing (`a`, `a-b`, `a.txt`, then `a/`), so the
//!   whole listing is merged by name, not just neighbouring entries.
//! - Names that cannot be directory entries are skipped: empty (a key with `//`), `.`, `..`.
//! - Entries come out sorted by name (byte order), so offsets are stable for a snapshot.

use std::collections::BTreeMap;
use std::time::SystemTime;

use s3client::{ListRequest, ObjectClient, S3Error};

use crate::attr::{Kind, Stat};
use crate::error::{FsError, Result};

/// The most pages one listing follows before it is declared broken (a server looping on the
/// same continuation). 100,000 pages of 1,000 keys is 100 million entries.
const MAX_PAGES: usize = 100_000;

/// All entries of the directory with prefix `prefix` (empty or ending in `/`).
pub async fn list_directory<C: ObjectClient>(
    client: &C,
    prefix: &str,
    page_size: u32,
    implicit_dir_time: SystemTime,
) -> Result<Vec<(String, Stat)>> {
    let mut entries: BTreeMap<String, Stat> = BTreeMap::new();
    let mut continuation: Option<String> = None;
    let mut previous: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_objects(ListRequest {
                prefix: prefix.to_string(),
                delimiter: Some("/".to_string()),
                continuation: continuation.take(),
                max_keys: Some(page_size),
            })
            .await?;
        for common in &page.common_prefixes {
            let Some(name) = entry_name(prefix, common.strip_suffix('/').unwrap_or(common)) else {
                continue;
            };
            // Directory wins over a file of the same name, whichever came first.
            entries.insert(name.to_string(), Stat::implicit_dir(implicit_dir_time));
        }
        for object in &page.objects {
            if object.key == prefix {
                continue; // the directory's own marker
            }
            let Some(name) = entry_name(prefix, &object.key) else {
                continue;
            };
            let stat = Stat::listed_file(object.size, &object.etag, object.last_modified.into());
            match entries.get(name) {
                Some(existing) if existing.kind == Kind::Directory => {}
                _ => {
                    entries.insert(name.to_string(), stat);
                }
            }
        }
        match page.next {
            None => return Ok(entries.into_iter().collect()),
            // A server that hands back the same (or no) continuation would loop forever.
            Some(next) if next.is_empty() || previous.as_ref() == Some(&next) => {
                return Err(broken_listing(prefix, "the continuation did not advance"));
            }
            Some(next) => {
                previous = Some(next.clone());
                continuation = Some(next);
            }
        }
    }
    Err(broken_listing(prefix, "it did not end"))
}

fn broken_listing(prefix: &str, why: &str) -> FsError {
    FsError::S3(S3Error::InvalidResponse(format!(
        "listing of {prefix:?} is broken: {why}"
    )))
}

/// The entry name of `key` in directory `prefix`, if it is a valid single name.
fn entry_name<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    let name = key.strip_prefix(prefix)?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3client::mock::MockClient;

    async fn names(c: &MockClient, prefix: &str) -> Vec<(String, Kind)> {
        list_directory(c, prefix, 1000, SystemTime::UNIX_EPOCH)
            .await
            .unwrap()
            .into_iter()
            .map(|(n, s)| (n, s.kind))
            .collect()
    }

    #[tokio::test]
    async fn directory_wins_even_when_not_adjacent() {
        let c = MockClient::new();
        c.set_page_size(2);
        for k in [
            "a", "a-b", "a.txt", "a/x", "b/", "b", "c", "d//e", "./f", "../g",
        ] {
            c.put(k, "1");
        }
        assert_eq!(
            names(&c, "").await,
            vec![
                ("a".into(), Kind::Directory),
                ("a-b".into(), Kind::File),
                ("a.txt".into(), Kind::File),
                ("b".into(), Kind::Directory),
                ("c".into(), Kind::File),
                ("d".into(), Kind::Directory),
            ]
        );
        // "d//e": the empty name under d/ is skipped rather than shown as a nameless entry.
        assert_eq!(names(&c, "d/").await, vec![]);
    }

    #[tokio::test]
    async fn marker_is_not_an_entry_and_pages_are_followed() {
        let c = MockClient::new();
        c.set_page_size(7);
        c.put("m/", "");
        for i in 0..30 {
            c.put(&format!("m/f{i:02}"), "x");
        }
        c.put("m/sub/", "");
        let got = names(&c, "m/").await;
        assert_eq!(got.len(), 31);
        assert_eq!(got.last().unwrap(), &("sub".to_string(), Kind::Directory));
        assert_eq!(
            c.counters().list.load(std::sync::atomic::Ordering::Relaxed),
            5
        );
    }
}
