//! Error bodies, retries, throttling, stalls and downloads.

use super::*;

#[tokio::test]
async fn error_body_on_http_200_is_an_error_and_not_retried() {
    let (seen, portal) = mock().await;
    let got = portal.get_json("t/errbody", &[]).await;
    assert!(matches!(got, Err(Error::NotFound { .. })), "a CONT_0001 body on HTTP 200 must be NotFound, got {got:?}");
    assert_eq!(seen.hits("/sharing/rest/t/errbody"), 1, "a missing item is permanent: exactly one request");
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_until_success() {
    let (_seen, portal) = mock().await;
    for code in ["500", "502", "504"] {
        let path = format!("t/status/{code}/2");
        let v =
            portal.get_json(&path, &[]).await.unwrap_or_else(|e| panic!("HTTP {code} twice then OK must succeed: {e}"));
        assert_eq!(v["attempts"], 3, "two {code} answers then success means three attempts");
    }
    let v = portal.get_json("t/drop/2", &[]).await.expect("a body cut off twice must succeed on the third try");
    assert_eq!(v["attempts"], 3, "a dropped connection is retried");
    let v = portal.get_json("t/stall/1", &[]).await.expect("a stalled body must be retried");
    assert_eq!(v["attempts"], 2, "a stalled body fails as a retryable timeout and the retry succeeds");
}

#[tokio::test]
async fn permanent_403_is_not_retried() {
    let (seen, portal) = mock().await;
    let got = portal.get_json("t/forbidden", &[]).await;
    assert!(matches!(got, Err(Error::Forbidden { .. })), "HTTP 403 must be Forbidden, got {got:?}");
    assert_eq!(seen.hits("/sharing/rest/t/forbidden"), 1, "403 is permanent: exactly one request");
}

#[tokio::test]
async fn throttling_honours_retry_after_and_lowers_concurrency() {
    let (seen, portal) = mock().await;
    let before = portal.concurrency_limit();
    let started = std::time::Instant::now();
    let v = portal.get_json("t/status/429/1", &[]).await.expect("one 429 then OK must succeed");
    assert_eq!(v["attempts"], 2, "the throttled request is sent again");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 must be waited out, waited {:?}",
        started.elapsed()
    );
    assert!(
        portal.concurrency_limit() < before,
        "a 429 must lower the limit ({} -> {})",
        before,
        portal.concurrency_limit()
    );
    assert_eq!(seen.hits("/sharing/rest/t/status/429/1"), 2);
}

#[tokio::test]
async fn non_idempotent_post_is_not_repeated_after_a_server_error() {
    let (seen, portal) = mock().await;
    let got = portal.post_form("t/status/502/1", &[("title", "x")], false).await;
    assert!(matches!(got, Err(Error::Http { status: 502, .. })), "a failed write must surface, got {got:?}");
    assert_eq!(seen.hits("/sharing/rest/t/status/502/1"), 1, "a write not marked idempotent must not be sent twice");
    let v = portal.post_form("t/status/502/1", &[("q", "x")], true).await.expect("an idempotent POST is retried");
    assert_eq!(v["ok"], true);
}

#[tokio::test]
async fn download_streams_detect_error_bodies_and_pass_files_through() {
    let (_seen, portal) = mock().await;
    let url = portal.resolve("t/data-error").expect("url");
    let got = portal.get_stream(&url, &[]).await;
    assert!(
        matches!(got, Err(Error::Forbidden { .. })),
        "an error body at the start of a download must be an error, got {:?}",
        got.err()
    );
    let url = portal.resolve("t/data-file").expect("url");
    let mut s = portal.get_stream(&url, &[]).await.expect("a file download starts");
    let mut total = 0usize;
    while let Some(chunk) = futures::StreamExt::next(&mut s).await {
        total += chunk.expect("chunk").len();
    }
    assert_eq!(total, 200_000, "every byte of the file must come through the stream");
}

#[tokio::test]
async fn an_http_401_signs_in_again_instead_of_failing_as_forbidden() {
    let (seen, portal) = mock().await;
    let sign_ins = seen.hits("/sharing/rest/generateToken");
    let v = portal.get_json("t/status/401/1", &[]).await.expect("one 401 then OK must succeed after a new sign-in");
    assert_eq!(v["attempts"], 2, "the request is sent again after signing in");
    assert!(
        seen.hits("/sharing/rest/generateToken") > sign_ins,
        "HTTP 401 (web-tier auth) made the client sign in again"
    );
}

/// A client with the production stall limit (30 s), after `reads` fast answers taught it the
/// mock's latency (and earned it hedges, one per ten reads).
async fn warmed_portal(reads: usize) -> (Arc<Seen>, Portal) {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let mut cfg = config(&base, PASSWORD);
    cfg.stall_timeout = Duration::from_secs(30);
    let portal = Portal::connect(cfg).await.expect("connect");
    for _ in 0..reads {
        portal.get_json("t/ok", &[]).await.expect("fast answers teach the client the portal's latency");
    }
    (seen, portal)
}

