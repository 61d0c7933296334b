//! Notifications: alerts delivered to people (webhooks, e-mail, syslog). Being written.
