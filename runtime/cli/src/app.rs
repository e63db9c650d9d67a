//! The declarative app file: `geyser export DIR` writes `DIR/geyser.toml` (the tenant's
//! functions with their limits, variables, secret names, allow-lists, aliases, cron and Kafka
//! bindings) and each active artifact beside it; `geyser apply FILE` makes the tenant match the
//! file — it checks the whole file first (names, artifacts, secrets in the environment), prints
//! the plan, and only then changes what differs, in order, stopping at the first refusal.

use crate::Client;
use anyhow::{Context, Result, bail};
use geyser_core::{AliasName, FunctionName, MissedTicks, Overlap, TenantName, topics};
use geyser_scheduler::Schedule;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The app file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppFile {
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionSpec>,
}

fn yes() -> bool {
    true
}

fn utc() -> String {
    "UTC".to_owned()
}

fn live() -> String {
    "live".to_owned()
}

fn is_live(alias: &str) -> bool {
    alias == "live"
}

/// One function of the app file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The component, relative to the app file.
    pub artifact: String,
    /// Run (in the app file's directory, by `sh -c`) before anything else by `apply --build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_ms: Option<u64>,
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_outbound_hosts: Vec<String>,
    /// Aliases other than `live` that point at this version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Secret name → where its value comes from at apply time (never the file).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cron: Vec<CronSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kafka: Vec<KafkaSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The environment variable that holds the value when `apply` runs.
    pub env: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    pub name: String,
    pub expression: String,
    #[serde(default = "utc")]
    pub timezone: String,
    /// The tick's payload as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default = "once")]
    pub missed: String,
    #[serde(default = "skip")]
    pub overlap: String,
    #[serde(default = "live")]
    pub alias: String,
    /// Attempts of a failed or refused tick (1: record the failure).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub max_attempts: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn once() -> String {
    "once".to_owned()
}

fn skip() -> String {
    "skip".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSpec {
    pub topic: String,
    #[serde(default = "latest")]
    pub start: String,
    #[serde(default = "five")]
    pub max_attempts: u64,
    #[serde(default = "backoff")]
    pub backoff_ms: u64,
    /// Default `{topic}.dlq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    #[serde(default = "yes")]
    pub ordered: bool,
    #[serde(default = "live")]
    pub alias: String,
}

fn latest() -> String {
    "latest".to_owned()
}

fn five() -> u64 {
    5
}

fn backoff() -> u64 {
    200
}

impl KafkaSpec {
    fn dead_letter(&self) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }
}

/// The file name `export` writes and `apply DIR` reads.
pub const FILE_NAME: &str = "geyser.toml";

