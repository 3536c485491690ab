//! One retry policy for every request.
//!
//! What is retried is decided by [`S3Error::is_retryable`] alone: throttling, 5xx, transport
//! failures and timeouts; never a 4xx. A GET is retried only until its body starts streaming
//! (the caller's attempt ends when the response headers are in). Each attempt builds and signs
//! its request anew, so a retry carries a fresh `x-amz-date`.
//!
//! The pause before retry `n` (1-based) is `min(cap, base * 2^(n-1))`, half of it fixed and
//! half scaled by a jitter in `[0, 1)` ("equal jitter"): retries of many clients spread out,
//! and a pause never collapses to zero. With the defaults, 100 ms, 200 ms, 400 ms, ... up to
//! 5 s: s3fs's default of 5 retries then waits at most about 3.1 s in total.
//! Time and randomness come in as parameters ([`run`]'s `sleep`, [`Jitter`]), so tests are
//! deterministic.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::S3Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// The pause before the first retry (before jitter).
    pub base: Duration,
    /// The longest pause.
    pub cap: Duration,
}

impl RetryPolicy {
    pub fn new(retries: u32) -> Self {
        RetryPolicy {
            retries,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }

    /// Whether to try again after attempt number `attempt` (1-based) failed with `err`.
    pub fn should_retry(&self, err: &S3Error, attempt: u32) -> bool {
        attempt <= self.retries && err.is_retryable()
    }

    /// The pause before retry number `retry` (1 = the first retry); `jitter` in `[0, 1)`.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = retry.saturating_sub(1).min(32);
        let full = self
            .base
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.cap)
            .min(self.cap);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        full / 2 + full.mul_f64(jitter) / 2
    }
}

/// A source of jitter in `[0, 1)`.
pub(crate) trait Jitter: Send + Sync {
    fn next(&self) -> f64;
}

/// xorshift64*: plenty for spreading retries, no dependency.
#[derive(Debug)]
pub(crate) struct XorShiftJitter(AtomicU64);

impl XorShiftJitter {
    pub fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self::with_seed(nanos)
    }

    pub fn with_seed(seed: u64) -> Self {
        XorShiftJitter(AtomicU64::new(seed | 1))
    }
}

