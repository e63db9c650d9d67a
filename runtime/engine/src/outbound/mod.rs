//! Outbound HTTP for guests (`wasi:http/outgoing-handler`). A call goes out only to a host on
//! the function's `allowed_outbound_hosts`; after resolution, an address that is loopback,
//! private, link-local or unique-local is refused unless the node lists that `host:port` in
//! `[outbound] allowed_private`. The connection is made to the address that was checked (no
//! DNS-rebinding gap) and the `Host` header is the authority that was checked (guests cannot
//! set it: wasi:http forbids the header). Each call is bounded in time by the invocation's
//! deadline, and per invocation in count, concurrency and body sizes; each is metered and
//! carries the invocation's `traceparent`.

mod address;
mod body;

pub use address::is_private;

use body::{Metered, Stall};
use geyser_core::{FunctionConfig, OutboundScheme};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// `[outbound]`: what the node lets guests reach and how much of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// `host:port` entries a guest may reach even though they resolve to a loopback, private
    /// or link-local address (an internal service). Admin only: tenants cannot change it.
    pub allowed_private: Vec<String>,
    /// Outgoing requests one invocation may make.
    pub max_requests_per_invocation: u32,
    /// Outgoing requests one invocation may have open at once.
    pub max_concurrent_per_invocation: u32,
    pub max_request_body_bytes: u64,
    pub max_response_body_bytes: u64,
    /// Longest wait for a connection (and for DNS), unless the invocation's deadline is nearer.
    pub connect_timeout_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allowed_private: Vec::new(),
            max_requests_per_invocation: 64,
            max_concurrent_per_invocation: 8,
            max_request_body_bytes: 16 << 20,
            max_response_body_bytes: 16 << 20,
            connect_timeout_ms: 10_000,
        }
    }
}

/// An `[outbound]` section that breaks a rule.
#[derive(Debug, thiserror::Error)]
#[error("[outbound] {0}")]
pub struct InvalidOutbound(String);

