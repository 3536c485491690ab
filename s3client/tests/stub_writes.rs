//! The write operations (PutObject, DeleteObject, CopyObject) of `S3Client` against a
//! scripted HTTP server on 127.0.0.1 that records each request whole, body included: the
//! exact wire shape (headers, payload hash, signature), streamed file bodies, files that
//! change while they are sent, answers sent before the body was read, stalls, retries, and
//! CopyObject's 200-with-an-error answers. Always runs: needs no external server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s3client::{
    Addressing, CopyRequest, Credentials, Endpoint, ObjectClient, PutBody, PutRequest, S3Client,
    S3Config, S3Error,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How the server treats one request (one connection each).
enum Step {
    /// Read the whole body (by its Content-Length), then send this answer. As real servers
    /// do, `100 Continue` first when the request has `Expect: 100-continue`.
    Answer(Vec<u8>),
    /// As `Answer`, but never `100 Continue`: a server that ignores `Expect`.
    AnswerIgnoringExpect(Vec<u8>),
    /// Answer right after the headers, without reading the body; keep reading afterwards.
    AnswerEarly(Vec<u8>),
    /// Answer right after the headers, then close the connection with the body unread
    /// (the kernel then resets it).
    AnswerEarlyAndClose(Vec<u8>),
    /// Read the body `chunk` bytes at a time with a pause between reads, then answer.
    ReadSlowly(usize, Duration, Vec<u8>),
    /// Wait for the notification before reading the body, then answer.
    ReadAfter(Arc<Notify>, Vec<u8>),
    /// Read the headers, then nothing: never read the body, never answer.
    Stall,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
    /// The whole body (Content-Length bytes) arrived.
    complete: bool,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }
}

struct Stub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    async fn start(steps: Vec<Step>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut steps = steps.into_iter();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let step = steps.next().unwrap_or_else(|| {
                    Step::Answer(http("500 Internal Server Error", &[], b"script ended"))
                });
                let index = {
                    let mut l = log.lock().unwrap();
                    l.push(Seen {
                        head: String::new(),
                        body: Vec::new(),
                        complete: false,
                    });
                    l.len() - 1
                };
                tokio::spawn(serve(sock, step, log.clone(), index));
            }
        });
        Stub { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn client(&self, edit: impl FnOnce(&mut S3Config)) -> S3Client {
        let mut c = S3Config::new(
            Endpoint::parse(&format!("http://{}", self.addr)).unwrap(),
            "bkt",
        );
        c.addressing = Addressing::Path;
        c.region = "us-ashburn-1".into();
        c.credentials = Some(creds());
        c.connect_timeout = Duration::from_secs(2);
        c.read_timeout = Duration::from_secs(5);
        c.retries = 0;
        edit(&mut c);
        S3Client::new(c).unwrap()
    }
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIDSTUB".into(),
        secret_access_key: "stub-secret".into(),
        session_token: None,
    }
}

