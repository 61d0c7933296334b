//! Operator control of tollguard: the HTTP API served by `tollguard serve` (tokens with roles and tenant
//! scope, alerts, bans, kill switches, calls in progress, policy, live event stream, OpenAPI, Prometheus
//! metrics) and the notifications that bring alerts to people (webhooks, e-mail, syslog).

pub mod notify;
