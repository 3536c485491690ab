//! Reading one open file: ranged GETs near what is asked, with a simple readahead.
//!
//! One background fetch per handle streams the object from where reading started, in
//! windows that grow while reads stay sequential: the first window is
//! [`ReadConfig::initial_window`] (1 MiB) at the start of a file, and only what is asked
//! (at least [`ReadConfig::seek_window`]) after a jump, so random reads do not pull in
//! megabytes they never use. Each next window is twice the last, up to
//! [`ReadConfig::max_window`], and is requested once the reader has read (or is waiting
//! for) bytes past half of the previous one, so its first bytes arrive while the rest of the
//! previous window is read.
//! Once a window would span two [`ReadConfig::part_size`] parts, the rest of the object is
//! fetched in parts, [`ReadConfig::parallel_parts`] GETs at a time, handed over in order: one
//! connection is often capped far below what the path carries.
//! The bytes in flight between the fetch and the reader (parts under way included) are capped
//! by [`ReadConfig::stream_budget`], which bounds memory per handle and means a reader that
//! stops early leaves at most that much fetched for nothing.
//!
//! The kernel sends readahead requests concurrently, so reads of one handle can arrive a
//! little out of order. Bytes already received are kept for a while
//! ([`ReadConfig::keep_behind`]), and a read slightly ahead of the stream waits for it
//! instead of restarting it: a read within what the fetch has asked for, or one seek window
//! past that, and never more than [`ReadConfig::reorder_distance`] past the received bytes.
//! The reader tells the fetch how far it wants to read, so a read that skipped ahead also
//! moves the next window. After a jump the second window waits until the reader wants past
//! the first, so random reads cost one small GET each instead of a growing stream.
//!
//! Every GET carries `If-Match` with the ETag seen at open: if the object is replaced while
//! it is read, the read fails instead of mixing old and new bytes. A body that breaks off is
//! resumed from where it stopped, a bounded number of times.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use s3client::{ByteRange, GetRequest, ObjectClient, S3Error};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::error::{FsError, Result};

#[derive(Debug, Clone)]
pub struct ReadConfig {
    pub initial_window: u64,
    pub seek_window: u64,
    pub max_window: u64,
    pub stream_budget: usize,
    pub reorder_distance: u64,
    pub keep_behind: u64,
    /// Times a broken body is resumed before the read fails.
    pub resume_attempts: u32,
    /// Range of each GET once a sequential read is past the growing windows.
    pub part_size: u64,
    /// Part GETs in flight at once (1: one stream).
    pub parallel_parts: usize,
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            initial_window: 1 << 20,
            // The kernel's own readahead asks for 128 KiB at a time.
            seek_window: 128 << 10,
            max_window: 64 << 20,
            stream_budget: 32 << 20,
            reorder_distance: 4 << 20,
            keep_behind: 2 << 20,
            resume_attempts: 3,
            part_size: 4 << 20,
            parallel_parts: 6,
        }
    }
}

/// The object a handle reads, as seen at open.
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

pub struct Reader<C: ObjectClient> {
    client: Arc<C>,
    object: ObjectVersion,
    config: ReadConfig,
    /// Received bytes covering `buf_start..buf_end`, in order.
    buf: VecDeque<Bytes>,
    buf_start: u64,
    buf_end: u64,
    fetch: Option<Fetch>,
    /// The furthest byte handed to the kernel.
    high_water: u64,
}

