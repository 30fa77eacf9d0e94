//! The signing-key ring in the data directory.
//!
//! Layout: `keys/<kid>.pk8` (PKCS#8 DER, mode 0600, directory 0700) and `keyring.json`, which
//! names the active key and, for every retired key, when it was retired and the longest
//! lifetime of any token it may have signed. A retired key stays published in the JWKS until
//! `retired_at + max_token_lifetime + leeway`; after that its file is deleted.
//!
//! The server records its longest token lifetime on the active key *before* it signs
//! anything with it, so `rotate-key` (a separate process, no server config) never has to
//! guess how long a retired key is needed.
//!
//! `revoke-key` removes a compromised key at once (its file is deleted and its kid listed as
//! revoked, so it can never come back); revoking the active key first makes a new one.
//!
//! Every read-modify-write of the ring (the server's reload, `rotate-key`, `revoke-key`, in
//! any number of processes) holds an exclusive lock on `keyring.lock`, so none of them can
//! lose another's update.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use zte_auth::{KeyError, KeySpec, PublicJwk, SigningKey};

/// Metadata file name inside the data directory.
pub const KEYRING_FILE: &str = "keyring.json";
/// Directory of key files inside the data directory.
pub const KEYS_DIR: &str = "keys";
/// Lock file inside the data directory: held exclusively around every change of the ring.
pub const LOCK_FILE: &str = "keyring.lock";

/// Why the key ring could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// A key file is unusable or unreadable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading or writing the data directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `revoke-key` named a kid the ring does not hold.
    #[error("no key {0:?} in the key ring")]
    NoSuchKey(String),
    /// `keyring.json` is not valid or inconsistent with the key files.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The metadata file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// One key's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyEntry {
    kid: String,
    /// File name under `keys/`.
    file: String,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<i64>,
    /// Longest lifetime (seconds) of a token this key may have signed.
    #[serde(default)]
    max_token_lifetime_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRingFile {
    active: String,
    keys: Vec<KeyEntry>,
    /// Kids revoked by `revoke-key`: never loaded again, whatever files reappear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<String>,
}

/// What `revoke-key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The revoked kid.
    pub kid: String,
    /// The new active key, when the revoked one was active.
    pub new_active: Option<String>,
}

/// The loaded key ring: the active signing key and every public key still published.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: SigningKey,
    published: Vec<PublicJwk>,
}

impl KeyRing {
    /// The key new tokens are signed with.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// Public keys for the JWKS: the active key first, then retired keys still needed.
    pub fn published(&self) -> &[PublicJwk] {
        &self.published
    }

    /// Loads the key ring from `data_dir`, creating the directory and a first key (of
    /// `spec`) if there is none, recording `max_token_lifetime_secs` on the active key and pruning retired keys
    /// no token can need any more (`leeway_secs` after the last one expired).
    pub fn load_or_create(
        data_dir: &Path,
        spec: KeySpec,
        max_token_lifetime_secs: u64,
        leeway_secs: u64,
        now: i64,
    ) -> Result<Self, KeyRingError> {
        let _lock = lock_ring(data_dir)?;
        let mut file = match read_metadata(data_dir)? {
            Some(file) => file,
            None => init(data_dir, spec, now)?,
        };
        let mut changed = false;
        // Prune first: a retired key past its last token's expiry is no longer needed.
        let mut kept = Vec::with_capacity(file.keys.len());
        for entry in std::mem::take(&mut file.keys) {
            let expired = entry.retired_at.is_some_and(|retired| {
                let horizon = entry.max_token_lifetime_secs.saturating_add(leeway_secs);
                now > retired.saturating_add(i64::try_from(horizon).unwrap_or(i64::MAX))
            });
            if expired && entry.kid != file.active {
                let path = key_path(data_dir, &entry.file);
                if let Err(error) = fs::remove_file(&path)
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(%error, path = %path.display(), "cannot delete expired key file");
                }
                tracing::info!(kid = %entry.kid, "retired signing key expired; removed from the JWKS");
                changed = true;
            } else {
                kept.push(entry);
            }
        }
        file.keys = kept;

        let metadata_path = data_dir.join(KEYRING_FILE);
        let corrupt = |reason: String| KeyRingError::Corrupt {
            path: metadata_path.display().to_string(),
            reason,
        };
        let active_entry = file
            .keys
            .iter_mut()
            .find(|e| e.kid == file.active)
            .ok_or_else(|| corrupt(format!("active key {:?} has no entry", file.active)))?;
        if active_entry.max_token_lifetime_secs < max_token_lifetime_secs {
            active_entry.max_token_lifetime_secs = max_token_lifetime_secs;
            changed = true;
        }
        if changed {
            write_metadata(data_dir, &file)?;
        }

