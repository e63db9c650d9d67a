//! Plain request and response types, JSON helpers and a small path router. Everything here is
//! ordinary Rust (no WASI types), so it is unit-tested on the host.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// An incoming request, read whole. The path is the one below the function's mount:
/// `/fn/acme/tickets/events/1?x=2` arrives as path `/events/1`, query `x=2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    /// Splits `path?query` as the host delivers it.
    pub fn new(method: &str, path_with_query: &str) -> Self {
        let (path, query) = path_with_query
            .split_once('?')
            .unwrap_or((path_with_query, ""));
        Request {
            method: method.to_ascii_uppercase(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_owned()
            },
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        push_header(&mut self.headers, name, value);
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// First value of a header (names compare case-insensitively), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    }

    /// True when the caller presented the function owner's API key (the host checked it and
    /// says so in `x-geyser-owner`; clients cannot forge that header).
    pub fn is_owner(&self) -> bool {
        self.header("x-geyser-owner") == Some("true")
    }

    /// The body parsed as JSON; a 400 error when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::new(400, format!("invalid JSON body: {e}")))
    }
}

type Headers = Vec<(String, Vec<u8>)>;

fn push_header(headers: &mut Headers, name: &str, value: &str) {
    headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
}

/// First value of a header (names compare case-insensitively), if it is UTF-8.
fn find_header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(())
                {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// `value` serialized as JSON.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(e) => Error::new(500, format!("cannot serialize response: {e}")).into_response(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        push_header(&mut self.headers, name, value);
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// An error answered as `{"error": message}` with its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: u16,
    pub message: String,
    /// Extra JSON fields merged into the error body (e.g. remaining seats).
    pub details: Option<serde_json::Value>,
}

impl Error {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let (Some(serde_json::Value::Object(extra)), Some(map)) =
            (self.details, body.as_object_mut())
        {
            map.extend(extra);
        }
        Response::json(self.status, &body)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

/// A kv failure inside a handler: the store being unavailable is a 503, misuse a 500.
impl From<crate::kv::Error> for Error {
    fn from(err: crate::kv::Error) -> Self {
        match err {
            crate::kv::Error::Unavailable(m) => Error::new(503, m),
            other => Error::new(500, other.to_string()),
        }
    }
}

/// What handlers return.
pub type Result<T = Response, E = Error> = std::result::Result<T, E>;

/// Values of `:name` segments matched by a route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Handler<'a> = Box<dyn Fn(&Request, &Params) -> Result + 'a>;

struct Route<'a> {
    method: String,
    segments: Vec<String>,
    handler: Handler<'a>,
}

/// Routes by method and path pattern (`/events/:id/reservations`). Unknown paths answer 404,
/// known paths with another method 405.
#[derive(Default)]
pub struct Router<'a> {
    routes: Vec<Route<'a>>,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl<'a> Router<'a> {
    pub fn new() -> Self {
        Router { routes: Vec::new() }
    }

    pub fn route(
        mut self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result + 'a,
    ) -> Self {
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            segments: segments(pattern).into_iter().map(str::to_owned).collect(),
            handler: Box::new(handler),
        });
        self
    }

    pub fn get(self, pattern: &str, handler: impl Fn(&Request, &Params) -> Result + 'a) -> Self {
        self.route("GET", pattern, handler)
    }

    pub fn post(self, pattern: &str, handler: impl Fn(&Request, &Params) -> Result + 'a) -> Self {
        self.route("POST", pattern, handler)
    }

    pub fn put(self, pattern: &str, handler: impl Fn(&Request, &Params) -> Result + 'a) -> Self {
        self.route("PUT", pattern, handler)
    }

    pub fn delete(self, pattern: &str, handler: impl Fn(&Request, &Params) -> Result + 'a) -> Self {
        self.route("DELETE", pattern, handler)
    }

    fn matches(route: &Route<'_>, path: &[&str]) -> Option<Params> {
        if route.segments.len() != path.len() {
            return None;
        }
        let mut params = Vec::new();
        for (pattern, actual) in route.segments.iter().zip(path) {
            match pattern.strip_prefix(':') {
                Some(name) => params.push((name.to_owned(), percent_decode(actual))),
                None if pattern == actual => {}
                None => return None,
            }
        }
        Some(Params(params))
    }

    /// Runs the matching handler; errors become JSON error responses.
    pub fn handle(&self, req: &Request) -> Result {
        let path = segments(&req.path);
        let mut path_known = false;
        for route in &self.routes {
            if let Some(params) = Self::matches(route, &path) {
                if route.method == req.method {
                    return (route.handler)(req, &params);
                }
                path_known = true;
            }
        }
        if path_known {
            Err(Error::new(
                405,
                format!("{} is not allowed on {}", req.method, req.path),
            ))
        } else {
            Err(Error::not_found(format!("no route for {}", req.path)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<'static> {
        Router::new()
            .get("/events/:id", |_, p| {
                Ok(Response::text(
                    200,
                    format!("event {}", p.get("id").unwrap()),
                ))
            })
            .post("/events/:id/reservations", |req, p| {
                let body: serde_json::Value = req.json()?;
                Ok(Response::json(
                    201,
                    &serde_json::json!({"event": p.get("id"), "tier": body["tier"]}),
                ))
            })
            .get("/", |_, _| Ok(Response::text(200, "root")))
    }

    #[test]
    fn routes_by_method_and_pattern() {
        let r = router();
        let resp = r.handle(&Request::new("GET", "/events/42?x=1")).unwrap();
        assert_eq!(resp.body, b"event 42");
        assert_eq!(r.handle(&Request::new("GET", "/")).unwrap().body, b"root");
        let resp = r
            .handle(&Request::new("POST", "/events/7/reservations").with_body(r#"{"tier":"vip"}"#))
            .unwrap();
        assert_eq!(resp.status, 201);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.body, br#"{"event":"7","tier":"vip"}"#);
    }

    #[test]
    fn unknown_paths_404_wrong_methods_405_bad_json_400() {
        let r = router();
        assert_eq!(
            r.handle(&Request::new("GET", "/nope")).unwrap_err().status,
            404
        );
        assert_eq!(
            r.handle(&Request::new("DELETE", "/events/1"))
                .unwrap_err()
                .status,
            405
        );
        let err = r
            .handle(&Request::new("POST", "/events/1/reservations").with_body("{oops"))
            .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.starts_with("invalid JSON body"));
    }

    #[test]
    fn request_parts_and_helpers() {
        let req = Request::new("get", "/a%20b?name=J%C3%BCrgen&flag&n=1+2")
            .with_header("X-Token", "abc")
            .with_header("x-geyser-owner", "true");
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/a%20b");
        assert_eq!(req.query_param("name").as_deref(), Some("Jürgen"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("n").as_deref(), Some("1 2"));
        assert_eq!(req.query_param("missing"), None);
        assert_eq!(req.header("x-token"), Some("abc"));
        assert!(req.is_owner());
        assert_eq!(Request::new("GET", "").path, "/");
    }

    #[test]
    fn errors_become_json_with_details() {
        let resp = Error::conflict("sold out")
            .with_details(serde_json::json!({"available": 0}))
            .into_response();
        assert_eq!(resp.status, 409);
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "sold out", "available": 0})
        );
    }
}
