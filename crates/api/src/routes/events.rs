//! Live events (alerts, bans, kill switches) as server-sent events.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-sent events: `decision`, `call`, `call_answered`, `call_ended` (JSON data), of the token's tenants; `lagged` when the reader fell behind", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn events(
    State(st): State<AppState>,
    p: Principal,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.handle.subscribe();
    let stop = st.stop.clone();
    let stream = futures_util::stream::unfold((rx, p, stop), |(mut rx, p, mut stop)| async move {
        loop {
            if *stop.borrow() {
                return None;
            }
            let got = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => return None,
            };
            match got {
                Ok(e) => {
                    if !p.sees(e.tenant()) {
                        continue;
                    }
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    let name = match &e {
                        decide::LiveEvent::Decision { .. } => "decision",
                        decide::LiveEvent::Call { .. } => "call",
                        decide::LiveEvent::CallAnswered { .. } => "call_answered",
                        decide::LiveEvent::CallEnded { .. } => "call_ended",
                    };
                    return Some((Ok(Event::default().event(name).data(data)), (rx, p, stop)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"));
                    return Some((Ok(ev), (rx, p, stop)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
