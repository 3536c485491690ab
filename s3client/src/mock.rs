//! An in-memory bucket implementing [`ObjectClient`], for tests of the layers above.
//!
//! It follows S3's listing rules (prefix, delimiter, common prefixes, pages of `max_keys`
//! entries counting objects and prefixes alike, continuation after the last entry), counts
//! calls and bytes, and can be told to fail operations.
//!
//! Writes follow `S3Client` against S3: a PUT (or a copy replacing metadata) without a
//! content type stores `application/octet-stream`; metadata names are lower-cased; deleting
//! a missing key succeeds; a copy keeps the ETag (same bytes), checks `if_match` against the
//! source, and refuses to copy an object onto itself without replacing its metadata (S3's
//! 400 `InvalidRequest`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use time::OffsetDateTime;

use crate::{
    CopyRequest, ErrorDetails, GetRequest, GetResponse, ListPage, ListRequest, ListedObject,
    ObjectClient, ObjectInfo, PutBody, PutRequest, PutResult, S3Error,
};

/// The content type S3Client sends when a PUT (or a copy replacing metadata) names none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// One stored object.
#[derive(Debug, Clone)]
pub struct MockObject {
    pub data: Bytes,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub last_modified: OffsetDateTime,
    pub etag: String,
}

impl MockObject {
    pub fn new(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let etag = format!("\"{:016x}-{}\"", fnv1a(&data), data.len());
        Self {
            data,
            content_type: None,
            metadata: BTreeMap::new(),
            last_modified: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000),
            etag,
        }
    }
    pub fn content_type(mut self, ct: &str) -> Self {
        self.content_type = Some(ct.to_string());
        self
    }
    pub fn meta(mut self, name: &str, value: &str) -> Self {
        self.metadata
            .insert(name.to_ascii_lowercase(), value.to_string());
        self
    }
    pub fn last_modified(mut self, t: OffsetDateTime) -> Self {
        self.last_modified = t;
        self
    }
    fn info(&self, key: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            size: self.data.len() as u64,
            etag: self.etag.clone(),
            last_modified: self.last_modified,
            content_type: self.content_type.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// The operations a test can count or make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Head,
    Get,
    List,
    CheckBucket,
    Put,
    Delete,
    Copy,
}

/// Calls and bytes served so far.
#[derive(Debug, Default)]
pub struct Counters {
    pub head: AtomicU64,
    pub get: AtomicU64,
    pub list: AtomicU64,
    pub check_bucket: AtomicU64,
    pub put: AtomicU64,
    pub delete: AtomicU64,
    pub copy: AtomicU64,
    /// Body bytes received by PUTs.
    pub put_bytes: AtomicU64,
    /// Body bytes handed out by GETs.
    pub get_bytes: AtomicU64,
    /// HEADs being answered now, and the most there ever were at once.
    pub heads_in_flight: AtomicU64,
    pub max_heads_in_flight: AtomicU64,
    /// GETs whose answer (headers) is being prepared now, and the most ever at once.
    pub gets_in_flight: AtomicU64,
    pub max_gets_in_flight: AtomicU64,
}

/// Counts a request in flight while it lives.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn new(now: &'a AtomicU64, max: &AtomicU64) -> Self {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(n, Ordering::SeqCst);
        InFlight(now)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, MockObject>,
    /// Errors to answer, per operation, consumed front first; `persistent` ones stay.
    failures: HashMap<Op, Vec<S3Error>>,
    persistent_failures: HashMap<Op, S3Error>,
    /// How long each call of an operation waits before it answers (a slow server).
    delays: HashMap<Op, std::time::Duration>,
}

/// An in-memory bucket. Clones share the same bucket.
#[derive(Clone, Default)]
pub struct MockClient {
    state: Arc<Mutex<State>>,
    counters: Arc<Counters>,
    page_size: Arc<AtomicU64>,
}

impl MockClient {
    pub fn new() -> Self {
        let c = Self::default();
        c.page_size.store(1000, Ordering::Relaxed);
        c
    }

    /// Store `data` at `key` with no metadata.
    pub fn put(&self, key: &str, data: impl Into<Bytes>) {
        self.insert(key, MockObject::new(data));
    }

    pub fn insert(&self, key: &str, object: MockObject) {
        self.lock().objects.insert(key.to_string(), object);
    }

    pub fn remove(&self, key: &str) -> Option<MockObject> {
        self.lock().objects.remove(key)
    }