impl AppFile {
    /// Reads and checks an app file: unknown keys, bad names, missing artifacts are errors
    /// naming the field or path.
    pub fn load(path: &Path) -> Result<(AppFile, PathBuf)> {
        let path = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: AppFile = toml::from_str(&text)
            .with_context(|| format!("invalid app file {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        for (name, spec) in &file.functions {
            FunctionName::parse(name).map_err(|e| anyhow::anyhow!("functions.{name}: {e}"))?;
            for alias in spec
                .aliases
                .iter()
                .chain(spec.cron.iter().map(|c| &c.alias))
                .chain(spec.kafka.iter().map(|k| &k.alias))
            {
                AliasName::parse(alias).map_err(|e| anyhow::anyhow!("functions.{name}: {e}"))?;
            }
            if spec.aliases.iter().any(|a| is_live(a)) {
                bail!(
                    "functions.{name}.aliases: live is every function's; list only other aliases"
                );
            }
        }
        Ok((file, dir))
    }

    /// The trigger settings the node would refuse, checked before anything changes: cron
    /// expressions and time zones, the text values, JSON payloads, and Kafka topics outside
    /// `tenant`'s namespace.
    fn check_triggers(&self, tenant: &TenantName) -> Result<()> {
        for (name, spec) in &self.functions {
            for (i, c) in spec.cron.iter().enumerate() {
                let at = format!("functions.{name}.cron[{i}] ({})", c.name);
                FunctionName::parse(&c.name).map_err(|_| {
                    anyhow::anyhow!(
                        "{at}: a schedule name is 1 to 63 characters of a-z, 0-9 and '-'"
                    )
                })?;
                Schedule::parse(&c.expression, &c.timezone)
                    .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
                c.missed
                    .parse::<MissedTicks>()
                    .map_err(|e| anyhow::anyhow!("{at}.missed: {e}"))?;
                c.overlap
                    .parse::<Overlap>()
                    .map_err(|e| anyhow::anyhow!("{at}.overlap: {e}"))?;
                cron_body(c).with_context(|| at.clone())?;
            }
            for (i, k) in spec.kafka.iter().enumerate() {
                let at = format!("functions.{name}.kafka[{i}] ({})", k.topic);
                if !["earliest", "latest"].contains(&k.start.as_str()) {
                    bail!(
                        "{at}.start: {:?} is not \"earliest\" or \"latest\"",
                        k.start
                    );
                }
                for topic in [&k.topic, &k.dead_letter()] {
                    topics::check_owned(tenant, topic).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
                }
                if k.dead_letter() == k.topic {
                    bail!("{at}.dead_letter_topic: must differ from topic");
                }
            }
        }
        Ok(())
    }

    /// Checks what the file needs from this machine: artifacts readable, secrets in the
    /// environment. Returns the artifacts' bytes and the secrets' values.
    fn gather(&self, dir: &Path) -> Result<Gathered> {
        let mut gathered = Gathered::default();
        for (name, spec) in &self.functions {
            let path = dir.join(&spec.artifact);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("functions.{name}.artifact: cannot read {}", path.display())
            })?;
            gathered.artifacts.insert(name.clone(), bytes);
            for (secret, source) in &spec.secrets {
                let value = std::env::var(&source.env).with_context(|| {
                    format!(
                        "functions.{name}.secrets.{secret}: the environment variable {} is not set",
                        source.env
                    )
                })?;
                gathered
                    .secrets
                    .insert((name.clone(), secret.clone()), value);
            }
        }
        Ok(gathered)
    }

    /// Runs each function's `build` command in `dir`.
    pub fn build(&self, dir: &Path) -> Result<()> {
        for (name, spec) in &self.functions {
            let Some(command) = &spec.build else { continue };
            eprintln!("building {name}: {command}");
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(dir)
                .status()
                .with_context(|| format!("functions.{name}.build: cannot run {command:?}"))?;
            if !status.success() {
                bail!("functions.{name}.build: {command:?} failed ({status})");
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Gathered {
    artifacts: BTreeMap<String, Vec<u8>>,
    secrets: BTreeMap<(String, String), String>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One change `apply` makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Deploy {
        function: String,
        why: String,
    },
    Configure {
        function: String,
        change: Value,
        why: String,
    },
    SetAlias {
        function: String,
        alias: String,
    },
    RemoveAlias {
        function: String,
        alias: String,
    },
    PutCron {
        function: String,
        body: Value,
    },
    RemoveCron {
        function: String,
        name: String,
    },
    PutKafka {
        function: String,
        body: Value,
    },
    RemoveKafka {
        function: String,
        topic: String,
    },
    Delete {
        function: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Deploy { function, why } => write!(f, "~ deploy {function} ({why})"),
            Action::Configure { function, why, .. } => write!(f, "~ configure {function} ({why})"),
            Action::SetAlias { function, alias } => {
                write!(f, "~ alias {function}@{alias} -> the deployed version")
            }
            Action::RemoveAlias { function, alias } => write!(f, "- alias {function}@{alias}"),
            Action::PutCron { function, body } => {
                write!(
                    f,
                    "~ cron {function}/{}",
                    body["name"].as_str().unwrap_or("?")
                )
            }
            Action::RemoveCron { function, name } => write!(f, "- cron {function}/{name}"),
            Action::PutKafka { function, body } => {
                write!(
                    f,
                    "~ kafka {function} <- {}",
                    body["topic"].as_str().unwrap_or("?")
                )
            }
            Action::RemoveKafka { function, topic } => write!(f, "- kafka {function} <- {topic}"),
            Action::Delete { function } => write!(f, "- function {function}"),
        }
    }
}

/// One function as the node has it, in the app file's terms.
struct Described {
    /// The active version and its artifact's hash.
    version: i64,
    sha256: String,
    /// Its settings; `aliases` are the ones pointing at the active version.
    spec: FunctionSpec,
    /// Aliases (other than `live`) pointing at other versions, with their version.
    elsewhere: Vec<(String, Value)>,
}

/// What a tenant has now, as the API shows it.
struct Current {
    /// Function name → its entry of `GET /v1/functions`.
    functions: BTreeMap<String, Value>,
}

fn active_version(function: &Value) -> Option<&Value> {
    let active = function["active_version"].as_i64()?;
    function["versions"]
        .as_array()?
        .iter()
        .find(|v| v["version"].as_i64() == Some(active))
}

fn cron_body(spec: &CronSpec) -> Result<Value> {
    let mut body = json!({
        "name": spec.name,
        "expression": spec.expression,
        "timezone": spec.timezone,
        "missed": spec.missed,
        "overlap": spec.overlap,
        "alias": spec.alias,
        "max_attempts": spec.max_attempts,
    });
    if let Some(payload) = &spec.payload {
        body["payload"] = serde_json::from_str(payload)
            .with_context(|| format!("cron {}: payload is not JSON", spec.name))?;
    }
    Ok(body)
}

fn kafka_body(spec: &KafkaSpec) -> Value {
    json!({
        "topic": spec.topic,
        "start": spec.start,
        "max_attempts": spec.max_attempts,
        "backoff_ms": spec.backoff_ms,
        "dead_letter_topic": spec.dead_letter(),
        "ordered": spec.ordered,
        "alias": spec.alias,
    })
}

impl Client {
    async fn get_value(&self, path: &str) -> Result<Value> {
        self.send_json(self.request(Method::GET, path)?).await
    }

    async fn current(&self) -> Result<Current> {
        let list = self.get_value("/v1/functions").await?;
        let functions = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f["name"].as_str()?.to_owned(), f.clone())))
            .collect();
        Ok(Current { functions })
    }

    /// A listed function as the node has it now, in the app file's terms (what `export`
    /// writes, and what `apply` compares the file with); `None` without an active version.
    async fn described(&self, name: &str, function: &Value) -> Result<Option<Described>> {
        let Some(active) = active_version(function) else {
            return Ok(None);
        };
        let version = active["version"].as_i64().unwrap_or(0);
        let config = &active["config"];
        let mut spec = FunctionSpec {
            artifact: format!("{name}.wasm"),
            build: None,
            memory_mb: active["memory_mb"].as_u64(),
            timeout_ms: active["timeout_ms"].as_u64(),
            cpu_limit_ms: active["cpu_limit_ms"].as_u64(),
            public: active["public"].as_bool().unwrap_or(true),
            allowed_outbound_hosts: strings(&config["allowed_outbound_hosts"]),
            aliases: Vec::new(),
            variables: config["variables"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            secrets: strings(&config["secrets"])
                .into_iter()
                .map(|s| (s.clone(), SecretSource { env: s }))
                .collect(),
            cron: Vec::new(),
            kafka: Vec::new(),
        };
        let mut elsewhere = Vec::new();
        let aliases = self
            .get_value(&format!("/v1/functions/{name}/aliases"))
            .await?;
        for alias in aliases["aliases"].as_array().into_iter().flatten() {
            let alias_name = alias["alias"].as_str().unwrap_or_default().to_owned();
            if is_live(&alias_name) {
                continue;
            }
            if alias["version"].as_i64() == Some(version) {
                spec.aliases.push(alias_name);
            } else {
                elsewhere.push((alias_name, alias["version"].clone()));
            }
        }
        for c in self
            .get_value(&format!("/v1/functions/{name}/triggers/cron"))
            .await?
            .as_array()
            .into_iter()
            .flatten()
        {
            spec.cron.push(CronSpec {
                name: c["name"].as_str().unwrap_or_default().to_owned(),
                expression: c["expression"].as_str().unwrap_or_default().to_owned(),
                timezone: c["timezone"].as_str().unwrap_or("UTC").to_owned(),
                payload: (!c["payload"].is_null()).then(|| c["payload"].to_string()),
                missed: c["missed"].as_str().unwrap_or("once").to_owned(),
                overlap: c["overlap"].as_str().unwrap_or("skip").to_owned(),
                alias: c["alias"].as_str().unwrap_or("live").to_owned(),
                max_attempts: c["max_attempts"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1),
            });
        }
        for k in self
            .get_value(&format!("/v1/functions/{name}/triggers/kafka"))
            .await?
            .as_array()
            .into_iter()
            .flatten()
        {
            spec.kafka.push(KafkaSpec {
                topic: k["topic"].as_str().unwrap_or_default().to_owned(),
                start: k["start"].as_str().unwrap_or("latest").to_owned(),
                max_attempts: k["max_attempts"].as_u64().unwrap_or(5),
                backoff_ms: k["backoff_ms"].as_u64().unwrap_or(200),
                dead_letter_topic: k["dead_letter_topic"].as_str().map(str::to_owned),
                ordered: k["ordered"].as_bool().unwrap_or(true),
                alias: k["alias"].as_str().unwrap_or("live").to_owned(),
            });
        }
        Ok(Some(Described {
            version,
            sha256: active["sha256"].as_str().unwrap_or_default().to_owned(),
            spec,
            elsewhere,
        }))
    }

    /// `geyser export DIR`.
    pub async fn export(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let current = self.current().await?;
        let mut file = AppFile::default();
        for (name, function) in &current.functions {
            let Some(described) = self.described(name, function).await? else {
                continue;
            };
            let bytes = self
                .send(self.request(
                    Method::GET,
                    &format!(
                        "/v1/functions/{name}/versions/{}/artifact",
                        described.version
                    ),
                )?)
                .await?
                .bytes()
                .await?;
            let artifact = &described.spec.artifact;
            std::fs::write(dir.join(artifact), &bytes)
                .with_context(|| format!("cannot write {artifact}"))?;
            for (alias, version) in &described.elsewhere {
                eprintln!(
                    "note: alias {name}@{alias} points at version {version} (not the active one): not exported"
                );
            }
            file.functions.insert(name.clone(), described.spec);
        }
        let text = toml::to_string_pretty(&file).context("app file does not serialize")?;
        let path = dir.join(FILE_NAME);
        std::fs::write(
            &path,
            format!(
                "# geyser export: apply with `geyser apply {}`\n{text}",
                path.display()
            ),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        if self.json {
            return self.print_json(&json!({
                "file": path.display().to_string(),
                "functions": file.functions.keys().collect::<Vec<_>>(),
            }));
        }
        println!(
            "exported {} function(s) to {}",
            file.functions.len(),
            path.display()
        );
        Ok(())
    }

    /// The changes that make the tenant match `file`.
    async fn plan(&self, file: &AppFile, gathered: &Gathered, prune: bool) -> Result<Vec<Action>> {
        let current = self.current().await?;
        let mut plan = Vec::new();
        for (name, spec) in &file.functions {
            let function = name.clone();
            let bytes = &gathered.artifacts[name];
            let now = match current.functions.get(name) {
                Some(listed) => self.described(name, listed).await?,
                None => None,
            };
            let why = match &now {
                None => Some("new function".to_owned()),
                Some(d) if d.sha256 != sha256(bytes) => Some("artifact differs".to_owned()),
                Some(d)
                    if spec.memory_mb.is_some_and(|m| d.spec.memory_mb != Some(m))
                        || spec
                            .timeout_ms
                            .is_some_and(|t| d.spec.timeout_ms != Some(t))
                        || spec
                            .cpu_limit_ms
                            .is_some_and(|c| d.spec.cpu_limit_ms != Some(c))
                        || d.spec.public != spec.public =>
                {
                    Some("limits differ".to_owned())
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                plan.push(Action::Deploy {
                    function: function.clone(),
                    why,
                });
            }
            // Configuration, against the active one (a deploy keeps it).
            // A new function has nothing yet (its limits were compared above).
            let empty = FunctionSpec::default();
            let have = now.as_ref().map_or(&empty, |d| &d.spec);
            let mut change = serde_json::Map::new();
            let mut why = Vec::new();
            if have.variables != spec.variables {
                let mut vars = serde_json::Map::new();
                for (k, v) in &spec.variables {
                    if have.variables.get(k) != Some(v) {
                        vars.insert(k.clone(), v.clone().into());
                    }
                }
                for k in have
                    .variables
                    .keys()
                    .filter(|k| !spec.variables.contains_key(*k))
                {
                    vars.insert(k.clone(), Value::Null);
                }
                why.push(format!(
                    "variables {}",
                    vars.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                change.insert("variables".into(), vars.into());
            }
            let have_secrets: BTreeSet<&String> = have.secrets.keys().collect();
            let want_secrets: BTreeSet<&String> = spec.secrets.keys().collect();
            if have_secrets != want_secrets {
                let mut secrets = serde_json::Map::new();
                for k in want_secrets.difference(&have_secrets) {
                    let value = &gathered.secrets[&(name.clone(), (*k).clone())];
                    secrets.insert((*k).clone(), value.clone().into());
                }
                for k in have_secrets.difference(&want_secrets) {
                    secrets.insert((*k).clone(), Value::Null);
                }
                why.push(format!(
                    "secrets {}",
                    secrets.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                change.insert("secrets".into(), secrets.into());
            }
            if have.allowed_outbound_hosts != spec.allowed_outbound_hosts {
                why.push("allowed outbound hosts".to_owned());
                change.insert(
                    "allowed_outbound_hosts".into(),
                    spec.allowed_outbound_hosts.clone().into(),
                );
            }
            if !change.is_empty() {
                plan.push(Action::Configure {
                    function: function.clone(),
                    change: change.into(),
                    why: why.join("; "),
                });
            }
            let changes_version = plan.iter().any(|a| {
                matches!(a, Action::Deploy { function: f, .. } | Action::Configure { function: f, .. } if f == name)
            });
            // Aliases: those at the active version stay unless a new version is made.
            for alias in &spec.aliases {
                if changes_version || !have.aliases.contains(alias) {
                    plan.push(Action::SetAlias {
                        function: function.clone(),
                        alias: alias.clone(),
                    });
                }
            }
            if prune {
                let elsewhere = now.iter().flat_map(|d| d.elsewhere.iter().map(|(a, _)| a));
                for alias in have.aliases.iter().chain(elsewhere) {
                    if !spec.aliases.contains(alias) {
                        plan.push(Action::RemoveAlias {
                            function: function.clone(),
                            alias: alias.clone(),
                        });
                    }
                }
            }
            let have_crons: BTreeMap<&String, Value> = have
                .cron
                .iter()
                .map(|c| Ok((&c.name, cron_body(c)?)))
                .collect::<Result<_>>()?;
            for c in &spec.cron {
                let body = cron_body(c)?;
                if have_crons.get(&c.name) != Some(&body) {
                    plan.push(Action::PutCron {
                        function: function.clone(),
                        body,
                    });
                }
            }
            if prune {
                for n in have_crons
                    .keys()
                    .filter(|n| !spec.cron.iter().any(|c| &c.name == **n))
                {
                    plan.push(Action::RemoveCron {
                        function: function.clone(),
                        name: (*n).clone(),
                    });
                }
            }
            let have_kafka: BTreeMap<&String, Value> = have
                .kafka
                .iter()
                .map(|k| (&k.topic, kafka_body(k)))
                .collect();
            for k in &spec.kafka {
                let body = kafka_body(k);
                if have_kafka.get(&k.topic) != Some(&body) {
                    plan.push(Action::PutKafka {
                        function: function.clone(),
                        body,
                    });
                }
            }
            if prune {
                for t in have_kafka
                    .keys()
                    .filter(|t| !spec.kafka.iter().any(|k| &k.topic == **t))
                {
                    plan.push(Action::RemoveKafka {
                        function: function.clone(),
                        topic: (*t).clone(),
                    });
                }
            }
        }
        if prune {
            for name in current
                .functions
                .keys()
                .filter(|n| !file.functions.contains_key(*n))
            {
                plan.push(Action::Delete {
                    function: name.clone(),
                });
            }
        }
        Ok(plan)
    }

    /// `geyser apply FILE [--dry-run] [--prune] [--build]`.
    pub async fn apply(&self, path: &Path, dry_run: bool, prune: bool, build: bool) -> Result<()> {
        let (file, dir) = AppFile::load(path)?;
        if build {
            file.build(&dir)?;
        }
        let gathered = file.gather(&dir)?;
        let quotas = self.get_value("/v1/quotas").await?;
        let tenant = quotas["tenant"]
            .as_str()
            .and_then(|t| TenantName::parse(t).ok())
            .ok_or_else(|| anyhow::anyhow!("the node did not say which tenant this key is"))?;
        file.check_triggers(&tenant)?;
        let plan = self.plan(&file, &gathered, prune).await?;
        if self.json && dry_run {
            let lines: Vec<String> = plan.iter().map(ToString::to_string).collect();
            return self.print_json(&json!({ "plan": lines }));
        }
        if plan.is_empty() {
            println!("no changes");
            return Ok(());
        }
        println!("plan:");
        for action in &plan {
            println!("  {action}");
        }
        if dry_run {
            return Ok(());
        }
        for action in &plan {
            self.execute(action, &file, &gathered)
                .await
                .with_context(|| {
                    format!("while applying `{action}` (the steps above it were applied)")
                })?;
        }
        println!("applied {} change(s)", plan.len());
        Ok(())
    }

    async fn execute(&self, action: &Action, file: &AppFile, gathered: &Gathered) -> Result<()> {
        match action {
            Action::Deploy { function, .. } => {
                let spec = &file.functions[function];
                let mut query: Vec<(&str, String)> = vec![("public", spec.public.to_string())];
                if let Some(m) = spec.memory_mb {
                    query.push(("memory_mb", m.to_string()));
                }
                if let Some(t) = spec.timeout_ms {
                    query.push(("timeout_ms", t.to_string()));
                }
                if let Some(c) = spec.cpu_limit_ms {
                    query.push(("cpu_limit_ms", c.to_string()));
                }
                self.send_json(
                    self.request(Method::PUT, &format!("/v1/functions/{function}"))?
                        .query(&query)
                        .body(gathered.artifacts[function].clone()),
                )
                .await?;
            }
            Action::Configure {
                function, change, ..
            } => {
                self.send_json(
                    self.request(Method::PUT, &format!("/v1/functions/{function}/config"))?
                        .json(change),
                )
                .await?;
            }
            Action::SetAlias { function, alias } => {
                let info = self.get_value(&format!("/v1/functions/{function}")).await?;
                self.send_json(
                    self.request(
                        Method::PUT,
                        &format!("/v1/functions/{function}/aliases/{alias}"),
                    )?
                    .json(&json!({ "version": info["active_version"] })),
                )
                .await?;
            }
            Action::RemoveAlias { function, alias } => {
                self.send_json(self.request(
                    Method::DELETE,
                    &format!("/v1/functions/{function}/aliases/{alias}"),
                )?)
                .await?;
            }
            Action::PutCron { function, body } => {
                self.send_json(
                    self.request(
                        Method::PUT,
                        &format!("/v1/functions/{function}/triggers/cron"),
                    )?
                    .json(body),
                )
                .await?;
            }
            Action::RemoveCron { function, name } => {
                self.send_json(self.request(
                    Method::DELETE,
                    &format!("/v1/functions/{function}/triggers/cron/{name}"),
                )?)
                .await?;
            }
            Action::PutKafka { function, body } => {
                self.send_json(
                    self.request(
                        Method::PUT,
                        &format!("/v1/functions/{function}/triggers/kafka"),
                    )?
                    .json(body),
                )
                .await?;
            }
            Action::RemoveKafka { function, topic } => {
                self.send_json(self.request(
                    Method::DELETE,
                    &format!("/v1/functions/{function}/triggers/kafka/{topic}"),
                )?)
                .await?;
            }
            Action::Delete { function } => {
                self.send_json(self.request(Method::DELETE, &format!("/v1/functions/{function}"))?)
                    .await?;
            }
        }
        println!("  done: {action}");
        Ok(())
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_files_round_trip_and_refuse_unknown_keys() {
        let text = r#"
[functions.tickets]
artifact = "tickets.wasm"
build = "cargo build --release"
memory_mb = 64
allowed_outbound_hosts = ["https://pay.example.com"]
aliases = ["beta"]

[functions.tickets.variables]
PAYMENTS_URL = "https://pay.example.com"

[functions.tickets.secrets]
PAYMENTS_API_KEY = { env = "PAYMENTS_KEY" }

[[functions.tickets.cron]]
name = "nightly"
expression = "0 0 3 * * *"
"#;
        let file: AppFile = toml::from_str(text).unwrap();
        let spec = &file.functions["tickets"];
        assert!(spec.public);
        assert_eq!(spec.cron[0].timezone, "UTC");
        assert_eq!(spec.cron[0].alias, "live");
        assert_eq!(spec.secrets["PAYMENTS_API_KEY"].env, "PAYMENTS_KEY");
        let again: AppFile = toml::from_str(&toml::to_string_pretty(&file).unwrap()).unwrap();
        assert_eq!(again, file);

        let err =
            toml::from_str::<AppFile>("[functions.x]\nartifact = \"x.wasm\"\nmemroy_mb = 1\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("memroy_mb"), "{err}");
        let err = toml::from_str::<AppFile>(
            "[functions.x]\nartifact = \"x.wasm\"\n[functions.x.secrets]\nK = \"inline value\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("secrets") || err.contains("K"), "{err}");
    }
}
