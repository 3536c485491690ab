//! The streamed body of a GET.
//!
//! - Each chunk is waited for at most `read_timeout`.
//! - The bytes received are counted against `Content-Length`: a body that ends early is an
//!   error at the end of the stream, never a silent truncation.
//! - When a server ignores `Range` and answers 200 with the whole object, the asked range is
//!   cut out of it (`skip`, `take`), so the caller always gets exactly its range.
//! - After an error the stream ends.

use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;

use crate::log::RequestLog;
use crate::transport::next_chunk;
use crate::{ByteStream, S3Error};

pub(crate) struct BodyReader {
    pub body: Incoming,
    pub read_timeout: Duration,
    /// `Content-Length` of the answer, when sent.
    pub expected: Option<u64>,
    /// Bytes to drop at the start (a 200 answer to a ranged GET).
    pub skip: u64,
    /// Bytes to deliver at most (a 200 answer to a ranged GET); `None`: all.
    pub take: Option<u64>,
    pub log: RequestLog,
}

struct State {
    reader: BodyReader,
    received: u64,
    done: bool,
}

impl BodyReader {
    pub fn into_stream(self) -> ByteStream {
        let state = State {
            reader: self,
            received: 0,
            done: false,
        };
        Box::pin(futures_util::stream::unfold(state, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        }))
    }
}

impl State {
    async fn next(&mut self) -> Option<Result<Bytes, S3Error>> {
        loop {
            if self.done {
                return None;
            }
            if self.reader.take == Some(0) {
                // The asked range is complete; the rest of a 200 body is not wanted.
                self.done = true;
                return None;
            }
            let chunk = match next_chunk(&mut self.reader.body, self.reader.read_timeout).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    self.done = true;
                    return match self.reader.expected {
                        Some(expected) if self.received != expected => {
                            Some(Err(self.fail(S3Error::Transport(format!(
                                "body ended after {} of {expected} bytes",
                                self.received
                            )))))
                        }
                        _ => None,
                    };
                }
                Err(e) => {
                    self.done = true;
                    let e = match e {
                        // hyper's own "incomplete body" error: say how far it got.
                        S3Error::Transport(m) => S3Error::Transport(match self.reader.expected {
                            Some(expected) => {
                                format!("{m} (after {} of {expected} bytes)", self.received)
                            }
                            None => format!("{m} (after {} bytes)", self.received),
                        }),
                        other => other,
                    };
                    return Some(Err(self.fail(e)));
                }
            };
            self.received += chunk.len() as u64;
            self.reader.log.bytes = self.received;
            if let Some(expected) = self.reader.expected {
                if self.received > expected {
                    self.done = true;
                    return Some(Err(self.fail(S3Error::InvalidResponse(format!(
                        "body longer than its Content-Length {expected}"
                    )))));
                }
            }
            let mut chunk = chunk;
            if self.reader.skip > 0 {
                let n = self.reader.skip.min(chunk.len() as u64);
                self.reader.skip -= n;
                chunk = chunk.slice(n as usize..);
            }
            if let Some(take) = self.reader.take.as_mut() {
                let n = (*take).min(chunk.len() as u64);
                *take -= n;
                chunk.truncate(n as usize);
            }
            if !chunk.is_empty() {
                return Some(Ok(chunk));
            }
        }
    }

    fn fail(&mut self, e: S3Error) -> S3Error {
        self.reader.log.fail(&e);
        e
    }
}
