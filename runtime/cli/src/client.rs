//! The HTTP client behind the client subcommands. Errors become one clear line; `--json`
//! prints the server's JSON as is.

use anyhow::{Context, Result, anyhow, bail};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::Path;

/// A configuration answer as lines: variables with their values, secrets by name only.
fn print_config(value: &Value) {
    let config = &value["config"];
    for (key, v) in config["variables"].as_object().into_iter().flatten() {
        println!("variable {key}={}", v.as_str().unwrap_or_default());
    }
    for key in config["secrets"].as_array().into_iter().flatten() {
        println!("secret   {} (set)", key.as_str().unwrap_or_default());
    }
    for host in config["allowed_outbound_hosts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("allow    {}", host.as_str().unwrap_or_default());
    }
}

/// A secret's value: typed at a prompt that does not echo when stdin is a terminal, else
/// stdin to its end (one trailing newline dropped). Never an argument: argv is visible to every
/// user of the machine.
pub fn read_secret(key: &str) -> Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value of {key}: ")).context("reading the secret")?
    } else {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the secret from stdin")?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    };
    if value.is_empty() {
        bail!("empty secret: nothing set");
    }
    Ok(value)
}

/// Which log lines `geyser logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub limit: u32,
    pub invocation: Option<String>,
    pub outcome: Option<String>,
    pub follow: bool,
}

pub struct Client {
    base: String,
    key: Option<String>,
    pub(crate) json: bool,
    http: reqwest::Client,
}

/// Uploads larger than this show progress on a terminal.
const PROGRESS_THRESHOLD: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