/// A running background fetch; dropping it stops the fetch.
struct Fetch {
    rx: mpsc::UnboundedReceiver<Result<Bytes>>,
    budget: Arc<Semaphore>,
    /// The furthest byte the reader has read or is waiting for.
    wanted: watch::Sender<u64>,
    /// The end of the range the fetch has asked the server for.
    requested: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<C: ObjectClient> Reader<C> {
    pub fn new(client: Arc<C>, object: ObjectVersion, config: ReadConfig) -> Self {
        Reader {
            client,
            object,
            config,
            buf: VecDeque::new(),
            buf_start: 0,
            buf_end: 0,
            fetch: None,
            high_water: 0,
        }
    }

    /// Up to `size` bytes at `offset`; fewer only at the end of the object.
    pub async fn read(&mut self, offset: u64, size: u32) -> Result<Bytes> {
        let end = offset.saturating_add(u64::from(size)).min(self.object.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let reachable = offset >= self.buf_start
            && match &self.fetch {
                // What the fetch has asked for arrives anyway, and so does the kernel-sized
                // read just past it (the next window follows the reader); farther ahead, a
                // new small GET costs less than streaming the gap.
                Some(fetch) => {
                    offset
                        <= (fetch.requested.load(Ordering::Relaxed) + self.config.seek_window)
                            .min(self.buf_end + self.config.reorder_distance)
                }
                None => end <= self.buf_end,
            };
        if !reachable {
            self.restart(offset, end - offset);
        }
        if self.buf_end < end {
            self.want(end);
        }
        while self.buf_end < end {
            let Some(fetch) = self.fetch.as_mut() else {
                return Err(FsError::S3(S3Error::InvalidResponse(
                    "read past the fetched range".into(),
                )));
            };
            match fetch.rx.recv().await {
                Some(Ok(chunk)) => {
                    fetch
                        .budget
                        .add_permits(budget_cost(chunk.len(), self.config.stream_budget));
                    self.buf_end += chunk.len() as u64;
                    self.buf.push_back(chunk);
                }
                Some(Err(e)) => {
                    self.reset();
                    return Err(e);
                }
                None => {
                    self.reset();
                    return Err(FsError::S3(S3Error::InvalidResponse(format!(
                        "{}: the object ended before its size of {} bytes",
                        self.object.key, self.object.size
                    ))));
                }
            }
        }
        let data = self.copy_out(offset, end);
        self.high_water = self.high_water.max(end);
        self.want(self.high_water);
        self.trim();
        Ok(data)
    }

    /// Tell the fetch that the reader wants the bytes before `end`. The fetch asks for its
    /// next window only once the reader wants past half of the current one: a read that skips
    /// ahead of what was fetched must say so before it waits, or each waits for the other.
    fn want(&self, end: u64) {
        if let Some(fetch) = &self.fetch {
            fetch.wanted.send_if_modified(|w| {
                let grew = end > *w;
                *w = (*w).max(end);
                grew
            });
        }
    }

    /// Drop everything and start a fetch at `offset`.
    fn restart(&mut self, offset: u64, wanted: u64) {
        self.reset();
        self.buf_start = offset;
        self.buf_end = offset;
        // A fresh sequential start (offset 0, or just where the last read ended) gets the
        // sequential window; a jump gets what is asked plus a little.
        let sequential = offset == 0 || offset == self.high_water;
        let window = if sequential {
            self.config.initial_window
        } else {
            self.config.seek_window
        }
        .max(wanted);
        self.high_water = offset;
        self.fetch = Some(self.spawn_fetch(offset, window, sequential));
    }

    fn reset(&mut self) {
        self.fetch = None;
        self.buf.clear();
        self.buf_start = self.buf_end;
    }

    /// A fetch from `start`, first `first_window` bytes. After a jump (`sequential` false) the
    /// second window waits until the reader wants past the first: random reads, which the
    /// kernel's readahead turns into whole-window reads, then cost one small GET each.
    fn spawn_fetch(&self, start: u64, first_window: u64, sequential: bool) -> Fetch {
        let (tx, rx) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(self.config.stream_budget));
        let (wanted, wanted_rx) = watch::channel(start);
        let requested = Arc::new(AtomicU64::new(start.saturating_add(first_window)));
        let job = FetchJob {
            source: Arc::new(Source {
                client: self.client.clone(),
                object: self.object.clone(),
                resume_attempts: self.config.resume_attempts,
            }),
            config: self.config.clone(),
            tx,
            budget: budget.clone(),
            wanted: wanted_rx,
            requested: requested.clone(),
        };
        let task = tokio::spawn(job.run(start, first_window, sequential));
        Fetch {
            rx,
            budget,
            wanted,
            requested,
            task,
        }
    }

    fn copy_out(&self, offset: u64, end: u64) -> Bytes {
        let mut pos = self.buf_start;
        let mut out: Option<BytesMut> = None;
        for chunk in &self.buf {
            let chunk_end = pos + chunk.len() as u64;
            if chunk_end > offset && pos < end {
                let from = offset.saturating_sub(pos) as usize;
                let to = (end.min(chunk_end) - pos) as usize;
                if out.is_none() && pos <= offset && chunk_end >= end {
                    return chunk.slice(from..to); // within one chunk: no copy
                }
                out.get_or_insert_with(|| BytesMut::with_capacity((end - offset) as usize))
                    .extend_from_slice(&chunk[from..to]);
            }
            if chunk_end >= end {
                break;
            }
            pos = chunk_end;
        }
        out.map(BytesMut::freeze).unwrap_or_default()
    }

    /// Forget bytes well behind the furthest read.
    fn trim(&mut self) {
        let keep_from = self.high_water.saturating_sub(self.config.keep_behind);
        while let Some(front) = self.buf.front() {
            let front_end = self.buf_start + front.len() as u64;
            if front_end > keep_from {
                break;
            }
            self.buf_start = front_end;
            self.buf.pop_front();
        }
    }
}

/// Permits a chunk takes from the budget (a chunk bigger than the budget takes all of it).
fn budget_cost(len: usize, budget: usize) -> usize {
    len.min(budget).min(u32::MAX as usize)
}

struct FetchJob<C: ObjectClient> {
    /// Shared with the part GETs.
    source: Arc<Source<C>>,
    config: ReadConfig,
    tx: mpsc::UnboundedSender<Result<Bytes>>,
    budget: Arc<Semaphore>,
    wanted: watch::Receiver<u64>,
    requested: Arc<AtomicU64>,
}

impl<C: ObjectClient> FetchJob<C> {
    async fn run(mut self, start: u64, first_window: u64, sequential: bool) {
        let mut pos = start;
        let mut window = first_window.max(1);
        let mut eager = sequential;
        let size = self.source.object.size;
        while pos < size {
            if eager && self.config.parallel_parts > 1 && window >= 2 * self.config.part_size {
                return self.fetch_parts(pos).await;
            }
            let window_start = pos;
            let end = pos.saturating_add(window).min(size);
            self.requested.store(end, Ordering::Relaxed);
            let mut sink = ChannelSink {
                tx: &self.tx,
                budget: &self.budget,
                stream_budget: self.config.stream_budget,
            };
            if let Err(e) = self.source.fetch(&mut pos, end, &mut sink).await {
                let _ = self.tx.send(Err(e));
                return;
            }
            if self.tx.is_closed() || pos >= size {
                return;
            }
            // Ask for the next window once the reader wants past half of this one (past all
            // of it, after a jump).
            let trigger = if eager {
                window_start + (end - window_start) / 2
            } else {
                end + 1
            };
            if self.wanted.wait_for(|w| *w >= trigger).await.is_err() {
                return; // the reader is gone
            }
            eager = true;
            window = window.saturating_mul(2).min(self.config.max_window);
        }
    }

