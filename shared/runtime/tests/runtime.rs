//! The runtime's integration tests, one binary: pipelines, sinks, AWS rules, corpus, properties.
//! `credentials` stays a binary of its own: it sets process environment variables.
mod support;

mod aws_rules;
mod concurrency;
mod corpus;
mod delivery;
mod hostile;
mod properties;
mod secrets;