impl Jitter for XorShiftJitter {
    fn next(&self) -> f64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        // fetch_update never fails with a closure that always returns Some.
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or(1);
        let x = step(prev).wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Run `attempt(n)` for n = 1, 2, ... until it succeeds, fails for good, or the retries are
/// used up; `sleep` pauses between attempts.
pub(crate) async fn run<T, A, AF, S, SF>(
    policy: &RetryPolicy,
    jitter: &dyn Jitter,
    sleep: S,
    mut attempt: A,
) -> Result<T, S3Error>
where
    A: FnMut(u32) -> AF,
    AF: Future<Output = Result<T, S3Error>>,
    S: Fn(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut n = 1;
    loop {
        match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(e) if policy.should_retry(&e, n) => {
                let pause = policy.backoff(n, jitter.next());
                tracing::debug!(
                    target: "s3client::retry",
                    attempt = n,
                    pause_ms = pause.as_millis() as u64,
                    error = %e,
                    "retrying"
                );
                sleep(pause).await;
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorDetails;
    use std::sync::Mutex;

    struct Fixed(f64);
    impl Jitter for Fixed {
        fn next(&self) -> f64 {
            self.0
        }
    }

    fn details(status: u16, code: &str) -> ErrorDetails {
        ErrorDetails {
            status,
            code: code.into(),
            ..ErrorDetails::default()
        }
    }

    #[test]
    fn classification() {
        let p = RetryPolicy::new(3);
        let retryable = [
            S3Error::from_status(details(500, "InternalError")),
            S3Error::from_status(details(503, "SlowDown")),
            S3Error::from_status(details(429, "")),
            S3Error::from_status(details(400, "Throttling")),
            S3Error::Transport("connection reset".into()),
            S3Error::Timeout("no headers".into()),
        ];
        for e in &retryable {
            assert!(p.should_retry(e, 1), "{e}");
            assert!(p.should_retry(e, 3), "{e}");
            assert!(!p.should_retry(e, 4), "attempt 4 of 1+3: {e}");
        }
        let final_ = [
            S3Error::from_status(details(404, "NoSuchKey")),
            S3Error::from_status(details(404, "NoSuchBucket")),
            S3Error::from_status(details(403, "SignatureDoesNotMatch")),
            S3Error::from_status(details(403, "AccessDenied")),
            S3Error::from_status(details(400, "AuthorizationHeaderMalformed")),
            S3Error::from_status(details(412, "PreconditionFailed")),
            S3Error::from_status(details(416, "InvalidRange")),
            S3Error::InvalidResponse("bad xml".into()),
        ];
        for e in &final_ {
            assert!(!p.should_retry(e, 1), "{e}");
        }
        assert!(!RetryPolicy::new(0).should_retry(&S3Error::Transport("x".into()), 1));
    }

    #[test]
    fn backoff_sequence() {
        let p = RetryPolicy::new(10);
        let ms = |j: f64| -> Vec<u128> { (1..=8).map(|n| p.backoff(n, j).as_millis()).collect() };
        // No jitter: half of 100, 200, 400, ... capped at 5 s.
        assert_eq!(ms(0.0), vec![50, 100, 200, 400, 800, 1600, 2500, 2500]);
        assert_eq!(ms(0.5), vec![75, 150, 300, 600, 1200, 2400, 3750, 3750]);
        assert_eq!(
            ms(0.999_999),
            vec![99, 199, 399, 799, 1599, 3199, 4999, 4999]
        );
        // Out-of-range jitter is clamped; huge retry numbers do not overflow.
        assert_eq!(p.backoff(1, 7.0), Duration::from_millis(100));
        assert_eq!(p.backoff(1, f64::NAN), Duration::from_millis(50));
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_millis(2500));
    }

    #[test]
    fn xorshift_is_in_range_and_varies() {
        let j = XorShiftJitter::with_seed(42);
        let v: Vec<f64> = (0..1000).map(|_| j.next()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
        assert!(v.windows(2).all(|w| w[0] != w[1]));
    }

    /// Drive `run` with a fake clock: the attempts and pauses must be exactly the policy's.
    fn drive(
        retries: u32,
        outcomes: Vec<Result<u32, S3Error>>,
    ) -> (Result<u32, S3Error>, Vec<u32>, Vec<Duration>) {
        let p = RetryPolicy::new(retries);
        let attempts = Mutex::new(Vec::new());
        let sleeps = Mutex::new(Vec::new());
        let outcomes = Mutex::new(outcomes.into_iter());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = rt.block_on(run(
            &p,
            &Fixed(0.5),
            |d| {
                sleeps.lock().unwrap().push(d);
                std::future::ready(())
            },
            |n| {
                attempts.lock().unwrap().push(n);
                let next = outcomes.lock().unwrap().next();
                std::future::ready(next.unwrap_or(Err(S3Error::InvalidResponse("ran out".into()))))
            },
        ));
        (
            result,
            attempts.into_inner().unwrap(),
            sleeps.into_inner().unwrap(),
        )
    }

    #[test]
    fn run_retries_retryable_errors_then_succeeds() {
        let (r, attempts, sleeps) = drive(
            5,
            vec![
                Err(S3Error::Transport("refused".into())),
                Err(S3Error::from_status(details(503, "SlowDown"))),
                Ok(7),
            ],
        );
        assert_eq!(r.unwrap(), 7);
        assert_eq!(attempts, vec![1, 2, 3]);
        assert_eq!(
            sleeps,
            vec![Duration::from_millis(75), Duration::from_millis(150)]
        );
    }

    #[test]
    fn run_gives_up_after_the_retries() {
        let errs = (0..10)
            .map(|_| Err(S3Error::Timeout("slow".into())))
            .collect();
        let (r, attempts, sleeps) = drive(2, errs);
        assert!(matches!(r, Err(S3Error::Timeout(_))));
        assert_eq!(attempts, vec![1, 2, 3]);
        assert_eq!(sleeps.len(), 2);
    }

    #[test]
    fn run_never_retries_a_4xx() {
        let (r, attempts, sleeps) = drive(
            5,
            vec![Err(S3Error::from_status(details(403, "AccessDenied")))],
        );
        assert!(matches!(r, Err(S3Error::AccessDenied(_))));
        assert_eq!(attempts, vec![1]);
        assert!(sleeps.is_empty());
    }
}
