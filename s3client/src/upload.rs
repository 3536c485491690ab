//! Request bodies: empty, in-memory bytes, or the first `len` bytes of a local file, streamed.
//!
//! - Every body has an exact size hint, so hyper sends `Content-Length` and never
//!   `Transfer-Encoding: chunked`; bodies go out in chunks of at most [`CHUNK`] bytes.
//! - A file is hashed first ([`hash_file`]), then read again while it is sent
//!   ([`file_stream`]), on the blocking pool, one chunk at a time: never whole in memory.
//!   The open file handle is kept from the hash to the send, so a rename over the path does
//!   not mix two files. The bytes sent are hashed again; when they differ from the hash that
//!   was signed, or the file's size changed, or it ends early, the body fails *before its
//!   last chunk*: the server never receives a complete request, so nothing is stored.
//! - Each chunk handed to hyper is a sign of progress ([`Progress`]): an upload is timed out
//!   when it stops moving, not after a fixed time (a multi-GB body takes what it takes).
//! - A failure of the local file is recorded in [`Progress`], so the caller can tell it from
//!   a network failure (it is not retried).
//! - Bodies of [`EXPECT_CONTINUE_MIN`] bytes or more go with `Expect: 100-continue`
//!   ([`RequestBody::expect_continue`]): the body waits for the server's `100 Continue`
//!   (at most [`EXPECT_CONTINUE_WAIT`], then it goes anyway, as curl does). A server that
//!   refuses the request (bad signature, no permission) answers at once and closes; without
//!   the wait the client is still writing the body then, the write fails (broken pipe,
//!   connection reset) and hyper reports that instead of the answer, which is lost. Empty
//!   bodies never carry `Expect` (Garage then stalls the next request on the connection).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};

/// The most bytes in one body frame and one file read.
pub(crate) const CHUNK: usize = 256 << 10;

/// Byte bodies longer than this are hashed on the blocking pool, not on the runtime thread.
const INLINE_HASH_LIMIT: usize = 1 << 20;

/// Bodies of at least this many bytes are sent with `Expect: 100-continue`. Smaller ones
/// fit into the socket's send buffer at once, so an early answer is not lost.
pub(crate) const EXPECT_CONTINUE_MIN: u64 = 64 << 10;
/// How long a body waits for `100 Continue` before it goes anyway (servers that ignore
/// `Expect`); curl waits as long.
pub(crate) const EXPECT_CONTINUE_WAIT: Duration = Duration::from_secs(1);

const WAITING: u8 = 0;
const GO: u8 = 1;
const ABORT: u8 = 2;

/// The `Expect: 100-continue` handshake of one request: `100 Continue` releases the body,
/// a final answer that came first abandons it.
#[derive(Clone, Debug)]
pub(crate) struct Continue(Arc<tokio::sync::watch::Sender<u8>>);

impl Continue {
    /// The server said `100 Continue`.
    pub fn go(&self) {
        self.set(GO);
    }
    /// The final answer is in: a body still waiting is not sent.
    pub fn abort(&self) {
        self.set(ABORT);
    }
    fn set(&self, to: u8) {
        self.0.send_if_modified(|s| {
            let change = *s == WAITING;
            if change {
                *s = to;
            }
            change
        });
    }
}

type Gate = Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

type FileChunks = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

enum Source {
    Bytes(Bytes),
    File(FileChunks),
}

/// The body of one request.
pub(crate) struct RequestBody {
    source: Source,
    remaining: u64,
    progress: Option<Arc<Progress>>,
    /// `Expect: 100-continue`: resolves `true` when the body may go, `false` if abandoned.
    gate: Option<Gate>,
    expect: Option<Continue>,
}

impl RequestBody {
    pub fn empty() -> Self {
        Self::bytes(Bytes::new(), None)
    }

    pub fn bytes(data: Bytes, progress: Option<Arc<Progress>>) -> Self {
        RequestBody {
            remaining: data.len() as u64,
            source: Source::Bytes(data),
            progress,
            gate: None,
            expect: None,
        }
    }

    pub fn file(stream: FileChunks, len: u64, progress: Arc<Progress>) -> Self {
        RequestBody {
            source: Source::File(stream),
            remaining: len,
            progress: Some(progress),
            gate: None,
            expect: None,
        }
    }

