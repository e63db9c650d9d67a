//! `[kafka]`: brokers, the client properties (SASL, TLS) and the consumer/producer settings of
//! the Kafka trigger.

use rdkafka::ClientConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The Kafka trigger and `publish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT..]`. `None`: no Kafka; topic bindings are
    /// refused and `publish` fails with a clear error.
    pub brokers: Option<String>,
    /// How often a node looks for bindings added, changed or removed (on any node).
    pub reconcile_interval_ms: u64,
    /// Records fetched ahead per partition; beyond this (or `partition_buffer_bytes` of keys and
    /// payloads) the partition is paused until its worker has caught up to half (backpressure
    /// instead of unbounded buffering). Each pause costs a refetch (about half a second with the
    /// tansu broker here, whatever `fetch.wait.max.ms`), so not too small: 1,024 paused a
    /// 60,000-record drain 57 times and ran it at 3.5k events/s, 16,384 three times at 9.6k.
    pub partition_buffer: usize,
    pub partition_buffer_bytes: usize,
    /// Records of one partition run at once by an unordered binding.
    pub unordered_concurrency: usize,
    /// Records of an ordered binding's partition processed in one database transaction at
    /// most (their kv effects and processed marks commit together, each record undone alone
    /// if it fails).
    pub batch_records: usize,
    /// A batch takes no more records after running this long (its records' offsets are
    /// stored only once it commits).
    pub batch_ms: u64,
    /// Longest wait between two attempts of a failing record (backoff doubles up to this).
    pub max_backoff_ms: u64,
    /// How long processed-event marks are kept (they catch redeliveries).
    pub processed_retention_ms: u64,
    /// How long `publish` waits for the broker's acknowledgement.
    pub publish_timeout_ms: u64,
    /// librdkafka settings given to every consumer, producer and admin client, e.g.
    /// `"security.protocol" = "SASL_SSL"`, `"sasl.mechanisms" = "SCRAM-SHA-512"`,
    /// `"ssl.ca.location" = "/etc/geyser/ca.pem"`. A name or value librdkafka does not know
    /// stops the node at start with its message.
    pub properties: BTreeMap<String, String>,
    /// Settings whose value is read from an environment variable (`"sasl.password" =
    /// "KAFKA_PASSWORD"`), so secrets stay out of the file; an unset variable stops the node
    /// at start.
    pub properties_env: BTreeMap<String, String>,
}

/// Settings Geyser sets itself: its guarantees (idempotent publishing, offsets stored only
/// after their marks commit, one group per binding) depend on them.
const RESERVED: [&str; 6] = [
    "bootstrap.servers",
    "group.id",
    "enable.idempotence",
    "enable.auto.offset.store",
    "enable.auto.commit",
    "acks",
];

/// Where the brokers are and how to reach them: what every client of the node is built from.
#[derive(Clone, Default)]
pub struct KafkaConnection {
    brokers: String,
    properties: Vec<(String, String)>,
}

/// The brokers and the names of the settings, never their values (passwords are among them).
impl std::fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("brokers", &self.brokers)
            .field(
                "properties",
                &self.properties.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KafkaConnection {
    /// The connection to `brokers` with no extra settings.
    pub fn plain(brokers: &str) -> KafkaConnection {
        KafkaConnection {
            brokers: brokers.to_owned(),
            properties: Vec::new(),
        }
    }

    /// A client configuration with the brokers and the extra settings.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (name, value) in &self.properties {
            config.set(name, value);
        }
        config
    }
}

impl KafkaConfig {
    /// The connection `[kafka]` describes (`None` without brokers), with `properties_env` read
    /// from `env`; an error names the setting at fault.
    pub fn connection(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<KafkaConnection>, String> {
        let Some(brokers) = &self.brokers else {
            return Ok(None);
        };
        let mut properties = Vec::new();
        for (name, value) in &self.properties {
            properties.push((name.clone(), value.clone()));
        }
        for (name, variable) in &self.properties_env {
            if self.properties.contains_key(name) {
                return Err(format!(
                    "kafka: {name:?} is in both properties and properties_env"
                ));
            }
            let value = env(variable).ok_or_else(|| {
                format!(
                    "kafka.properties_env: environment variable {variable} (for {name:?}) is not set"
                )
            })?;
            properties.push((name.clone(), value));
        }
        if let Some((name, _)) = properties
            .iter()
            .find(|(n, _)| RESERVED.contains(&n.as_str()))
        {
            return Err(format!(
                "kafka.properties: {name:?} is set by Geyser itself and cannot be changed"
            ));
        }
        Ok(Some(KafkaConnection {
            brokers: brokers.clone(),
            properties,
        }))
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            reconcile_interval_ms: 1000,
            partition_buffer: 16384,
            partition_buffer_bytes: 8 << 20,
            unordered_concurrency: 16,
            batch_records: 256,
            batch_ms: 50,
            max_backoff_ms: 30_000,
            processed_retention_ms: 7 * 24 * 3600 * 1000,
            publish_timeout_ms: 10_000,
            properties: BTreeMap::new(),
            properties_env: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> KafkaConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn properties_and_secrets_from_the_environment_reach_every_client() {
        let c = config(
            "brokers = \"b:9093\"\n[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
             [properties_env]\n\"sasl.password\" = \"KAFKA_PW\"\n",
        );
        let env = |v: &str| (v == "KAFKA_PW").then(|| "s3cret".to_owned());
        let connection = c.connection(env).unwrap().unwrap();
        let client = connection.client_config();
        assert_eq!(client.get("bootstrap.servers"), Some("b:9093"));
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("sasl.password"), Some("s3cret"));
        assert!(KafkaConfig::default().connection(env).unwrap().is_none());
    }

    #[test]
    fn an_unset_variable_or_a_reserved_setting_is_refused_by_name() {
        let c = config("brokers = \"b:9092\"\n[properties_env]\n\"sasl.password\" = \"NOPE\"\n");
        let err = c.connection(|_| None).unwrap_err();
        assert!(
            err.contains("NOPE") && err.contains("sasl.password"),
            "{err}"
        );
        let c = config("brokers = \"b:9092\"\n[properties]\n\"group.id\" = \"mine\"\n");
        let err = c.connection(|_| None).unwrap_err();
        assert!(
            err.contains("group.id") && err.contains("set by Geyser"),
            "{err}"
        );
    }
}