async fn serve(mut sock: TcpStream, step: Step, log: Arc<Mutex<Vec<Seen>>>, index: usize) {
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut body = data[head_end..].to_vec();
    let update = |body: &[u8], complete: bool| {
        let mut l = log.lock().unwrap();
        l[index].head = head.clone();
        l[index].body = body.to_vec();
        l[index].complete = complete;
    };
    update(&body, false);
    let want = Seen {
        head: head.clone(),
        body: Vec::new(),
        complete: false,
    }
    .content_length()
    .unwrap_or(0);
    let expects = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("expect") && v.trim().eq_ignore_ascii_case("100-continue")
        })
    });
    let mut send_continue = expects;
    let (answer, chunk, pause, notify) = match step {
        Step::Stall => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Step::AnswerEarly(answer) => {
            let _ = sock.write_all(&answer).await;
            let _ = sock.shutdown().await;
            // Keep reading (and recording) what still comes, until the client gives up.
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
                update(&body, body.len() >= want);
            }
            return;
        }
        Step::AnswerEarlyAndClose(answer) => {
            let _ = sock.write_all(&answer).await;
            return;
        }
        Step::Answer(answer) => (answer, 64 << 10, Duration::ZERO, None),
        Step::AnswerIgnoringExpect(answer) => {
            send_continue = false;
            (answer, 64 << 10, Duration::ZERO, None)
        }
        Step::ReadSlowly(chunk, pause, answer) => (answer, chunk, pause, None),
        Step::ReadAfter(notify, answer) => (answer, 64 << 10, Duration::ZERO, Some(notify)),
    };
    if let Some(n) = notify {
        n.notified().await;
    }
    if send_continue && body.len() < want {
        let _ = sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    if buf.len() < chunk {
        buf.resize(chunk, 0);
    }
    while body.len() < want {
        let room = chunk.min(want - body.len());
        match sock.read(&mut buf[..room]).await {
            Ok(0) | Err(_) => {
                update(&body, false);
                return;
            }
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
        update(&body, body.len() >= want);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    update(&body, true);
    let _ = sock.write_all(&answer).await;
    let _ = sock.shutdown().await;
}

/// A whole HTTP/1.1 answer with `Connection: close` and `Content-Length`.
fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn put_ok(etag: &str) -> Vec<u8> {
    http("200 OK", &[("ETag", etag)], b"")
}

fn s3_error(status: &str, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m</Message><RequestId>REQ1</RequestId></Error>"
    );
    http(
        status,
        &[("Content-Type", "application/xml")],
        body.as_bytes(),
    )
}

fn copy_ok(etag: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>2024-05-06T07:08:09.000Z</LastModified><ETag>{}</ETag></CopyObjectResult>",
        etag.replace('"', "&quot;")
    );
    http(
        "200 OK",
        &[("Content-Type", "application/xml")],
        body.as_bytes(),
    )
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 4093) as u8).collect()
}

fn temp_file(tag: &str, data: &[u8]) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "s3client-stub-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, data).unwrap();
    path
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Recompute the request's SigV4 signature from what arrived (the raw path is given: the
/// one on the wire is encoded) and compare it with the one sent.
fn assert_signature_valid(seen: &Seen, raw_path: &str) {
    let auth = seen.header("authorization").expect("signed");
    let signed_names: Vec<&str> = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    let signature = auth.split("Signature=").nth(1).unwrap().trim();
    let headers: Vec<(&str, &str)> = signed_names
        .iter()
        .filter(|n| !matches!(**n, "x-amz-date" | "x-amz-content-sha256"))
        .map(|n| (*n, seen.header(n).unwrap()))
        .collect();
    let date = seen.header("x-amz-date").unwrap();
    let now = time::PrimitiveDateTime::parse(
        date,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap()
    .assume_utc();
    let method = seen.request_line().split(' ').next().unwrap();
    let signed = sigv4::Signer::new("us-ashburn-1", "s3").sign(
        &creds(),
        &sigv4::Request {
            method,
            path: raw_path,
            query: &[],
            headers: &headers,
            payload: sigv4::Payload::Sha256Hex(seen.header("x-amz-content-sha256").unwrap()),
        },
        now,
    );
    assert_eq!(
        signed.signature, signature,
        "signature of {}",
        signed.canonical_request
    );
}

/// What must never be on an upload: chunked framing, aws-chunked payloads, trailers,
/// checksums. `Expect: 100-continue` exactly on bodies of 64 KiB or more, never signed.
fn assert_plain_upload(seen: &Seen) {
    let long = seen.content_length().unwrap_or(0) >= 64 << 10;
    assert_eq!(
        seen.header("expect"),
        long.then_some("100-continue"),
        "{}",
        seen.head
    );
    assert!(!seen.header("authorization").unwrap().contains("expect"));
    for absent in [
        "transfer-encoding",
        "content-encoding",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-crc32",
        "content-md5",
    ] {
        assert!(seen.header(absent).is_none(), "{absent} in\n{}", seen.head);
    }
    let sha = seen.header("x-amz-content-sha256").unwrap();
    assert!(
        !sha.contains("STREAMING") && sha != "UNSIGNED-PAYLOAD",
        "{sha}"
    );
}

#[tokio::test]
async fn put_bytes_wire_shape() {
    let stub = Stub::start(vec![Step::Answer(put_ok("\"abc123\""))]).await;
    let c = stub.client(|_| {});
    let data = pattern(1000);
    let result = c
        .put_object(PutRequest {
            key: "dir/a b+c.txt".into(),
            body: PutBody::Bytes(data.clone().into()),
            content_type: Some("text/plain".into()),
            metadata: meta(&[("mode", "33188"), ("uid", "1000"), ("MTime", "1700000000")]),
        })
        .await
        .unwrap();
    assert_eq!(result.etag, "\"abc123\"");
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.request_line(), "PUT /bkt/dir/a%20b%2Bc.txt HTTP/1.1");
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-amz-meta-mode"), Some("33188"));
    assert_eq!(r.header("x-amz-meta-uid"), Some("1000"));
    assert_eq!(r.header("x-amz-meta-mtime"), Some("1700000000"));
    assert_eq!(
        r.header("x-amz-content-sha256"),
        Some(sha256_hex(&data).as_str())
    );
    assert!(r.complete);
    assert_eq!(r.body, data);
    assert_plain_upload(r);
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-mode;x-amz-meta-mtime;x-amz-meta-uid,"
        ),
        "{auth}"
    );
    assert_signature_valid(r, "/bkt/dir/a b+c.txt");
}