    /// The reader streams a big object: fetch the rest in [`ReadConfig::part_size`] ranges,
    /// up to [`ReadConfig::parallel_parts`] GETs at a time, handed over in order. One
    /// connection is often capped well below what the path carries (object stores serve each
    /// stream at tens of MB/s), so parallel GETs are what makes a big model load fast. A part
    /// takes its bytes from the stream budget when it starts, so parts in flight and bytes
    /// waiting for the reader stay within [`ReadConfig::stream_budget`] together.
    async fn fetch_parts(&mut self, start: u64) {
        let (part, size) = (self.config.part_size.max(1), self.source.object.size);
        let mut in_flight: VecDeque<PartTask> = VecDeque::new();
        let mut next = start;
        loop {
            // Start parts while there is room: in the budget, and in parallel GETs.
            while next < size && in_flight.len() < self.config.parallel_parts {
                let end = (next + part).min(size);
                let cost = budget_cost((end - next) as usize, self.config.stream_budget) as u32;
                let reserved = if in_flight.is_empty() {
                    // Nothing under way: wait for the reader to make room.
                    self.budget
                        .acquire_many(cost)
                        .await
                        .map(|p| p.forget())
                        .is_ok()
                } else {
                    self.budget
                        .try_acquire_many(cost)
                        .map(|p| p.forget())
                        .is_ok()
                };
                if !reserved {
                    if self.budget.is_closed() {
                        return;
                    }
                    break;
                }
                self.requested.store(end, Ordering::Relaxed);
                let source = self.source.clone();
                let (s, e) = (next, end);
                in_flight.push_back(PartTask(tokio::spawn(async move {
                    source.fetch_part(s, e).await
                })));
                next = end;
            }
            let Some(head) = in_flight.pop_front() else {
                return; // all delivered
            };
            // Its bytes were counted when it started: hand them over as they came.
            let chunks = match head.await {
                Ok(chunks) => chunks,
                Err(e) => {
                    let _ = self.tx.send(Err(e));
                    return;
                }
            };
            for chunk in chunks {
                if self.tx.send(Ok(chunk)).is_err() {
                    return; // the reader is gone; dropping `in_flight` aborts the GETs
                }
            }
        }
    }
}

/// A spawned part GET, aborted if dropped (the fetch stopped) before it finished.
struct PartTask(tokio::task::JoinHandle<Result<Vec<Bytes>>>);

impl std::future::Future for PartTask {
    type Output = Result<Vec<Bytes>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(FsError::S3(S3Error::Transport(format!(
                    "a part GET stopped: {e}"
                ))))
            })
        })
    }
}