        let mut active = None;
        let mut published = Vec::with_capacity(file.keys.len());
        for entry in &file.keys {
            if file.revoked.contains(&entry.kid) {
                return Err(corrupt(format!("key {} is revoked", entry.kid)));
            }
            let key = SigningKey::load(&key_path(data_dir, &entry.file))?;
            if key.kid() != entry.kid {
                return Err(corrupt(format!(
                    "key file {} does not hold key {}",
                    entry.file, entry.kid
                )));
            }
            if entry.kid == file.active {
                published.insert(0, key.public_jwk());
                active = Some(key);
            } else {
                published.push(key.public_jwk());
            }
        }
        let active = active.ok_or_else(|| corrupt("no active key".into()))?;
        Ok(Self { active, published })
    }
}

/// Makes a new active key of `spec` in `data_dir` (creating the ring if needed) and retires
/// the previous one as of `now`. Returns the new key's `kid`.
pub fn rotate(data_dir: &Path, spec: KeySpec, now: i64) -> Result<String, KeyRingError> {
    let _lock = lock_ring(data_dir)?;
    let mut file = match read_metadata(data_dir)? {
        Some(file) => file,
        None => init(data_dir, spec, now)?,
    };
    let kid = add_active_key(data_dir, &mut file, spec, now)?;
    write_metadata(data_dir, &file)?;
    Ok(kid)
}

/// Revokes key `kid` in `data_dir`: it leaves the ring (and so the JWKS at the server's next
/// reload) at once, its file is deleted, and it is listed as revoked. When it is the active
/// key, a new active key of `spec` replaces it first.
pub fn revoke(
    data_dir: &Path,
    kid: &str,
    spec: KeySpec,
    now: i64,
) -> Result<Revoked, KeyRingError> {
    let _lock = lock_ring(data_dir)?;
    let mut file =
        read_metadata(data_dir)?.ok_or_else(|| KeyRingError::NoSuchKey(kid.to_owned()))?;
    let index = file
        .keys
        .iter()
        .position(|e| e.kid == kid)
        .ok_or_else(|| KeyRingError::NoSuchKey(kid.to_owned()))?;
    let new_active = if file.active == kid {
        Some(add_active_key(data_dir, &mut file, spec, now)?)
    } else {
        None
    };
    let entry = file.keys.remove(index);
    file.revoked.push(entry.kid.clone());
    // The metadata first: once it is written no reload publishes the key, even if deleting
    // the file fails.
    write_metadata(data_dir, &file)?;
    let path = key_path(data_dir, &entry.file);
    if let Err(error) = fs::remove_file(&path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        return Err(io_error(&path)(error));
    }
    tracing::warn!(kid = %entry.kid, new_active = new_active.as_deref().unwrap_or(""), "signing key revoked");
    Ok(Revoked {
        kid: entry.kid,
        new_active,
    })
}

/// Generates a key of `spec`, stores it, makes it the active one in `file` and retires the
/// previous one as of `now`. Returns its kid.
fn add_active_key(
    data_dir: &Path,
    file: &mut KeyRingFile,
    spec: KeySpec,
    now: i64,
) -> Result<String, KeyRingError> {
    let key = SigningKey::generate(spec)?;
    let entry = store_key(data_dir, &key, now)?;
    for old in file.keys.iter_mut().filter(|e| e.retired_at.is_none()) {
        old.retired_at = Some(now);
    }
    file.active = entry.kid.clone();
    file.keys.push(entry);
    Ok(key.kid().to_owned())
}

/// The ring's lock, held exclusively until dropped (closing the file releases it).
#[derive(Debug)]
struct RingLock {
    _file: fs::File,
}

/// Waits for the exclusive lock on the ring in `data_dir` (creating the directory).
fn lock_ring(data_dir: &Path) -> Result<RingLock, KeyRingError> {
    create_private_dir(data_dir)?;
    let path = data_dir.join(LOCK_FILE);
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).map_err(io_error(&path))?;
    file.lock().map_err(io_error(&path))?;
    Ok(RingLock { _file: file })
}

