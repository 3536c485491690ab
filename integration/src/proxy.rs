//! A counting TCP proxy on 127.0.0.1:0 in front of an S3 server.
//!
//! It forwards bytes unchanged (so signatures stay valid: the client signs the `Host` it
//! sends, the proxy's), counts connections and bytes in each direction, and recognises
//! HTTP/1.1 request lines in the client-to-server stream (following `Content-Length` and
//! chunked bodies across keep-alive requests), so tests can say "reading a 48 MiB file
//! transferred about 48 MiB" or "listing sent no HEAD per entry". An optional delay per
//! client-to-server chunk makes request counts visible in wall-clock time (benchmarks).
//!
//! A fault switch ([`CountingProxy::set_fault`]) makes the proxy refuse requests of one
//! method: it answers them itself with an HTTP error status, or closes the connection,
//! without forwarding anything of the request to the server. Tests use it to check that a
//! failed upload is reported, never lost silently.
//!
//! ```no_run
//! # use integration::proxy::CountingProxy;
//! let proxy = CountingProxy::start("http://127.0.0.1:9000");
//! let before = proxy.snapshot();
//! // ... mount with -o url={proxy.url()} and read ...
//! let d = proxy.snapshot().since(&before);
//! assert!(d.bytes_from_server >= 48 << 20);
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP request seen by the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target (path and query) as sent.
    pub target: String,
}

/// Counters at one moment; subtract two with [`Snapshot::since`].
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub connections: u64,
    pub bytes_to_server: u64,
    pub bytes_from_server: u64,
    pub requests: Vec<Request>,
    /// Requests the fault switch refused (they are in `requests` too; the server never saw them).
    pub faults_injected: u64,
}

/// What the proxy does to a request the fault switch matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this HTTP status (an S3 XML error body, `Connection: close`), then close.
    Status(u16),
    /// Close the connection at once, without an answer.
    Close,
    /// Never forward nor answer: the connection stays open and silent until the client
    /// closes it (a server that hangs).
    Stall,
}

/// Refuse every request with this method (`"PUT"`: uploads, copies, markers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub method: String,
    pub action: FaultAction,
}

impl Fault {
    /// Every `method` request is answered with `status`.
    pub fn status(method: &str, status: u16) -> Fault {
        Fault {
            method: method.to_string(),
            action: FaultAction::Status(status),
        }
    }

    /// Every `method` request gets its connection closed.
    pub fn close(method: &str) -> Fault {
        Fault {
            method: method.to_string(),
            action: FaultAction::Close,
        }
    }

    /// Every `method` request hangs, unanswered, until the client gives up.
    pub fn stall(method: &str) -> Fault {
        Fault {
            method: method.to_string(),
            action: FaultAction::Stall,
        }
    }
}

/// The answer of [`FaultAction::Status`].
fn fault_response(status: u16) -> Vec<u8> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                <Message>fault injected by the mountd test proxy</Message></Error>";
    format!(
        "HTTP/1.1 {status} Injected Fault\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            connections: self.connections - earlier.connections,
            bytes_to_server: self.bytes_to_server - earlier.bytes_to_server,
            bytes_from_server: self.bytes_from_server - earlier.bytes_from_server,
            requests: self.requests[earlier.requests.len().min(self.requests.len())..].to_vec(),
            faults_injected: self.faults_injected - earlier.faults_injected,
        }
    }

    /// Number of requests with this method (`"GET"`, `"HEAD"`, ...).
    pub fn count(&self, method: &str) -> usize {
        self.requests.iter().filter(|r| r.method == method).count()
    }

    /// Request counts by method.
    pub fn by_method(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.requests {
            *m.entry(r.method.clone()).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_from_server: AtomicU64,
    requests: Mutex<Vec<Request>>,
    fault: Mutex<Option<Fault>>,
    faults_injected: AtomicU64,
}

impl Counters {
    /// The action for `req` if the fault switch matches it (and counts it).
    fn fault_for(&self, req: &Request) -> Option<FaultAction> {
        let fault = self.fault.lock().expect("fault lock");
        let action = fault
            .as_ref()
            .filter(|f| f.method.eq_ignore_ascii_case(&req.method))
            .map(|f| f.action)?;
        self.faults_injected.fetch_add(1, Ordering::SeqCst);
        Some(action)
    }
}

/// Options of a proxy.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    /// Sleep this long before forwarding each client-to-server chunk.
    pub delay_per_chunk: Duration,
}