impl Drop for PartTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where the bytes of a GET go.
trait Sink {
    /// Takes the next chunk; false once nobody wants more.
    async fn put(&mut self, chunk: Bytes) -> bool;
}

/// To the reader, through the channel, within the stream budget.
struct ChannelSink<'a> {
    tx: &'a mpsc::UnboundedSender<Result<Bytes>>,
    budget: &'a Semaphore,
    stream_budget: usize,
}

impl Sink for ChannelSink<'_> {
    async fn put(&mut self, chunk: Bytes) -> bool {
        let permits = budget_cost(chunk.len(), self.stream_budget);
        match self.budget.acquire_many(permits as u32).await {
            Ok(p) => p.forget(),
            Err(_) => return false,
        }
        self.tx.send(Ok(chunk)).is_ok()
    }
}

/// Kept as received (a part): no copy, and no part-sized allocation for the allocator to
/// hold on to.
impl Sink for Vec<Bytes> {
    async fn put(&mut self, chunk: Bytes) -> bool {
        self.push(chunk);
        true
    }
}

/// Ranged GETs of one object version, resumed where a body broke off.
struct Source<C: ObjectClient> {
    client: Arc<C>,
    object: ObjectVersion,
    resume_attempts: u32,
}

impl<C: ObjectClient> Source<C> {
    /// `start..end`, in the chunks it came in.
    async fn fetch_part(&self, start: u64, end: u64) -> Result<Vec<Bytes>> {
        let mut chunks = Vec::new();
        let mut pos = start;
        self.fetch(&mut pos, end, &mut chunks).await?;
        Ok(chunks)
    }

    /// Stream `*pos..end` into `sink`, resuming a broken body where it stopped.
    async fn fetch(&self, pos: &mut u64, end: u64, sink: &mut impl Sink) -> Result<()> {
        let mut resumes = 0;
        loop {
            match self.stream_once(pos, end, sink).await {
                Ok(true) if *pos < end => {} // body ended early: resume
                Ok(_) => return Ok(()),      // done, or nobody wants more
                Err(e) if is_resumable(&e) => {}
                Err(e) => return Err(e),
            }
            resumes += 1;
            if resumes > self.resume_attempts {
                return Err(FsError::S3(S3Error::Transport(format!(
                    "{}: the body broke off {} times at byte {}",
                    self.object.key, resumes, *pos
                ))));
            }
            tracing::debug!(key = %self.object.key, pos = *pos, "resuming a broken GET");
        }
    }

    /// One GET of `*pos..end`; Ok(false) once the sink wants no more.
    async fn stream_once(&self, pos: &mut u64, end: u64, sink: &mut impl Sink) -> Result<bool> {
        let response = self
            .client
            .get_object(GetRequest {
                key: self.object.key.clone(),
                range: Some(ByteRange::new(*pos, end)),
                if_match: self.object.etag.clone(),
            })
            .await
            .map_err(map_get_error)?;
        let mut body = response.body;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(FsError::S3)?;
            let room = end - *pos;
            if chunk.len() as u64 > room {
                chunk.truncate(room as usize); // never trust a server to stop where asked
            }
            if chunk.is_empty() {
                continue;
            }
            *pos += chunk.len() as u64;
            if !sink.put(chunk).await {
                return Ok(false);
            }
            if *pos >= end {
                break;
            }
        }
        Ok(true)
    }
}

fn is_resumable(e: &FsError) -> bool {
    matches!(e, FsError::S3(s) if s.is_retryable())
}

fn map_get_error(e: S3Error) -> FsError {
    match e {
        S3Error::PreconditionFailed(_) => FsError::ObjectChanged,
        other => FsError::S3(other),
    }
}