fn key_path(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(KEYS_DIR).join(file)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyRingError + '_ {
    move |source| KeyRingError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `dir` (and parents) and restricts it to its owner.
fn create_private_dir(dir: &Path) -> Result<(), KeyRingError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    }
    Ok(())
}

fn init(data_dir: &Path, spec: KeySpec, now: i64) -> Result<KeyRingFile, KeyRingError> {
    let key = SigningKey::generate(spec)?;
    let entry = store_key(data_dir, &key, now)?;
    tracing::info!(kid = %entry.kid, alg = %key.algorithm(), "generated the first signing key");
    let file = KeyRingFile {
        active: entry.kid.clone(),
        keys: vec![entry],
        revoked: Vec::new(),
    };
    write_metadata(data_dir, &file)?;
    Ok(file)
}

fn store_key(data_dir: &Path, key: &SigningKey, now: i64) -> Result<KeyEntry, KeyRingError> {
    create_private_dir(data_dir)?;
    create_private_dir(&data_dir.join(KEYS_DIR))?;
    // kids are RFC 7638 thumbprints: base64url, safe as file names.
    let file = format!("{}.pk8", key.kid());
    key.store(&key_path(data_dir, &file))?;
    Ok(KeyEntry {
        kid: key.kid().to_owned(),
        file,
        created_at: now,
        retired_at: None,
        max_token_lifetime_secs: 0,
    })
}

fn read_metadata(data_dir: &Path) -> Result<Option<KeyRingFile>, KeyRingError> {
    let path = data_dir.join(KEYRING_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&path)(error)),
    };
    let file: KeyRingFile = serde_json::from_slice(&bytes).map_err(|e| KeyRingError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !s.starts_with('.')
    };
    if let Some(bad) = file.keys.iter().find(|e| !valid_name(&e.file)) {
        return Err(KeyRingError::Corrupt {
            path: path.display().to_string(),
            reason: format!("invalid key file name {:?}", bad.file),
        });
    }
    Ok(Some(file))
}

