//! Outgoing HTTP from a function (`wasi:http/outgoing-handler`): one request, its whole answer.
//! The host lets it through only to the function's `allowed_outbound_hosts`; anything else
//! fails at once with [`Error::Denied`].
//!
//! ```no_run
//! let answer = geyser_sdk::fetch::Request::post("https://pay.example.com/charges")
//!     .header("authorization", "Bearer sk_...")
//!     .json(&serde_json::json!({"amount": 1200}))
//!     .timeout_ms(2000)
//!     .send()?;
//! assert!(answer.status < 300);
//! # Ok::<(), geyser_sdk::fetch::Error>(())
//! ```

use std::fmt;
use std::io::{Read, Write};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The host is not on the function's allow-list, or resolves to a private address.
    Denied(String),
    /// No answer within the timeout (or the invocation's deadline).
    Timeout,
    /// The URL is not `http(s)://host[:port][/path]`.
    BadUrl(String),
    /// Anything else on the way (connection refused, TLS, a body over the limit, ...).
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(m) => write!(f, "outbound request denied: {m}"),
            Error::Timeout => f.write_str("outbound request timed out"),
            Error::BadUrl(m) => write!(f, "bad URL: {m}"),
            Error::Failed(m) => write!(f, "outbound request failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}

fn from_code(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            Error::Denied(format!("{code:?}"))
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Error::Timeout,
        other => Error::Failed(format!("{other:?}")),
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Failed(format!("answer is not the JSON expected: {e}")))
    }
}

/// One outgoing request.
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    timeout_ms: Option<u64>,
}

impl Request {
    pub fn get(url: &str) -> Request {
        Request::new(Method::Get, url)
    }

    pub fn post(url: &str) -> Request {
        Request::new(Method::Post, url)
    }

    fn new(method: Method, url: &str) -> Request {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// A JSON body (and its content type).
    pub fn json(mut self, value: &impl serde::Serialize) -> Request {
        self.body = serde_json::to_vec(value).unwrap_or_default();
        self.header("content-type", "application/json")
    }

    /// Wait at most this long for the answer to begin (the invocation's deadline also applies).
    pub fn timeout_ms(mut self, ms: u64) -> Request {
        self.timeout_ms = Some(ms);
        self
    }

    pub fn send(self) -> Result<Response, Error> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or_else(|| Error::BadUrl(self.url.clone()))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(Error::BadUrl(self.url.clone())),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let headers = Fields::new();
        for (name, value) in &self.headers {
            headers
                .append(name, value)
                .map_err(|e| Error::Failed(format!("header {name}: {e:?}")))?;
        }
        if !self.body.is_empty() {
            let _ = headers.append("content-length", self.body.len().to_string().as_bytes());
        }
        let request = OutgoingRequest::new(headers);
        let bad = |_| Error::BadUrl(self.url.clone());
        request.set_method(&self.method).map_err(bad)?;
        request.set_scheme(Some(&scheme)).map_err(bad)?;
        request.set_authority(Some(authority)).map_err(bad)?;
        request.set_path_with_query(Some(path)).map_err(bad)?;
        let body = request
            .body()
            .map_err(|()| Error::Failed("request body taken".into()))?;
        let options = self.timeout_ms.map(|ms| {
            let options = RequestOptions::new();
            let _ = options.set_first_byte_timeout(Some(ms.saturating_mul(1_000_000)));
            options
        });
        let pending = outgoing_handler::handle(request, options).map_err(from_code)?;
        {
            let mut stream = body
                .write()
                .map_err(|()| Error::Failed("request stream taken".into()))?;
            stream
                .write_all(&self.body)
                .and_then(|()| Write::flush(&mut stream))
                .map_err(|e| Error::Failed(format!("sending the body: {e}")))?;
        }
        OutgoingBody::finish(body, None).map_err(from_code)?;
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(code)),
            _ => return Err(Error::Failed("no response".into())),
        };
        let status = response.status();
        let incoming = response
            .consume()
            .map_err(|()| Error::Failed("response body taken".into()))?;
        let mut bytes = Vec::new();
        let read = incoming
            .stream()
            .map_err(|()| Error::Failed("response stream taken".into()))
            .and_then(|mut s| {
                s.read_to_end(&mut bytes)
                    .map_err(|e| Error::Failed(e.to_string()))
            });
        if let Err(err) = read {
            let trailers = IncomingBody::finish(incoming);
            trailers.subscribe().block();
            return Err(match trailers.get() {
                Some(Ok(Err(code))) => from_code(code),
                _ => err,
            });
        }
        Ok(Response {
            status,
            body: bytes,
        })
    }
}