#[tokio::test]
async fn put_of_nothing_has_content_length_zero_and_the_default_type() {
    let stub = Stub::start(vec![
        Step::Answer(put_ok("\"d41d8cd98f00b204e9800998ecf8427e\"")),
        Step::Answer(put_ok("\"d41d8cd98f00b204e9800998ecf8427e\"")),
    ])
    .await;
    let c = stub.client(|_| {});
    let empty_file = temp_file("empty", b"");
    for body in [
        PutBody::Bytes(bytes::Bytes::new()),
        PutBody::File {
            path: empty_file.clone(),
            len: 0,
        },
    ] {
        let r = c
            .put_object(PutRequest {
                key: "dir/".into(),
                body,
                content_type: None,
                metadata: BTreeMap::new(),
            })
            .await
            .unwrap();
        assert_eq!(r.etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    }
    for r in stub.seen() {
        assert_eq!(r.request_line(), "PUT /bkt/dir/ HTTP/1.1");
        assert_eq!(r.header("content-length"), Some("0"), "{}", r.head);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(r.header("x-amz-content-sha256"), Some(sigv4::EMPTY_SHA256));
        assert!(r.body.is_empty());
        assert_plain_upload(&r);
        assert_signature_valid(&r, "/bkt/dir/");
    }
    std::fs::remove_file(empty_file).unwrap();
}

#[tokio::test]
async fn put_file_streams_exactly_the_first_len_bytes() {
    // Longer than `len`: only the prefix goes, hashed as such; several chunks' worth.
    let data = pattern(3 * (256 << 10) + 77);
    let len = data.len() as u64 - 70;
    let path = temp_file("prefix", &data);
    let stub = Stub::start(vec![Step::Answer(put_ok("\"e1\""))]).await;
    let c = stub.client(|_| {});
    c.put_object(PutRequest {
        key: "big".into(),
        body: PutBody::File {
            path: path.clone(),
            len,
        },
        content_type: None,
        metadata: BTreeMap::new(),
    })
    .await
    .unwrap();
    let r = &stub.seen()[0];
    let expected = &data[..len as usize];
    assert_eq!(r.content_length(), Some(expected.len()));
    assert_eq!(r.body, expected);
    assert_eq!(
        r.header("x-amz-content-sha256"),
        Some(sha256_hex(expected).as_str())
    );
    assert_plain_upload(r);
    assert_signature_valid(r, "/bkt/big");
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn a_short_or_missing_file_fails_before_sending_and_is_not_retried() {
    let stub = Stub::start(vec![]).await;
    let c = stub.client(|c| c.retries = 3);
    let path = temp_file("short", b"0123456789");
    let put = |len| {
        c.put_object(PutRequest {
            key: "k".into(),
            body: PutBody::File {
                path: path.clone(),
                len,
            },
            content_type: None,
            metadata: BTreeMap::new(),
        })
    };
    let started = Instant::now();
    let e = put(11).await.unwrap_err();
    assert!(
        matches!(&e, S3Error::Transport(m) if m.contains("fewer than the 11")),
        "{e:?}"
    );
    std::fs::remove_file(&path).unwrap();
    let e = put(0).await.unwrap_err();
    assert!(
        matches!(&e, S3Error::Transport(m) if m.contains("cannot open")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("stub-secret"));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no retry pauses"
    );
    assert!(stub.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_file_that_grows_while_sent_aborts_the_upload() {
    // The server takes the headers, then waits while the file grows; the client must not
    // complete the request (the last chunk is held back), and must not retry.
    let data = pattern(8 << 20);
    let path = temp_file("grows", &data);
    let go = Arc::new(Notify::new());
    let stub = Stub::start(vec![Step::ReadAfter(go.clone(), put_ok("\"x\""))]).await;
    let c = stub.client(|c| c.retries = 2);
    let upload = tokio::spawn({
        let path = path.clone();
        async move {
            c.put_object(PutRequest {
                key: "k".into(),
                body: PutBody::File { path, len: 8 << 20 },
                content_type: None,
                metadata: BTreeMap::new(),
            })
            .await
        }
    });
    // Wait for the headers to arrive, then grow the file and let the server read.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.seen().first().is_none_or(|s| s.head.is_empty()) {
        assert!(Instant::now() < deadline, "no request came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"appended").unwrap();
    }
    go.notify_one();
    let e = upload.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, S3Error::Transport(m) if m.contains("changed while it was being uploaded")),
        "{e:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "not retried");
    assert!(!seen[0].complete, "the server never got the whole body");
    assert!(seen[0].body.len() < 8 << 20);
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn retries_send_the_whole_body_again() {
    let data = pattern(600 << 10);
    let path = temp_file("retry", &data);
    let stub = Stub::start(vec![
        Step::Answer(s3_error("500 Internal Server Error", "InternalError")),
        Step::Answer(s3_error("503 Slow Down", "SlowDown")),
        Step::Answer(put_ok("\"ok\"")),
    ])
    .await;
    let c = stub.client(|c| c.retries = 2);
    let r = c
        .put_object(PutRequest {
            key: "k".into(),
            body: PutBody::File {
                path: path.clone(),
                len: data.len() as u64,
            },
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
    assert_eq!(r.etag, "\"ok\"");
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert!(s.complete);
        assert_eq!(s.body, data);
        assert_signature_valid(s, "/bkt/k");
    }
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn an_answer_before_the_body_is_read_is_still_the_servers_answer() {
    // A server that refuses an upload may answer at once, without reading the body (S3
    // does for a bad signature), and then either go on reading or close the connection
    // with the body unread (the kernel then resets it). Either way the caller must get
    // that answer, not a connection reset (which would be retried).
    let early = |close: bool| {
        let answer = s3_error("403 Forbidden", "AccessDenied");
        if close {
            Step::AnswerEarlyAndClose(answer)
        } else {
            Step::AnswerEarly(answer)
        }
    };
    let stub = Stub::start(vec![early(false), early(true), early(true), early(true)]).await;
    let c = stub.client(|c| c.retries = 0);
    let body = PutBody::Bytes(pattern(16 << 20).into());
    for _ in 0..4 {
        let e = c
            .put_object(PutRequest {
                key: "k".into(),
                body: body.clone(),
                content_type: None,
                metadata: BTreeMap::new(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e, S3Error::AccessDenied(_)),
            "expected the 403, got {e:?}"
        );
    }
    // The body waited for a 100 Continue that never came: none of it was sent.
    let seen = stub.seen();
    assert_eq!(seen[0].header("expect"), Some("100-continue"));
    assert!(seen[0].body.is_empty(), "{} bytes sent", seen[0].body.len());
}

#[tokio::test]
async fn a_stalled_upload_times_out_and_a_slow_one_does_not() {
    let stub = Stub::start(vec![Step::Stall]).await;
    let c = stub.client(|c| {
        c.connect_timeout = Duration::from_millis(300);
        c.read_timeout = Duration::from_millis(2500);
    });
    // More than the socket buffers hold, so the body really stops moving.
    let body = PutBody::Bytes(pattern(32 << 20).into());
    let started = Instant::now();
    let e = c
        .put_object(PutRequest {
            key: "k".into(),
            body,
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, S3Error::Timeout(m) if m.contains("upload stalled")),
        "{e:?}"
    );
    // Hashing 32 MiB in a debug build on a busy machine takes its time; the point is
    // that the upload does not hang.
    assert!(started.elapsed() < Duration::from_secs(30), "{e:?}");

    // 40 MiB read 256 KiB per 20 ms takes well over connect + read timeout (2.8 s), but
    // the body keeps moving, so the upload is not cut off. (Progress is the body handed to
    // the socket: what then sits in the kernel's buffers, a few MiB here, must drain within
    // the read timeout.)
    let data = pattern(40 << 20);
    let stub = Stub::start(vec![Step::ReadSlowly(
        256 << 10,
        Duration::from_millis(20),
        put_ok("\"slow\""),
    )])
    .await;
    let c = stub.client(|c| {
        c.connect_timeout = Duration::from_millis(300);
        c.read_timeout = Duration::from_millis(2500);
    });
    let started = Instant::now();
    let r = c
        .put_object(PutRequest {
            key: "k".into(),
            body: PutBody::Bytes(data.clone().into()),
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
    assert_eq!(r.etag, "\"slow\"");
    let took = started.elapsed();
    eprintln!("slow upload took {took:?}");
    assert!(took > Duration::from_millis(2800), "{took:?}");
    assert_eq!(stub.seen()[0].body.len(), data.len());
}

#[tokio::test]
async fn delete_wire_shape_and_missing_keys() {
    let stub = Stub::start(vec![
        Step::Answer(http("204 No Content", &[], b"")),
        Step::Answer(s3_error("404 Not Found", "NoSuchKey")),
        Step::Answer(s3_error("403 Forbidden", "AccessDenied")),
        Step::Answer(s3_error("404 Not Found", "NoSuchBucket")),
    ])
    .await;
    let c = stub.client(|_| {});
    c.delete_object("a+b/c d").await.unwrap();
    c.delete_object("gone").await.unwrap();
    let e = c.delete_object("k").await.unwrap_err();
    assert!(matches!(e, S3Error::AccessDenied(_)), "{e:?}");
    let e = c.delete_object("k").await.unwrap_err();
    assert!(matches!(e, S3Error::NoSuchBucket(_)), "{e:?}");
    let seen = stub.seen();
    assert_eq!(seen[0].request_line(), "DELETE /bkt/a%2Bb/c%20d HTTP/1.1");
    assert_eq!(
        seen[0].header("x-amz-content-sha256"),
        Some(sigv4::EMPTY_SHA256)
    );
    assert!(seen[0].body.is_empty());
    assert_signature_valid(&seen[0], "/bkt/a+b/c d");
}

#[tokio::test]
async fn copy_wire_shape() {
    let stub = Stub::start(vec![
        Step::Answer(copy_ok("\"c0ffee\"")),
        Step::Answer(copy_ok("\"c0ffee\"")),
    ])
    .await;
    let c = stub.client(|_| {});
    let source = "dir/a b+c é模型.bin";
    let r = c
        .copy_object(CopyRequest {
            source_key: source.into(),
            dest_key: "dest/x y".into(),
            ..CopyRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(r.etag, "\"c0ffee\"");
    let r = c
        .copy_object(CopyRequest {
            source_key: source.into(),
            dest_key: source.into(),
            metadata: Some(meta(&[("mode", "33261"), ("mtime", "1")])),
            content_type: None,
            if_match: Some("\"c0ffee\"".into()),
        })
        .await
        .unwrap();
    assert_eq!(r.etag, "\"c0ffee\"");
    let seen = stub.seen();
    let encoded = "/bkt/dir/a%20b%2Bc%20%C3%A9%E6%A8%A1%E5%9E%8B.bin";
    let plain = &seen[0];
    assert_eq!(plain.request_line(), "PUT /bkt/dest/x%20y HTTP/1.1");
    assert_eq!(plain.header("x-amz-copy-source"), Some(encoded));
    assert_eq!(plain.header("x-amz-metadata-directive"), None);
    assert_eq!(plain.header("content-type"), None);
    assert_eq!(plain.header("content-length"), Some("0"));
    assert_eq!(
        plain.header("x-amz-content-sha256"),
        Some(sigv4::EMPTY_SHA256)
    );
    assert_plain_upload(plain);
    assert_signature_valid(plain, "/bkt/dest/x y");

    let replace = &seen[1];
    assert_eq!(
        replace.request_line(),
        format!("PUT {encoded} HTTP/1.1").as_str()
    );
    assert_eq!(replace.header("x-amz-copy-source"), Some(encoded));
    assert_eq!(replace.header("x-amz-metadata-directive"), Some("REPLACE"));
    assert_eq!(
        replace.header("x-amz-copy-source-if-match"),
        Some("\"c0ffee\"")
    );
    assert_eq!(
        replace.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(replace.header("x-amz-meta-mode"), Some("33261"));
    assert_eq!(replace.header("x-amz-meta-mtime"), Some("1"));
    let auth = replace.header("authorization").unwrap();
    assert!(
        auth.contains("x-amz-copy-source;x-amz-copy-source-if-match;x-amz-date;x-amz-meta-mode;x-amz-meta-mtime;x-amz-metadata-directive"),
        "{auth}"
    );
    assert_signature_valid(replace, &format!("/bkt/{source}"));
}

#[tokio::test]
async fn copy_errors_in_200_answers() {
    let in_ok = |code: &str| {
        let body = format!("\n   \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>RID</RequestId></Error>");
        http("200 OK", &[], body.as_bytes())
    };
    let stub = Stub::start(vec![
        // InternalError in a 200: retried, then it works.
        Step::Answer(in_ok("InternalError")),
        Step::Answer(copy_ok("\"e\"")),
        // AccessDenied in a 200: final.
        Step::Answer(in_ok("AccessDenied")),
        // A real 412 for the copy-source precondition.
        Step::Answer(s3_error("412 Precondition Failed", "PreconditionFailed")),
        // Garbage and a result without ETag: invalid, not retried.
        Step::Answer(http("200 OK", &[], b"<html>hello</html>")),
        Step::Answer(http(
            "200 OK",
            &[],
            b"<CopyObjectResult><LastModified>2024-05-06T07:08:09.000Z</LastModified></CopyObjectResult>",
        )),
    ])
    .await;
    let c = stub.client(|c| c.retries = 1);
    let copy = || {
        c.copy_object(CopyRequest {
            source_key: "a".into(),
            dest_key: "b".into(),
            ..CopyRequest::default()
        })
    };
    assert_eq!(copy().await.unwrap().etag, "\"e\"");
    let e = copy().await.unwrap_err();
    assert!(
        matches!(&e, S3Error::AccessDenied(d) if d.request_id == "RID"),
        "{e:?}"
    );
    let e = copy().await.unwrap_err();
    assert!(matches!(e, S3Error::PreconditionFailed(_)), "{e:?}");
    let e = copy().await.unwrap_err();
    assert!(matches!(e, S3Error::InvalidResponse(_)), "{e:?}");
    let e = copy().await.unwrap_err();
    assert!(matches!(e, S3Error::InvalidResponse(_)), "{e:?}");
    assert_eq!(stub.seen().len(), 6);
}

#[tokio::test]
async fn a_server_that_ignores_expect_gets_the_body_after_a_second() {
    let data = pattern(100 << 10);
    let stub = Stub::start(vec![Step::AnswerIgnoringExpect(put_ok("\"late\""))]).await;
    let c = stub.client(|_| {});
    let started = Instant::now();
    let r = c
        .put_object(PutRequest {
            key: "k".into(),
            body: PutBody::Bytes(data.clone().into()),
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
    assert_eq!(r.etag, "\"late\"");
    assert!(started.elapsed() >= Duration::from_secs(1));
    let seen = stub.seen();
    assert_eq!(seen[0].header("expect"), Some("100-continue"));
    assert_eq!(seen[0].body, data);
}
