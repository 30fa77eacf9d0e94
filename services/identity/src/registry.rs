//! Registered clients and users: from a JSON file (`--clients-file`) and/or the demo set
//! (`--demo`). Passwords are kept only as argon2 hashes; plain demo passwords are hashed at
//! start and never logged.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    time::Duration,
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _, password_hash::SaltString,
};
use serde::Deserialize;
pub use zte_auth::names::{
    DEMO_CLIENT_ID, DEMO_INTERNET_CLIENT_ID, GATEWAY_CLIENT_ID, ORDERS_CLIENT_ID,
};
use zte_auth::{
    JwkSet, JwksCache, PublicJwk, Scopes,
    names::{SCOPE_ORDERS, SCOPE_PAYMENTS, SCOPE_TRIGGER_PAYMENTS},
    oauth::{
        AUTH_METHOD_NONE, AUTH_METHOD_PRIVATE_KEY_JWT, GRANT_TYPE_PASSWORD,
        GRANT_TYPE_TOKEN_EXCHANGE,
    },
};

/// Demo users and their passwords (development only).
pub const DEMO_USERS: [(&str, &str); 2] = [("demouser", "Password1"), ("demouser2", "Password2")];

/// How long a remote client JWKS is not refetched after a fetch for an unknown `kid`.
const CLIENT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);

/// Why the registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The clients file could not be read or parsed.
    #[error("clients file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// Resource-owner password grant (RFC 6749 §4.3); demo only.
    Password,
    /// Token exchange (RFC 8693).
    TokenExchange,
}

impl GrantType {
    /// Parses the `grant_type` value (the short name `token-exchange` is accepted in files).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            GRANT_TYPE_PASSWORD => Some(Self::Password),
            GRANT_TYPE_TOKEN_EXCHANGE | "token-exchange" => Some(Self::TokenExchange),
            _ => None,
        }
    }

    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => GRANT_TYPE_PASSWORD,
            Self::TokenExchange => GRANT_TYPE_TOKEN_EXCHANGE,
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client: `client_id` only (`token_endpoint_auth_method=none`).
    None,
    /// `private_key_jwt` (RFC 7523): assertions verified with these keys.
    PrivateKeyJwt(JwksCache),
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// Grants it may use.
    pub grant_types: BTreeSet<GrantType>,
    /// Scopes it may request.
    pub scopes: Scopes,
    /// An internet client: its access tokens are opaque (usable only through the gateway).
    pub internet_client: bool,
    /// May introspect tokens (`POST /introspect`) and so receive the JWT behind an opaque
    /// token: the gateway. Only a confidential client.
    pub introspection: bool,
}

impl Client {
    /// True when the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// Clients and users.
#[derive(Debug)]
pub struct Registry {
    clients: HashMap<String, Client>,
    users: HashMap<String, String>,
    /// Verified against when a user is unknown, so both cases take the same time.
    dummy_hash: String,
}

/// The clients file (see the README for an example); either list may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryFile {
    /// Clients.
    pub clients: Vec<ClientEntry>,
    /// Users.
    pub users: Vec<UserEntry>,
}

