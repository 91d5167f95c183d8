//! The stream cases every live provider API must pass, written once and run for each
//! [`Api`] by its test file: cut connections, parser bounds, deadlines, cancellation,
//! unsafe URLs. What differs between the APIs (their wire format) is in [`Api`].

use std::time::Duration;

use clawdbot::providers::{ChatRequest, Reason};
use tokio::sync::mpsc;

use super::*;

/// One `#[tokio::test]` per shared case, run for `$api` (each provider's test file
/// invokes it once).
#[allow(unused_macros)] // provider_gateway.rs shares the support module but not the cases
macro_rules! tests_for {
    ($api:expr) => {
        $crate::provider_support::cases::tests_for!(@each $api;
            mid_stream_disconnect_is_an_error_after_the_first_deltas
            oversized_event_line_is_refused_and_the_connection_closed
            oversized_event_is_refused_and_the_connection_closed
            endless_stream_is_cut_at_the_response_bound
            silent_upstream_hits_the_idle_deadline
            slow_trickling_upstream_hits_the_total_deadline
            aborting_the_chat_task_closes_the_upstream_connection
            dropping_the_chat_future_closes_the_upstream_connection
            a_listener_that_goes_away_ends_the_stream_and_the_upstream_request
            closed_port_and_unsafe_urls_fail_cleanly
        );
    };
    (@each $api:expr; $($case:ident)*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::provider_support::cases::$case($api).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use tests_for;

fn hello() -> ChatRequest {
    request(&[("user", "Say pong.")], None)
}

/// `start` + `steps` as the stub's script.
async fn stub(api: Api, steps: impl Fn() -> Vec<Step> + Send + Sync + 'static) -> Stub {
    Stub::start(move |_| {
        let mut s = api.start();
        s.extend(steps());
        s
    })
    .await
}

/// The connection is cut inside the chunked body after a first delta.
pub async fn mid_stream_disconnect_is_an_error_after_the_first_deltas(api: Api) {
    let stub = stub(api, move || {
        vec![
            api.delta("partial "),
            Step::Raw(b"40\r\nevent: content_blo".to_vec()),
        ]
    })
    .await;
    let key = api.random_key();
    let p = api.provider(&stub, &key);
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["partial "]);
    let err = result.unwrap_err();
    assert_clean(&err, &key, api.key_prefix());
    let text = err.to_string();
    let head = format!(
        "provider unavailable: {}: the connection to 127.0.0.1:",
        api.name()
    );
    assert!(text.starts_with(&head), "{text}");
    assert!(text.contains("broke during the answer"), "{text}");
}

/// `steps` after the stream start break a parser bound: the chat fails with
/// `refusal` and the upstream connection is closed.
async fn refused_at_a_bound(api: Api, steps: fn() -> Vec<Step>, refusal: &str) {
    let stub = stub(api, steps).await;
    let p = api.provider(&stub, &api.random_key());
    let err = run(&p, hello()).await.0.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("provider unavailable: {}: {refusal}", api.name())
    );
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");
}

/// One line of 1 MiB that never ends: the parser stops at its line bound.
pub async fn oversized_event_line_is_refused_and_the_connection_closed(api: Api) {
    let steps = || {
        vec![
            Step::Chunk("data: ".into()),
            Step::Flood("x".repeat(16 * 1024), 64),
            Step::Hold,
        ]
    };
    refused_at_a_bound(api, steps, "event stream line longer than 65536 bytes").await;
}

/// Many data lines for one event: the event bound (256 KiB) is hit first.
pub async fn oversized_event_is_refused_and_the_connection_closed(api: Api) {
    let steps = || {
        vec![
            Step::Flood(format!("data: {}\n", "y".repeat(32 * 1024)), 64),
            Step::Hold,
        ]
    };
    refused_at_a_bound(api, steps, "event larger than 262144 bytes").await;
}

/// Keep-alive comments forever (each line short): the total byte bound ends it.
pub async fn endless_stream_is_cut_at_the_response_bound(api: Api) {
    let steps = || {
        vec![
            Step::Flood(format!(": {}\n", "k".repeat(8 * 1024)), 2048),
            Step::Hold,
        ]
    };
    refused_at_a_bound(api, steps, "response larger than 8388608 bytes").await;
}

/// Silence after a delta, or before any response header: the idle deadline.
pub async fn silent_upstream_hits_the_idle_deadline(api: Api) {
    let stub = stub(api, move || vec![api.delta("thinking"), Step::Hold]).await;
    let key = api.random_key();
    let idle = Duration::from_millis(300);
    let p = api.provider_with(&stub, &key, Duration::from_secs(10), idle);
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["thinking"]);
    let err = result.unwrap_err();
    assert_clean(&err, &key, api.key_prefix());
    let text = err.to_string();
    assert!(text.contains("no data from 127.0.0.1:"), "{text}");
    assert!(text.ends_with("for 300 ms"), "{text}");
    assert_eq!(err.reason(), Reason::Timeout);
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");

    // No response headers at all: the same deadline.
    let stub = Stub::start(|_| vec![Step::Hold]).await;
    let p = api.provider_with(&stub, &key, Duration::from_secs(10), idle);
    let err = run(&p, hello()).await.0.unwrap_err();
    assert!(err.to_string().ends_with("for 300 ms"), "{err}");
}

