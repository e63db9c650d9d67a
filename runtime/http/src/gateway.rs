//! `ANY /fn/{tenant}/{function}/{*path}`: invokes a function through
//! `wasi:http/incoming-handler` — its alias `live` (the active version), or with
//! `{function}@{N}` version N, with `{function}@{alias}` that alias's version or, for the
//! alias's canary share, its canary. The guest sees the path below its mount, and its response
//! is streamed back as it writes it.

use super::AppState;
use super::auth::{Caller, bearer, resolve};
use super::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use geyser_core::Arm;
use geyser_functions::{ActiveFunction, FunctionName, Selector, TenantName};
use http_body_util::BodyExt;

/// What a gateway URI names: the function, and the URI its guest sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget {
    pub tenant: TenantName,
    pub function: FunctionName,
    /// The version or alias the call names (`live` when it names none).
    pub selector: Selector,
    /// The path (and query) below the function's mount (`/` when there is none), or why it is
    /// not a valid URI — answered with 400 only once the caller may know the function exists.
    pub guest_uri: Result<Uri, String>,
}

impl GatewayTarget {
    /// Parses `/fn/{tenant}/{function}{rest}`; `None` (404) when the URI is not under `/fn/` or
    /// a name is not valid. Pure: the fuzz target and the gateway share it.
    pub fn parse(uri: &Uri) -> Option<GatewayTarget> {
        let (tenant, function, guest_path) = split_target(uri)?;
        let tenant = TenantName::parse(tenant).ok()?;
        let (function, selector) = match function.split_once('@') {
            Some((function, selector)) => (function, Selector::parse(selector).ok()?),
            None => (function, Selector::live()),
        };
        let function = FunctionName::parse(function).ok()?;
        let guest_uri = guest_path.parse::<Uri>().map_err(|e| e.to_string());
        Some(GatewayTarget {
            tenant,
            function,
            selector,
            guest_uri,
        })
    }
}

/// The gateway's parsing of raw request-target bytes, as the fuzz target drives it: never
/// panics, and whatever it accepts keeps the guest below its function's mount.
pub fn fuzz_gateway_target(raw: &[u8]) -> Option<GatewayTarget> {
    let uri = Uri::try_from(raw).ok()?;
    let target = GatewayTarget::parse(&uri)?;
    if let Ok(guest) = &target.guest_uri {
        let path = guest.path();
        assert!(path.starts_with('/'), "guest path {path:?} is not absolute");
        assert!(
            guest.authority().is_none(),
            "guest URI {guest} names a host"
        );
    }
    Some(target)
}

/// `/fn/acme/hello/x?y=1` → (`acme`, `hello`, `/x?y=1`); `/fn/acme/hello` → (…, `/`).
fn split_target(uri: &Uri) -> Option<(&str, &str, String)> {
    let rest = uri.path().strip_prefix("/fn/")?;
    let (tenant, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (function, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Some((tenant, function, path))
}

/// Set on requests whose caller presented the function owner's key.
const OWNER_HEADER: &str = "x-geyser-owner";

/// Bytes of a refused request's body read before answering, so the client's keep-alive
/// connection survives the error (see `functions::read_upload`).
const REFUSED_BODY_DRAIN_BYTES: usize = 1 << 20;

pub async fn invoke(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    match route(&state, parts).await {
        Ok((parts, active, selector)) if super::queued::wants_async(&parts.headers) => {
            let body = super::queued::read_body(&state, body).await?;
            let request = geyser_functions::QueuedRequest::Http {
                method: parts.method.as_str().to_owned(),
                path: parts.uri.to_string(),
                headers: super::queued::kept_headers(&parts.headers)?,
            };
            super::queued::accept(&state, &active, selector, request, body).await
        }
        Ok((parts, active, _)) => dispatch(&state, active, Request::from_parts(parts, body)).await,
        Err(err) => {
            let _ = http_body_util::Limited::new(body, REFUSED_BODY_DRAIN_BYTES)
                .collect()
                .await;
            Err(err)
        }
    }
}

/// Resolves the target function and checks access; returns the request parts as the guest
/// will see them.
async fn route(
    state: &AppState,
    mut parts: Parts,
) -> Result<(Parts, ActiveFunction, Selector), ApiError> {
    let not_found = || ApiError::not_found("function not found");
    let target = GatewayTarget::parse(&parts.uri).ok_or_else(not_found)?;
    let (tenant, function) = (&target.tenant, &target.function);
    let route = state
        .routes
        .route(&state.store, tenant, function, &target.selector)
        .await?
        .ok_or_else(|| match &target.selector {
            Selector::Alias(alias) if alias.is_live() => not_found(),
            other => ApiError::not_found(format!("function {function}@{other} not found")),
        })?;
    let arm = match route.arm(|header| parts.headers.get(header).map(|v| v.as_bytes())) {
        // This node may have rolled the canary back a moment ago.
        Arm::Canary if !state.canaries.admit(&route) => Arm::Stable,
        arm => arm,
    };
    let active = route.into_function(arm);
    if active.tenant.disabled {
        return Err(ApiError::tenant_disabled(&active.tenant.name));
    }

    // Tell the guest whether the caller is the owner; nobody else may claim it.
    let forged: Vec<_> = parts
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-geyser-"))
        .cloned()
        .collect();
    for name in forged {
        parts.headers.remove(name);
    }
    let presented = bearer(&parts);
    let caller = match &presented {
        Some(key) => Some(resolve(state, key).await?),
        None => None,
    };
    let is_owner =
        matches!(&caller, Some(Ok(Caller::Tenant(owner))) if owner.id == active.tenant.id);
    if !active.limits.public && !is_owner {
        return Err(match caller {
            None => ApiError::unauthorized("this function is private: send the owner's API key"),
            Some(Err(refused)) => refused.into(),
            // Another tenant's (or the admin's) key: do not reveal that the function exists.
            Some(Ok(_)) => not_found(),
        });
    }
    if is_owner {
        // The key has done its job; the guest learns the fact, not the secret.
        parts.headers.remove(axum::http::header::AUTHORIZATION);
        parts
            .headers
            .insert(OWNER_HEADER, HeaderValue::from_static("true"));
    }

    // A body the guest could not read to its end anyway: say so before invoking (a chunked
    // body without a length is cut off at the limit and the guest sees a read error). An
    // asynchronous call keeps its body in the queue: its own limit.
    let limit = if super::queued::wants_async(&parts.headers) {
        state.queue.config().max_body_bytes
    } else {
        state.config.http.max_request_body_bytes
    };
    if let Some(declared) = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && declared > limit as u64
    {
        if super::queued::wants_async(&parts.headers) {
            return Err(super::queued::too_large(limit));
        }
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "request body of {declared} bytes exceeds the limit of {limit} bytes \
                 (http.max_request_body_bytes)"
            ),
        ));
    }

    parts.uri = target
        .guest_uri
        .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))?;
    if !parts.headers.contains_key(axum::http::header::HOST) {
        parts.headers.insert(
            axum::http::header::HOST,
            HeaderValue::from_static("localhost"),
        );
    }
    Ok((parts, active, target.selector))
}