/// A running proxy; stopped when dropped.
pub struct CountingProxy {
    url: String,
    counters: Arc<Counters>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CountingProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> CountingProxy {
        CountingProxy::start_with(upstream, ProxyOptions::default())
    }

    pub fn start_with(upstream: &str, opts: ProxyOptions) -> CountingProxy {
        crate::servers::check_loopback(upstream);
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("local_addr"));
        let counters = Arc::new(Counters::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("counting-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("build the proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = accept_loop(listener, upstream, c, opts) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the proxy thread");
        CountingProxy {
            url,
            counters,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn snapshot(&self) -> Snapshot {
        let c = &self.counters;
        Snapshot {
            connections: c.connections.load(Ordering::SeqCst),
            bytes_to_server: c.bytes_to_server.load(Ordering::SeqCst),
            bytes_from_server: c.bytes_from_server.load(Ordering::SeqCst),
            requests: c.requests.lock().expect("requests lock").clone(),
            faults_injected: c.faults_injected.load(Ordering::SeqCst),
        }
    }

    /// Turns the fault switch on (`Some`) or off (`None`). Applies to requests whose head
    /// arrives from now on, on new and pooled connections alike.
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.counters.fault.lock().expect("fault lock") = fault;
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    c: Arc<Counters>,
    opts: ProxyOptions,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        c.connections.fetch_add(1, Ordering::SeqCst);
        let (upstream, c, opts) = (upstream.clone(), c.clone(), opts.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return; // dropping `client` closes it: the client sees a reset connection
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let c2 = c.clone();
            // The fault switch: the upstream half tells the downstream half to answer the
            // client itself (Some) or just to close (None), and both stop.
            let (fault_tx, mut fault_rx) = tokio::sync::oneshot::channel::<Option<Vec<u8>>>();
            let up = async move {
                let mut parser = RequestParser::default();
                let mut buf = vec![0u8; 64 * 1024];
                let mut fault_tx = Some(fault_tx);
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    c.bytes_to_server.fetch_add(n as u64, Ordering::SeqCst);
                    let reqs = parser.feed(&buf[..n]);
                    // Clients here do not pipeline: a chunk that completes a refused request's
                    // head holds nothing of an earlier request, so none of it is forwarded.
                    let action = reqs.iter().find_map(|r| c.fault_for(r));
                    if !reqs.is_empty() {
                        c.requests.lock().expect("requests lock").extend(reqs);
                    }
                    if let Some(action) = action {
                        let answer = match action {
                            FaultAction::Status(code) => Some(fault_response(code)),
                            FaultAction::Close => None,
                            FaultAction::Stall => {
                                // Swallow whatever else comes until the client closes.
                                while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
                                None
                            }
                        };
                        if let Some(tx) = fault_tx.take() {
                            let _ = tx.send(answer);
                        }
                        return; // dropping `sw` closes the server side
                    }
                    if !opts.delay_per_chunk.is_zero() {
                        tokio::time::sleep(opts.delay_per_chunk).await;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            };
            let down = async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut fault_pending = true;
                loop {
                    let n = tokio::select! {
                        // The fault first: it is sent before the upstream half drops its end,
                        // so when the server's close (EOF) is ready the answer is too, and a
                        // random pick must not throw the answer away.
                        biased;
                        fault = &mut fault_rx, if fault_pending => match fault {
                            Ok(answer) => {
                                if let Some(answer) = answer {
                                    let _ = cw.write_all(&answer).await;
                                }
                                break;
                            }
                            // The upstream half ended without a fault: keep forwarding.
                            Err(_) => {
                                fault_pending = false;
                                continue;
                            }
                        },
                        r = sr.read(&mut buf) => match r {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        },
                    };
                    c2.bytes_from_server.fetch_add(n as u64, Ordering::SeqCst);
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            };
            tokio::join!(up, down);
        });
    }
}

/// Finds request lines in a client-to-server HTTP/1.x byte stream, fed in arbitrary chunks.
#[derive(Debug, Default)]
pub struct RequestParser {
    state: State,
    /// Bytes of the head (or chunk-size / trailer line) being collected.
    line: Vec<u8>,
}

#[derive(Debug, Default, PartialEq)]
enum State {
    /// Collecting a request head up to the blank line.
    #[default]
    Head,
    /// Skipping a body of known length.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping chunk data plus its CRLF.
    ChunkData(u64),
    /// Reading trailer lines after the last chunk, up to the blank line.
    Trailers,
    /// Something unparseable: stop recognising requests on this connection.
    Lost,
}

const MAX_HEAD: usize = 256 * 1024;

impl RequestParser {
    /// Consumes `data`; returns the requests whose heads completed in it.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Request> {
        let mut out = Vec::new();
        while !data.is_empty() {
            match self.state {
                State::Lost => return out,
                State::Body(n) | State::ChunkData(n) => {
                    let take = (n.min(data.len() as u64)) as usize;
                    data = &data[take..];
                    let left = n - take as u64;
                    self.state = match (&self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkSize,
                        (_, l) => State::ChunkData(l),
                    };
                }
                State::Head => {
                    // Request heads may be preceded by stray CRLFs (RFC 9112 2.2).
                    if self.line.is_empty() {
                        let skip = data
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        data = &data[skip..];
                        if data.is_empty() {
                            break;
                        }
                    }
                    let old = self.line.len();
                    self.line.extend_from_slice(data);
                    let from = old.saturating_sub(3);
                    match find(&self.line[from..], b"\r\n\r\n") {
                        Some(i) => {
                            let end = from + i + 4;
                            let consumed = end - old;
                            data = &data[consumed..];
                            let head = std::mem::take(&mut self.line);
                            match parse_head(&head[..end]) {
                                Some((req, body)) => {
                                    out.push(req);
                                    self.state = body;
                                }
                                None => self.state = State::Lost,
                            }
                        }
                        None => {
                            data = &[];
                            if self.line.len() > MAX_HEAD {
                                self.state = State::Lost;
                            }
                        }
                    }
                }
                State::ChunkSize | State::Trailers => {
                    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
                        Some(i) => (&data[..=i], Some(&data[i + 1..])),
                        None => (data, None),
                    };
                    self.line.extend_from_slice(line);
                    data = rest.unwrap_or(&[]);
                    if rest.is_none() {
                        if self.line.len() > MAX_HEAD {
                            self.state = State::Lost;
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(&self.line).trim().to_string();
                    self.line.clear();
                    self.state = if self.state == State::Trailers {
                        if text.is_empty() {
                            State::Head
                        } else {
                            State::Trailers
                        }
                    } else {
                        let size = text.split(';').next().unwrap_or("").trim();
                        match u64::from_str_radix(size, 16) {
                            Ok(0) => State::Trailers,
                            Ok(n) => State::ChunkData(n + 2),
                            Err(_) => State::Lost,
                        }
                    };
                }
            }
        }
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Option<(Request, State)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    if !first.next()?.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let mut body = State::Head;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().ok()?;
            if n > 0 {
                body = State::Body(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = State::ChunkSize;
        }
    }
    Some((Request { method, target }, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(reqs: &[Request]) -> Vec<&str> {
        reqs.iter().map(|r| r.method.as_str()).collect()
    }

    /// Keep-alive stream: a PUT whose 11-byte body looks like a request line, two GETs,
    /// a chunked POST with an extension and a trailer, and a HEAD.
    fn stream() -> Vec<u8> {
        [
            &b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"[..],
            b"GET / HTTP/",
            b"GET / HTTP/1.1\r\n\r\n",
            b"\r\nGET /b?list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /b/k?uploads HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
            b"HEAD /b/k%20x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        ]
        .concat()
    }

    #[test]
    fn finds_requests_across_bodies_and_chunks() {
        let mut p = RequestParser::default();
        let reqs = p.feed(&stream());
        assert_eq!(methods(&reqs), ["PUT", "GET", "GET", "POST", "HEAD"]);
        assert_eq!(reqs[2].target, "/b?list-type=2");
        assert_eq!(reqs[4].target, "/b/k%20x");
        assert_eq!(p.state, State::Head);
    }

    #[test]
    fn any_split_gives_the_same_requests() {
        let stream = stream();
        let whole = RequestParser::default().feed(&stream);
        for chunk in 1..40 {
            let mut p = RequestParser::default();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                got.extend(p.feed(c));
            }
            assert_eq!(got, whole, "chunk size {chunk}");
        }
    }

    #[test]
    fn garbage_stops_counting() {
        let mut p = RequestParser::default();
        assert!(p
            .feed(b"\x16\x03\x01 not http\r\n\r\nGET / HTTP/1.1\r\n\r\n")
            .is_empty());
    }

    /// A server that answers every request head with `200 OK` and a 2-byte body, and
    /// reports the request lines it saw.
    fn ok_server() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
        use std::io::{Read, Write};
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in server.incoming() {
                let Ok(mut s) = s else { return };
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..i]).into_owned();
                            let _ = tx.send(head.lines().next().unwrap_or("").to_string());
                            seen.drain(..i + 4);
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    /// Sends one request on a new connection through the proxy; returns what came back
    /// until the connection closed or `until` bytes arrived.
    fn one_request(proxy: &CountingProxy, request: &[u8], until: usize) -> String {
        use std::io::{Read, Write};
        let mut c =
            std::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(request).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < until {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading from the proxy: {e}"),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn fault_switch_refuses_one_method_without_forwarding_it() {
        let (addr, seen) = ok_server();
        let proxy = CountingProxy::start(&format!("http://{addr}"));
        let put = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let get = b"GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n";

        proxy.set_fault(Some(Fault::status("PUT", 500)));
        let answer = one_request(&proxy, put, usize::MAX);
        assert!(answer.starts_with("HTTP/1.1 500 "), "{answer:?}");
        assert!(answer.contains("<Code>InternalError</Code>"), "{answer:?}");
        let answer = one_request(&proxy, get, 40);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
        assert_eq!(
            seen.recv_timeout(Duration::from_secs(5)).unwrap(),
            "GET /b/k HTTP/1.1"
        );

        proxy.set_fault(Some(Fault::close("put")));
        assert_eq!(one_request(&proxy, put, usize::MAX), "");

        proxy.set_fault(None);
        let answer = one_request(&proxy, put, 40);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
        assert_eq!(
            seen.recv_timeout(Duration::from_secs(5)).unwrap(),
            "PUT /b/k HTTP/1.1"
        );
        assert!(
            seen.try_recv().is_err(),
            "the refused PUTs never reached the server"
        );

        let s = proxy.snapshot();
        assert_eq!(s.faults_injected, 2);
        assert_eq!(s.count("PUT"), 3);
        assert_eq!(s.count("GET"), 1);
    }

    #[test]
    fn proxies_and_counts_real_connections() {
        use std::io::{Read, Write};
        // A one-shot HTTP server that answers each request with 1000 bytes.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let srv = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let mut answered = 0;
            while answered < 2 {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                seen.extend_from_slice(&buf[..n]);
                while answered < seen.windows(4).filter(|w| w == b"\r\n\r\n").count() {
                    let body = vec![b'x'; 1000];
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n").unwrap();
                    s.write_all(&body).unwrap();
                    answered += 1;
                }
            }
        });
        let proxy = CountingProxy::start(&format!("http://{addr}"));
        let before = proxy.snapshot();
        let mut c =
            std::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
        let sent = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
        c.write_all(sent).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < 2 * (1000 + 38) {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "proxy closed early after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        srv.join().unwrap();
        let d = proxy.snapshot().since(&before);
        assert_eq!(d.connections, 1);
        assert_eq!(d.bytes_from_server, got.len() as u64);
        assert_eq!(d.bytes_to_server, sent.len() as u64);
        assert_eq!(d.count("GET"), 1);
        assert_eq!(d.count("HEAD"), 1);
        assert_eq!(d.requests[0].target, "/a");
    }
}
