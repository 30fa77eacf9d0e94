//! Configuration: command-line flags and environment variables, read once at start into
//! [`IdentityConfig`]. Every environment variable is named by a constant below and listed
//! by `identity --print-env`.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use zte_auth::{Algorithm, KeySpec};
use zte_runtime::{PrintEnv, ServerLimits, TlsConfig, parse_duration, parse_lifetime};

zte_runtime::env_prefix! {
    /// Identity's environment prefix for the shared settings groups (`IDENTITY_TLS_CERT`,
    /// `IDENTITY_MAX_CONNECTIONS`, ...).
    pub IdentityEnv { env_prefix: "IDENTITY" }
}

/// `--listen`: HTTP listen address.
pub const ENV_LISTEN: &str = "IDENTITY_LISTEN";
/// `--issuer`: the issuer URL (`iss` of every token; endpoints hang off it).
pub const ENV_ISSUER: &str = "IDENTITY_ISSUER";
/// `--data-dir`: where signing keys and their metadata live.
pub const ENV_DATA_DIR: &str = "IDENTITY_DATA_DIR";
/// `--clients-file`: JSON registry of clients and users.
pub const ENV_CLIENTS_FILE: &str = "IDENTITY_CLIENTS_FILE";
/// `--demo`: register the demo clients and users.
pub const ENV_DEMO: &str = "IDENTITY_DEMO";
/// `--orders-client-jwk`: public JWK file of the `orders-service` client (demo mode).
pub const ENV_ORDERS_CLIENT_JWK: &str = "IDENTITY_ORDERS_CLIENT_JWK";
/// `--gateway-client-jwk`: public JWK file of the `gateway` client (demo mode).
pub const ENV_GATEWAY_CLIENT_JWK: &str = "IDENTITY_GATEWAY_CLIENT_JWK";
/// `--user-token-lifetime`: lifetime of password-grant tokens.
pub const ENV_USER_TOKEN_LIFETIME: &str = "IDENTITY_USER_TOKEN_LIFETIME";
/// `--event-token-lifetime`: lifetime of exchanged event tokens.
pub const ENV_EVENT_TOKEN_LIFETIME: &str = "IDENTITY_EVENT_TOKEN_LIFETIME";
/// `--jwks-max-age`: `Cache-Control: max-age` of the JWKS (validators' refresh interval).
pub const ENV_JWKS_MAX_AGE: &str = "IDENTITY_JWKS_MAX_AGE";
/// `--password-attempts-per-user`: password-grant attempts per username per minute.
pub const ENV_PASSWORD_ATTEMPTS_PER_USER: &str = "IDENTITY_PASSWORD_ATTEMPTS_PER_USER";
/// `--password-attempts-per-address`: password-grant attempts per client address per minute.
pub const ENV_PASSWORD_ATTEMPTS_PER_ADDRESS: &str = "IDENTITY_PASSWORD_ATTEMPTS_PER_ADDRESS";
/// `--password-queue`: password verifications that may wait for a slot.
pub const ENV_PASSWORD_QUEUE: &str = "IDENTITY_PASSWORD_QUEUE";
/// `--max-token-lifetime`: upper bound of every token lifetime setting.
pub const ENV_MAX_TOKEN_LIFETIME: &str = "IDENTITY_MAX_TOKEN_LIFETIME";
/// `--signing-alg`: algorithm of newly generated signing keys (`ES256` or `PS256`).
pub const ENV_SIGNING_ALG: &str = "IDENTITY_SIGNING_ALG";
/// `--key-bits`: RSA modulus size of newly generated PS256 signing keys.
pub const ENV_KEY_BITS: &str = "IDENTITY_KEY_BITS";
/// `--key-reload-interval`: how often the key ring is re-read from the data directory.
pub const ENV_KEY_RELOAD_INTERVAL: &str = "IDENTITY_KEY_RELOAD_INTERVAL";
/// `--leeway`: clock skew tolerated on subject tokens and client assertions.
pub const ENV_LEEWAY: &str = "IDENTITY_LEEWAY";
/// `--shutdown-timeout`: how long a graceful shutdown may take.
pub const ENV_SHUTDOWN_TIMEOUT: &str = "IDENTITY_SHUTDOWN_TIMEOUT";

