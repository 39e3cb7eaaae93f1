//! Reading answers: a whole JSON answer under its size cap, or a stream of a download's body,
//! each with the request timeout, stall detection and the check for an ArcGIS error body sent
//! with HTTP 200.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use url::Url;

use super::transport::Transport;
use super::{classify_transport, display_url, interpret_json, parse_retry_after, ByteStream, Call, Method, Wait};
use crate::auth::TokenPick;
use crate::error::{Error, Result};
use crate::limiter::Permit;
use crate::secret::Secret;

impl Transport {
    /// Reads a whole JSON answer (or error body) of at most `max_json_answer` bytes, failing
    /// when it stops flowing for `patience`. A larger answer fails as `TooLarge` as soon as its
    /// `Content-Length` or the bytes read so far show it, without reading the rest.
    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        url: &Url,
        patience: Duration,
        progress: Option<&Progress>,
    ) -> Result<Bytes> {
        let limit = self.settings.max_json_answer;
        let too_large = || Error::TooLarge { url: display_url(url), kind: "JSON", limit };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        loop {
            match tokio::time::timeout(patience, resp.chunk()).await {
                Err(_) => return Err(stalled(url, patience)),
                Ok(Err(e)) => return Err(classify_transport(e, url)),
                Ok(Ok(None)) => return Ok(buf.freeze()),
                Ok(Ok(Some(chunk))) => {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    if let Some(p) = progress {
                        p.mark();
                    }
                    buf.extend_from_slice(&chunk)
                }
            }
        }
    }

    /// Sends a JSON call once. A read waits for its answer to start, and for each of its
    /// chunks, only as long as the latency observed makes reasonable (`Pace`, longer on each
    /// repeat); a write waits `write_timeout`, a slow write being normal.
    async fn json_once(
        &self,
        call: &Call,
        token: Option<&Secret>,
        attempt: u32,
        progress: Option<&Progress>,
    ) -> Result<Value> {
        let (patience, whole) = match call.wait {
            Wait::Read => (self.pace.patience(attempt), self.settings.request_timeout),
            Wait::Write => (self.settings.write_timeout, self.settings.write_timeout),
        };
        let work = async {
            let sent = Instant::now();
            let resp = match tokio::time::timeout(patience, self.send_once(call, token)).await {
                Ok(r) => r?,
                Err(_) => return Err(no_answer(&call.url, patience)),
            };
            let status = resp.status().as_u16();
            if let Some(p) = progress {
                p.mark();
            }
            if call.wait == Wait::Read && (200..300).contains(&status) {
                self.pace.observe(sent.elapsed());
            }
            let retry_after = parse_retry_after(resp.headers());
            let chunk_patience = match call.wait {
                Wait::Read => patience,
                Wait::Write => self.pace.answer_patience(attempt),
            };
            let body = self.read_body(resp, &call.url, chunk_patience, progress).await?;
            interpret_json(status, retry_after, &body, &call.url)
        };
        match tokio::time::timeout(whole, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                url: display_url(&call.url),
                what: format!("no complete answer within {} s", whole.as_secs()),
            }),
        }
    }

    /// Sends with retries and returns the decoded JSON (checked for an ArcGIS error body).
    /// `token` is picked after the slot wait, once per attempt (see [`TokenPick`]).
    pub async fn json(&self, call: &Call, token: Option<&TokenPick<'_>>) -> Result<Value> {
        self.with_retries(call, &self.limiter, |c, permit, attempt| async move {
            let token = match token {
                Some(pick) => Some(pick.pick(self).await?),
                None => None,
            };
            let answer = self.json_hedged(c, token.as_ref(), attempt).await;
            drop(permit);
            answer
        })
        .await
    }

    /// Sends a JSON call once, and for an idempotent read a second copy when the first has made
    /// no progress (no headers, no chunk) for the hedge delay (`Pace::hedge_delay`, budgeted): a
    /// large answer still arriving is never sent twice, a stalled or unanswered one is. The first
    /// success wins and the other copy is dropped (its connection closed). A failure of one copy
    /// waits for the other; only when both fail does the attempt fail (with the first copy's
    /// error). The copy rides on the first's request slot: hedges are bounded by their budget
    /// (one read in ten), not by the limiter.
    async fn json_hedged(&self, call: &Call, token: Option<&Secret>, attempt: u32) -> Result<Value> {
        let hedgeable = call.wait == Wait::Read && call.idempotent && call.method == Method::Get && !call.sign_in;
        if !hedgeable {
            return self.json_once(call, token, attempt, None).await;
        }
        self.pace.earn_hedge();
        let Some(delay) = self.pace.hedge_delay() else { return self.json_once(call, token, attempt, None).await };
        let progress = Progress::new();
        let first = self.json_once(call, token, attempt, Some(&progress));
        tokio::pin!(first);
        // Wait until the first copy has been silent for the whole delay.
        loop {
            let quiet_until = progress.last() + delay;
            tokio::select! {
                answer = &mut first => return answer,
                _ = tokio::time::sleep_until(quiet_until.into()) => {}
            }
            if progress.last() + delay <= Instant::now() {
                break;
            }
        }
        if !self.pace.take_hedge() {
            return first.await;
        }
        self.hedges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(url = %display_url(&call.url), delay_ms = delay.as_millis() as u64, "no progress; hedging the read");
        let second = self.json_once(call, token, attempt, None);
        tokio::pin!(second);
        tokio::select! {
            answer = &mut first => match answer {
                Ok(v) => Ok(v),
                Err(e) => second.await.map_err(|_| e),
            },
            answer = &mut second => match answer {
                Ok(v) => Ok(v),
                Err(_) => first.await,
            },
        }
    }

    /// As [`Transport::json`] for a call that carries no token: sign-in calls, whose sending
    /// must not depend on a token (a renewal sends one while calls wait for its token).
    pub async fn json_without_token(&self, call: &Call) -> Result<Value> {
        self.with_retries(call, &self.limiter, |c, permit, attempt| async move {
            let answer = self.json_once(c, None, attempt, None).await;
            drop(permit);
            answer
        })
        .await
    }

    /// `permit` (the download slot) travels with the body and is returned when it ends.
    async fn stream_once(
        &self,
        call: &Call,
        token: Option<&Secret>,
        permit: Option<Permit>,
        attempt: u32,
    ) -> Result<ByteStream> {
        // A download's body may pause between chunks, but a stall must not hold its slot for
        // the whole stall limit (`Pace::download_patience`: a floor, doubled per repeat).
        let stall = self.pace.download_patience(attempt);
        let resp = match tokio::time::timeout(self.settings.request_timeout, self.send_once(call, token)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    url: display_url(&call.url),
                    what: format!("no answer within {} s", self.settings.request_timeout.as_secs()),
                })
            }
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        if !(200..300).contains(&status) {
            // An error page larger than a JSON answer is not read: its status says enough.
            let body = match self.read_body(resp, &call.url, stall, None).await {
                Err(Error::TooLarge { .. }) => Bytes::new(),
                other => other?,
            };
            interpret_json(status, retry_after, &body, &call.url)?;
            return Err(Error::Http { status, url: display_url(&call.url) });
        }
        let mut resp = resp;
        // A small file (a thumbnail, metadata.xml, most item files) announced by its length
        // comes in a chunk or two right behind its headers: it is paced like a JSON answer, so a
        // stalled one is asked again after about a second, not after the download floor.
        let stall = if resp.content_length().is_some_and(|n| n <= SMALL_DOWNLOAD) {
            self.pace.patience(attempt).min(stall)
        } else {
            stall
        };
        // An ArcGIS error arrives as HTTP 200 with a small JSON body; look at the start of the
        // body before handing it out as data.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < PEEK_LIMIT {
            match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => return Err(stalled(&call.url, stall)),
                Ok(Err(e)) => return Err(classify_transport(e, &call.url)),
                Ok(Ok(None)) => {
                    ended = true;
                    break;
                }
                Ok(Ok(Some(chunk))) => {
                    head.extend_from_slice(&chunk);
                    if !looks_like_error_body(&head) {
                        break;
                    }
                }
            }
        }
        if looks_like_error_body(&head) {
            if let Ok(v) = serde_json::from_slice::<Value>(&head) {
                if let Some(err) = v.get("error").filter(|e| e.is_object()) {
                    return Err(Error::from_error_body(err));
                }
            }
        }
        let url = call.url.clone();
        let first = if head.is_empty() { None } else { Some(head.freeze()) };
        // The permit lives in the stream's state: dropped with the stream, whether it ran to its
        // end, failed or was abandoned.
        let state = (Some(resp), first, ended, url, permit);
        let stream = futures::stream::unfold(state, move |(resp, first, ended, url, permit)| async move {
            if let Some(chunk) = first {
                return Some((Ok(chunk), (resp, None, ended, url, permit)));
            }
            if ended {
                return None;
            }
            let mut resp = resp?;
            match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => Some((Err(stalled(&url, stall)), (None, None, true, url, None))),
                Ok(Err(e)) => {
                    let err = classify_transport(e, &url);
                    Some((Err(err), (None, None, true, url, None)))
                }
                Ok(Ok(None)) => None,
                Ok(Ok(Some(chunk))) => Some((Ok(chunk), (Some(resp), None, false, url, permit))),
            }
        });
        Ok(Box::pin(stream))
    }

    /// Sends with retries and returns the body as a stream once the answer has started.
    pub async fn stream(&self, call: &Call, token: Option<&TokenPick<'_>>) -> Result<ByteStream> {
        self.with_retries(call, self.download_limiter(), |c, permit, attempt| async move {
            let token = match token {
                Some(pick) => Some(pick.pick(self).await?),
                None => None,
            };
            self.stream_once(c, token.as_ref(), permit, attempt).await
        })
        .await
    }
}

