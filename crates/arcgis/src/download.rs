//! Download concurrency apart from API calls.
//!
//! By default every request to the org, JSON call or download, shares one AIMD limiter. A bulk
//! copy (the backup) may let downloads run at a larger limit of their own: they are plain GETs
//! of stored bytes, the cheapest thing a portal serves, while the API calls beside them keep
//! their limit. A download then holds its slot until its body has ended, so the limit counts
//! transfers in progress, as `curl --parallel-max` does. A 429 halves both limits.
//!
//! A download's size is capped by its reader ([`capped`]): the client streams bodies and does
//! not know what a body is for, the caller does (an item file, an export), so the caller says
//! how much of it is too much.

use futures::StreamExt;

use crate::error::Error;
use crate::http::ByteStream;
use crate::portal::Portal;

/// `stream`, ended by [`Error::TooLarge`] (naming `source`, `kind` and `limit`) as soon as more
/// than `limit` bytes have come; nothing past the limit is handed on. The error is permanent:
/// the same download would be as large again.
pub fn capped(stream: ByteStream, limit: u64, kind: &'static str, source: impl Into<String>) -> ByteStream {
    let source = source.into();
    let mut seen: u64 = 0;
    let mut over = false;
    Box::pin(stream.scan((), move |_, chunk| {
        let next = if over {
            None
        } else {
            Some(chunk.and_then(|bytes| {
                seen = seen.saturating_add(bytes.len() as u64);
                if seen > limit {
                    over = true;
                    Err(Error::TooLarge { url: source.clone(), kind, limit })
                } else {
                    Ok(bytes)
                }
            }))
        };
        futures::future::ready(next)
    }))
}

impl Portal {
    /// Lets streamed downloads (`item_data_stream`, `item_resource_stream`, `get_stream`) run up
    /// to `max` at once, apart from the API calls' limit. Takes effect once per connection (and
    /// its clones); returns whether this call set it.
    pub fn set_download_concurrency(&self, max: usize) -> bool {
        self.inner.session.transport.set_download_limit(max)
    }

    /// The downloads' current limit (the shared one until `set_download_concurrency`).
    pub fn download_concurrency_limit(&self) -> usize {
        self.inner.session.transport.download_limiter().limit()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn a_capped_stream_ends_with_too_large_past_its_limit_and_passes_a_smaller_one() {
        let chunks = || {
            let parts: Vec<crate::Result<bytes::Bytes>> =
                (0..4).map(|_| Ok(bytes::Bytes::from(vec![7u8; 100]))).collect();
            Box::pin(futures::stream::iter(parts)) as crate::http::ByteStream
        };
        let got: Vec<_> = super::capped(chunks(), 250, "item file", "item abc").collect().await;
        assert_eq!(got.len(), 3, "two chunks pass, the third crosses the cap and ends the stream");
        assert!(got[..2].iter().all(|c| c.is_ok()), "bytes under the cap are handed on");
        let err = got[2].as_ref().expect_err("the chunk that crosses the cap is an error");
        assert!(matches!(err, crate::Error::TooLarge { limit: 250, .. }), "too large: {err}");
        assert!(err.to_string().contains("item abc") && err.to_string().contains("item file"), "names it: {err}");
        let all: Vec<_> = super::capped(chunks(), 400, "item file", "item abc").collect().await;
        assert!(all.iter().all(|c| c.is_ok()) && all.len() == 4, "a body of exactly the cap passes");
    }

    use futures::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::http::{Call, HttpSettings, TlsOptions, Transport};
    use crate::retry::RetryPolicy;

    /// A loopback server answering every request with a 200 and a small body.
    async fn server() -> url::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") => {
                                let body = b"0123456789";
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
                                    body.len()
                                );
                                if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(body).await.is_err()
                                {
                                    return;
                                }
                            }
                            Ok(_) => {}
                        }
                    }
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/file")).expect("url")
    }

    fn transport(url: &url::Url) -> Transport {
        let settings = HttpSettings {
            tls: TlsOptions::default(),
            custom_headers: Vec::new(),
            retry: RetryPolicy::none(),
            initial_concurrency: 4,
            max_concurrency: 4,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_json_answer: crate::DEFAULT_MAX_JSON_ANSWER,
            referer: "http://127.0.0.1/".into(),
        };
        Transport::new(settings, url).expect("transport")
    }

    #[tokio::test]
    async fn a_download_holds_its_slot_until_its_body_ends() {
        let url = server().await;
        let t = transport(&url);
        assert!(t.set_download_limit(1), "the first setting takes effect");
        assert!(!t.set_download_limit(8), "a second setting is refused, the limit stays as set");
        let call = Call::get(url.clone(), Vec::new());
        let first = t.stream(&call, None).await.expect("first download starts");
        let second = tokio::time::timeout(Duration::from_millis(300), t.stream(&call, None)).await;
        assert!(
            second.is_err(),
            "with a download limit of 1, a second download must wait while the first body is open"
        );
        let body: Vec<_> = first.collect().await;
        assert!(body.iter().all(|c| c.is_ok()), "the first body reads to its end");
        let second = tokio::time::timeout(Duration::from_secs(3), t.stream(&call, None)).await;
        assert!(matches!(second, Ok(Ok(_))), "once the first body ended its slot is free for the next download");
        drop(second);
        // API calls do not queue behind downloads: they have their own limiter.
        let _open = t.stream(&call, None).await;
        let json_call = tokio::time::timeout(Duration::from_secs(3), t.json(&call, None)).await;
        assert!(json_call.is_ok(), "an API call must not wait for a download slot");
    }
}