/// Default listen address of the local stack.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:18080";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = ".cache/identity";
/// Default user-token lifetime: 15 minutes.
pub const DEFAULT_USER_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Default event-token lifetime: 7 days, the event topic's retention (Kafka's default
/// `retention.ms`): an event is verified when it is consumed, which is within the retention.
pub const DEFAULT_EVENT_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default upper bound of the token lifetime settings: 30 days. A signing key stays
/// published for the longest lifetime after its retirement, so this also bounds how long a
/// retired (not revoked) key is trusted.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default algorithm of new signing keys.
pub const DEFAULT_SIGNING_ALG: Algorithm = Algorithm::Es256;
/// Default RSA key size (PS256 keys).
pub const DEFAULT_KEY_BITS: usize = 2048;
/// Default `max-age` of the JWKS: how long validators may keep a revoked key.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Default password-grant attempts per username per minute.
pub const DEFAULT_PASSWORD_ATTEMPTS_PER_USER: u32 = 20;
/// Default password-grant attempts per client address per minute.
pub const DEFAULT_PASSWORD_ATTEMPTS_PER_ADDRESS: u32 = 120;
/// Default number of password verifications that may wait for a slot.
pub const DEFAULT_PASSWORD_QUEUE: usize = 32;
/// Default key-ring reload interval.
pub const DEFAULT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// Default clock-skew leeway.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
/// Default drain deadline.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity service's command line.
#[derive(Debug, Parser)]
#[command(
    about = "OAuth 2.0 authorization server: password grant (demo), RFC 8693 token exchange, JWKS",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A maintenance command; without one the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings.
    #[command(flatten)]
    pub serve: IdentityConfig,
    /// `--print-env`.
    #[command(flatten)]
    pub print_env: PrintEnv,
}

/// Maintenance commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new active signing key; the previous one stays in the JWKS until every
    /// token it signed has expired. A running server picks the change up by itself.
    RotateKey(RotateKeyArgs),
    /// Revoke a compromised signing key: it leaves the key ring at once (a running server
    /// stops publishing it within `--key-reload-interval`, validators stop accepting it at
    /// their next JWKS refresh, within `--jwks-max-age`). Revoking the active key makes a
    /// new one first.
    RevokeKey(RevokeKeyArgs),
}

/// Arguments of `identity revoke-key`.
#[derive(Debug, Clone, Args)]
pub struct RevokeKeyArgs {
    /// The `kid` of the key to revoke.
    pub kid: String,
    /// Where the key ring lives, and the kind of key that replaces a revoked active key.
    #[command(flatten)]
    pub new_key: RotateKeyArgs,
}

/// Arguments of `identity rotate-key`.
#[derive(Debug, Clone, Args)]
pub struct RotateKeyArgs {
    /// Data directory holding the key ring.
    #[arg(long, env = ENV_DATA_DIR, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Algorithm of the new key: `ES256` (P-256) or `PS256` (RSA).
    #[arg(long, env = ENV_SIGNING_ALG, default_value_t = DEFAULT_SIGNING_ALG)]
    pub signing_alg: Algorithm,
    /// RSA modulus size of a new PS256 key (at least 2048).
    #[arg(long, env = ENV_KEY_BITS, default_value_t = DEFAULT_KEY_BITS)]
    pub key_bits: usize,
}

impl RotateKeyArgs {
    /// The kind of key to make.
    pub fn key_spec(&self) -> Result<KeySpec, zte_auth::KeyError> {
        KeySpec::new(self.signing_alg, self.key_bits)
    }
}

