//! `PusherFairing`: builds the client from Rocket's configuration and manages it.

use std::time::Duration;

use pusher::{Pusher, PusherUrl};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use serde::Deserialize;

/// Builds a [`Pusher`] from the `pusher` key of Rocket's configuration (`Rocket.toml`, or `ROCKET_PUSHER`
/// in the environment) and manages it, so routes, [`VerifiedWebhook`](crate::VerifiedWebhook) and
/// `&State<Pusher>` find it. Bad or missing configuration aborts launch with a log line that never shows
/// the secret.
///
/// ```toml
/// [default.pusher]
/// app_id = "123"
/// key = "key"
/// secret = "secret"
/// cluster = "eu"              # or host / port / use_tls for a self-hosted server
/// # url = "https://KEY:SECRET@api-eu.pusher.com/apps/123"   # instead of the four above
/// # encryption_master_key_base64 = "…"
/// # timeout_ms = 5000
/// # webhook_tolerance_secs = 300
/// # webhook_body_limit = 1048576
/// ```
///
/// [`PusherFairing::with`] manages a client built in code instead.
#[derive(Debug, Default)]
pub struct PusherFairing {
    client: Option<Pusher>,
}

impl PusherFairing {
    /// Reads the `pusher` configuration key at ignite.
    pub fn from_config() -> Self {
        PusherFairing { client: None }
    }

    /// Manages this client (no configuration is read).
    pub fn with(pusher: Pusher) -> Self {
        PusherFairing {
            client: Some(pusher),
        }
    }
}

/// The `pusher` configuration key.
#[derive(Deserialize)]
struct PusherConfig {
    url: Option<String>,
    app_id: Option<String>,
    key: Option<String>,
    secret: Option<String>,
    cluster: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    use_tls: Option<bool>,
    encryption_master_key_base64: Option<String>,
    timeout_ms: Option<u64>,
    webhook_tolerance_secs: Option<u64>,
    webhook_body_limit: Option<usize>,
}

impl PusherConfig {
    fn build(self) -> Result<Pusher, String> {
        let mut b = match (self.url, self.app_id, self.key, self.secret) {
            (Some(url), _, _, _) => PusherUrl::parse(&url)
                .map_err(|e| e.to_string())?
                .into_builder(),
            (None, Some(id), Some(key), Some(secret)) => Pusher::builder(&id, &key, &secret),
            _ => return Err("set `url`, or `app_id`, `key` and `secret`".to_owned()),
        };
        if let Some(c) = self.cluster {
            b = b.cluster(c);
        }
        if let Some(h) = self.host {
            b = b.host(h);
        }
        if let Some(p) = self.port {
            b = b.port(p);
        }
        if let Some(t) = self.use_tls {
            b = b.use_tls(t);
        }
        if let Some(k) = self.encryption_master_key_base64 {
            b = b.encryption_master_key_base64(k);
        }
        if let Some(ms) = self.timeout_ms {
            b = b.timeout(Duration::from_millis(ms));
        }
        if let Some(s) = self.webhook_tolerance_secs {
            b = b.webhook_tolerance(Some(Duration::from_secs(s)));
        }
        if let Some(n) = self.webhook_body_limit {
            b = b.webhook_body_limit(n);
        }
        b.build().map_err(|e| e.to_string())
    }
}

#[rocket::async_trait]
impl Fairing for PusherFairing {
    fn info(&self) -> Info {
        Info {
            name: "Pusher",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        if let Some(p) = &self.client {
            return Ok(rocket.manage(p.clone()));
        }
        let built = rocket
            .figment()
            .extract_inner::<PusherConfig>("pusher")
            // The figment error may quote a value; name only the key, never a value.
            .map_err(|e| match &e.kind {
                rocket::figment::error::Kind::MissingField(f) => {
                    format!("the `pusher` configuration is missing `{f}`")
                }
                _ => format!(
                    "the `pusher` configuration is missing or has a value of the wrong type at `{}`",
                    e.path.join(".")
                ),
            })
            .and_then(PusherConfig::build);
        match built {
            Ok(p) => Ok(rocket.manage(p)),
            Err(reason) => {
                tracing::error!(%reason, "pusher: launch aborted");
                rocket::error!("pusher: {}", reason);
                Err(rocket)
            }
        }
    }
}