/// Writes the metadata atomically (temporary file + rename) so a concurrent reader never
/// sees half a file.
fn write_metadata(data_dir: &Path, file: &KeyRingFile) -> Result<(), KeyRingError> {
    let path = data_dir.join(KEYRING_FILE);
    let json = serde_json::to_vec_pretty(file).map_err(|e| KeyRingError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    zte_auth::keys::write_atomically(&path, &json).map_err(io_error(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    #[test]
    fn first_load_creates_an_owner_only_key_that_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("identity");
        let ring = KeyRing::load_or_create(&data, KeySpec::Es256, DAY, 5, 1_000).unwrap();
        let again = KeyRing::load_or_create(&data, KeySpec::Es256, DAY, 5, 1_001).unwrap();
        assert_eq!(ring.active().kid(), again.active().kid());
        assert_eq!(again.published().len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = data
                .join(KEYS_DIR)
                .join(format!("{}.pk8", ring.active().kid()));
            assert_eq!(
                fs::metadata(file).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let keys = data.join(KEYS_DIR);
            assert_eq!(
                fs::metadata(keys).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn rotation_keeps_the_retired_key_published_until_its_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let old = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 1_000).unwrap();
        let new_kid = rotate(data, KeySpec::Es256, 2_000).unwrap();
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 2_001).unwrap();
        assert_eq!(ring.active().kid(), new_kid);
        let kids: Vec<_> = ring
            .published()
            .iter()
            .filter_map(|k| k.kid.clone())
            .collect();
        assert_eq!(kids, vec![new_kid.clone(), old.active().kid().to_owned()]);

        // Still published on the last second a token of the old key can be valid ...
        let edge = 2_000 + i64::try_from(DAY + 5).unwrap();
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, edge).unwrap();
        assert_eq!(ring.published().len(), 2);
        // ... and gone (file deleted) right after.
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, edge + 1).unwrap();
        assert_eq!(ring.published().len(), 1);
        assert!(
            !data
                .join(KEYS_DIR)
                .join(format!("{}.pk8", old.active().kid()))
                .exists()
        );
    }

    #[test]
    fn a_key_file_that_does_not_match_its_kid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 1_000).unwrap();
        let path = data
            .join(KEYS_DIR)
            .join(format!("{}.pk8", ring.active().kid()));
        fs::remove_file(&path).unwrap();
        SigningKey::generate(KeySpec::Es256)
            .unwrap()
            .store(&path)
            .unwrap();
        let error = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 1_001).unwrap_err();
        assert!(matches!(error, KeyRingError::Corrupt { .. }), "{error}");
    }

    fn kids(ring: &KeyRing) -> Vec<String> {
        ring.published()
            .iter()
            .map(|k| k.kid.clone().unwrap())
            .collect()
    }

    #[test]
    fn a_revoked_key_leaves_the_ring_and_its_file_at_once_and_never_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let old = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 1_000).unwrap();
        let old_kid = old.active().kid().to_owned();
        let new_kid = rotate(data, KeySpec::Es256, 2_000).unwrap();
        // A retired key (still published) is revoked: gone long before its tokens expire.
        let revoked = revoke(data, &old_kid, KeySpec::Es256, 2_001).unwrap();
        assert_eq!(
            revoked,
            Revoked {
                kid: old_kid.clone(),
                new_active: None
            }
        );
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 2_002).unwrap();
        assert_eq!(kids(&ring), [new_kid.as_str()]);
        let old_file = data.join(KEYS_DIR).join(format!("{old_kid}.pk8"));
        assert!(!old_file.exists(), "the key file is deleted");
        // Restoring the file and its entry (a backup) does not bring it back.
        old.active().store(&old_file).unwrap();
        let mut file = read_metadata(data).unwrap().unwrap();
        file.keys.push(KeyEntry {
            kid: old_kid.clone(),
            file: format!("{old_kid}.pk8"),
            created_at: 1_000,
            retired_at: Some(2_000),
            max_token_lifetime_secs: DAY,
        });
        write_metadata(data, &file).unwrap();
        let error = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 2_003).unwrap_err();
        assert!(matches!(error, KeyRingError::Corrupt { .. }), "{error}");
        file.keys.pop();
        write_metadata(data, &file).unwrap();

        // Revoking the active key makes a new active key first.
        let revoked = revoke(data, &new_kid, KeySpec::Ps256 { bits: 2048 }, 3_000).unwrap();
        let replacement = revoked.new_active.clone().unwrap();
        assert_eq!(revoked.kid, new_kid);
        let ring = KeyRing::load_or_create(data, KeySpec::Es256, DAY, 5, 3_001).unwrap();
        assert_eq!(ring.active().kid(), replacement);
        assert_eq!(ring.active().algorithm(), zte_auth::Algorithm::Ps256);
        assert_eq!(kids(&ring), [replacement]);
        // Unknown (or already revoked) kids are refused.
        for kid in ["nope", new_kid.as_str()] {
            let error = revoke(data, kid, KeySpec::Es256, 3_002).unwrap_err();
            assert!(matches!(error, KeyRingError::NoSuchKey(_)), "{error}");
        }
    }

    #[test]
    fn concurrent_rotations_and_reloads_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let first = KeyRing::load_or_create(&data, KeySpec::Es256, DAY, 5, 1_000).unwrap();
        const ROTATORS: usize = 6;
        const EACH: usize = 4;
        let mut rotated: Vec<String> = std::thread::scope(|scope| {
            let reloader = scope.spawn(|| {
                for i in 0..40 {
                    KeyRing::load_or_create(&data, KeySpec::Es256, DAY, 5, 1_500 + i).unwrap();
                }
            });
            let rotators: Vec<_> = (0..ROTATORS)
                .map(|_| {
                    scope.spawn(|| {
                        (0..EACH)
                            .map(|_| rotate(&data, KeySpec::Es256, 2_000).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            reloader.join().unwrap();
            rotators
                .into_iter()
                .flat_map(|r| r.join().unwrap())
                .collect()
        });
        let file = read_metadata(&data).unwrap().unwrap();
        let mut listed: Vec<String> = file.keys.iter().map(|e| e.kid.clone()).collect();
        assert_eq!(listed.len(), 1 + ROTATORS * EACH, "every rotation is kept");
        assert!(listed.contains(&first.active().kid().to_owned()));
        assert!(rotated.contains(&file.active));
        assert_eq!(
            file.keys.iter().filter(|e| e.retired_at.is_none()).count(),
            1,
            "exactly one active key"
        );
        listed.retain(|kid| kid != first.active().kid());
        listed.sort();
        rotated.sort();
        assert_eq!(listed, rotated);
        let ring = KeyRing::load_or_create(&data, KeySpec::Es256, DAY, 5, 2_001).unwrap();
        assert_eq!(ring.published().len(), 1 + ROTATORS * EACH);
    }
}