/// `n` as a non-zero count (the defaults above are not zero).
fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Everything the server needs, read once at start.
#[derive(Debug, Clone, Args)]
pub struct IdentityConfig {
    /// HTTP listen address (port 0: any free port).
    #[arg(long, env = ENV_LISTEN, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Transport security: HTTPS (TLS 1.3) by default, mutual TLS with --tls-client-ca.
    #[command(flatten)]
    pub tls: TlsConfig<IdentityEnv>,
    /// Connection and request limits: handshake and header-read timeout, request and idle
    /// timeouts, at most so many connections.
    #[command(flatten)]
    pub limits: ServerLimits<IdentityEnv>,
    /// Issuer URL, e.g. `https://127.0.0.1:18080`. Default: `https://<listen address>`
    /// (`http://` with --plaintext). `http://` is refused unless the host is loopback.
    #[arg(long, env = ENV_ISSUER)]
    pub issuer: Option<String>,
    /// Data directory for signing keys (created with owner-only permissions).
    #[arg(long, env = ENV_DATA_DIR, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// JSON registry of clients and users (format in the README).
    #[arg(long, env = ENV_CLIENTS_FILE)]
    pub clients_file: Option<PathBuf>,
    /// Register the demo clients and users (development only): `demo-cli`, `demouser` /
    /// `Password1`, `demouser2` / `Password2`, the internet client `demo-web` (opaque
    /// tokens), and `orders-service` / `gateway` if `--orders-client-jwk` /
    /// `--gateway-client-jwk` is given.
    #[arg(long, env = ENV_DEMO)]
    pub demo: bool,
    /// Public JWK file of the `orders-service` client (written by `orders keygen`).
    #[arg(long, env = ENV_ORDERS_CLIENT_JWK)]
    pub orders_client_jwk: Option<PathBuf>,
    /// Public JWK file of the `gateway` client, allowed to introspect (demo mode).
    #[arg(long, env = ENV_GATEWAY_CLIENT_JWK)]
    pub gateway_client_jwk: Option<PathBuf>,
    /// Lifetime of user tokens (password grant), e.g. `15m`.
    #[arg(long, env = ENV_USER_TOKEN_LIFETIME, default_value = "15m", value_parser = parse_lifetime)]
    pub user_token_lifetime: Duration,
    /// Lifetime of event tokens (token exchange), e.g. `7d` (the event topic's retention).
    #[arg(long, env = ENV_EVENT_TOKEN_LIFETIME, default_value = "7d", value_parser = parse_lifetime)]
    pub event_token_lifetime: Duration,
    /// Upper bound of `--user-token-lifetime` and `--event-token-lifetime`: a longer one is
    /// refused at start.
    #[arg(long, env = ENV_MAX_TOKEN_LIFETIME, default_value = "30d", value_parser = parse_lifetime)]
    pub max_token_lifetime: Duration,
    /// Algorithm of newly generated signing keys (the first one, and `rotate-key`'s):
    /// `ES256` (P-256) or `PS256` (RSA). Existing keys keep theirs.
    #[arg(long, env = ENV_SIGNING_ALG, default_value_t = DEFAULT_SIGNING_ALG)]
    pub signing_alg: Algorithm,
    /// RSA modulus size of newly generated PS256 signing keys (at least 2048).
    #[arg(long, env = ENV_KEY_BITS, default_value_t = DEFAULT_KEY_BITS)]
    pub key_bits: usize,
    /// How often the key ring is re-read from the data directory (picks up `rotate-key`
    /// and `revoke-key`).
    #[arg(long, env = ENV_KEY_RELOAD_INTERVAL, default_value = "5s", value_parser = parse_duration)]
    pub key_reload_interval: Duration,
    /// `Cache-Control: max-age` of the JWKS (whole seconds, at least 1): validators refresh
    /// on it, so a revoked key is accepted at most this long after the server's reload.
    #[arg(long, env = ENV_JWKS_MAX_AGE, default_value = "5m", value_parser = parse_duration)]
    pub jwks_max_age: Duration,
    /// Password-grant attempts per username per minute (a burst of this many, then one every
    /// minute / N); more are answered 429 with `Retry-After`, before any password check.
    #[arg(long, env = ENV_PASSWORD_ATTEMPTS_PER_USER, default_value_t = nonzero(DEFAULT_PASSWORD_ATTEMPTS_PER_USER))]
    pub password_attempts_per_user: NonZeroU32,
    /// Password-grant attempts per client IP address per minute, likewise.
    #[arg(long, env = ENV_PASSWORD_ATTEMPTS_PER_ADDRESS, default_value_t = nonzero(DEFAULT_PASSWORD_ATTEMPTS_PER_ADDRESS))]
    pub password_attempts_per_address: NonZeroU32,
    /// Password verifications that may wait for one of the argon2 slots; one more is
    /// answered 429 with `Retry-After`.
    #[arg(long, env = ENV_PASSWORD_QUEUE, default_value_t = DEFAULT_PASSWORD_QUEUE)]
    pub password_queue: usize,
    /// Clock skew tolerated on subject tokens and client assertions.
    #[arg(long, env = ENV_LEEWAY, default_value = "5s", value_parser = parse_duration)]
    pub leeway: Duration,
    /// Upper bound on a graceful shutdown: in-flight requests finish within this time.
    #[arg(long, env = ENV_SHUTDOWN_TIMEOUT, default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

impl IdentityConfig {
    /// The kind of signing key to make.
    pub fn key_spec(&self) -> Result<KeySpec, zte_auth::KeyError> {
        KeySpec::new(self.signing_alg, self.key_bits)
    }

