//! Command-line interface: argument parsing and the subcommands.

mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use geyser_cli::{Client, scaffold};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "geyser",
    version,
    about = "Geyser: a multi-tenant serverless runtime for WebAssembly components"
)]
pub struct Args {
    /// Server URL for client commands.
    #[arg(
        long,
        global = true,
        env = "GEYSER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// API key for client commands (the admin key for `tenant create`).
    #[arg(long, global = true, env = "GEYSER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a Geyser node.
    Serve(serve::ServeArgs),
    /// Manage tenants (admin).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Upload a component as a new version of a function (it becomes active unless the alias
    /// live was set with --no-auto-promote).
    Deploy {
        name: String,
        file: PathBuf,
        #[arg(long)]
        memory_mb: Option<u32>,
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// CPU time one invocation may use (ms) [default: the tenant's max_cpu_limit_ms, if any].
        #[arg(long)]
        cpu_limit_ms: Option<u64>,
        /// Require the tenant's API key to invoke it.
        #[arg(long)]
        private: bool,
    },
    /// Call a function over HTTP and print its response body.
    Invoke {
        name: String,
        /// Path below the function's mount, e.g. `/items?limit=3`.
        #[arg(default_value = "/")]
        path: String,
        #[arg(short = 'X', long, default_value = "GET")]
        method: String,
        /// Request body.
        #[arg(short = 'd', long)]
        data: Option<String>,
        /// Queue the call (`Prefer: respond-async`) and print its invocation id instead of
        /// waiting for the answer; follow it with `GET /v1/invocations/{id}`.
        #[arg(long = "async")]
        asynchronous: bool,
    },
    /// List your functions.
    Functions,
    /// Make an older version active again.
    Rollback { name: String, version: i64 },
    /// Show or change a function's aliases: `NAME@ALIAS` runs the alias's version (and its
    /// canary's share); `live` is the active version.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Make the canary of an alias its version (weight 0).
    Promote {
        name: String,
        #[arg(long, default_value = "live")]
        alias: String,
    },
    /// Show a function's most recent log lines (stdout, stderr, logging calls); `--follow`
    /// then streams every new line as it is written.
    Logs {
        name: String,
        /// Lines shown first (with `--follow`: before the new ones).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Keep streaming new lines until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only this invocation's lines.
        #[arg(long)]
        invocation: Option<String>,
        /// Only lines of invocations that ended so: ok, error, timeout, trap, memory-limit, ….
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Show or change a function's variables and allowed outbound hosts (each change is a
    /// new version with the same code).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Set a function's secrets (the value is read from stdin or a prompt, never from argv).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Write the tenant's functions, settings, aliases and triggers to DIR/geyser.toml, with
    /// each active artifact beside it.
    Export { dir: PathBuf },
    /// Make the tenant match an app file (or DIR/geyser.toml): prints the plan, then changes
    /// what differs. Secrets come from the environment variables the file names.
    Apply {
        file: PathBuf,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// Also remove functions, aliases and triggers the file does not have.
        #[arg(long)]
        prune: bool,
        /// Run each function's `build` command first.
        #[arg(long)]
        build: bool,
    },
    /// Delete a function and all its versions.
    Delete { name: String },
    /// Manage triggers of a function.
    #[command(subcommand)]
    Trigger(TriggerCommand),
    /// Create a function project (Rust, JavaScript or Python) that builds and deploys as
    /// generated.
    New {
        name: String,
        /// The language of the function.
        #[arg(long, value_enum, default_value = "rust")]
        lang: LangArg,
        /// An HTTP function (the default).
        #[arg(long, group = "kind")]
        http: bool,
        /// An event function.
        #[arg(long, group = "kind")]
        event: bool,
        /// A scheduled function.
        #[arg(long, group = "kind")]
        schedule: bool,
        /// Directory to create [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the SDKs' directory (`sdk/`, holding `js/` and `python/` too) [default: the
        /// sdk/ of the checkout this binary was built from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build and deploy the project in a directory, then rebuild and redeploy on every change.
    Dev {
        name: String,
        /// The project (Rust, JavaScript or Python, as `geyser new` made it) [default: .].
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Show usage per function (admin: `--tenant NAME`).
    Usage {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show the monthly statement: cost per function and trigger, budget, advice.
    Bill {
        /// `YYYY-MM` [default: this month, UTC].
        #[arg(long)]
        month: Option<String>,
        /// The admin names a tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Print the statement as CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Set (`--monthly-usd`), show or clear (`--clear`) the monthly budget.
    Budget {
        /// Dollars per month; at 80 % the statement warns, at 100 % invocations are refused
        /// (policy refuse) or only flagged (policy warn).
        #[arg(long)]
        monthly_usd: Option<f64>,
        /// `refuse` or `warn` [default: the node's billing.default_budget_policy].
        #[arg(long)]
        policy: Option<String>,
        #[arg(long, conflicts_with_all = ["monthly_usd", "policy"])]
        clear: bool,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `geyser new --lang`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LangArg {
    Rust,
    #[value(alias = "javascript")]
    Js,
    #[value(alias = "py")]
    Python,
}

#[derive(Subcommand, Debug)]
enum TriggerCommand {
    /// Bind (or replace) a cron schedule: `geyser trigger cron report "0 6 1 * *" --tz Europe/Berlin`.
    Cron {
        function: String,
        expression: String,
        /// Schedule name [default: "default"].
        #[arg(long, default_value = "default")]
        name: String,
        /// IANA time zone [default: UTC].
        #[arg(long)]
        tz: Option<String>,
        /// After downtime: fire the latest missed tick once, or skip them.
        #[arg(long, value_parser = ["once", "skip"])]
        missed: Option<String>,
        /// When the previous run still runs: skip the tick, or allow it.
        #[arg(long, value_parser = ["skip", "allow"])]
        overlap: Option<String>,
        /// JSON handed to every tick.
        #[arg(long)]
        payload: Option<String>,
        /// The alias whose version each tick runs [default: live].
        #[arg(long)]
        alias: Option<String>,
        /// Attempts of a tick that fails or is refused, 1–10 [default: 1: record the failure].
        #[arg(long)]
        max_attempts: Option<u32>,
    },
    /// Bind (or replace) a Kafka topic: `geyser trigger kafka counter acme.clicks --start earliest`.
    Kafka {
        function: String,
        /// A topic in your namespace (`<tenant>.<name>`).
        topic: String,
        /// Where a new binding starts reading.
        #[arg(long, value_parser = ["earliest", "latest"])]
        start: Option<String>,
        /// Attempts per record before it goes to the dead-letter topic [default: 5].
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Wait before the first retry, doubling per attempt [default: 200].
        #[arg(long)]
        backoff_ms: Option<u64>,
        /// [default: <topic>.dlq]
        #[arg(long)]
        dead_letter_topic: Option<String>,
        /// Run a partition's records concurrently (order within a partition is not kept).
        #[arg(long)]
        unordered: bool,
        /// The alias whose version each record runs [default: live].
        #[arg(long)]
        alias: Option<String>,
    },
    /// List a function's Kafka topic bindings.
    Topics { function: String },
    /// Remove a Kafka topic binding.
    Unbind { function: String, topic: String },
    /// List a function's cron schedules with their next fire times.
    Schedules { function: String },
    /// Show the run history of a schedule.
    Runs { function: String, schedule: String },
    /// Fire a schedule now (optionally as the tick of `--scheduled-time`).
    Run {
        function: String,
        schedule: String,
        #[arg(long)]
        scheduled_time: Option<String>,
    },
    /// Remove a cron schedule.
    Remove { function: String, schedule: String },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Variables, secret names and allowed outbound hosts of the active version.
    Show { name: String },
    /// Set variables (`KEY=VALUE`) and, with `--allow-host`, replace the outbound allow-list.
    Set {
        name: String,
        /// `KEY=VALUE` pairs.
        #[arg(value_name = "KEY=VALUE")]
        variables: Vec<String>,
        /// `scheme://host[:port]` the function may call (`*.` for subdomains); repeat for more.
        /// Replaces the list; `--allow-host none` empties it.
        #[arg(long = "allow-host", value_name = "URL")]
        allow_hosts: Vec<String>,
    },
    /// Remove variables or secrets by name.
    Unset {
        name: String,
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AliasCommand {
    /// Point an alias at a version, with an optional canary share.
    Set {
        name: String,
        alias: String,
        #[arg(long)]
        version: i64,
        /// A version that takes `--weight` of the alias's calls.
        #[arg(long)]
        canary: Option<i64>,
        /// Share of calls for the canary, 0.0 to 1.0.
        #[arg(long, default_value_t = 0.0, requires = "canary")]
        weight: f64,
        /// Route by the hash of this request header, so one caller stays on one version.
        #[arg(long, requires = "canary")]
        sticky: Option<String>,
        /// Roll the canary back when its error rate goes above this (0.0 to 1.0).
        #[arg(long, requires = "canary")]
        max_error_rate: Option<f64>,
        /// Roll the canary back when its p99 wall time goes above this.
        #[arg(long, requires = "canary")]
        max_p99_ms: Option<u64>,
        /// Calls of the canary before either rule applies [server default: 20].
        #[arg(long, requires = "canary")]
        min_requests: Option<u64>,
        /// `live` only: deploys add versions without making them active (blue/green).
        #[arg(long, conflicts_with = "auto_promote")]
        no_auto_promote: bool,
        /// `live` only: deploys make their version active again (the default).
        #[arg(long)]
        auto_promote: bool,
    },
    /// List a function's aliases, or show one with its history.
    Show { name: String, alias: Option<String> },
    /// Remove an alias.
    Rm { name: String, alias: String },
}

#[derive(Subcommand, Debug)]
enum SecretCommand {
    /// Set one secret of a function: `echo -n VALUE | geyser secret set NAME KEY`, or type it at
    /// the prompt.
    Set { name: String, key: String },
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant and print its API key (shown once).
    Create { name: String },
}

pub async fn run(args: Args) -> Result<()> {
    let client = || Client::new(&args.url, args.api_key.clone(), args.json);
    match args.command {
        Command::Serve(serve) => serve::run(serve).await,
        Command::Tenant(TenantCommand::Create { name }) => client()?.create_tenant(&name).await,
        Command::Deploy {
            name,
            file,
            memory_mb,
            timeout_ms,
            cpu_limit_ms,
            private,
        } => {
            client()?
                .deploy(&name, &file, memory_mb, timeout_ms, cpu_limit_ms, private)
                .await
        }
        Command::Invoke {
            name,
            path,
            method,
            data,
            asynchronous,
        } => {
            client()?
                .invoke(&name, &path, &method, data, asynchronous)
                .await
        }
        Command::Functions => client()?.functions().await,
        Command::Rollback { name, version } => client()?.rollback(&name, version).await,
        Command::Promote { name, alias } => client()?.promote(&name, &alias).await,
        Command::Alias(AliasCommand::Set {
            name,
            alias,
            version,
            canary,
            weight,
            sticky,
            max_error_rate,
            max_p99_ms,
            min_requests,
            no_auto_promote,
            auto_promote,
        }) => {
            let change = geyser_cli::AliasChange {
                version,
                canary,
                weight,
                sticky,
                max_error_rate,
                max_p99_ms,
                min_requests,
                auto_promote: (no_auto_promote || auto_promote).then_some(auto_promote),
            };
            client()?.set_alias(&name, &alias, &change).await
        }
        Command::Alias(AliasCommand::Show { name, alias }) => {
            client()?.show_aliases(&name, alias.as_deref()).await
        }
        Command::Alias(AliasCommand::Rm { name, alias }) => {
            client()?.remove_alias(&name, &alias).await
        }
        Command::Delete { name } => client()?.delete(&name).await,
        Command::Export { dir } => client()?.export(&dir).await,
        Command::Apply {
            file,
            dry_run,
            prune,
            build,
        } => client()?.apply(&file, dry_run, prune, build).await,
        Command::Config(ConfigCommand::Show { name }) => client()?.show_config(&name).await,
        Command::Config(ConfigCommand::Set {
            name,
            variables,
            allow_hosts,
        }) => {
            let mut change = serde_json::json!({});
            let mut set = serde_json::Map::new();
            for pair in variables {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("{pair:?} is not KEY=VALUE"))?;
                set.insert(key.to_owned(), value.into());
            }
            if !set.is_empty() {
                change["variables"] = set.into();
            }
            if !allow_hosts.is_empty() {
                let hosts: Vec<String> = allow_hosts.into_iter().filter(|h| h != "none").collect();
                change["allowed_outbound_hosts"] = hosts.into();
            }
            if change.as_object().is_some_and(|o| o.is_empty()) {
                anyhow::bail!("nothing to set: give KEY=VALUE pairs or --allow-host");
            }
            client()?.configure(&name, change).await
        }
        Command::Config(ConfigCommand::Unset { name, keys }) => {
            let nulls: serde_json::Map<String, serde_json::Value> = keys
                .into_iter()
                .map(|k| (k, serde_json::Value::Null))
                .collect();
            let change = serde_json::json!({ "variables": nulls.clone(), "secrets": nulls });
            client()?.configure(&name, change).await
        }
        Command::Secret(SecretCommand::Set { name, key }) => {
            let value = geyser_cli::read_secret(&key)?;
            let change = serde_json::json!({ "secrets": { key: value } });
            client()?.configure(&name, change).await
        }
        Command::Logs {
            name,
            limit,
            follow,
            invocation,
            outcome,
        } => {
            let filter = geyser_cli::LogFilter {
                limit,
                invocation,
                outcome,
                follow,
            };
            client()?.logs(&name, &filter).await
        }
        Command::Usage { tenant } => client()?.usage(tenant.as_deref()).await,
        Command::Bill { month, tenant, csv } => {
            client()?
                .bill(month.as_deref(), tenant.as_deref(), csv)
                .await
        }
        Command::Budget {
            monthly_usd,
            policy,
            clear,
            tenant,
        } => {
            client()?
                .budget(monthly_usd, policy.as_deref(), clear, tenant.as_deref())
                .await
        }
        Command::Trigger(trigger) => {
            let client = client()?;
            match trigger {
                TriggerCommand::Cron {
                    function,
                    expression,
                    name,
                    tz,
                    missed,
                    overlap,
                    payload,
                    alias,
                    max_attempts,
                } => {
                    let payload = payload
                        .map(|p| serde_json::from_str::<serde_json::Value>(&p))
                        .transpose()
                        .map_err(|e| anyhow::anyhow!("--payload is not JSON: {e}"))?;
                    let mut body = serde_json::json!({ "name": name, "expression": expression });
                    for (key, value) in [
                        ("timezone", tz),
                        ("missed", missed),
                        ("overlap", overlap),
                        ("alias", alias),
                    ] {
                        if let Some(value) = value {
                            body[key] = serde_json::Value::String(value);
                        }
                    }
                    if let Some(payload) = payload {
                        body["payload"] = payload;
                    }
                    if let Some(attempts) = max_attempts {
                        body["max_attempts"] = attempts.into();
                    }
                    client.put_cron(&function, body).await
                }
                TriggerCommand::Kafka {
                    function,
                    topic,
                    start,
                    max_attempts,
                    backoff_ms,
                    dead_letter_topic,
                    unordered,
                    alias,
                } => {
                    let mut body = serde_json::json!({ "topic": topic, "ordered": !unordered });
                    if let Some(start) = start {
                        body["start"] = start.into();
                    }
                    if let Some(n) = max_attempts {
                        body["max_attempts"] = n.into();
                    }
                    if let Some(ms) = backoff_ms {
                        body["backoff_ms"] = ms.into();
                    }
                    if let Some(dlq) = dead_letter_topic {
                        body["dead_letter_topic"] = dlq.into();
                    }
                    if let Some(alias) = alias {
                        body["alias"] = alias.into();
                    }
                    client.put_kafka(&function, body).await
                }
                TriggerCommand::Topics { function } => {
                    client
                        .get_and_print(&format!("/v1/functions/{function}/triggers/kafka"))
                        .await
                }
                TriggerCommand::Unbind { function, topic } => {
                    client.remove_kafka(&function, &topic).await
                }
                TriggerCommand::Schedules { function } => {
                    client
                        .get_and_print(&format!("/v1/functions/{function}/triggers/cron"))
                        .await
                }
                TriggerCommand::Runs { function, schedule } => {
                    client
                        .get_and_print(&format!(
                            "/v1/functions/{function}/triggers/cron/{schedule}/runs"
                        ))
                        .await
                }
                TriggerCommand::Run {
                    function,
                    schedule,
                    scheduled_time,
                } => client.run_cron(&function, &schedule, scheduled_time).await,
                TriggerCommand::Remove { function, schedule } => {
                    client.remove_cron(&function, &schedule).await
                }
            }
        }
        Command::Dev { name, dir } => geyser_cli::dev::run(&client()?, &name, &dir).await,
        Command::New {
            name,
            lang,
            http: _,
            event,
            schedule,
            dir,
            sdk,
        } => {
            let kind = if event {
                scaffold::Kind::Event
            } else if schedule {
                scaffold::Kind::Schedule
            } else {
                scaffold::Kind::Http
            };
            let lang = match lang {
                LangArg::Rust => scaffold::Lang::Rust,
                LangArg::Js => scaffold::Lang::Js,
                LangArg::Python => scaffold::Lang::Python,
            };
            scaffold::run(&name, lang, kind, dir, sdk)
        }
    }
}