impl Client {
    pub fn new(base: &str, key: Option<String>, json: bool) -> Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            key,
            json,
            http: reqwest::Client::builder().build()?,
        })
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> Result<RequestBuilder> {
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| anyhow!("no API key: set GEYSER_API_KEY or pass --api-key"))?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key))
    }

    pub(crate) async fn send(&self, builder: RequestBuilder) -> Result<Response> {
        let response = builder
            .send()
            .await
            .with_context(|| format!("cannot reach Geyser at {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        bail!(
            "{} {}: {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            message.trim()
        )
    }

    pub(crate) async fn send_json(&self, builder: RequestBuilder) -> Result<Value> {
        let response = self.send(builder).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        response.json().await.context("invalid JSON from server")
    }

    pub(crate) fn print_json(&self, value: &Value) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }

    pub async fn create_tenant(&self, name: &str) -> Result<()> {
        let body = serde_json::json!({ "name": name });
        let value = self
            .send_json(self.request(Method::POST, "/v1/tenants")?.json(&body))
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!("tenant {} created", value["name"].as_str().unwrap_or(name));
        println!(
            "api key (shown once, keep it): {}",
            value["api_key"].as_str().unwrap_or("")
        );
        Ok(())
    }

    pub async fn deploy(
        &self,
        name: &str,
        file: &Path,
        memory_mb: Option<u32>,
        timeout_ms: Option<u64>,
        cpu_limit_ms: Option<u64>,
        private: bool,
    ) -> Result<()> {
        // `geyser new NAME` prints `geyser deploy NAME ARTIFACT` with the artifact relative to
        // the project: it works from inside the project and from the directory holding it.
        let beside = Path::new(name).join(file);
        let file = if !file.exists() && file.is_relative() && beside.exists() {
            beside.as_path()
        } else {
            file
        };
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(m) = memory_mb {
            query.push(("memory_mb", m.to_string()));
        }
        if let Some(t) = timeout_ms {
            query.push(("timeout_ms", t.to_string()));
        }
        if let Some(c) = cpu_limit_ms {
            query.push(("cpu_limit_ms", c.to_string()));
        }
        if private {
            query.push(("public", "false".into()));
        }
        let total = bytes.len();
        let show_progress = total > PROGRESS_THRESHOLD && std::io::stderr().is_terminal();
        let body = if show_progress {
            let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
            let mut sent = 0usize;
            let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
                sent += chunk.len();
                eprint!(
                    "\ruploading {}: {} / {} KiB",
                    mebibytes(total),
                    sent >> 10,
                    total >> 10
                );
                if sent == total {
                    eprintln!();
                }
                Ok::<_, std::io::Error>(chunk)
            }));
            reqwest::Body::wrap_stream(stream)
        } else {
            reqwest::Body::from(bytes)
        };
        let request = self
            .request(Method::PUT, &format!("/v1/functions/{name}"))?
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(body);
        let value = self.send_json(request).await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "deployed {} version {} ({} function, sha256 {})",
            value["name"].as_str().unwrap_or(name),
            value["version"],
            value["kind"].as_str().unwrap_or("?"),
            value["sha256"].as_str().unwrap_or("?")
        );
        if value["live"] == Value::Bool(false) {
            println!(
                "not live (alias live does not auto-promote): call it at {}; make it live with `geyser alias set {} live --version {}`",
                value["url"].as_str().unwrap_or("?"),
                value["name"].as_str().unwrap_or(name),
                value["version"]
            );
        }
        Ok(())
    }

    pub async fn invoke(
        &self,
        name: &str,
        path: &str,
        method: &str,
        data: Option<String>,
        asynchronous: bool,
    ) -> Result<()> {
        // `NAME@3` or `NAME@ALIAS` calls that version or alias.
        let (name, selector) = match name.split_once('@') {
            Some((name, selector)) => (name, format!("@{selector}")),
            None => (name, String::new()),
        };
        let info = self
            .send_json(self.request(Method::GET, &format!("/v1/functions/{name}"))?)
            .await?;
        let mount = info["url"]
            .as_str()
            .map(|url| format!("{url}{selector}"))
            .ok_or_else(|| anyhow!("server did not say where {name} lives"))?;
        let path = if path.starts_with('/') || path.starts_with('?') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| anyhow!("invalid HTTP method {method:?}"))?;
        let mut request = self.request(method, &format!("{mount}{path}"))?;
        if let Some(data) = data {
            request = request.body(data);
        }
        if asynchronous {
            request = request.header("prefer", "respond-async");
            let accepted = self.send_json(request).await?;
            if self.json {
                return self.print_json(&accepted);
            }
            println!(
                "queued {}: follow it at {}",
                accepted["invocation"].as_str().unwrap_or_default(),
                accepted["location"].as_str().unwrap_or_default()
            );
            return Ok(());
        }
        let response = self.send(request).await?;
        let status = response.status();
        let body = response.bytes().await?;
        if self.json {
            let value = serde_json::json!({
                "status": status.as_u16(),
                "body": String::from_utf8_lossy(&body),
            });
            return self.print_json(&value);
        }
        use std::io::Write;
        std::io::stdout().write_all(&body)?;
        Ok(())
    }

    pub async fn functions(&self) -> Result<()> {
        let value = self
            .send_json(self.request(Method::GET, "/v1/functions")?)
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "{:<32} {:>8} {:>8} {:>10}  {:<7} URL",
            "NAME", "VERSION", "MEM MB", "TIMEOUT", "PUBLIC"
        );
        for f in value.as_array().into_iter().flatten() {
            println!(
                "{:<32} {:>8} {:>8} {:>8}ms  {:<7} {}",
                f["name"].as_str().unwrap_or(""),
                f["active_version"],
                f["memory_mb"],
                f["timeout_ms"],
                f["public"],
                f["url"].as_str().unwrap_or("")
            );
        }
        Ok(())
    }

    pub async fn rollback(&self, name: &str, version: i64) -> Result<()> {
        let body = serde_json::json!({ "version": version });
        let value = self
            .send_json(
                self.request(Method::POST, &format!("/v1/functions/{name}/rollback"))?
                    .json(&body),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!("{name} now runs version {}", value["active_version"]);
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, &format!("/v1/functions/{name}"))?)
            .await?;
        if self.json {
            return self.print_json(&serde_json::json!({ "deleted": name }));
        }
        println!("deleted {name}");
        Ok(())
    }

    pub async fn show_config(&self, name: &str) -> Result<()> {
        let value = self
            .send_json(self.request(Method::GET, &format!("/v1/functions/{name}/config"))?)
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        print_config(&value);
        Ok(())
    }

    /// `PUT /v1/functions/{name}/config` with `change`; prints the new version.
    pub async fn configure(&self, name: &str, change: Value) -> Result<()> {
        let value = self
            .send_json(
                self.request(Method::PUT, &format!("/v1/functions/{name}/config"))?
                    .json(&change),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!("configured {name}: version {}", value["version"]);
        print_config(&value);
        Ok(())
    }

    /// GETs a path and prints the JSON (for listings whose natural form is JSON).
    pub async fn get_and_print(&self, path: &str) -> Result<()> {
        let value = self.send_json(self.request(Method::GET, path)?).await?;
        self.print_json(&value)
    }

    pub async fn put_cron(&self, function: &str, body: Value) -> Result<()> {
        let value = self
            .send_json(
                self.request(
                    Method::PUT,
                    &format!("/v1/functions/{function}/triggers/cron"),
                )?
                .json(&body),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "schedule {} on {function}: {} ({}), next: {}",
            value["name"].as_str().unwrap_or(""),
            value["expression"].as_str().unwrap_or(""),
            value["timezone"].as_str().unwrap_or(""),
            value["next"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }

    pub async fn put_kafka(&self, function: &str, body: Value) -> Result<()> {
        let value = self
            .send_json(
                self.request(
                    Method::PUT,
                    &format!("/v1/functions/{function}/triggers/kafka"),
                )?
                .json(&body),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "{function} bound to {} (start {}, {} attempts, dead letters to {})",
            value["topic"].as_str().unwrap_or(""),
            value["start"].as_str().unwrap_or(""),
            value["max_attempts"],
            value["dead_letter_topic"].as_str().unwrap_or("")
        );
        Ok(())
    }

    pub async fn remove_kafka(&self, function: &str, topic: &str) -> Result<()> {
        self.remove_trigger(
            &format!("/v1/functions/{function}/triggers/kafka/{topic}"),
            format!("unbound {function} from {topic}"),
        )
        .await
    }

    /// DELETEs a trigger and says what went (nothing in `--json` mode: 204 has no body).
    async fn remove_trigger(&self, path: &str, said: String) -> Result<()> {
        self.send(self.request(Method::DELETE, path)?).await?;
        if !self.json {
            println!("{said}");
        }
        Ok(())
    }

    pub async fn run_cron(
        &self,
        function: &str,
        schedule: &str,
        scheduled_time: Option<String>,
    ) -> Result<()> {
        let body = match scheduled_time {
            Some(t) => serde_json::json!({ "scheduled_time": t }),
            None => serde_json::json!({}),
        };
        let value = self
            .send_json(
                self.request(
                    Method::POST,
                    &format!("/v1/functions/{function}/triggers/cron/{schedule}/run"),
                )?
                .json(&body),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "ran {schedule} for {}: {}",
            value["scheduled_time"].as_str().unwrap_or(""),
            value["outcome"].as_str().unwrap_or("")
        );
        Ok(())
    }

    pub async fn remove_cron(&self, function: &str, schedule: &str) -> Result<()> {
        self.remove_trigger(
            &format!("/v1/functions/{function}/triggers/cron/{schedule}"),
            format!("removed schedule {schedule} from {function}"),
        )
        .await
    }

    /// `geyser logs`: the latest lines, then (`follow`) every new one as it is written, from
    /// the live tail's server-sent events.
    pub async fn logs(&self, name: &str, filter: &LogFilter) -> Result<()> {
        let mut query: Vec<(&str, String)> = vec![("limit", filter.limit.to_string())];
        if let Some(invocation) = &filter.invocation {
            query.push(("invocation", invocation.clone()));
        }
        if let Some(outcome) = &filter.outcome {
            query.push(("outcome", outcome.clone()));
        }
        if !filter.follow {
            let request = self
                .request(Method::GET, &format!("/v1/functions/{name}/logs"))?
                .query(&query);
            let value = self.send_json(request).await?;
            if self.json {
                return self.print_json(&value);
            }
            for line in value.as_array().into_iter().flatten() {
                self.print_log_line(line);
            }
            return Ok(());
        }
        let request = self
            .request(Method::GET, &format!("/v1/functions/{name}/logs/stream"))?
            .header("accept", "text/event-stream")
            .query(&query);
        let mut events = self.send(request).await?.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let event = event.context("the log stream broke off")?;
            if event.event != "log" {
                continue;
            }
            let line: Value = serde_json::from_str(&event.data).context("invalid log event")?;
            if self.json {
                println!("{}", serde_json::to_string(&line)?);
            } else {
                self.print_log_line(&line);
            }
        }
        bail!("the server closed the log stream")
    }

    fn print_log_line(&self, line: &Value) {
        println!(
            "{} {:<6} {} {}",
            line["at"].as_str().unwrap_or(""),
            line["level"].as_str().unwrap_or(""),
            line["invocation"].as_str().unwrap_or(""),
            line["message"].as_str().unwrap_or("")
        );
    }

    pub async fn bill(&self, month: Option<&str>, tenant: Option<&str>, csv: bool) -> Result<()> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(month) = month {
            query.push(("month", month));
        }
        if let Some(tenant) = tenant {
            query.push(("tenant", tenant));
        }
        if csv {
            query.push(("format", "csv"));
        }
        let request = self
            .request(Method::GET, "/v1/billing/statement")?
            .query(&query);
        if csv {
            let text = self.send(request).await?.text().await?;
            print!("{text}");
            return Ok(());
        }
        let value = self.send_json(request).await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "Statement of {} for {} (USD)",
            value["tenant"].as_str().unwrap_or(""),
            value["month"].as_str().unwrap_or("")
        );
        println!(
            "{:<28} {:<7} {:>10} {:>7} {:>14} {:>14} {:>12} {:>14}",
            "FUNCTION",
            "TRIGGER",
            "REQUESTS",
            "ERRORS",
            "GB-SECONDS",
            "CPU-SECONDS",
            "COST",
            "IF ALLOCATED"
        );
        for l in value["lines"].as_array().into_iter().flatten() {
            println!(
                "{:<28} {:<7} {:>10} {:>7} {:>14.6} {:>14.6} {:>12.6} {:>14.6}",
                l["function"].as_str().unwrap_or(""),
                l["trigger"].as_str().unwrap_or(""),
                l["requests"].to_string(),
                l["errors"].to_string(),
                l["gb_seconds"].as_f64().unwrap_or(0.0),
                l["cpu_seconds"].as_f64().unwrap_or(0.0),
                l["cost_usd"].as_f64().unwrap_or(0.0),
                l["allocated_cost_usd"].as_f64().unwrap_or(0.0)
            );
        }
        let versions = value["versions"].as_array().cloned().unwrap_or_default();
        if versions.len() > 1 {
            println!("by version:");
            for v in &versions {
                println!(
                    "  {:<26} {:>7} {:>10} {:>7} {:>14.6} {:>14.6} {:>12.6}",
                    v["function"].as_str().unwrap_or(""),
                    format!("v{}", v["version"]),
                    v["requests"].to_string(),
                    v["errors"].to_string(),
                    v["gb_seconds"].as_f64().unwrap_or(0.0),
                    v["cpu_seconds"].as_f64().unwrap_or(0.0),
                    v["cost_usd"].as_f64().unwrap_or(0.0)
                );
            }
        }
        let usd = |k: &str| value[k].as_f64().unwrap_or(0.0);
        println!("subtotal         {:>12.6}", usd("subtotal_usd"));
        println!("free tier        {:>12.6}", -usd("free_tier_credit_usd"));
        println!("TOTAL            {:>12.6}", usd("total_usd"));
        println!("if allocated     {:>12.6}", usd("allocated_total_usd"));
        if let Some(message) = value["budget"]["message"].as_str() {
            println!("budget: {message}");
        }
        for a in value["advice"].as_array().into_iter().flatten() {
            if a["move_to_dedicated"].as_bool() == Some(true) {
                println!(
                    "advice: {}: {}",
                    a["function"].as_str().unwrap_or(""),
                    a["message"].as_str().unwrap_or("")
                );
            }
        }
        Ok(())
    }

    pub async fn budget(
        &self,
        monthly_usd: Option<f64>,
        policy: Option<&str>,
        clear: bool,
        tenant: Option<&str>,
    ) -> Result<()> {
        let query: Vec<(&str, &str)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
        let value = if clear {
            self.send_json(
                self.request(Method::DELETE, "/v1/billing/budget")?
                    .query(&query),
            )
            .await?;
            println!("budget cleared");
            return Ok(());
        } else if let Some(monthly_usd) = monthly_usd {
            let body = serde_json::json!({ "monthly_usd": monthly_usd, "policy": policy });
            self.send_json(
                self.request(Method::PUT, "/v1/billing/budget")?
                    .query(&query)
                    .json(&body),
            )
            .await?
        } else if policy.is_some() {
            bail!("--policy needs --monthly-usd");
        } else {
            self.send_json(
                self.request(Method::GET, "/v1/billing/budget")?
                    .query(&query),
            )
            .await?
        };
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "{} (policy {}, state {})",
            value["message"].as_str().unwrap_or(""),
            value["policy"].as_str().unwrap_or(""),
            value["state"].as_str().unwrap_or("")
        );
        Ok(())
    }

    pub async fn usage(&self, tenant: Option<&str>) -> Result<()> {
        let mut request = self.request(Method::GET, "/v1/usage")?;
        if let Some(tenant) = tenant {
            request = request.query(&[("tenant", tenant)]);
        }
        let value = self.send_json(request).await?;
        if self.json {
            return self.print_json(&value);
        }
        println!(
            "{:<32} {:>11} {:>7} {:>12} {:>12} {:>12} {:>12}",
            "FUNCTION", "INVOCATIONS", "ERRORS", "WALL MS", "CPU MS", "PEAK MIB", "GB-SECONDS"
        );
        let row = |name: &str, v: &Value| {
            println!(
                "{:<32} {:>11} {:>7} {:>12.1} {:>12.1} {:>12.1} {:>12.6}",
                name,
                v["invocations"].to_string(),
                v["errors"].to_string(),
                v["wall_ms"].as_f64().unwrap_or(0.0),
                v["cpu_ms"].as_f64().unwrap_or(0.0),
                v["peak_memory_bytes"].as_f64().unwrap_or(0.0) / f64::from(1 << 20),
                v["gb_seconds"].as_f64().unwrap_or(0.0)
            );
        };
        for f in value["functions"].as_array().into_iter().flatten() {
            row(f["function"].as_str().unwrap_or(""), f);
        }
        row("TOTAL", &value["totals"]);
        Ok(())
    }
}

fn mebibytes(total: usize) -> String {
    format!("{:.1} MiB", total as f64 / f64::from(1 << 20))
}
