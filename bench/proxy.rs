//! bench-proxy: a counting TCP proxy for the benchmarks, optionally adding latency.
//!
//! Standard library only, so `rustc -O bench/proxy.rs` builds it without Cargo.
//!
//!   bench-proxy --upstream 127.0.0.1:PORT [--delay-ms 10] [--rate-mib 64]
//!
//! Listens on 127.0.0.1 (a free port) for clients and on a second free port for control;
//! prints `listen=PORT control=PORT` on stdout once ready. Every client connection gets one
//! connection to the upstream; bytes are forwarded unchanged (signatures stay valid).
//! Each chunk read from a client is held `--delay-ms` before it is forwarded (the request
//! direction only: one delay per request on a keep-alive connection, plus one per extra
//! chunk of a request body), which makes per-request costs visible as on a real network.
//! `--rate-mib N` paces each connection's server-to-client bytes to N MiB/s, as a network
//! path or an object store's per-connection limit does: one stream then cannot go faster,
//! and only parallel requests can.
//!
//! Counters: connections, bytes each way, and every HTTP/1.x request seen in the
//! client-to-server stream (method, target, Range header), found by following
//! Content-Length and chunked bodies across keep-alive requests.
//!
//! Control port: connect, send one line: `reset` zeroes the counters (answers `ok`);
//! anything else (e.g. `stats`) answers the counters as one JSON object and closes.
//! Only 127.0.0.1 is ever contacted: a non-loopback upstream is refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Clone)]
struct Req {
    method: String,
    target: String,
    range: Option<String>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_from_server: AtomicU64,
    requests: Mutex<Vec<Req>>,
}

#[derive(PartialEq)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    Trailers,
    Lost,
}

struct Parser {
    state: State,
    line: Vec<u8>,
}

const MAX_HEAD: usize = 256 * 1024;

impl Parser {
    fn new() -> Parser {
        Parser { state: State::Head, line: Vec::new() }
    }

