//! Settings of the pure core, and reading them from a map of variables (the runtime passes the
//! process environment; the core never reads it).

use std::collections::HashMap;

/// How the core derives outputs; independent of any sink.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Environments whose changes count as production (`ProductionFlagChange`, alert severity).
    pub production_environments: Vec<String>,
    /// Attribute names (case-insensitive, at any depth) whose values are redacted in the trail.
    pub redacted_attributes: Vec<String>,
    /// Secret mixed into redaction hashes so low-entropy values cannot be guessed from the hash.
    pub redaction_salt: String,
    /// Raw records larger than this are quarantined (hash + keys) instead of decoded.
    pub max_record_bytes: usize,
    /// Sink calls one invocation keeps in flight at most (`FLAGTRAIL_MAX_CALLS_IN_FLIGHT`).
    pub max_calls_in_flight: usize,
    /// Freshness marks notify writes per batch before folding a storm into its environment's
    /// mark (`FLAGTRAIL_MAX_MARKS_PER_BATCH`).
    pub max_marks_per_batch: usize,
    /// How invalidations become SNS messages (`FLAGTRAIL_INVALIDATION_MESSAGES`: `packed`, the
    /// default, or `single` for consumers that read only v1 messages).
    pub invalidation_packing: crate::notify::Packing,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            production_environments: vec!["prod".into(), "production".into()],
            redacted_attributes: Vec::new(),
            redaction_salt: String::new(),
            // A stream record carries at most two 400 KB images plus keys and envelope.
            max_record_bytes: 2 * 1024 * 1024,
            // A full 6 MB batch is ~160 PublishBatch or ~8 PutLogEvents calls: 16 at once gets
            // notify's out in ~14 round trips, audit's in ~5 (scripts/delivery-bench.py,
            // docs/measurements.md), far inside SNS's and CloudWatch Logs' account quotas.
            max_calls_in_flight: 16,
            max_marks_per_batch: crate::notify::DEFAULT_MAX_MARKS_PER_BATCH,
            invalidation_packing: crate::notify::Packing::default(),
        }
    }
}

/// A configuration variable that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name}: {message}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error naming `name`.
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        ConfigError { name: name.into(), message: message.into() }
    }
}

/// Reads variables from a map (the process environment in binaries, a literal map in tests).
#[derive(Debug, Clone, Default)]
pub struct Vars(pub HashMap<String, String>);

impl Vars {
    /// A required, non-empty variable.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        match self.0.get(name).map(|s| s.trim()) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            Some(_) => Err(ConfigError::new(name, "is empty")),
            None => Err(ConfigError::new(name, "is not set")),
        }
    }

    /// An optional variable (empty counts as unset).
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// A comma-separated list.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.optional(name).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
    }

    /// A positive integer.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.optional(name)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::new(name, format!("`{v}` is not a positive integer")))
            })
            .transpose()
    }

    /// A non-negative integer (0 means none: no grace, no limit).
    pub fn count(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.optional(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ConfigError::new(name, format!("`{v}` is not a non-negative integer")))
            })
            .transpose()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Vars(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl CoreConfig {
    /// Reads `FLAGTRAIL_PRODUCTION_ENVIRONMENTS`, `FLAGTRAIL_REDACT_ATTRIBUTES`,
    /// `FLAGTRAIL_REDACTION_SALT`, `FLAGTRAIL_MAX_RECORD_BYTES`, `FLAGTRAIL_MAX_CALLS_IN_FLIGHT`;
    /// unset ones keep their defaults.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let mut c = CoreConfig::default();
        if let Some(envs) = vars.list("FLAGTRAIL_PRODUCTION_ENVIRONMENTS") {
            c.production_environments = envs;
        }
        if let Some(attrs) = vars.list("FLAGTRAIL_REDACT_ATTRIBUTES") {
            c.redacted_attributes = attrs;
        }
        if let Some(salt) = vars.optional("FLAGTRAIL_REDACTION_SALT") {
            c.redaction_salt = salt;
        }
        if let Some(n) = vars.number("FLAGTRAIL_MAX_RECORD_BYTES")? {
            c.max_record_bytes = n as usize;
        }
        if let Some(n) = vars.number("FLAGTRAIL_MAX_CALLS_IN_FLIGHT")? {
            c.max_calls_in_flight = n as usize;
        }
        if let Some(n) = vars.number("FLAGTRAIL_MAX_MARKS_PER_BATCH")? {
            c.max_marks_per_batch = n as usize;
        }
        if let Some(v) = vars.optional("FLAGTRAIL_INVALIDATION_MESSAGES") {
            c.invalidation_packing = match v.as_str() {
                "packed" => crate::notify::Packing::PerEnvironment,
                "single" => crate::notify::Packing::Single,
                other => {
                    return Err(ConfigError::new(
                        "FLAGTRAIL_INVALIDATION_MESSAGES",
                        format!("`{other}` is neither `packed` nor `single`"),
                    ))
                }
            };
        }
        Ok(c)
    }

    /// True when `env` is a production environment.
    pub fn is_production(&self, env: Option<&str>) -> bool {
        env.is_some_and(|e| self.production_environments.iter().any(|p| p.eq_ignore_ascii_case(e)))
    }

    /// True when attribute `name` must be redacted.
    pub fn is_redacted(&self, name: &str) -> bool {
        self.redacted_attributes.iter().any(|r| r.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn errors_name_the_variable() {
        let err = CoreConfig::from_vars(&vars(&[("FLAGTRAIL_MAX_RECORD_BYTES", "lots")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration variable FLAGTRAIL_MAX_RECORD_BYTES: `lots` is not a positive integer"
        );
        let err = vars(&[]).required("FLAGTRAIL_AUDIT_LOG_GROUP").unwrap_err();
        assert!(err.to_string().contains("FLAGTRAIL_AUDIT_LOG_GROUP: is not set"));
    }

    #[test]
    fn lists_are_trimmed() {
        let c = CoreConfig::from_vars(&vars(&[("FLAGTRAIL_PRODUCTION_ENVIRONMENTS", " prd, live ,")])).unwrap();
        assert_eq!(c.production_environments, vec!["prd", "live"]);
        assert!(c.is_production(Some("LIVE")));
        assert!(!c.is_production(Some("prod")));
    }
}