    /// Hold the body back until `100 Continue` when it is [`EXPECT_CONTINUE_MIN`] bytes or
    /// longer; the handshake's handle, `None` for shorter bodies (sent at once).
    pub fn expect_continue(&mut self) -> Option<Continue> {
        if self.remaining < EXPECT_CONTINUE_MIN {
            return None;
        }
        let (tx, mut rx) = tokio::sync::watch::channel(WAITING);
        let handle = Continue(Arc::new(tx));
        self.gate = Some(Box::pin(async move {
            match tokio::time::timeout(EXPECT_CONTINUE_WAIT, rx.wait_for(|s| *s != WAITING)).await {
                Ok(Ok(state)) => *state == GO,
                // The request is gone (sender dropped): nothing will read the body.
                Ok(Err(_)) => false,
                // No 100 Continue: the server ignores Expect; send anyway.
                Err(_) => true,
            }
        }));
        self.expect = Some(handle.clone());
        Some(handle)
    }

    /// The handshake, when this body waits for `100 Continue` (the request must then carry
    /// `Expect: 100-continue` and pass 1xx answers to [`Continue::go`]).
    pub fn continue_handle(&self) -> Option<&Continue> {
        self.expect.as_ref()
    }

    fn touch(&self) {
        if let Some(p) = &self.progress {
            p.touch();
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        if let Some(gate) = this.gate.as_mut() {
            match gate.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(true) => this.gate = None,
                Poll::Ready(false) => {
                    this.gate = None;
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "body not sent: the server answered before 100 Continue",
                    ))));
                }
            }
        }
        let chunk = match &mut this.source {
            Source::Bytes(rest) => rest.split_to(rest.len().min(CHUNK)),
            Source::File(stream) => match stream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(e))) => {
                    this.remaining = 0;
                    if let Some(p) = &this.progress {
                        p.local_failure(e.to_string());
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    // file_stream ends only after `len` bytes; anything else is a bug here.
                    let e = std::io::Error::other(format!(
                        "upload body ended {} bytes early",
                        this.remaining
                    ));
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(e)));
                }
            },
        };
        this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
        this.touch();
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// How an upload is going: when its body last moved, and whether the local file failed.
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last chunk handed to hyper; 0: none yet.
    last_ms: AtomicU64,
    local_error: Mutex<Option<String>>,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            local_error: Mutex::new(None),
        })
    }

    fn touch(&self) {
        let ms = (self.start.elapsed().as_millis() as u64).max(1);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the body last moved, `None` if it has not started.
    pub fn last_activity(&self) -> Option<Instant> {
        match self.last_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.start + Duration::from_millis(ms)),
        }
    }

    fn local_failure(&self, message: String) {
        let mut slot = self.local_error.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(message);
    }

    /// The local file's failure, when the body failed because of it.
    pub fn local_error(&self) -> Option<String> {
        self.local_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// SHA-256 (hex) of in-memory bytes; long ones on the blocking pool.
pub(crate) async fn hash_bytes(data: &Bytes) -> String {
    if data.len() <= INLINE_HASH_LIMIT {
        return sigv4::sha256_hex(data);
    }
    let copy = data.clone();
    match tokio::task::spawn_blocking(move || sigv4::sha256_hex(&copy)).await {
        Ok(hex) => hex,
        // The blocking pool is shutting down: hash here instead.
        Err(_) => sigv4::sha256_hex(data),
    }
}

/// An opened file, hashed: what [`file_stream`] sends.
#[derive(Debug)]
pub(crate) struct HashedFile {
    file: std::fs::File,
    path: PathBuf,
    len: u64,
    /// The file's size when it was hashed.
    size: u64,
    pub sha256: String,
}

/// Open `path` and hash its first `len` bytes, on the blocking pool. Errors are messages
/// naming the file: it does not exist, cannot be read, or is shorter than `len`.
pub(crate) async fn hash_file(path: &Path, len: u64) -> Result<HashedFile, String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || hash_file_blocking(path, len))
        .await
        .map_err(|e| format!("hashing the upload body: {e}"))?
}