/// When a request last made progress (sent, headers, a chunk), for the hedge of a read.
struct Progress {
    start: Instant,
    since_start_us: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Progress { start: Instant::now(), since_start_us: std::sync::atomic::AtomicU64::new(0) }
    }
    fn mark(&self) {
        let us = self.start.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.since_start_us.fetch_max(us, std::sync::atomic::Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.start + Duration::from_micros(self.since_start_us.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The largest download (by its `Content-Length`) paced like a JSON answer.
const SMALL_DOWNLOAD: u64 = 1024 * 1024;

/// The most of a body's start that is buffered to look for an error body.
const PEEK_LIMIT: usize = 64 * 1024;

pub(super) fn looks_like_error_body(head: &[u8]) -> bool {
    let trimmed: Vec<u8> = head.iter().copied().filter(|b| !b.is_ascii_whitespace()).take(9).collect();
    let probe = b"{\"error\"";
    let n = trimmed.len().min(probe.len());
    n > 0 && trimmed[..n] == probe[..n]
}

fn no_answer(url: &Url, after: Duration) -> Error {
    Error::Timeout { url: display_url(url), what: format!("no answer began within {} s", after.as_secs_f32()) }
}

fn stalled(url: &Url, after: Duration) -> Error {
    Error::Timeout { url: display_url(url), what: format!("the answer stopped arriving for {} s", after.as_secs_f32()) }
}