impl OutboundConfig {
    pub fn validate(&self) -> Result<(), InvalidOutbound> {
        for entry in &self.allowed_private {
            parse_host_port(entry).ok_or_else(|| {
                InvalidOutbound(format!("allowed_private entry {entry:?} is not host:port"))
            })?;
        }
        if self.max_concurrent_per_invocation == 0 {
            return Err(InvalidOutbound(
                "max_concurrent_per_invocation must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn parse_host_port(entry: &str) -> Option<(String, u16)> {
    let (host, port) = entry.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = host
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    (!host.is_empty()).then_some((host, port))
}

/// What every invocation on the node shares: the settings, the private exceptions and the
/// TLS client configuration (built once: loading the roots is not free).
pub struct NodeOutbound {
    config: OutboundConfig,
    allowed_private: HashSet<(String, u16)>,
    tls: tokio_rustls::TlsConnector,
}

impl NodeOutbound {
    pub fn new(config: &OutboundConfig) -> Result<NodeOutbound, InvalidOutbound> {
        config.validate()?;
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| InvalidOutbound(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(NodeOutbound {
            config: config.clone(),
            allowed_private: config
                .allowed_private
                .iter()
                .filter_map(|e| parse_host_port(e))
                .collect(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        })
    }

    fn private_allowed(&self, host: &str, addr: SocketAddr) -> bool {
        self.allowed_private
            .contains(&(host.to_ascii_lowercase(), addr.port()))
            || self
                .allowed_private
                .contains(&(addr.ip().to_string(), addr.port()))
    }
}

/// One invocation's outbound figures (metered into its record).
#[derive(Debug, Default)]
pub struct OutboundStats {
    /// Calls that went out (a connection was attempted).
    pub requests: AtomicU64,
    /// Calls refused: host not allowed, private address, over a limit.
    pub denied: AtomicU64,
    pub bytes_sent: Arc<AtomicU64>,
    pub bytes_received: Arc<AtomicU64>,
    /// Time from sending each call until its response head arrived, summed over calls.
    pub wait_ns: AtomicU64,
}

/// The figures of an ended invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundTotals {
    pub requests: u64,
    pub denied: u64,
    pub bytes: u64,
    pub wait_ns: u64,
}

impl OutboundStats {
    pub fn totals(&self) -> OutboundTotals {
        OutboundTotals {
            requests: self.requests.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            bytes: self.bytes_sent.load(Ordering::Relaxed)
                + self.bytes_received.load(Ordering::Relaxed),
            wait_ns: self.wait_ns.load(Ordering::Relaxed),
        }
    }
}

/// The wasi:http hooks of one invocation: its function's allow-list, its deadline and limits.
pub struct OutboundHooks {
    call: Arc<Calls>,
}

struct Calls {
    node: Arc<NodeOutbound>,
    config: Arc<FunctionConfig>,
    deadline: Instant,
    traceparent: String,
    stats: Arc<OutboundStats>,
    slots: Arc<Semaphore>,
    attempts: AtomicU64,
}

impl OutboundHooks {
    pub fn new(
        node: Arc<NodeOutbound>,
        config: Arc<FunctionConfig>,
        deadline: Instant,
        traceparent: String,
        stats: Arc<OutboundStats>,
    ) -> OutboundHooks {
        let slots = Arc::new(Semaphore::new(
            node.config.max_concurrent_per_invocation as usize,
        ));
        OutboundHooks {
            call: Arc::new(Calls {
                node,
                config,
                deadline,
                traceparent,
                stats,
                slots,
                attempts: AtomicU64::new(0),
            }),
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>>
            + Send,
    > {
        let call = self.call.clone();
        Box::new(async move {
            let result = call.send(request, options).await;
            if let Err(err) = &result {
                tracing::info!(error = %err, "outbound request failed");
            }
            result
        })
    }
}

/// Where a request goes, as its URI says.
struct Target {
    scheme: OutboundScheme,
    host: String,
    port: u16,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Target, Error> {
        let scheme = match uri.scheme_str() {
            Some("http") => OutboundScheme::Http,
            Some("https") => OutboundScheme::Https,
            _ => return Err(Error::HttpProtocolError),
        };
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        if authority.as_str().contains('@') {
            return Err(Error::HttpRequestUriInvalid);
        }
        let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(Error::HttpRequestUriInvalid);
        }
        Ok(Target {
            scheme,
            port: authority.port_u16().unwrap_or(scheme.default_port()),
            host,
        })
    }

    /// The `Host` header: the host, with the port when it is not the scheme's default.
    fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Calls {
    fn deny(&self, err: Error) -> Error {
        self.stats.denied.fetch_add(1, Ordering::Relaxed);
        err
    }

    fn remaining(&self) -> Result<Duration, Error> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::ConnectionTimeout);
        }
        Ok(left)
    }

    async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
        let limits = &self.node.config;
        let target = Target::of(request.uri())?;
        if !self
            .config
            .allows_outbound(target.scheme, &target.host, target.port)
        {
            return Err(self.deny(Error::HttpRequestDenied));
        }
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        if attempt > u64::from(limits.max_requests_per_invocation) {
            return Err(self.deny(Error::ConnectionLimitReached));
        }
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.deny(Error::ConnectionLimitReached))?;
        let connect_timeout = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(Duration::from_millis(limits.connect_timeout_ms))
            .min(self.remaining()?);
        let addrs = self.resolve(&target, connect_timeout).await?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let stream = connect(&addrs, connect_timeout).await?;
        let stream: Box<dyn Stream> = match target.scheme {
            OutboundScheme::Http => Box::new(stream),
            OutboundScheme::Https => {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|_| Error::HttpRequestUriInvalid)?;
                let tls =
                    tokio::time::timeout(self.remaining()?, self.node.tls.connect(name, stream))
                        .await
                        .map_err(|_| Error::ConnectionTimeout)?
                        .map_err(Error::Tls)?;
                Box::new(tls)
            }
        };
        let (mut sender, conn) = tokio::time::timeout(
            self.remaining()?,
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)),
        )
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
        // The connection is driven on its own task, cut at the invocation's deadline; the
        // handle is the I/O future wasi:http keeps (and aborts with the request).
        let deadline = self.deadline;
        let driver = wasmtime_wasi::runtime::spawn(async move {
            match tokio::time::timeout_at(deadline, conn).await {
                Ok(result) => result.map_err(Error::from),
                Err(_) => Err(Error::ConnectionReadTimeout),
            }
        });
        let io: IoFuture = Box::new(driver);

