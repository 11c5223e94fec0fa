//! [`PusherFairing`]: builds the client from Rocket's configuration and manages it.

use std::fmt;
use std::time::Duration;

use pusher::{Pusher, PusherUrl};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::error::{Error as FigmentError, Kind as FigmentKind};
use rocket::{Build, Rocket};
use serde::Deserialize;

/// The configuration key [`PusherFairing`] reads.
const CONFIG_KEY: &str = "pusher";

/// An ignite fairing that manages a [`Pusher`] client, so that [`routes`](crate::routes),
/// [`VerifiedWebhook`](crate::VerifiedWebhook) and your own `&State<Pusher>` handlers find it.
///
/// [`PusherFairing::default()`] builds the client from the `pusher` key of Rocket's configuration
/// (`Rocket.toml`, or `ROCKET_PUSHER={app_id="…",…}` in the environment). Unknown settings are refused, so
/// a typo cannot silently send your events to the default cluster.
///
/// ```toml
/// [default.pusher]
/// app_id = "123"
/// key = "key"
/// secret = "secret"
/// cluster = "eu"              # or host, port and use_tls for a self-hosted server
/// # url = "https://KEY:SECRET@api-eu.pusher.com/apps/123"   # instead of the seven above
/// # encryption_master_key_base64 = "…"                      # 32 bytes, for private-encrypted- channels
/// # timeout_ms = 5000
/// # webhook_tolerance_secs = 300
/// # webhook_body_limit = 1048576
/// ```
///
/// Missing or bad configuration aborts ignite with an error naming the setting, never its value, so the
/// secret is not logged. [`PusherFairing::with`] manages a client built in code instead.
#[derive(Default)]
pub struct PusherFairing {
    client: Option<Pusher>,
}

impl PusherFairing {
    /// Manages this client; no configuration is read.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("123", "key", "secret").cluster("eu").build()?;
    /// let rocket = rocket::build().attach(pusher_rocket::PusherFairing::with(pusher));
    /// # let _ = rocket;
    /// # Ok::<(), pusher::Error>(())
    /// ```
    pub fn with(pusher: Pusher) -> Self {
        PusherFairing {
            client: Some(pusher),
        }
    }
}

impl fmt::Debug for PusherFairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.client {
            Some(p) => f.debug_tuple("PusherFairing::with").field(p).finish(),
            None => f.write_str("PusherFairing::default"),
        }
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
        if rocket.state::<Pusher>().is_some() {
            // `manage` would panic: a second `PusherFairing`, or a client also managed by hand.
            tracing::error!(
                "pusher: a Pusher is already managed; attach one PusherFairing, or manage the \
                 client yourself, not both"
            );
            return Err(rocket);
        }
        let built = match &self.client {
            Some(p) => Ok(p.clone()),
            None => rocket
                .figment()
                .focus(CONFIG_KEY)
                .extract::<PusherConfig>()
                .map_err(|e| describe(&e))
                .and_then(PusherConfig::build),
        };
        match built {
            Ok(p) => Ok(rocket.manage(p)),
            Err(reason) => {
                tracing::error!("pusher: bad `{CONFIG_KEY}` configuration: {reason}");
                Err(rocket)
            }
        }
    }
}

/// The `pusher` configuration key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Builds the client. The error names settings, never values (the core's errors never quote secrets).
    fn build(self) -> Result<Pusher, String> {
        let mut b = match self.url {
            Some(url) => {
                let named = [
                    ("app_id", self.app_id.is_some()),
                    ("key", self.key.is_some()),
                    ("secret", self.secret.is_some()),
                    ("cluster", self.cluster.is_some()),
                    ("host", self.host.is_some()),
                    ("port", self.port.is_some()),
                    ("use_tls", self.use_tls.is_some()),
                ];
                if let Some((name, _)) = named.iter().find(|(_, set)| *set) {
                    return Err(format!("set either `url` or `{name}`, not both"));
                }
                PusherUrl::parse(&url)
                    .map_err(|e| e.to_string())?
                    .into_builder()
            }
            None => {
                let (Some(id), Some(key), Some(secret)) = (self.app_id, self.key, self.secret)
                else {
                    return Err(
                        "set `app_id`, `key` and `secret`, or `url`, under [default.pusher] \
                                in Rocket.toml or in ROCKET_PUSHER"
                            .to_owned(),
                    );
                };
                let mut b = Pusher::builder(&id, &key, &secret);
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
                b
            }
        };
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

/// A figment error without the offending value (it may be the secret).
fn describe(e: &FigmentError) -> String {
    let at = || {
        let mut path = vec![CONFIG_KEY];
        path.extend(e.path.iter().map(String::as_str));
        format!("`{}`", path.join("."))
    };
    match &e.kind {
        FigmentKind::MissingField(f) => format!("`{f}` is missing"),
        FigmentKind::UnknownField(f, _) => format!("`{f}` is not a setting"),
        FigmentKind::DuplicateField(f) => format!("`{f}` is set twice"),
        FigmentKind::InvalidType(_, expected) | FigmentKind::InvalidValue(_, expected) => {
            format!("{} must be {expected}", at())
        }
        _ => format!("{} has an invalid value", at()),
    }
}