    pub fn object(&self, key: &str) -> Option<MockObject> {
        self.lock().objects.get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// The most entries a list page holds (objects and common prefixes together).
    pub fn set_page_size(&self, n: u64) {
        self.page_size.store(n.max(1), Ordering::Relaxed);
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Answer the next call of `op` with `err` (queued; each error answers one call).
    pub fn fail_next(&self, op: Op, err: S3Error) {
        self.lock().failures.entry(op).or_default().push(err);
    }

    /// Answer every call of `op` with `err` until [`Self::clear_failures`].
    pub fn fail_always(&self, op: Op, err: S3Error) {
        self.lock().persistent_failures.insert(op, err);
    }

    /// Make every call of `op` wait `d` before it answers (`Duration::ZERO`: no wait).
    pub fn delay(&self, op: Op, d: std::time::Duration) {
        self.lock().delays.insert(op, d);
    }

    pub fn clear_failures(&self) {
        let mut s = self.lock();
        s.failures.clear();
        s.persistent_failures.clear();
    }

    /// A plausible server error for tests.
    pub fn server_error() -> S3Error {
        S3Error::Server(ErrorDetails {
            status: 500,
            code: "InternalError".into(),
            message: "injected by MockClient".into(),
            request_id: String::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in another test thread must not poison every later call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn pause(&self, op: Op) {
        let d = self.lock().delays.get(&op).copied();
        if let Some(d) = d.filter(|d| !d.is_zero()) {
            tokio::time::sleep(d).await;
        }
    }

    fn injected(&self, op: Op) -> Result<(), S3Error> {
        let mut s = self.lock();
        if let Some(q) = s.failures.get_mut(&op) {
            if !q.is_empty() {
                return Err(q.remove(0));
            }
        }
        if let Some(e) = s.persistent_failures.get(&op) {
            return Err(e.clone());
        }
        Ok(())
    }

    fn not_found(key: &str) -> S3Error {
        S3Error::NotFound(ErrorDetails {
            status: 404,
            code: "NoSuchKey".into(),
            message: format!("no such key {key}"),
            request_id: String::new(),
        })
    }
}

impl ObjectClient for MockClient {
    async fn head_object(&self, key: &str) -> Result<ObjectInfo, S3Error> {
        self.counters.head.fetch_add(1, Ordering::Relaxed);
        let c = &self.counters;
        let _in_flight = InFlight::new(&c.heads_in_flight, &c.max_heads_in_flight);
        self.pause(Op::Head).await;
        self.injected(Op::Head)?;
        let s = self.lock();
        s.objects
            .get(key)
            .map(|o| o.info(key))
            .ok_or_else(|| Self::not_found(key))
    }

    async fn get_object(&self, request: GetRequest) -> Result<GetResponse, S3Error> {
        self.counters.get.fetch_add(1, Ordering::Relaxed);
        let c = &self.counters;
        let in_flight = InFlight::new(&c.gets_in_flight, &c.max_gets_in_flight);
        self.pause(Op::Get).await;
        drop(in_flight);
        self.injected(Op::Get)?;
        let object = self.lock().objects.get(&request.key).cloned();
        let object = object.ok_or_else(|| Self::not_found(&request.key))?;
        if let Some(etag) = &request.if_match {
            if *etag != object.etag {
                return Err(S3Error::PreconditionFailed(ErrorDetails {
                    status: 412,
                    code: "PreconditionFailed".into(),
                    ..Default::default()
                }));
            }
        }
        let len = object.data.len() as u64;
        let body = match request.range {
            None => object.data.clone(),
            Some(r) => {
                if r.start >= len || r.is_empty() {
                    return Err(S3Error::InvalidRange(ErrorDetails {
                        status: 416,
                        code: "InvalidRange".into(),
                        ..Default::default()
                    }));
                }
                object.data.slice(r.start as usize..r.end.min(len) as usize)
            }
        };
        self.counters
            .get_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        // Hand the body out in chunks, as a network would.
        let chunks: Vec<Result<Bytes, S3Error>> = (0..body.len())
            .step_by(64 * 1024)
            .map(|i| Ok(body.slice(i..(i + 64 * 1024).min(body.len()))))
            .collect();
        Ok(GetResponse {
            info: object.info(&request.key),
            body: Box::pin(futures_util::stream::iter(chunks)),
        })
    }

    async fn list_objects(&self, request: ListRequest) -> Result<ListPage, S3Error> {
        self.counters.list.fetch_add(1, Ordering::Relaxed);
        self.pause(Op::List).await;
        self.injected(Op::List)?;
        let max = request
            .max_keys
            .map(u64::from)
            .unwrap_or(u64::MAX)
            .min(self.page_size.load(Ordering::Relaxed))
            .max(1) as usize;
        let s = self.lock();
        let start = request.continuation.clone().unwrap_or_default();
        let mut page = ListPage::default();
        let mut last: Option<String> = None;
        let mut count = 0usize;
        let range = s.objects.range::<String, _>((
            std::ops::Bound::Excluded(start.clone()),
            std::ops::Bound::Unbounded,
        ));
        for (key, object) in range {
            if !key.starts_with(&request.prefix) {
                if key.as_str() > request.prefix.as_str() && !request.prefix.is_empty() {
                    break;
                }
                continue;
            }
            let rest = &key[request.prefix.len()..];
            let entry = match request
                .delimiter
                .as_deref()
                .and_then(|d| rest.find(d).map(|i| (d, i)))
            {
                Some((d, i)) => {
                    let cp = format!("{}{}", request.prefix, &rest[..i + d.len()]);
                    if page.common_prefixes.last() == Some(&cp) || cp <= start {
                        continue;
                    }
                    Entry::Prefix(cp)
                }
                None => Entry::Object(key.clone(), object),
            };
            if count == max {
                page.next = last.clone();
                return Ok(page);
            }
            count += 1;
            match entry {
                Entry::Prefix(cp) => {
                    // Keys under this prefix sort right after it; continuing after the
                    // prefix's last possible key skips them, as S3's markers do.
                    last = Some(format!("{cp}\u{10FFFF}"));
                    page.common_prefixes.push(cp);
                }
                Entry::Object(key, object) => {
                    last = Some(key.clone());
                    page.objects.push(ListedObject {
                        key,
                        size: object.data.len() as u64,
                        etag: object.etag.clone(),
                        last_modified: object.last_modified,
                    });
                }
            }
        }
        Ok(page)
    }

    async fn check_bucket(&self) -> Result<(), S3Error> {
        self.counters.check_bucket.fetch_add(1, Ordering::Relaxed);
        self.pause(Op::CheckBucket).await;
        self.injected(Op::CheckBucket)
    }

    async fn put_object(&self, request: PutRequest) -> Result<PutResult, S3Error> {
        self.counters.put.fetch_add(1, Ordering::Relaxed);
        self.pause(Op::Put).await;
        self.injected(Op::Put)?;
        let data = match request.body {
            PutBody::Bytes(b) => b,
            PutBody::File { path, len } => {
                let mut data = std::fs::read(&path)
                    .map_err(|e| S3Error::Transport(format!("reading {}: {e}", path.display())))?;
                if (data.len() as u64) < len {
                    return Err(S3Error::Transport(format!(
                        "{} is shorter than {len}",
                        path.display()
                    )));
                }
                data.truncate(len as usize);
                Bytes::from(data)
            }
        };
        self.counters
            .put_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let mut object = MockObject::new(data);
        object.content_type = Some(
            request
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        );
        object.metadata = request
            .metadata
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        object.last_modified = OffsetDateTime::now_utc();
        let etag = object.etag.clone();
        self.insert(&request.key, object);
        Ok(PutResult { etag })
    }

    async fn delete_object(&self, key: &str) -> Result<(), S3Error> {
        self.counters.delete.fetch_add(1, Ordering::Relaxed);
        self.pause(Op::Delete).await;
        self.injected(Op::Delete)?;
        // A missing key is no error, as in S3.
        self.lock().objects.remove(key);
        Ok(())
    }

    async fn copy_object(&self, request: CopyRequest) -> Result<PutResult, S3Error> {
        self.counters.copy.fetch_add(1, Ordering::Relaxed);
        self.pause(Op::Copy).await;
        self.injected(Op::Copy)?;
        let mut s = self.lock();
        let source = s
            .objects
            .get(&request.source_key)
            .ok_or_else(|| Self::not_found(&request.source_key))?;
        if let Some(etag) = &request.if_match {
            if *etag != source.etag {
                return Err(S3Error::PreconditionFailed(ErrorDetails {
                    status: 412,
                    code: "PreconditionFailed".into(),
                    ..Default::default()
                }));
            }
        }
        if request.source_key == request.dest_key && request.metadata.is_none() {
            return Err(S3Error::Service(ErrorDetails {
                status: 400,
                code: "InvalidRequest".into(),
                message: "copying an object onto itself without changing its metadata".into(),
                request_id: String::new(),
            }));
        }
        // Same bytes, same ETag (as S3 does for objects uploaded in one PUT).
        let mut object = source.clone();
        if let Some(metadata) = request.metadata {
            object.metadata = metadata
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            object.content_type = Some(
                request
                    .content_type
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            );
        }
        object.last_modified = OffsetDateTime::now_utc();
        let etag = object.etag.clone();
        s.objects.insert(request.dest_key, object);
        Ok(PutResult { etag })
    }
}

enum Entry<'a> {
    Prefix(String),
    Object(String, &'a MockObject),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_all(
        c: &MockClient,
        prefix: &str,
        delim: Option<&str>,
    ) -> (Vec<String>, Vec<String>, usize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut objs, mut cps, mut pages) = (vec![], vec![], 0);
            let mut cont = None;
            loop {
                let p = c
                    .list_objects(ListRequest {
                        prefix: prefix.into(),
                        delimiter: delim.map(String::from),
                        continuation: cont.take(),
                        max_keys: None,
                    })
                    .await
                    .unwrap();
                pages += 1;
                objs.extend(p.objects.into_iter().map(|o| o.key));
                cps.extend(p.common_prefixes);
                match p.next {
                    Some(n) => cont = Some(n),
                    None => return (objs, cps, pages),
                }
            }
        })
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn put_delete_copy() {
        let c = MockClient::new();
        block_on(async {
            let mut meta = BTreeMap::new();
            meta.insert("Mode".to_string(), "33188".to_string());
            let put = c
                .put_object(PutRequest {
                    key: "a".into(),
                    body: PutBody::Bytes(Bytes::from_static(b"hello")),
                    content_type: None,
                    metadata: meta,
                })
                .await
                .unwrap();
            let info = c.head_object("a").await.unwrap();
            assert_eq!(info.etag, put.etag);
            assert_eq!(
                info.content_type.as_deref(),
                Some("application/octet-stream")
            );
            assert_eq!(info.metadata["mode"], "33188");

            // Copy keeping the metadata, then replacing it; the ETag follows the bytes.
            let copied = c
                .copy_object(CopyRequest {
                    source_key: "a".into(),
                    dest_key: "b".into(),
                    ..CopyRequest::default()
                })
                .await
                .unwrap();
            assert_eq!(copied.etag, put.etag);
            assert_eq!(c.head_object("b").await.unwrap().metadata["mode"], "33188");
            let mut meta = BTreeMap::new();
            meta.insert("mode".to_string(), "33261".to_string());
            c.copy_object(CopyRequest {
                source_key: "b".into(),
                dest_key: "b".into(),
                metadata: Some(meta),
                content_type: Some("text/plain".into()),
                if_match: Some(put.etag.clone()),
            })
            .await
            .unwrap();
            let b = c.head_object("b").await.unwrap();
            assert_eq!(b.metadata["mode"], "33261");
            assert_eq!(b.content_type.as_deref(), Some("text/plain"));
            assert_eq!(c.object("b").unwrap().data, "hello");

            // Preconditions, missing sources, copies onto themselves replacing nothing.
            let e = c
                .copy_object(CopyRequest {
                    source_key: "a".into(),
                    dest_key: "c".into(),
                    if_match: Some("\"other\"".into()),
                    ..CopyRequest::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(e, S3Error::PreconditionFailed(_)), "{e:?}");
            let e = c
                .copy_object(CopyRequest {
                    source_key: "nope".into(),
                    dest_key: "c".into(),
                    ..CopyRequest::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(e, S3Error::NotFound(_)), "{e:?}");
            let e = c
                .copy_object(CopyRequest {
                    source_key: "a".into(),
                    dest_key: "a".into(),
                    ..CopyRequest::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(e, S3Error::Service(_)), "{e:?}");
            assert!(c.object("c").is_none());

            // Deletes, of present and missing keys alike; injected failures.
            c.delete_object("a").await.unwrap();
            c.delete_object("a").await.unwrap();
            assert_eq!(c.keys(), ["b"]);
            c.fail_next(Op::Delete, MockClient::server_error());
            assert!(c.delete_object("b").await.is_err());
            c.delete_object("b").await.unwrap();
            assert_eq!(c.counters().delete.load(Ordering::Relaxed), 4);
            assert_eq!(c.counters().copy.load(Ordering::Relaxed), 5);
        });
    }

    #[test]
    fn lists_with_delimiter_and_pages() {
        let c = MockClient::new();
        c.set_page_size(2);
        for k in ["a", "a-/x", "a/1", "a/2", "a/b/3", "b", "c/d"] {
            c.put(k, "x");
        }
        let (objs, cps, pages) = list_all(&c, "", Some("/"));
        assert_eq!(objs, ["a", "b"]);
        assert_eq!(cps, ["a-/", "a/", "c/"]);
        assert_eq!(pages, 3);
        let (objs, cps, _) = list_all(&c, "a/", Some("/"));
        assert_eq!(objs, ["a/1", "a/2"]);
        assert_eq!(cps, ["a/b/"]);
        let (objs, cps, _) = list_all(&c, "a/", None);
        assert_eq!(objs, ["a/1", "a/2", "a/b/3"]);
        assert!(cps.is_empty());
    }
}
