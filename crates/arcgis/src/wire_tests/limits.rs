//! Answer size caps: a JSON answer is read whole, so it is capped; a download is streamed.

use super::*;

/// The mock portal with a small JSON cap (its own sign-in answers are far below it).
async fn capped(limit: u64) -> (Arc<Seen>, Portal) {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let mut cfg = config(&base, PASSWORD);
    cfg.max_json_answer_bytes = limit;
    let portal = Portal::connect(cfg).await.expect("connect to the mock portal");
    (seen, portal)
}

#[tokio::test]
async fn a_json_answer_over_the_cap_fails_clearly_and_is_not_retried() {
    let (seen, portal) = capped(64 * 1024).await;
    let fits = portal.get_json("t/big-json/60000", &[]).await.expect("an answer under the cap decodes");
    assert_eq!(fits["pad"].as_str().map(str::len), Some(60000 - 10), "the whole answer under the cap is read");
    for route in ["big-json", "big-json-chunked"] {
        let path = format!("t/{route}/1000000");
        let got = portal.get_json(&path, &[("q", "secret-query")]).await;
        let err = match got {
            Err(e @ Error::TooLarge { .. }) => e,
            Err(other) => panic!("a 1 MB JSON answer over a 64 KiB cap must fail as TooLarge ({route}), got {other:?}"),
            Ok(_) => panic!("a 1 MB JSON answer over a 64 KiB cap must fail as TooLarge ({route}), it was read whole"),
        };
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("/sharing/rest/t/{route}/1000000")) && msg.contains("64 KiB") && msg.contains("JSON"),
            "the error names the URL path, the limit and the kind: {msg}"
        );
        assert!(!msg.contains("secret-query") && !msg.contains('?'), "the error never shows the query: {msg}");
        assert!(!err.is_retryable(), "an answer over the cap is permanent: {msg}");
        assert_eq!(seen.hits(&format!("/sharing/rest/t/{route}/1000000")), 1, "an answer over the cap is asked once");
    }
}

#[tokio::test]
async fn a_huge_error_body_of_a_download_is_not_buffered() {
    let (_seen, portal) = capped(64 * 1024).await;
    let url = portal.resolve("t/big-error/1000000").expect("url");
    let got = portal.get_stream(&url, &[]).await;
    assert!(
        matches!(got, Err(Error::Http { status: 502, .. })),
        "a download answered by an endless error page fails with its status once the cap is read, got {:?}",
        got.err()
    );
}

#[tokio::test]
async fn downloads_stream_past_the_json_cap() {
    let (_seen, portal) = capped(64 * 1024).await;
    let url = portal.resolve("t/data-file").expect("url");
    let mut s = portal.get_stream(&url, &[]).await.expect("a download starts");
    let mut total = 0usize;
    while let Some(chunk) = futures::StreamExt::next(&mut s).await {
        total += chunk.expect("chunk").len();
    }
    assert_eq!(total, 200_000, "a file larger than the JSON cap streams whole: files are not capped as JSON");
}
