//! `GET /healthz`, `GET /readyz` and `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use tessera_core::Error;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::bearer_is;
use crate::problem::{ApiError, ApiResult, Problem};

/// Liveness or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The store backend (`/readyz` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
}

/// The process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        store: None,
    })
}

/// The stores answer.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Health),
    (status = 503, description = "A store does not answer (`unavailable`)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.tessera.ready().await?;
    Ok(Json(Health {
        status: "ready",
        store: Some(state.tessera.store().backend()),
    }))
}

/// This node's metrics, as Prometheus text (see [`crate::metrics`] for every series). With
/// `metrics_secret` configured, only for `Authorization: Bearer <metrics_secret>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security((), ("metrics_secret" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "`metrics_secret` is configured and was not sent", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = &state.http.metrics_secret
        && !bearer_is(&headers, secret)
    {
        return Err(ApiError::bearer(Error::Unauthorized(
            "send Authorization: Bearer <metrics_secret>",
        )));
    }
    Ok(crate::metrics::serve(&state))
}
