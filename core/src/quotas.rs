//! A tenant's quotas — one declaration for the node's defaults (`[quotas]`), the admin's
//! per-tenant overrides (stored, and the body of `PUT /v1/quotas`) and the quotas in force
//! (the defaults with the overrides applied, shown by `GET /v1/quotas`).

macro_rules! quotas {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty = $default:expr ),+ $(,)?) => {
        /// A tenant's quotas in force (or the node's defaults for every tenant).
        #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Quotas {
            $( $(#[$doc])* pub $field: $ty, )+
        }

        impl Default for Quotas {
            fn default() -> Self {
                Quotas { $( $field: $default, )+ }
            }
        }

        /// What the admin changed for one tenant: a field left `None` (absent or `null` in
        /// JSON) means the node's default. (No container `default`: with it serde would take
        /// an empty array for "no overrides".)
        #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct QuotaOverrides {
            $( pub $field: Option<$ty>, )+
        }

        impl Quotas {
            /// Every quota by its name, as a number (for gauges).
            pub fn named(&self) -> Vec<(&'static str, f64)> {
                vec![$( (stringify!($field), self.$field as f64), )+]
            }

            /// These quotas with `overrides` applied.
            pub fn with(self, overrides: &QuotaOverrides) -> Self {
                Quotas { $( $field: overrides.$field.unwrap_or(self.$field), )+ }
            }
        }
    };
}

quotas! {
    /// Functions a tenant may have.
    max_functions: u64 = 1000,
    /// Largest component a tenant may upload (never more than `http.max_upload_bytes`).
    max_artifact_bytes: u64 = 50 << 20,
    /// Largest memory limit a tenant's function may ask for (never more than
    /// `engine.max_memory_mb`).
    max_memory_mb: u64 = 512,
    /// Invocations of one tenant running (or waiting for an instance slot) at once on a node;
    /// more wait for the tenant's own slots up to `engine.queue_timeout_ms`, then get 429.
    max_concurrency: u64 = 500,
    /// The same for each function of a tenant; 0: only the tenant's limit.
    max_function_concurrency: u64 = 0,
    /// HTTP requests per second of one tenant on a node (token bucket); beyond it 429 with
    /// `Retry-After`. 0: no limit.
    rate_per_second: f64 = 0.0,
    /// Requests a tenant may send at once after an idle spell; 0: one second's worth.
    rate_burst: u64 = 0,
    /// Keys a tenant may hold in its kv store; a write that would create one more fails
    /// (writes to existing keys and deletes still work).
    max_kv_keys: u64 = 100_000,
    /// Asynchronous invocations of one tenant waiting or running at once (across the
    /// cluster); beyond it `Prefer: respond-async` calls get 429.
    max_async_queued: u64 = 10_000,
    /// Percent of a node's guest-memory budget (`engine.node_memory_mb`) one tenant's running
    /// invocations may hold together; a grow past it fails with `memory-limit`.
    node_memory_percent: u64 = 50,
    /// Largest `cpu_limit_ms` a tenant's function may ask for, and the limit of one that asks
    /// for none; 0: no CPU limit unless the function sets one.
    max_cpu_limit_ms: u64 = 0,
    /// Characters of captured log lines a tenant keeps (all its functions together); beyond
    /// it the oldest lines are dropped, within a minute.
    max_log_bytes: u64 = 64 << 20,
}

impl Quotas {
    /// The token bucket's size: the configured burst, at least one request.
    pub fn burst(&self) -> f64 {
        if self.rate_burst == 0 {
            self.rate_per_second.max(1.0)
        } else {
            self.rate_burst as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_fields_they_set() {
        let defaults = Quotas::default();
        let overrides = QuotaOverrides {
            max_concurrency: Some(4),
            rate_per_second: Some(2.5),
            ..QuotaOverrides::default()
        };
        let q = defaults.with(&overrides);
        assert_eq!(q.max_concurrency, 4);
        assert_eq!(q.rate_per_second, 2.5);
        assert_eq!(q.max_functions, defaults.max_functions);
        assert_eq!(defaults.with(&QuotaOverrides::default()), defaults);
    }

    #[test]
    fn a_misspelt_quota_is_refused_not_ignored() {
        let err = serde_json::from_str::<QuotaOverrides>(r#"{"max_function": 3}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_function`"),
            "{err}"
        );
        let parsed: QuotaOverrides =
            serde_json::from_str(r#"{"max_functions": 3, "rate_burst": null}"#).unwrap();
        assert_eq!(parsed.max_functions, Some(3));
        assert_eq!(parsed.rate_burst, None);
        assert!(serde_json::from_str::<QuotaOverrides>("[]").is_err());
        assert_eq!(
            serde_json::from_str::<QuotaOverrides>("{}").unwrap(),
            QuotaOverrides::default()
        );
    }
}