impl RegistryFile {
    /// Adds the demo set (`--demo`, development only): `orders-service` and `gateway` when
    /// their public JWK files are given, the public clients `demo-cli` (JWTs) and `demo-web`
    /// (an internet client: opaque tokens) with the password grant, and the demo users with
    /// their plain passwords (hashed by [`Registry::from_file`]).
    fn add_demo(&mut self, keys: DemoClientKeys<'_>) {
        let confidential =
            |client_id: &str, grant_types: Vec<String>, scope: &str, jwk: &Path| ClientEntry {
                client_id: client_id.into(),
                token_endpoint_auth_method: AUTH_METHOD_PRIVATE_KEY_JWT.into(),
                grant_types,
                scope: scope.into(),
                jwk: None,
                jwk_file: Some(jwk.to_path_buf()),
                jwks_uri: None,
                internet_client: false,
                introspection: false,
            };
        if let Some(jwk) = keys.orders {
            self.clients.push(confidential(
                ORDERS_CLIENT_ID,
                vec![GRANT_TYPE_TOKEN_EXCHANGE.into()],
                SCOPE_TRIGGER_PAYMENTS,
                jwk,
            ));
        }
        if let Some(jwk) = keys.gateway {
            self.clients.push(ClientEntry {
                introspection: true,
                ..confidential(GATEWAY_CLIENT_ID, Vec::new(), "", jwk)
            });
        }
        for (client_id, internet_client) in
            [(DEMO_CLIENT_ID, false), (DEMO_INTERNET_CLIENT_ID, true)]
        {
            self.clients.push(ClientEntry {
                client_id: client_id.into(),
                token_endpoint_auth_method: AUTH_METHOD_NONE.into(),
                grant_types: vec![GRANT_TYPE_PASSWORD.into()],
                scope: format!("{SCOPE_ORDERS} {SCOPE_PAYMENTS}"),
                jwk: None,
                jwk_file: None,
                jwks_uri: None,
                internet_client,
                introspection: false,
            });
        }
        self.users
            .extend(DEMO_USERS.iter().map(|(user, password)| UserEntry {
                username: (*user).into(),
                password_hash: None,
                password: Some((*password).into()),
            }));
    }
}

/// Public JWK files of the demo's confidential clients (`--orders-client-jwk`,
/// `--gateway-client-jwk`); a client whose file is not given is not registered.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoClientKeys<'a> {
    /// `orders-service`.
    pub orders: Option<&'a Path>,
    /// `gateway`.
    pub gateway: Option<&'a Path>,
}

/// One client in the clients file. The key fields are optional (a missing `Option` field
/// deserializes as `None`); which ones a client needs depends on its auth method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// The client id.
    pub client_id: String,
    /// `none` (public) or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// `password` and/or `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_types: Vec<String>,
    /// Space-separated scopes the client may request.
    pub scope: String,
    /// `private_key_jwt`: the public JWK, inline.
    pub jwk: Option<PublicJwk>,
    /// `private_key_jwt`: a file holding the public JWK (relative to the clients file).
    pub jwk_file: Option<PathBuf>,
    /// `private_key_jwt`: a JWKS URI, fetched on demand (refetched on unknown `kid`).
    pub jwks_uri: Option<String>,
    /// An internet client: its access tokens are opaque, swapped for the JWT by the gateway.
    #[serde(default)]
    pub internet_client: bool,
    /// May introspect tokens and receive the JWT behind an opaque one (the gateway;
    /// `private_key_jwt` only).
    #[serde(default)]
    pub introspection: bool,
}

/// One user in the clients file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The user name (`sub` of their tokens).
    pub username: String,
    /// An argon2 PHC hash (`$argon2id$...`).
    pub password_hash: Option<String>,
    /// A plain password, hashed at start (development only).
    pub password: Option<String>,
}

impl Registry {
    /// Builds the registry from an optional clients file and the demo set. CPU-heavy
    /// (hashing): call from a blocking thread.
    pub fn load(
        clients_file: Option<&Path>,
        demo: bool,
        demo_keys: DemoClientKeys<'_>,
    ) -> Result<Self, RegistryError> {
        let mut file = match clients_file {
            Some(path) => read_file(path)?,
            None => RegistryFile::default(),
        };
        let base = clients_file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if (demo_keys.orders.is_some() || demo_keys.gateway.is_some()) && !demo {
            return Err(RegistryError::Invalid(
                "--orders-client-jwk and --gateway-client-jwk are only used with --demo; register the clients in --clients-file instead".into(),
            ));
        }
        if demo {
            file.add_demo(demo_keys);
        }
        Self::from_file(file, &base)
    }