/// Reads a download to its end; answers whether it ended with an error, and when.
async fn download_fails(portal: &Portal, path: &str) -> (bool, Duration) {
    let started = std::time::Instant::now();
    let mut stream = portal.get_stream(&portal.resolve(path).expect("url"), &[]).await.expect("begins");
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        if chunk.is_err() {
            return (true, started.elapsed());
        }
    }
    (false, started.elapsed())
}

#[tokio::test]
async fn a_stalled_small_answer_fails_fast_and_is_asked_again() {
    // The production stall limit: a stalled JSON answer must not hold its slot that long.
    let (_seen, portal) = warmed_portal(5).await;
    let started = std::time::Instant::now();
    let v = portal.get_json("t/stall/1", &[]).await.expect("a stalled answer is asked for again");
    let took = started.elapsed();
    assert_eq!(v["attempts"], 2, "the stalled answer was abandoned and the request sent again");
    assert!(
        took < Duration::from_secs(8),
        "a stalled small answer of a fast portal must fail within seconds, not the 30 s stall limit: {took:?}"
    );
}

#[tokio::test]
async fn a_slow_read_is_hedged_after_one_rto_and_the_first_answer_wins() {
    let (seen, portal) = warmed_portal(30).await;
    let started = std::time::Instant::now();
    let v = portal.get_json("t/stall/1", &[]).await.expect("the hedged copy answers");
    let took = started.elapsed();
    assert_eq!(v["attempts"], 2, "the second copy was the one that answered");
    assert_eq!(portal.hedges_sent(), 1, "one hedge was sent");
    assert!(
        took < Duration::from_millis(900),
        "a stalled read of a fast portal is answered by its hedge after one RTO (250 ms floor), \
         before the 1 s patience would even give up on it: {took:?}"
    );
    // An answer that keeps arriving, however long it takes, is not sent twice.
    let before = seen.hits("/sharing/rest/t/trickle/8");
    let v = portal.get_json("t/trickle/8", &[]).await.expect("a slow but flowing answer");
    assert_eq!(v["ok"], true);
    assert_eq!(seen.hits("/sharing/rest/t/trickle/8") - before, 1, "an answer making progress is not hedged");
    assert_eq!(portal.hedges_sent(), 1, "still the one hedge of the stalled read");
    // Writes are never hedged: a POST is not sent twice.
    let before = seen.hits("/sharing/rest/t/slow/300");
    portal.post_form("t/slow/300", &[("adds", "[]")], false).await.expect("slow write");
    assert_eq!(seen.hits("/sharing/rest/t/slow/300") - before, 1, "a write goes once, however slow");
}

#[tokio::test]
async fn a_stalled_write_answer_and_a_stalled_download_fail_within_seconds() {
    let (_seen, portal) = warmed_portal(5).await;
    // The answer of a write began, then stopped: the server did the work; a dead connection
    // must not hold the caller for the 30 s stall limit.
    let started = std::time::Instant::now();
    let got = portal.post_form("t/stall/1", &[("adds", "[]")], false).await;
    assert!(matches!(got, Err(Error::Timeout { .. })), "a stalled write answer is a timeout: {got:?}");
    assert!(started.elapsed() < Duration::from_secs(12), "within the answer floor: {:?}", started.elapsed());
    let (failed, took) = download_fails(&portal, "t/stall/2").await;
    assert!(failed, "a stalled download ends with an error");
    assert!(
        took < Duration::from_secs(12),
        "a stalled download gives up after the download floor, not the stall limit: {took:?}"
    );
    // A small file announced by its length is paced like a JSON answer (1 s floor here).
    let (failed, took) = download_fails(&portal, "t/stall-sized/1").await;
    assert!(failed, "a stalled small download ends with an error");
    assert!(
        took < Duration::from_secs(3),
        "a stalled small file gives up after about the read patience, not the download floor: {took:?}"
    );
}

#[tokio::test]
async fn a_slow_write_is_waited_for_not_taken_for_a_lost_answer() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let mut cfg = config(&base, PASSWORD);
    // Scaled down: a 1 s limit for reads stands for the 60 s one, an answer after 2.5 s for
    // an applyEdits that takes minutes.
    cfg.request_timeout = Duration::from_secs(1);
    let portal = Portal::connect(cfg).await.expect("connect");
    let v = portal.post_form("t/slow/2500", &[("adds", "[]")], false).await.expect("a slow write is waited for");
    assert_eq!(v["attempts"], 1, "the write was sent once and its late answer taken");
    assert_eq!(seen.hits("/sharing/rest/t/slow/2500"), 1, "a slow write is never sent twice");
}
