//! Turning a name in a directory into what it is on the bucket.
//!
//! The rule for a name `N` in the directory with prefix `P` (one rule, documented in
//! ARCHITECTURE.md): if any key starts with `P N /` (a `N/` marker object, or keys below it),
//! `N` is a **directory**, even when an object `P N` exists too — the directory wins, so the
//! data below the prefix stays reachable (Mountpoint's rule; case 06). Otherwise, if the
//! object `P N` exists, it is a file (or a symlink, or an s3fs-style directory object by its
//! content type or mode). Otherwise it does not exist.
//!
//! Both questions go to the server at once (a HEAD and a one-key LIST), so a cold lookup costs
//! one round trip. Only a directory with a marker object costs a second one: a HEAD of the
//! marker, for the s3fs metadata (mode, owner, times) it carries.

use std::time::SystemTime;

use s3client::{ListRequest, ObjectClient, S3Error};

use crate::attr::Stat;
use crate::error::Result;

/// What `dir_prefix + name` is, or `None` when nothing by that name exists.
pub async fn resolve<C: ObjectClient>(
    client: &C,
    dir_prefix: &str,
    name: &str,
    implicit_dir_time: SystemTime,
) -> Result<Option<Stat>> {
    let key = format!("{dir_prefix}{name}");
    let sub_prefix = format!("{key}/");
    let list = ListRequest {
        prefix: sub_prefix.clone(),
        delimiter: Some("/".to_string()),
        continuation: None,
        max_keys: Some(1),
    };
    let (head, listing) = tokio::join!(client.head_object(&key), client.list_objects(list));
    let listing = listing?;
    if !listing.objects.is_empty() || !listing.common_prefixes.is_empty() {
        let has_marker = listing
            .objects
            .first()
            .map(|o| o.key == sub_prefix)
            .unwrap_or(false);
        if has_marker {
            match client.head_object(&sub_prefix).await {
                Ok(info) => return Ok(Some(Stat::from_object(&info, true))),
                // Deleted between the two requests: what remains is implicit.
                Err(S3Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(Some(Stat::implicit_dir(implicit_dir_time)));
    }
    match head {
        Ok(info) => Ok(Some(Stat::from_object(&info, false))),
        Err(S3Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The metadata of an entry a listing already classified (a file, or a directory with key
/// prefix `key`): one HEAD of the object, or of the directory's marker. An implicit directory
/// (no marker) keeps `listed`. `None`: the file is gone.
pub async fn complete<C: ObjectClient>(
    client: &C,
    key: &str,
    listed: &Stat,
) -> Result<Option<Stat>> {
    let is_dir = listed.kind == crate::attr::Kind::Directory;
    match client.head_object(key).await {
        Ok(info) => Ok(Some(Stat::from_object(&info, is_dir))),
        Err(S3Error::NotFound(_)) if is_dir => Ok(Some(listed.clone())),
        Err(S3Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