    /// Builds the registry from parsed entries; relative `jwk_file`s resolve against `base`.
    pub fn from_file(file: RegistryFile, base: &Path) -> Result<Self, RegistryError> {
        let mut clients = HashMap::new();
        for entry in file.clients {
            let client = build_client(entry, base)?;
            if clients.contains_key(&client.id) {
                return Err(RegistryError::Invalid(format!(
                    "client {:?} is registered twice",
                    client.id
                )));
            }
            clients.insert(client.id.clone(), client);
        }
        let mut users = HashMap::new();
        for entry in file.users {
            let hash = match (entry.password_hash, entry.password) {
                (Some(hash), None) => {
                    PasswordHash::new(&hash).map_err(|_| {
                        RegistryError::Invalid(format!(
                            "user {:?}: password_hash is not a PHC string",
                            entry.username
                        ))
                    })?;
                    hash
                }
                (None, Some(password)) => hash_password(&password)?,
                _ => {
                    return Err(RegistryError::Invalid(format!(
                        "user {:?}: give exactly one of password_hash and password",
                        entry.username
                    )));
                }
            };
            if entry.username.is_empty() || users.insert(entry.username.clone(), hash).is_some() {
                return Err(RegistryError::Invalid(format!(
                    "user {:?} is empty or registered twice",
                    entry.username
                )));
            }
        }
        Ok(Self {
            clients,
            users,
            dummy_hash: hash_password(&uuid::Uuid::new_v4().to_string())?,
        })
    }

    /// The client `id`, if registered.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Number of clients and users.
    pub fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.users.len())
    }

    /// True when `username` exists and `password` is theirs. Takes the same time for an
    /// unknown user. CPU-heavy: call from a blocking thread.
    pub fn verify_password(&self, username: &str, password: &str) -> bool {
        let (hash, known) = match self.users.get(username) {
            Some(hash) => (hash.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    }
}

/// Hashes `password` with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, RegistryError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| RegistryError::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| RegistryError::Invalid(format!("hashing a password: {e}")))
}

fn read_file(path: &Path) -> Result<RegistryFile, RegistryError> {
    let error = |reason: String| RegistryError::File {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))
}