    /// Defaults for a plaintext server on a free loopback port with keys in `data_dir` and no
    /// clients: what tests start from (set `tls` for HTTPS).
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: TlsConfig::plaintext(),
            limits: ServerLimits::default(),
            issuer: None,
            data_dir: data_dir.into(),
            clients_file: None,
            demo: false,
            orders_client_jwk: None,
            gateway_client_jwk: None,
            user_token_lifetime: DEFAULT_USER_TOKEN_LIFETIME,
            event_token_lifetime: DEFAULT_EVENT_TOKEN_LIFETIME,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            signing_alg: DEFAULT_SIGNING_ALG,
            key_bits: DEFAULT_KEY_BITS,
            key_reload_interval: DEFAULT_KEY_RELOAD_INTERVAL,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            password_attempts_per_user: nonzero(DEFAULT_PASSWORD_ATTEMPTS_PER_USER),
            password_attempts_per_address: nonzero(DEFAULT_PASSWORD_ATTEMPTS_PER_ADDRESS),
            password_queue: DEFAULT_PASSWORD_QUEUE,
            leeway: DEFAULT_LEEWAY,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Refuses a token lifetime above `--max-token-lifetime`.
    pub fn check_lifetimes(&self) -> Result<(), String> {
        for (flag, lifetime) in [
            ("--user-token-lifetime", self.user_token_lifetime),
            ("--event-token-lifetime", self.event_token_lifetime),
        ] {
            if lifetime > self.max_token_lifetime {
                return Err(format!(
                    "{flag} {}s is longer than --max-token-lifetime {}s",
                    lifetime.as_secs(),
                    self.max_token_lifetime.as_secs()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses_serve_flags_and_the_rotate_subcommand() {
        let cli = Cli::try_parse_from(["identity", "--demo", "--listen", "127.0.0.1:0"]).unwrap();
        assert!(cli.serve.demo && cli.command.is_none());
        let cli = Cli::try_parse_from(["identity", "rotate-key", "--data-dir", "d"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::RotateKey(a)) if a.data_dir == std::path::Path::new("d") && a.signing_alg == Algorithm::Es256)
        );
        let cli =
            Cli::try_parse_from(["identity", "rotate-key", "--signing-alg", "PS256"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::RotateKey(a)) if a.signing_alg == Algorithm::Ps256)
        );
        assert!(Cli::try_parse_from(["identity", "--signing-alg", "HS256"]).is_err());
        let cli = Cli::try_parse_from(["identity", "revoke-key", "--data-dir", "d", "k1"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::RevokeKey(a)) if a.kid == "k1" && a.new_key.data_dir == std::path::Path::new("d"))
        );
        assert!(Cli::try_parse_from(["identity", "revoke-key"]).is_err());
        assert!(Cli::try_parse_from(["identity", "--listen", "nope"]).is_err());
    }

    #[test]
    fn local_defaults_match_the_flag_defaults_and_print_env_lists_every_variable() {
        let parsed = Cli::parse_from(["identity"]).serve;
        let local = IdentityConfig::local("d");
        assert!(!parsed.tls.plaintext, "TLS by default");
        assert_eq!(parsed.limits.request_timeout, local.limits.request_timeout);
        assert_eq!(parsed.shutdown_timeout, local.shutdown_timeout);
        assert_eq!(parsed.key_reload_interval, local.key_reload_interval);
        assert_eq!(parsed.event_token_lifetime, local.event_token_lifetime);
        assert_eq!(parsed.max_token_lifetime, local.max_token_lifetime);
        assert_eq!(parsed.jwks_max_age, local.jwks_max_age);
        assert_eq!(
            (
                parsed.password_attempts_per_user,
                parsed.password_attempts_per_address,
                parsed.password_queue
            ),
            (
                local.password_attempts_per_user,
                local.password_attempts_per_address,
                local.password_queue
            )
        );
        assert_eq!(parsed.signing_alg, local.signing_alg);
        assert_eq!(
            zte_runtime::env_vars(&<Cli as clap::CommandFactory>::command()).join(" "),
            "IDENTITY_CLIENTS_FILE IDENTITY_DATA_DIR IDENTITY_DEMO IDENTITY_EVENT_TOKEN_LIFETIME \
             IDENTITY_GATEWAY_CLIENT_JWK IDENTITY_HANDSHAKE_TIMEOUT IDENTITY_IDLE_TIMEOUT \
             IDENTITY_ISSUER IDENTITY_JWKS_MAX_AGE IDENTITY_KEY_BITS IDENTITY_KEY_RELOAD_INTERVAL IDENTITY_LEEWAY \
             IDENTITY_LISTEN IDENTITY_MAX_CONNECTIONS IDENTITY_MAX_TOKEN_LIFETIME IDENTITY_ORDERS_CLIENT_JWK \
             IDENTITY_PASSWORD_ATTEMPTS_PER_ADDRESS IDENTITY_PASSWORD_ATTEMPTS_PER_USER \
             IDENTITY_PASSWORD_QUEUE IDENTITY_PLAINTEXT IDENTITY_REQUEST_TIMEOUT IDENTITY_SHUTDOWN_TIMEOUT \
             IDENTITY_SIGNING_ALG \
             IDENTITY_TLS_CA IDENTITY_TLS_CERT IDENTITY_TLS_CLIENT_AUTH IDENTITY_TLS_CLIENT_CA \
             IDENTITY_TLS_CLIENT_CERT IDENTITY_TLS_CLIENT_KEY IDENTITY_TLS_KEY \
             IDENTITY_TLS_RELOAD_INTERVAL \
             IDENTITY_USER_TOKEN_LIFETIME LOG_FORMAT RUST_LOG"
        );
    }

    #[test]
    fn token_lifetimes_are_bounded_by_the_maximum() {
        let mut config = IdentityConfig::local("d");
        assert_eq!(
            config.event_token_lifetime,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert!(config.event_token_lifetime <= config.max_token_lifetime);
        assert_eq!(config.check_lifetimes(), Ok(()));
        config.event_token_lifetime = config.max_token_lifetime + Duration::from_secs(1);
        let error = config.check_lifetimes().unwrap_err();
        assert!(error.contains("--event-token-lifetime"), "{error}");
        config.event_token_lifetime = config.max_token_lifetime;
        assert_eq!(config.check_lifetimes(), Ok(()));
        config.max_token_lifetime = Duration::from_secs(600);
        let error = config.check_lifetimes().unwrap_err();
        assert!(error.contains("--user-token-lifetime"), "{error}");
    }
}