    fn feed(&mut self, mut data: &[u8], out: &mut Vec<Req>) {
        while !data.is_empty() {
            match self.state {
                State::Lost => return,
                State::Body(n) | State::ChunkData(n) => {
                    let take = n.min(data.len() as u64) as usize;
                    data = &data[take..];
                    let left = n - take as u64;
                    let body = matches!(self.state, State::Body(_));
                    self.state = match (body, left) {
                        (true, 0) => State::Head,
                        (true, l) => State::Body(l),
                        (false, 0) => State::ChunkSize,
                        (false, l) => State::ChunkData(l),
                    };
                }
                State::Head => {
                    if self.line.is_empty() {
                        let skip = data.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
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
                            data = &data[end - old..];
                            let head = std::mem::take(&mut self.line);
                            match parse_head(&head[..end]) {
                                Some((req, st)) => {
                                    out.push(req);
                                    self.state = st;
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
                        if text.is_empty() { State::Head } else { State::Trailers }
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
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Option<(Req, State)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    if !first.next()?.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let mut st = State::Head;
    let mut range = None;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().ok()?;
            if n > 0 {
                st = State::Body(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            st = State::ChunkSize;
        } else if name.eq_ignore_ascii_case("range") {
            range = Some(value.to_string());
        }
    }
    // A request that waits for `100 Continue` still sends its body afterwards: same framing.
    Some((Req { method, target, range }, st))
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn stats_json(c: &Counters) -> String {
    let reqs = c.requests.lock().unwrap();
    let mut s = format!(
        "{{\"connections\":{},\"bytes_to_server\":{},\"bytes_from_server\":{},\"requests\":[",
        c.connections.load(Ordering::SeqCst),
        c.bytes_to_server.load(Ordering::SeqCst),
        c.bytes_from_server.load(Ordering::SeqCst)
    );
    for (i, r) in reqs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "[{},{},{}]",
            json_str(&r.method),
            json_str(&r.target),
            r.range.as_deref().map(json_str).unwrap_or_else(|| "null".into())
        ));
    }
    s.push_str("]}\n");
    s
}

fn serve(client: TcpStream, upstream: String, delay: Duration, rate: Option<f64>, c: Arc<Counters>) {
    let server = match TcpStream::connect(&upstream) {
        Ok(s) => s,
        Err(_) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = (client.try_clone().unwrap(), client);
    let (mut sr, mut sw) = (server.try_clone().unwrap(), server);
    let c2 = c.clone();
    let down = thread::spawn(move || {
        let mut buf = vec![0u8; if rate.is_some() { 64 * 1024 } else { 256 * 1024 }];
        let mut pace = rate.map(Pace::new);
        loop {
            let n = match sr.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            c2.bytes_from_server.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(p) = pace.as_mut() {
                p.wait_to_send(n);
            }
            if cw.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = cw.shutdown(Shutdown::Write);
    });
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut found = Vec::new();
    loop {
        let n = match cr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        c.bytes_to_server.fetch_add(n as u64, Ordering::Relaxed);
        parser.feed(&buf[..n], &mut found);
        if !found.is_empty() {
            c.requests.lock().unwrap().extend(found.drain(..));
        }
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if sw.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = sw.shutdown(Shutdown::Write);
    let _ = down.join();
}

/// Keeps a byte stream at or under `bytes_per_s`, measured from its start; an idle stream
/// (between keep-alive requests) does not bank credit for more than 10 ms of bytes.
struct Pace {
    bytes_per_s: f64,
    start: std::time::Instant,
    sent: f64,
}

impl Pace {
    fn new(bytes_per_s: f64) -> Pace {
        Pace { bytes_per_s, start: std::time::Instant::now(), sent: 0.0 }
    }

    fn wait_to_send(&mut self, n: usize) {
        let now = self.start.elapsed().as_secs_f64();
        let slack = 0.010;
        if self.sent / self.bytes_per_s < now - slack {
            self.sent = (now - slack) * self.bytes_per_s;
        }
        self.sent += n as f64;
        let due = self.sent / self.bytes_per_s;
        if due > now {
            thread::sleep(Duration::from_secs_f64(due - now));
        }
    }
}

fn control(l: TcpListener, c: Arc<Counters>) {
    for conn in l.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut line = String::new();
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = BufReader::new(conn.try_clone().unwrap()).read_line(&mut line);
        let reply = if line.trim() == "reset" {
            c.connections.store(0, Ordering::SeqCst);
            c.bytes_to_server.store(0, Ordering::SeqCst);
            c.bytes_from_server.store(0, Ordering::SeqCst);
            c.requests.lock().unwrap().clear();
            "ok\n".to_string()
        } else {
            stats_json(&c)
        };
        let _ = conn.write_all(reply.as_bytes());
    }
}

fn main() {
    let mut upstream = None;
    let mut delay_ms = 0u64;
    let mut rate_mib = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--upstream" => upstream = args.next(),
            "--delay-ms" => delay_ms = args.next().and_then(|v| v.parse().ok()).expect("--delay-ms N"),
            "--rate-mib" => rate_mib = args.next().and_then(|v| v.parse().ok()).expect("--rate-mib N"),
            _ => {
                eprintln!("usage: bench-proxy --upstream 127.0.0.1:PORT [--delay-ms N] [--rate-mib N]");
                std::process::exit(2);
            }
        }
    }
    let upstream = upstream.expect("--upstream 127.0.0.1:PORT");
    let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
    if !upstream.starts_with("127.0.0.1:") {
        eprintln!("bench-proxy: refusing non-loopback upstream {upstream}");
        std::process::exit(2);
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ctl = TcpListener::bind("127.0.0.1:0").expect("bind control");
    let c = Arc::new(Counters::default());
    println!(
        "listen={} control={}",
        listener.local_addr().unwrap().port(),
        ctl.local_addr().unwrap().port()
    );
    std::io::stdout().flush().unwrap();
    let cc = c.clone();
    thread::spawn(move || control(ctl, cc));
    let delay = Duration::from_millis(delay_ms);
    let rate = (rate_mib > 0).then(|| rate_mib as f64 * 1024.0 * 1024.0);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        c.connections.fetch_add(1, Ordering::SeqCst);
        let (up, c) = (upstream.clone(), c.clone());
        thread::spawn(move || serve(conn, up, delay, rate, c));
    }
}
