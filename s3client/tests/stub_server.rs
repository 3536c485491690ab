//! `S3Client` against a scripted HTTP server on 127.0.0.1: what real servers rarely do on
//! demand (short bodies, stalls, 5xx then success, garbage XML, ignored ranges) and the exact
//! requests on the wire. Always runs: needs no external server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use s3client::{
    Addressing, ByteRange, Credentials, Endpoint, GetRequest, ListRequest, ListVersion,
    ObjectClient, S3Client, S3Config, S3Error,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

enum Reply {
    /// Send these bytes, then close.
    Send(Vec<u8>),
    /// Send these bytes, then keep the connection open and silent for a while.
    SendThenStall(Vec<u8>, Duration),
}

struct Stub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    /// Serve `replies` in order, one per connection; after the script, 500s.
    async fn start(replies: Vec<Reply>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let reply = replies.next().unwrap_or_else(|| {
                    Reply::Send(http("500 Internal Server Error", &[], b"script ended"))
                });
                tokio::spawn(async move {
                    match reply {
                        Reply::Send(bytes) => {
                            let _ = sock.write_all(&bytes).await;
                        }
                        Reply::SendThenStall(bytes, pause) => {
                            let _ = sock.write_all(&bytes).await;
                            tokio::time::sleep(pause).await;
                        }
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        Stub { addr, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn config(&self) -> S3Config {
        let mut c = S3Config::new(
            Endpoint::parse(&format!("http://{}", self.addr)).unwrap(),
            "bkt",
        );
        c.addressing = Addressing::Path;
        c.region = "us-ashburn-1".into();
        c.credentials = Some(Credentials {
            access_key_id: "AKIDSTUB".into(),
            secret_access_key: "stub-secret".into(),
            session_token: None,
        });
        c.connect_timeout = Duration::from_secs(2);
        c.read_timeout = Duration::from_secs(5);
        c.retries = 0;
        c.user_agent = "mountd-test/1".into();
        c
    }

    fn client(&self, edit: impl FnOnce(&mut S3Config)) -> S3Client {
        let mut c = self.config();
        edit(&mut c);
        S3Client::new(c).unwrap()
    }
}

/// A whole HTTP/1.1 answer with `Connection: close` and, unless given, `Content-Length`.
fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn s3_error(status: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>REQ123</RequestId></Error>"
    );
    http(
        status,
        &[("Content-Type", "application/xml")],
        body.as_bytes(),
    )
}

fn list_xml(keys: &[&str], truncated: bool, extra: &str) -> Vec<u8> {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name>",
    );
    body.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>{extra}"));
    for k in keys {
        body.push_str(&format!(
            "<Contents><Key>{k}</Key><LastModified>2024-05-06T07:08:09.000Z</LastModified><ETag>\"e\"</ETag><Size>1</Size></Contents>"
        ));
    }
    body.push_str("</ListBucketResult>");
    http(
        "200 OK",
        &[("Content-Type", "application/xml")],
        body.as_bytes(),
    )
}

/// Every chunk of a body until the end or the first error.
async fn drain(resp: s3client::GetResponse) -> (Vec<u8>, Option<S3Error>) {
    let mut body = resp.body;
    let mut data = Vec::new();
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(e) => {
                assert!(
                    body.next().await.is_none(),
                    "the stream ends after an error"
                );
                return (data, Some(e));
            }
        }
    }
    (data, None)
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn listing_request_is_s3fs_shaped_and_signed() {
    let stub = Stub::start(vec![Reply::Send(list_xml(&["dir/a"], false, ""))]).await;
    let c = stub.client(|_| {});
    let page = c
        .list_objects(ListRequest {
            prefix: "dir/".into(),
            delimiter: Some("/".into()),
            continuation: None,
            max_keys: Some(1000),
        })
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    // ListObjects V1 exactly as s3fs sends it; no encoding-type.
    assert!(
        r.starts_with("GET /bkt/?delimiter=%2F&max-keys=1000&prefix=dir%2F HTTP/1.1\r\n"),
        "{r}"
    );
    assert_eq!(header(r, "host"), Some(stub.addr.to_string().as_str()));
    assert_eq!(header(r, "user-agent"), Some("mountd-test/1"));
    assert_eq!(
        header(r, "x-amz-content-sha256"),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert!(header(r, "x-amz-date").is_some_and(|d| d.len() == 16 && d.ends_with('Z')));
    let auth = header(r, "authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDSTUB/"),
        "{auth}"
    );
    assert!(auth.contains("/us-ashburn-1/s3/aws4_request"), "{auth}");
    assert!(!r.contains("stub-secret"));
}

#[tokio::test]
async fn v1_marker_v2_token_and_check_bucket_queries() {
    let stub = Stub::start(vec![
        Reply::Send(list_xml(&["a b"], true, "")),
        Reply::Send(list_xml(&["c"], false, "")),
        Reply::Send(list_xml(
            &["x"],
            true,
            "<NextContinuationToken>tok/+=</NextContinuationToken>",
        )),
        Reply::Send(list_xml(&["y"], false, "")),
        Reply::Send(list_xml(&[], false, "")),
    ])
    .await;
    let v1 = stub.client(|_| {});
    let p1 = v1.list_objects(ListRequest::default()).await.unwrap();
    // No NextMarker and no delimiter: the last key is the marker.
    assert_eq!(p1.next.as_deref(), Some("a b"));
    let p2 = v1
        .list_objects(ListRequest {
            continuation: p1.next,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p2.next, None);

    let v2 = stub.client(|c| c.list_version = ListVersion::V2);
    let p3 = v2
        .list_objects(ListRequest {
            prefix: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p3.next.as_deref(), Some("tok/+="));
    v2.list_objects(ListRequest {
        prefix: "p".into(),
        continuation: p3.next,
        ..Default::default()
    })
    .await
    .unwrap();
    v1.check_bucket().await.unwrap();

    let lines: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| r.lines().next().unwrap().to_string())
        .collect();
    assert_eq!(
        lines,
        vec![
            "GET /bkt/ HTTP/1.1",
            "GET /bkt/?marker=a%20b HTTP/1.1",
            "GET /bkt/?list-type=2&prefix=p HTTP/1.1",
            "GET /bkt/?continuation-token=tok%2F%2B%3D&list-type=2&prefix=p HTTP/1.1",
            "GET /bkt/?max-keys=1 HTTP/1.1",
        ]
    );
}

#[tokio::test]
async fn get_sends_range_and_if_match_and_reads_total_size() {
    let stub = Stub::start(vec![Reply::Send(http(
        "206 Partial Content",
        &[
            ("Content-Range", "bytes 5-9/1000"),
            ("ETag", "\"etag1\""),
            ("Last-Modified", "Wed, 12 Oct 2009 17:50:00 GMT"),
            ("x-amz-meta-mode", "33188"),
        ],
        b"56789",
    ))])
    .await;
    let c = stub.client(|_| {});
    let resp = c
        .get_object(GetRequest {
            key: "dir/a b+c%.bin".into(),
            range: Some(ByteRange::new(5, 10)),
            if_match: Some("\"etag1\"".into()),
        })
        .await
        .unwrap();
    assert_eq!(resp.info.size, 1000);
    assert_eq!(resp.info.etag, "\"etag1\"");
    assert_eq!(resp.info.metadata["mode"], "33188");
    let (data, err) = drain(resp).await;
    assert_eq!((data.as_slice(), err.is_none()), (&b"56789"[..], true));
    let r = &stub.requests()[0];
    assert!(
        r.starts_with("GET /bkt/dir/a%20b%2Bc%25.bin HTTP/1.1\r\n"),
        "{r}"
    );
    assert_eq!(header(r, "range"), Some("bytes=5-9"));
    assert_eq!(header(r, "if-match"), Some("\"etag1\""));
    assert!(header(r, "authorization")
        .unwrap()
        .contains("SignedHeaders=host;if-match;range;x-amz-content-sha256;x-amz-date,"));
}

#[tokio::test]
async fn a_short_body_is_an_error_not_a_truncation() {
    let mut answer = http(
        "200 OK",
        &[("Content-Length", "100"), ("ETag", "\"e\"")],
        &[],
    );
    answer.extend_from_slice(&[7u8; 50]);
    let stub = Stub::start(vec![Reply::Send(answer)]).await;
    let c = stub.client(|c| c.retries = 3);
    let resp = c
        .get_object(GetRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.info.size, 100);
    let (data, err) = drain(resp).await;
    assert!(data.len() <= 50);
    assert!(matches!(err, Some(S3Error::Transport(_))), "{err:?}");
    // The body had started: no retry.
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let mut answer = http("200 OK", &[("Content-Length", "100")], &[]);
    answer.extend_from_slice(&[1u8; 10]);
    let stub = Stub::start(vec![Reply::SendThenStall(answer, Duration::from_secs(10))]).await;
    let c = stub.client(|c| c.read_timeout = Duration::from_millis(300));
    let resp = c
        .get_object(GetRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let start = Instant::now();
    let (data, err) = drain(resp).await;
    assert_eq!(data, vec![1u8; 10]);
    assert!(matches!(err, Some(S3Error::Timeout(_))), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn no_response_headers_times_out() {
    let stub = Stub::start(vec![Reply::SendThenStall(
        Vec::new(),
        Duration::from_secs(10),
    )])
    .await;
    let c = stub.client(|c| {
        c.connect_timeout = Duration::from_millis(200);
        c.read_timeout = Duration::from_millis(300);
    });
    let start = Instant::now();
    let err = c.head_object("k").await.unwrap_err();
    assert!(matches!(err, S3Error::Timeout(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let stub = Stub::start(vec![
        Reply::Send(s3_error(
            "503 Slow Down",
            "SlowDown",
            "Please reduce your request rate.",
        )),
        Reply::Send(s3_error(
            "500 Internal Server Error",
            "InternalError",
            "oops",
        )),
        Reply::Send(http(
            "206 Partial Content",
            &[("Content-Range", "bytes 0-1/2")],
            b"ok",
        )),
    ])
    .await;
    let c = stub.client(|c| c.retries = 3);
    let resp = c
        .get_object(GetRequest {
            key: "k".into(),
            range: Some(ByteRange::new(0, 2)),
            if_match: None,
        })
        .await
        .unwrap();
    assert_eq!(drain(resp).await.0, b"ok");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 3);
    // Each attempt is signed anew, and asks for the same thing.
    for r in &reqs {
        assert!(r.starts_with("GET /bkt/k HTTP/1.1\r\n"));
        assert!(header(r, "authorization").is_some() && header(r, "x-amz-date").is_some());
        assert_eq!(header(r, "range"), Some("bytes=0-1"));
    }
}

#[tokio::test]
async fn retries_run_out() {
    let stub = Stub::start(
        (0..5)
            .map(|_| Reply::Send(s3_error("503 Slow Down", "SlowDown", "slow")))
            .collect(),
    )
    .await;
    let c = stub.client(|c| c.retries = 2);
    let err = c.head_object("k").await.unwrap_err();
    // HEAD answers carry no body to name the code; 503 alone is a server error.
    assert!(
        matches!(err, S3Error::Server(ref d) if d.status == 503),
        "{err:?}"
    );
    assert_eq!(stub.requests().len(), 3);

    let stub = Stub::start(
        (0..5)
            .map(|_| Reply::Send(s3_error("503 Slow Down", "SlowDown", "slow")))
            .collect(),
    )
    .await;
    let c = stub.client(|c| c.retries = 1);
    let err = c.list_objects(ListRequest::default()).await.unwrap_err();
    match err {
        S3Error::Throttled(d) => {
            assert_eq!(
                (d.status, d.code.as_str(), d.request_id.as_str()),
                (503, "SlowDown", "REQ123")
            )
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let stub = Stub::start(vec![Reply::Send(s3_error(
        "403 Forbidden",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    ))])
    .await;
    let c = stub.client(|c| c.retries = 5);
    let err = c.check_bucket().await.unwrap_err();
    match err {
        S3Error::SignatureMismatch(d) => {
            assert_eq!((d.status, d.request_id.as_str()), (403, "REQ123"));
            assert!(d.message.starts_with("The request signature"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_proxy_html_page_is_a_server_error() {
    let page = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    let stub = Stub::start(vec![
        Reply::Send(http(
            "502 Bad Gateway",
            &[("Content-Type", "text/html")],
            page,
        )),
        Reply::Send(http(
            "502 Bad Gateway",
            &[("Content-Type", "text/html")],
            page,
        )),
    ])
    .await;
    let c = stub.client(|c| c.retries = 1);
    let err = c.list_objects(ListRequest::default()).await.unwrap_err();
    assert!(
        matches!(err, S3Error::Server(ref d) if d.status == 502 && d.code.is_empty()),
        "{err:?}"
    );
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn garbage_listings_are_invalid_and_not_retried() {
    let stub = Stub::start(vec![
        Reply::Send(http("200 OK", &[], b"<ListBucketResult><Contents><Key>a")),
        Reply::Send(http("200 OK", &[], b"{\"json\": true}")),
        // Truncated V2 page without a token: no way on.
        Reply::Send(list_xml(&["a"], true, "")),
        // Truncated V1 page with nothing in it.
        Reply::Send(list_xml(&[], true, "")),
    ])
    .await;
    let v1 = stub.client(|c| c.retries = 3);
    let v2 = stub.client(|c| {
        c.retries = 3;
        c.list_version = ListVersion::V2;
    });
    for c in [&v1, &v1, &v2, &v1] {
        let err = c.list_objects(ListRequest::default()).await.unwrap_err();
        assert!(matches!(err, S3Error::InvalidResponse(_)), "{err:?}");
    }
    assert_eq!(stub.requests().len(), 4);
}

#[tokio::test]
async fn an_ignored_range_is_cut_out_of_the_whole_body() {
    let whole: Vec<u8> = (0..100u8).collect();
    let stub = Stub::start(vec![Reply::Send(http(
        "200 OK",
        &[("ETag", "\"e\"")],
        &whole,
    ))])
    .await;
    let c = stub.client(|_| {});
    let resp = c
        .get_object(GetRequest {
            key: "k".into(),
            range: Some(ByteRange::new(10, 20)),
            if_match: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.info.size, 100);
    let (data, err) = drain(resp).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data, whole[10..20]);
}

#[tokio::test]
async fn a_wrong_content_range_is_refused() {
    let stub = Stub::start(vec![
        Reply::Send(http(
            "206 Partial Content",
            &[("Content-Range", "bytes 0-4/100")],
            b"01234",
        )),
        Reply::Send(http("206 Partial Content", &[], b"01234")),
        Reply::Send(http(
            "206 Partial Content",
            &[("Content-Range", "bytes 5-9/*")],
            b"56789",
        )),
    ])
    .await;
    let c = stub.client(|_| {});
    for _ in 0..3 {
        let err = c
            .get_object(GetRequest {
                key: "k".into(),
                range: Some(ByteRange::new(5, 10)),
                if_match: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, S3Error::InvalidResponse(_)), "{err:?}");
    }
}

#[tokio::test]
async fn head_needs_a_content_length_and_tolerates_odd_headers() {
    let stub = Stub::start(vec![
        Reply::Send(http(
            "200 OK",
            &[
                ("Content-Length", "12"),
                ("Last-Modified", "not a date"),
                ("X-Amz-Meta-Odd-Name", "v\u{e9}"),
            ],
            b"",
        )),
        Reply::Send(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ])
    .await;
    let c = stub.client(|_| {});
    let info = c.head_object("k").await.unwrap();
    assert_eq!(info.size, 12);
    assert_eq!(info.last_modified, time::OffsetDateTime::UNIX_EPOCH);
    assert_eq!(info.metadata["odd-name"], "v\u{e9}");
    let err = c.head_object("k").await.unwrap_err();
    assert!(matches!(err, S3Error::InvalidResponse(_)), "{err:?}");
}

async fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[tokio::test]
async fn connection_refused_is_transport() {
    let port = refused_port().await;
    let mut cfg = S3Config::new(
        Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        "bkt",
    );
    cfg.addressing = Addressing::Path;
    cfg.retries = 0;
    let c = S3Client::new(cfg.clone()).unwrap();
    let start = Instant::now();
    let err = c.check_bucket().await.unwrap_err();
    assert!(matches!(err, S3Error::Transport(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // With retries: the same error, after the backoff (at least 50 + 100 ms).
    cfg.retries = 2;
    let c = S3Client::new(cfg).unwrap();
    let start = Instant::now();
    let err = c.head_object("k").await.unwrap_err();
    assert!(matches!(err, S3Error::Transport(_)), "{err:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn https_to_a_plain_http_server_fails_cleanly() {
    // A plain-HTTP server that answers at once, whatever it is sent (a TLS ClientHello here).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock
                .write_all(&http("400 Bad Request", &[], b"plain http"))
                .await;
            let _ = sock.shutdown().await;
        }
    });
    let mut cfg = S3Config::new(Endpoint::parse(&format!("https://{addr}")).unwrap(), "bkt");
    cfg.addressing = Addressing::Path;
    cfg.retries = 0;
    cfg.read_timeout = Duration::from_secs(5);
    let c = S3Client::new(cfg).unwrap();
    let start = Instant::now();
    let err = c.check_bucket().await.unwrap_err();
    assert!(matches!(err, S3Error::Transport(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
