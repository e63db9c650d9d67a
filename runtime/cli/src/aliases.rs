//! `geyser alias set|show|rm` and `geyser promote`: a function's aliases and canaries.

use crate::Client;
use anyhow::Result;
use reqwest::Method;
use serde_json::{Value, json};

/// What `geyser alias set` asks for.
#[derive(Debug, Clone, Default)]
pub struct AliasChange {
    pub version: i64,
    pub canary: Option<i64>,
    pub weight: f64,
    pub sticky: Option<String>,
    pub max_error_rate: Option<f64>,
    pub max_p99_ms: Option<u64>,
    pub min_requests: Option<u64>,
    /// `Some` to change whether deploys move `live`.
    pub auto_promote: Option<bool>,
}

impl AliasChange {
    /// The body of `PUT /v1/functions/{name}/aliases/{alias}`.
    pub fn body(&self) -> Value {
        let mut body = json!({ "version": self.version });
        if let Some(auto) = self.auto_promote {
            body["auto_promote"] = auto.into();
        }
        if let Some(canary) = self.canary {
            let mut c = json!({ "version": canary, "weight": self.weight });
            if let Some(header) = &self.sticky {
                c["sticky"] = header.clone().into();
            }
            if self.max_error_rate.is_some() || self.max_p99_ms.is_some() {
                let mut rule = json!({});
                if let Some(rate) = self.max_error_rate {
                    rule["error_rate"] = rate.into();
                }
                if let Some(ms) = self.max_p99_ms {
                    rule["p99_ms"] = ms.into();
                }
                if let Some(n) = self.min_requests {
                    rule["min_requests"] = n.into();
                }
                c["rollback_on"] = rule;
            }
            body["canary"] = c;
        }
        body
    }
}

/// One alias as a line: `live  -> 3  (canary 4 at 25 %, sticky x-user)`.
fn alias_line(value: &Value) -> String {
    let mut line = format!(
        "{:<12} -> {}",
        value["alias"].as_str().unwrap_or_default(),
        value["version"]
    );
    if let Some(canary) = value.get("canary").filter(|c| !c.is_null()) {
        let weight = canary["weight"].as_f64().unwrap_or(0.0) * 100.0;
        line.push_str(&format!("  (canary {} at {weight} %", canary["version"]));
        if let Some(header) = canary["sticky"].as_str() {
            line.push_str(&format!(", sticky {header}"));
        }
        if let Some(rule) = canary.get("rollback_on").filter(|r| !r.is_null()) {
            line.push_str(&format!(", rollback on {rule}"));
        }
        line.push(')');
    }
    if value["auto_promote"] == Value::Bool(false) {
        line.push_str("  [deploys do not move it]");
    }
    line
}

impl Client {
    pub async fn set_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<()> {
        let value = self
            .send_json(
                self.request(
                    Method::PUT,
                    &format!("/v1/functions/{name}/aliases/{alias}"),
                )?
                .json(&change.body()),
            )
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!("{name}@{}", alias_line(&value));
        Ok(())
    }

    /// Every alias of `name`, or one with its history.
    pub async fn show_aliases(&self, name: &str, alias: Option<&str>) -> Result<()> {
        let Some(alias) = alias else {
            let value = self
                .send_json(self.request(Method::GET, &format!("/v1/functions/{name}/aliases"))?)
                .await?;
            if self.json {
                return self.print_json(&value);
            }
            for a in value["aliases"].as_array().into_iter().flatten() {
                println!("{}", alias_line(a));
            }
            return Ok(());
        };
        let path = format!("/v1/functions/{name}/aliases/{alias}");
        let value = self.send_json(self.request(Method::GET, &path)?).await?;
        let events = self
            .send_json(self.request(Method::GET, &format!("{path}/events"))?)
            .await?;
        if self.json {
            return self.print_json(&json!({ "alias": value, "events": events["events"] }));
        }
        println!("{}", alias_line(&value));
        for e in events["events"].as_array().into_iter().flatten() {
            let mut line = format!(
                "  {} {:<11} version {}",
                e["at_ms"],
                e["kind"].as_str().unwrap_or_default(),
                e["version"]
            );
            if let Some(canary) = e.get("canary_version") {
                line.push_str(&format!(", canary {canary} at {}", e["canary_weight"]));
            }
            if let Some(detail) = e["detail"].as_str() {
                line.push_str(&format!(": {detail}"));
            }
            println!("{line}");
        }
        Ok(())
    }

    pub async fn remove_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.send_json(self.request(
            Method::DELETE,
            &format!("/v1/functions/{name}/aliases/{alias}"),
        )?)
        .await?;
        if self.json {
            return self.print_json(&json!({ "deleted": alias }));
        }
        println!("removed alias {alias} of {name}");
        Ok(())
    }

    pub async fn promote(&self, name: &str, alias: &str) -> Result<()> {
        let value = self
            .send_json(self.request(
                Method::POST,
                &format!("/v1/functions/{name}/aliases/{alias}/promote"),
            )?)
            .await?;
        if self.json {
            return self.print_json(&value);
        }
        println!("promoted: {name}@{}", alias_line(&value));
        Ok(())
    }
}