/// A keep-alive every 50 ms keeps the idle deadline away; the total deadline ends it.
pub async fn slow_trickling_upstream_hits_the_total_deadline(api: Api) {
    let stub = stub(api, move || {
        vec![
            api.delta("slow"),
            Step::Trickle(api.keepalive().into(), Duration::from_millis(50)),
        ]
    })
    .await;
    let p = api.provider_with(
        &stub,
        &api.random_key(),
        Duration::from_millis(700),
        Duration::from_secs(5),
    );
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["slow"]);
    let err = result.unwrap_err();
    assert_eq!(err.reason(), Reason::Timeout);
    let text = err.to_string();
    assert!(
        text.contains("no complete answer from 127.0.0.1:"),
        "{text}"
    );
    assert!(text.ends_with("within 700 ms"), "{text}");
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");
}

/// The text of a one-chunk step.
fn chunk_text(step: Step) -> String {
    match step {
        Step::Chunk(text) => text,
        _ => panic!("not a single chunk"),
    }
}

fn roomy(api: Api, stub: &Stub) -> clawdbot::providers::Provider {
    let minute = Duration::from_secs(60);
    api.provider_with(stub, &api.random_key(), minute, minute)
}

pub async fn aborting_the_chat_task_closes_the_upstream_connection(api: Api) {
    let stub = stub(api, move || vec![api.delta("first"), Step::Hold]).await;
    let p = roomy(api, &stub);
    let (tx, mut rx) = mpsc::channel(4);
    let task = tokio::spawn(async move { p.chat_stream(hello(), tx).await });
    let first = tokio::time::timeout(BOUND, rx.recv()).await.unwrap();
    assert_eq!(first.as_deref(), Some("first"));
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(
        stub.wait_closed(1, BOUND).await,
        "upstream connection still open after abort"
    );
}

pub async fn dropping_the_chat_future_closes_the_upstream_connection(api: Api) {
    let stub = stub(api, move || vec![api.delta("first"), Step::Hold]).await;
    let p = roomy(api, &stub);
    let (tx, mut rx) = mpsc::channel(4);
    {
        // The future is polled until the first delta arrives, then dropped.
        let chat = p.chat_stream(hello(), tx);
        tokio::pin!(chat);
        tokio::select! {
            _ = &mut chat => panic!("the stream cannot end: the stub holds it open"),
            first = rx.recv() => assert_eq!(first.as_deref(), Some("first")),
        }
    }
    assert!(
        stub.wait_closed(1, BOUND).await,
        "upstream connection still open after the future was dropped"
    );
    // The sender went with the future.
    assert_eq!(tokio::time::timeout(BOUND, rx.recv()).await.unwrap(), None);
}

pub async fn a_listener_that_goes_away_ends_the_stream_and_the_upstream_request(api: Api) {
    let stub = Stub::start(move |_| {
        let mut s = api.start();
        s.push(api.delta("one "));
        s.push(api.delta("two "));
        s.push(Step::Trickle(
            chunk_text(api.delta("more ")),
            Duration::from_millis(20),
        ));
        s
    })
    .await;
    let p = roomy(api, &stub);
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(async move { p.chat_stream(hello(), tx).await });
    let first = tokio::time::timeout(BOUND, rx.recv()).await.unwrap();
    assert_eq!(first.as_deref(), Some("one "));
    drop(rx);
    let reply = tokio::time::timeout(BOUND, task)
        .await
        .unwrap()
        .unwrap()
        .expect("ends with what was sent");
    assert_eq!(reply.stop_reason.as_deref(), Some("aborted"));
    assert!(reply.text.starts_with("one "), "{}", reply.text);
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");
}

/// A closed port fails cleanly; plain http to a non-loopback host would expose the
/// key, so it is refused before any I/O.
pub async fn closed_port_and_unsafe_urls_fail_cleanly(api: Api) {
    let port = clawdbot_testkit::free_port().expect("a free loopback port");
    let key = api.random_key();
    let err = api
        .provider_at(&key, format!("http://127.0.0.1:{port}"))
        .chat(hello())
        .await
        .unwrap_err();
    assert_clean(&err, &key, api.key_prefix());
    assert!(
        err.to_string()
            .contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );

    let err = api
        .provider_at(&key, "http://192.0.2.1/v1")
        .chat(hello())
        .await
        .unwrap_err();
    assert_clean(&err, &key, api.key_prefix());
    assert_eq!(
        err.to_string(),
        format!(
            "provider unavailable: {}: {} uses plain http to a non-loopback host (use https)",
            api.name(),
            api.url_var()
        )
    );
}
