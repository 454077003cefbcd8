//! The server key that encrypts app secrets at rest.
//!
//! A secret is stored as `v1:` + base64(nonce ‖ ciphertext): XChaCha20-Poly1305
//! with a random 24-byte nonce per write (random nonces of that size never
//! realistically repeat, so no counter has to survive restarts) and the app
//! id and variable name as associated data, so a ciphertext copied into
//! another app's or another name's row fails to decrypt instead of leaking
//! there. A database dump alone therefore yields no secret; the key lives
//! outside the database (`PICLOUD_SECRET_KEY` or a file in the data directory).
//!
//! ```no_run
//! # fn demo() -> manager_core::Result<()> {
//! use manager_core::SecretKey;
//! let key = SecretKey::load_or_create(std::path::Path::new("data/secret.key"))?;
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{Error, Result};

/// Prefix of the stored form; a later format gets `v2:` and both decrypt.
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// The 32-byte key for secrets at rest. Cheap to clone; `Debug` never shows
/// it, and the cipher state is wiped when the last clone is dropped.
#[derive(Clone)]
pub struct SecretKey {
    cipher: Arc<XChaCha20Poly1305>,
    fingerprint: Arc<str>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Why a stored secret could not be decrypted. Deliberately without the
/// stored text: it goes to the server log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not `v1:` + base64 of at least a nonce and a tag.
    #[error("the stored secret is not in a format this server knows")]
    Malformed,
    /// Authentication failed: another server key, or the value was altered
    /// or copied from another app or name.
    #[error(
        "the stored secret does not decrypt: the server key differs from the one it was written with, or the value was altered"
    )]
    WrongKey,
}

impl SecretKey {
    /// A key from 64 hex digits (`PICLOUD_SECRET_KEY`); surrounding
    /// whitespace is ignored. The error never repeats the input.
    pub fn from_hex(text: &str) -> Result<SecretKey> {
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == KEY_BYTES);
        let Some(bytes) = bytes else {
            return Err(Error::Config(
                "the secret key must be 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`".into(),
            ));
        };
        Ok(Self::from_bytes(&bytes))
    }

    /// The key in the file at `path`, or, when there is no such file, a new
    /// random key written there (hex, mode 0600 on Unix). A file that exists
    /// but does not hold a key is an error, never overwritten: the secrets
    /// encrypted with the old key would be lost. Called once at start.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_file(path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(Error::Config(format!(
                    "cannot read the secret key file {}: {err}",
                    path.display()
                )));
            }
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let io_error = |err: std::io::Error| {
            Error::Config(format!(
                "cannot create the secret key file {}: {err}",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let text = format!("{}\n", hex::encode(key));
                file.write_all(text.as_bytes()).map_err(io_error)?;
                file.sync_all().map_err(io_error)?;
                tracing::info!(path = %path.display(), "created a new key for secrets");
                Ok(Self::from_bytes(&key))
            }
            // Another process created it first: use theirs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(io_error)?;
                Self::from_file(path, &text)
            }
            Err(err) => Err(io_error(err)),
        }
    }

    fn from_file(path: &Path, text: &str) -> Result<SecretKey> {
        let key = Self::from_hex(text).map_err(|_| {
            Error::Config(format!(
                "the secret key file {} is malformed: it must hold 64 hex digits (32 bytes); it is left as it is, because secrets written with the key it held cannot be read without it",
                path.display()
            ))
        })?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path)
            && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the secret key file is readable by other users; chmod 600 it");
        }
        Ok(key)
    }

    fn from_bytes(bytes: &[u8]) -> SecretKey {
        use sha2::Digest as _;
        // A hash under a label of its own: it tells keys apart and reveals
        // nothing that would help find the key.
        let digest = sha2::Sha256::new()
            .chain_update(b"picloud secret key fingerprint v1\0")
            .chain_update(bytes)
            .finalize();
        SecretKey {
            cipher: Arc::new(XChaCha20Poly1305::new_from_slice(bytes).expect("32-byte key")),
            fingerprint: hex::encode(&digest[..8]).into(),
        }
    }

    /// 16 hex digits that name this key (not derived in any reversible
    /// way): backups record it, so a restore under another key is refused.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The stored form of `plaintext` as variable `name` of app `app_id`.
    pub(crate) fn encrypt(&self, app_id: &str, name: &str, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(app_id, name);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            // Only fails for messages over 256 GiB.
            .expect("XChaCha20-Poly1305 encrypts any message of sane size");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", BASE64.encode(sealed))
    }

    /// The plaintext of a value [`SecretKey::encrypt`] stored for the same
    /// app and name.
    pub(crate) fn decrypt(
        &self,
        app_id: &str,
        name: &str,
        stored: &str,
    ) -> std::result::Result<String, SecretError> {
        let sealed = stored
            .strip_prefix(VERSION)
            .and_then(|b64| BASE64.decode(b64).ok())
            .filter(|bytes| bytes.len() >= NONCE_BYTES + 16)
            .ok_or(SecretError::Malformed)?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let aad = associated_data(app_id, name);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Malformed)
    }
}

/// Binds a ciphertext to its row. Neither part can contain NUL (ids are
/// UUIDs, names are `[A-Za-z0-9_]`), so the pair is unambiguous.
fn associated_data(app_id: &str, name: &str) -> Vec<u8> {
    [app_id.as_bytes(), b"\0", name.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_hex(&hex::encode([byte; 32])).unwrap()
    }

    #[test]
    fn round_trip_is_bound_to_key_app_and_name() {
        let k = key(7);
        let sealed = k.encrypt("app-a", "TOKEN", "hunter2");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.decrypt("app-a", "TOKEN", &sealed).unwrap(), "hunter2");
        // Fresh nonce per write.
        assert_ne!(sealed, k.encrypt("app-a", "TOKEN", "hunter2"));
        assert_eq!(
            k.decrypt("app-b", "TOKEN", &sealed),
            Err(SecretError::WrongKey)
        );
        assert_eq!(
            k.decrypt("app-a", "OTHER", &sealed),
            Err(SecretError::WrongKey)
        );
        assert_eq!(
            key(8).decrypt("app-a", "TOKEN", &sealed),
            Err(SecretError::WrongKey)
        );
        assert_eq!(
            k.decrypt("app-a", "TOKEN", "v1:AAAA"),
            Err(SecretError::Malformed)
        );
        assert_eq!(
            k.decrypt("app-a", "TOKEN", "hunter2"),
            Err(SecretError::Malformed)
        );
    }

    #[test]
    fn hex_is_checked_and_never_echoed() {
        for bad in ["", "zz", &"ab".repeat(31), &"ab".repeat(33)] {
            let err = SecretKey::from_hex(bad).unwrap_err().to_string();
            assert!(err.contains("64 hex digits"), "{err}");
        }
        let secret = "c0ffee".repeat(11);
        let err = SecretKey::from_hex(&secret).unwrap_err().to_string();
        assert!(!err.contains(&secret));
        assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
    }

    #[test]
    fn load_or_create_keeps_the_key_and_refuses_a_malformed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("secret.key");
        let first = SecretKey::load_or_create(&path).unwrap();
        let sealed = first.encrypt("a", "N", "v");
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.decrypt("a", "N", &sealed).unwrap(), "v");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key\n").unwrap();
        let err = SecretKey::load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("malformed") && err.contains("secret.key"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
    }
}