fn hash_file_blocking(path: PathBuf, len: u64) -> Result<HashedFile, String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut file = std::fs::File::open(&path).map_err(|e| fail("cannot open", e))?;
    let size = file.metadata().map_err(|e| fail("cannot stat", e))?.len();
    if size < len {
        return Err(format!(
            "{} has {size} bytes, fewer than the {len} to upload",
            path.display()
        ));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let want = (left.min(CHUNK as u64)) as usize;
        let n = read_full(&mut file, &mut buf[..want]).map_err(|e| fail("cannot read", e))?;
        if n < want {
            return Err(format!(
                "{} ended after {} of {len} bytes (it shrank)",
                path.display(),
                len - left + n as u64
            ));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(HashedFile {
        file,
        path,
        len,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Read until `buf` is full or the file ends; the number of bytes read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct Reader {
    file: std::fs::File,
    hasher: Sha256,
    left: u64,
    buf: Vec<u8>,
}

/// The first `len` bytes of a hashed file as chunks of at most [`CHUNK`] bytes, read on the
/// blocking pool. Fails (before yielding the last chunk) when the file ends early, when its
/// size differs from the size it had when hashed, or when the bytes read do not hash to
/// what was hashed before.
pub(crate) fn file_stream(hashed: HashedFile) -> FileChunks {
    let HashedFile {
        mut file,
        path,
        len,
        size,
        sha256,
    } = hashed;
    let path = Arc::new(path);
    let start = file.seek(SeekFrom::Start(0));
    let reader = Reader {
        file,
        hasher: Sha256::new(),
        left: len,
        buf: Vec::new(),
    };
    let state = (Some(reader), start.err());
    Box::pin(futures_util::stream::unfold(
        state,
        move |(reader, seek_error)| {
            let path = path.clone();
            let sha256 = sha256.clone();
            async move {
                if let Some(e) = seek_error {
                    let e = std::io::Error::new(
                        e.kind(),
                        format!("cannot rewind {}: {e}", path.display()),
                    );
                    return Some((Err(e), (None, None)));
                }
                let mut reader = reader?;
                if reader.left == 0 {
                    return None;
                }
                let result = tokio::task::spawn_blocking(move || {
                    let out = next_file_chunk(&mut reader, &path, len, size, &sha256);
                    (reader, out)
                })
                .await;
                match result {
                    Ok((reader, Ok(chunk))) => Some((Ok(chunk), (Some(reader), None))),
                    Ok((_, Err(e))) => Some((Err(e), (None, None))),
                    Err(e) => Some((Err(std::io::Error::other(e.to_string())), (None, None))),
                }
            }
        },
    ))
}

fn next_file_chunk(
    r: &mut Reader,
    path: &Path,
    len: u64,
    size: u64,
    sha256: &str,
) -> Result<Bytes, std::io::Error> {
    let changed = |what: String| {
        std::io::Error::other(format!(
            "{} changed while it was being uploaded: {what}",
            path.display()
        ))
    };
    let want = r.left.min(CHUNK as u64) as usize;
    r.buf.resize(want, 0);
    let n = read_full(&mut r.file, &mut r.buf[..want])
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    if n < want {
        return Err(changed(format!(
            "it ended after {} of {len} bytes",
            len - r.left + n as u64
        )));
    }
    r.hasher.update(&r.buf[..n]);
    r.left -= n as u64;
    if r.left == 0 {
        let now = r
            .file
            .metadata()
            .map_err(|e| std::io::Error::new(e.kind(), format!("stat {}: {e}", path.display())))?
            .len();
        if now != size {
            return Err(changed(format!("its size went from {size} to {now} bytes")));
        }
        let sent = hex::encode(std::mem::take(&mut r.hasher).finalize());
        if sent != sha256 {
            return Err(changed("its bytes differ from the ones hashed".into()));
        }
    }
    Ok(Bytes::copy_from_slice(&r.buf[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn temp_file(tag: &str, data: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "s3client-upload-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, data).unwrap();
        path
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    async fn collect(mut body: RequestBody) -> (Vec<Vec<u8>>, Option<std::io::Error>) {
        let mut chunks = Vec::new();
        loop {
            assert_eq!(
                body.size_hint().exact(),
                Some(body.remaining),
                "size hint is exact"
            );
            match body.frame().await {
                None => return (chunks, None),
                Some(Ok(f)) => chunks.push(f.into_data().unwrap().to_vec()),
                Some(Err(e)) => return (chunks, Some(e)),
            }
        }
    }

    #[test]
    fn byte_bodies_are_chunked_with_exact_sizes() {
        rt().block_on(async {
            let data = pattern(2 * CHUNK + 5);
            let progress = Progress::new();
            assert!(progress.last_activity().is_none());
            let body = RequestBody::bytes(Bytes::from(data.clone()), Some(progress.clone()));
            assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
            let (chunks, err) = collect(body).await;
            assert!(err.is_none());
            assert_eq!(
                chunks.iter().map(Vec::len).collect::<Vec<_>>(),
                [CHUNK, CHUNK, 5]
            );
            assert_eq!(chunks.concat(), data);
            assert!(progress.last_activity().is_some());
            let empty = RequestBody::empty();
            assert!(empty.is_end_stream());
            assert_eq!(empty.size_hint().exact(), Some(0));
        });
    }

    #[test]
    fn expect_continue_gates_long_bodies() {
        rt().block_on(async {
            // Short bodies are not gated.
            let mut short = RequestBody::bytes(Bytes::from(pattern(100)), None);
            assert!(short.expect_continue().is_none());
            assert!(short.continue_handle().is_none());

            // 100 Continue releases the body.
            let data = Bytes::from(pattern(EXPECT_CONTINUE_MIN as usize));
            let mut body = RequestBody::bytes(data.clone(), None);
            let handle = body.expect_continue().unwrap();
            assert!(body.continue_handle().is_some());
            let started = Instant::now();
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                handle.go();
                handle.abort(); // too late: no effect
            });
            let (chunks, err) = collect(body).await;
            assert!(err.is_none());
            assert_eq!(chunks.concat(), data);
            assert!(started.elapsed() >= Duration::from_millis(50));
            assert!(started.elapsed() < EXPECT_CONTINUE_WAIT);
            release.await.unwrap();

            // A final answer first: nothing is sent.
            let mut body = RequestBody::bytes(data.clone(), None);
            body.expect_continue().unwrap().abort();
            let (chunks, err) = collect(body).await;
            assert!(chunks.is_empty());
            assert!(err.unwrap().to_string().contains("100 Continue"));

            // No answer at all: the body goes after the wait.
            let mut body = RequestBody::bytes(data.clone(), None);
            let _handle = body.expect_continue().unwrap();
            let started = Instant::now();
            let (chunks, err) = collect(body).await;
            assert!(err.is_none());
            assert_eq!(chunks.concat(), data);
            assert!(started.elapsed() >= EXPECT_CONTINUE_WAIT);
        });
    }

    #[test]
    fn file_bodies_stream_the_first_len_bytes() {
        rt().block_on(async {
            let data = pattern(CHUNK + 10);
            let path = temp_file("prefix", &data);
            for len in [0, 1, CHUNK as u64, CHUNK as u64 + 3, CHUNK as u64 + 10] {
                let hashed = hash_file(&path, len).await.unwrap();
                assert_eq!(
                    hashed.sha256,
                    sigv4::sha256_hex(&data[..len as usize]),
                    "{len}"
                );
                let progress = Progress::new();
                let body = RequestBody::file(file_stream(hashed), len, progress.clone());
                let (chunks, err) = collect(body).await;
                assert!(err.is_none(), "{len}: {err:?}");
                assert_eq!(chunks.concat(), &data[..len as usize]);
                assert!(chunks.iter().all(|c| c.len() <= CHUNK));
                assert!(progress.local_error().is_none());
            }
            std::fs::remove_file(&path).unwrap();
        });
    }

    #[test]
    fn short_or_missing_files_fail_when_hashed() {
        rt().block_on(async {
            let path = temp_file("short", b"abc");
            let e = hash_file(&path, 4).await.unwrap_err();
            assert!(e.contains("3 bytes, fewer than the 4"), "{e}");
            std::fs::remove_file(&path).unwrap();
            let e = hash_file(&path, 0).await.unwrap_err();
            assert!(e.contains("cannot open"), "{e}");
        });
    }

    #[test]
    fn a_file_that_changes_after_hashing_fails_before_its_last_chunk() {
        rt().block_on(async {
            let data = pattern(2 * CHUNK + 1);
            // Grows: the size check fails.
            let path = temp_file("grows", &data);
            let hashed = hash_file(&path, data.len() as u64).await.unwrap();
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(b"more")
                .unwrap();
            let progress = Progress::new();
            let body = RequestBody::file(file_stream(hashed), data.len() as u64, progress.clone());
            let (chunks, err) = collect(body).await;
            let err = err.expect("an error");
            assert!(err.to_string().contains("size went from"), "{err}");
            assert_eq!(chunks.len(), 2, "the last chunk is never sent");
            assert!(progress.local_error().unwrap().contains("changed"));

            // Same size, other bytes: the second hash fails.
            std::fs::write(&path, &data).unwrap();
            let hashed = hash_file(&path, data.len() as u64).await.unwrap();
            let mut other = data.clone();
            other[5] ^= 1;
            // Rewrite in place (same inode, same size).
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all(&other).unwrap();
            drop(f);
            let body = RequestBody::file(file_stream(hashed), data.len() as u64, Progress::new());
            let (chunks, err) = collect(body).await;
            assert!(err.unwrap().to_string().contains("differ"));
            assert_eq!(chunks.len(), 2);

            // Shrinks below len.
            std::fs::write(&path, &data).unwrap();
            let hashed = hash_file(&path, data.len() as u64).await.unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(10)
                .unwrap();
            let body = RequestBody::file(file_stream(hashed), data.len() as u64, Progress::new());
            let (chunks, err) = collect(body).await;
            assert!(err.unwrap().to_string().contains("ended after 10 of"));
            assert!(chunks.is_empty());
            std::fs::remove_file(&path).unwrap();
        });
    }
}