fn build_client(entry: ClientEntry, base: &Path) -> Result<Client, RegistryError> {
    let id = entry.client_id;
    let invalid = |reason: String| RegistryError::Invalid(format!("client {id:?}: {reason}"));
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("client_id must be non-empty visible ASCII".into()));
    }
    let mut grant_types = BTreeSet::new();
    for grant in &entry.grant_types {
        grant_types.insert(
            GrantType::parse(grant)
                .ok_or_else(|| invalid(format!("unknown grant type {grant:?}")))?,
        );
    }
    let scopes = Scopes::parse(&entry.scope);
    if scopes.is_empty() && !grant_types.is_empty() {
        return Err(invalid("scope must name at least one scope".into()));
    }
    let key_sources = usize::from(entry.jwk.is_some())
        + usize::from(entry.jwk_file.is_some())
        + usize::from(entry.jwks_uri.is_some());
    let auth = match entry.token_endpoint_auth_method.as_str() {
        AUTH_METHOD_NONE => {
            if key_sources != 0 {
                return Err(invalid("a public client (none) has no keys".into()));
            }
            if grant_types.contains(&GrantType::TokenExchange) {
                return Err(invalid("token exchange needs a confidential client".into()));
            }
            if entry.introspection {
                return Err(invalid("introspection needs a confidential client".into()));
            }
            ClientAuth::None
        }
        AUTH_METHOD_PRIVATE_KEY_JWT => {
            if key_sources != 1 {
                return Err(invalid(
                    "give exactly one of jwk, jwk_file and jwks_uri".into(),
                ));
            }
            let cache = if let Some(uri) = entry.jwks_uri {
                // A client's keys fetched in the clear could be anyone's.
                zte_runtime::config::secure_url("jwks_uri", &uri).map_err(invalid)?;
                let timeout = Duration::from_secs(5);
                let http =
                    zte_auth::OutboundHttp::new(timeout).map_err(|e| invalid(e.to_string()))?;
                JwksCache::remote(uri, http, timeout, CLIENT_JWKS_COOLDOWN)
            } else {
                let jwk = match (entry.jwk, entry.jwk_file) {
                    (Some(jwk), _) => jwk,
                    (None, Some(file)) => {
                        let path = base.join(file);
                        PublicJwk::read_file(&path)
                            .map_err(|e| invalid(format!("jwk_file {}: {e}", path.display())))?
                    }
                    (None, None) => return Err(invalid("no key".into())),
                };
                // Normalise: check the key and give it its thumbprint kid if it has none.
                let key = jwk
                    .to_verifying_key()
                    .map_err(|e| invalid(format!("jwk: {e}")))?;
                JwksCache::fixed(JwkSet {
                    keys: vec![key.to_jwk()],
                })
            };
            ClientAuth::PrivateKeyJwt(cache)
        }
        other => {
            return Err(invalid(format!(
                "unsupported token_endpoint_auth_method {other:?} (none or private_key_jwt)"
            )));
        }
    };
    Ok(Client {
        id,
        auth,
        grant_types,
        scopes,
        internet_client: entry.internet_client,
        introspection: entry.introspection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_for_the_right_user_and_password() {
        let registry = Registry::load(None, true, DemoClientKeys::default()).unwrap();
        assert!(registry.verify_password("demouser", "Password1"));
        assert!(!registry.verify_password("demouser", "Password2"));
        assert!(!registry.verify_password("nobody", "Password1"));
        assert!(registry.client(DEMO_CLIENT_ID).is_some());
        assert!(registry.client(ORDERS_CLIENT_ID).is_none(), "no JWK given");
        assert!(registry.client(GATEWAY_CLIENT_ID).is_none(), "no JWK given");
        let web = registry.client(DEMO_INTERNET_CLIENT_ID).unwrap();
        assert!(web.internet_client && !web.introspection);
        assert!(!registry.client(DEMO_CLIENT_ID).unwrap().internet_client);
    }

    #[test]
    fn optional_fields_and_lists_may_be_left_out_of_the_clients_file() {
        let file: RegistryFile = serde_json::from_str(
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"none","grant_types":["password"],"scope":"x"}]}"#,
        )
        .unwrap();
        assert!(file.users.is_empty());
        let entry = &file.clients[0];
        assert!(entry.jwk.is_none() && entry.jwk_file.is_none() && entry.jwks_uri.is_none());
        let registry = Registry::from_file(file, Path::new(".")).unwrap();
        assert_eq!(registry.counts(), (1, 0));
        let empty: RegistryFile = serde_json::from_str("{}").unwrap();
        assert!(empty.clients.is_empty() && empty.users.is_empty());
    }

    #[test]
    fn invalid_client_entries_are_refused_with_a_reason() {
        let bad = [
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"client_secret_basic","grant_types":[],"scope":"x"}]}"#,
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"none","grant_types":["token-exchange"],"scope":"x"}]}"#,
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"private_key_jwt","grant_types":["token-exchange"],"scope":"x"}]}"#,
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"none","grant_types":["implicit"],"scope":"x"}]}"#,
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"none","grant_types":["password"],"scope":"x","introspection":true}]}"#,
            r#"{"clients":[{"client_id":"a","token_endpoint_auth_method":"none","grant_types":["password"],"scope":""}]}"#,
            r#"{"users":[{"username":"u","password_hash":"plain"}]}"#,
            r#"{"users":[{"username":"u"}]}"#,
        ];
        for json in bad {
            let file: RegistryFile = serde_json::from_str(json).unwrap();
            assert!(Registry::from_file(file, Path::new(".")).is_err(), "{json}");
        }
        assert!(serde_json::from_str::<RegistryFile>(r#"{"clientz":[]}"#).is_err());
    }
}