        // Origin form on the wire; the Host header is the authority that was checked.
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        let headers = request.headers_mut();
        headers.insert(
            http::header::HOST,
            http::HeaderValue::try_from(target.authority())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
        );
        if let Ok(value) = http::HeaderValue::try_from(self.traceparent.as_str()) {
            headers.insert("traceparent", value);
        }
        let request = request.map(|body| {
            Metered::new(
                body,
                self.stats.bytes_sent.clone(),
                limits.max_request_body_bytes,
                |limit| Error::HttpRequestBodySize(Some(limit)),
            )
            .boxed_unsync()
        });

        let left = self.remaining()?;
        let first_byte = options
            .and_then(|o| o.first_byte_timeout)
            .map_or(left, |t| t.min(left));
        let sent = Instant::now();
        let response = tokio::time::timeout(first_byte, sender.send_request(request)).await;
        self.stats.wait_ns.fetch_add(
            u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let response = response.map_err(|_| Error::ConnectionReadTimeout)??;
        let between = options
            .and_then(|o| o.between_bytes_timeout)
            .unwrap_or(Duration::MAX);
        let stats = self.stats.clone();
        let response = response.map(|incoming| {
            Metered::new(
                incoming,
                stats.bytes_received.clone(),
                limits.max_response_body_bytes,
                |limit| Error::HttpResponseBodySize(Some(limit)),
            )
            .with_stall(Stall::new(between, deadline))
            .holding(slot)
            .boxed_unsync()
        });
        Ok((response, io))
    }

    /// The addresses of `target` this call may connect to: every resolved address, less the
    /// private ones (unless the node allows them for this host and port).
    async fn resolve(&self, target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Error> {
        let resolved: Vec<SocketAddr> = match target.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => tokio::time::timeout(
                timeout,
                tokio::net::lookup_host((target.host.as_str(), target.port)),
            )
            .await
            .map_err(|_| Error::DnsTimeout)?
            .map_err(|_| Error::DnsError {
                rcode: None,
                info_code: None,
            })?
            .collect(),
        };
        if resolved.is_empty() {
            return Err(Error::DestinationNotFound);
        }
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| !is_private(addr.ip()) || self.node.private_allowed(&target.host, *addr))
            .collect();
        if allowed.is_empty() {
            tracing::warn!(host = %target.host, port = target.port, "outbound call to a private address refused");
            return Err(self.deny(Error::DestinationIpProhibited));
        }
        Ok(allowed)
    }
}

/// Connects to the first of `addrs` that answers within `timeout` (in all).
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let attempt = async {
        let mut last = Error::ConnectionRefused;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last = Error::ConnectionRefused;
                }
                Err(err) => last = Error::Connect(err),
            }
        }
        Err(last)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| Error::ConnectionTimeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_private_entries_must_be_host_port() {
        let mut config = OutboundConfig {
            allowed_private: vec!["127.0.0.1:9000".into(), "payments.internal:8080".into()],
            ..OutboundConfig::default()
        };
        assert!(config.validate().is_ok());
        let node = NodeOutbound::new(&config).unwrap();
        assert!(node.private_allowed("elsewhere", "127.0.0.1:9000".parse().unwrap()));
        assert!(node.private_allowed("payments.internal", "10.0.0.5:8080".parse().unwrap()));
        assert!(!node.private_allowed("elsewhere", "10.0.0.5:8080".parse().unwrap()));
        for bad in ["127.0.0.1", "host:0", ":80", "host:port"] {
            config.allowed_private = vec![bad.into()];
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_come_from_the_uri_with_default_ports() {
        let t = Target::of(&"https://API.example.com/x".parse().unwrap()).unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.port),
            (OutboundScheme::Https, "api.example.com", 443)
        );
        assert_eq!(t.authority(), "api.example.com");
        let t = Target::of(&"http://127.0.0.1:9000/".parse().unwrap()).unwrap();
        assert_eq!(t.authority(), "127.0.0.1:9000");
        assert!(Target::of(&"http://user@example.com/".parse().unwrap()).is_err());
    }
}