async fn dispatch(
    state: &AppState,
    active: ActiveFunction,
    request: Request,
) -> Result<Response, ApiError> {
    let invoked = state
        .invoker
        .invoke_http(active, request)
        .await
        .map_err(ApiError::from)?;
    let (mut parts, body) = invoked.response.into_parts();
    if let Ok(id) = HeaderValue::from_str(&invoked.id.to_string()) {
        parts.headers.insert("x-geyser-invocation", id);
    }
    // The invocation's span in the caller's trace (or the trace it started).
    if let Ok(trace) = HeaderValue::from_str(&invoked.traceparent) {
        parts.headers.insert("traceparent", trace);
    }
    let body = Body::new(body);
    Ok(Response::from_parts(parts, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(uri: &str) -> Option<(String, String, String)> {
        let uri: Uri = uri.parse().unwrap();
        split_target(&uri).map(|(t, f, p)| (t.to_owned(), f.to_owned(), p))
    }

    #[test]
    fn a_target_names_a_version_or_an_alias_after_at() {
        let parse = |uri: &str| GatewayTarget::parse(&uri.parse::<Uri>().unwrap());
        let t = parse("/fn/acme/hello@3/x?y=1").unwrap();
        assert_eq!(t.function.as_str(), "hello");
        assert_eq!(t.selector, Selector::Version(geyser_functions::Version(3)));
        assert_eq!(t.guest_uri.unwrap(), "/x?y=1");
        let t = parse("/fn/acme/hello@beta").unwrap();
        assert_eq!(t.selector, Selector::parse("beta").unwrap());
        assert_eq!(t.guest_uri.unwrap(), "/");
        assert_eq!(parse("/fn/acme/hello").unwrap().selector, Selector::live());
        for nothing in [
            "/fn/acme/hello@",
            "/fn/acme/hello@@x",
            "/fn/acme/@3",
            "/fn/acme/hello@0",
            "/fn/acme/hello@Beta",
            "/fn/acme/hello@3@4",
            "/fn/acme@x/hello",
        ] {
            assert!(parse(nothing).is_none(), "{nothing}");
        }
    }

    #[test]
    fn guest_sees_the_path_below_its_mount() {
        let s = |t: &str, f: &str, p: &str| Some((t.to_owned(), f.to_owned(), p.to_owned()));
        assert_eq!(split("/fn/acme/hello/x?y=1"), s("acme", "hello", "/x?y=1"));
        assert_eq!(split("/fn/acme/hello"), s("acme", "hello", "/"));
        assert_eq!(split("/fn/acme/hello/"), s("acme", "hello", "/"));
        assert_eq!(split("/fn/acme/hello?q"), s("acme", "hello", "/?q"));
        assert_eq!(
            split("/fn/acme/hello/a/b%20c"),
            s("acme", "hello", "/a/b%20c")
        );
        assert_eq!(split("/v1/x"), None);
    }
}
