//! Encryption of vendor credentials at rest: AES-256-GCM with a random 96-bit nonce per
//! message, stored as `nonce || ciphertext`. The key comes from configuration; the
//! embedded default keeps it in a file readable only by its owner.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("master key: {0}")]
    Key(String),
    #[error("could not decrypt stored credentials (wrong master key or corrupted data)")]
    Decrypt,
    /// Sealed for another tenant or service: copied from another row.
    #[error("the stored credentials were sealed for another tenant or service; set them again")]
    WrongContext,
}

/// Seals and opens secrets.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

impl Cipher {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self { aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)) }
    }

    /// Parses a base64-encoded 32-byte key (as given in `AVESA_MASTER_KEY`).
    pub fn from_base64(b64: &str) -> Result<Self, CipherError> {
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|e| CipherError::Key(format!("not valid base64: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| CipherError::Key(format!("must be 32 bytes, got {}", v.len())))?;
        Ok(Self::from_key(&key))
    }

    /// Loads the key file, creating it (mode 0600) with a fresh random key if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, CipherError> {
        let io = |e: std::io::Error| CipherError::Key(format!("{}: {e}", path.display()));
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            return Self::from_base64(&text)
                .map_err(|e| CipherError::Key(format!("{}: {e}", path.display())));
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Write to a temporary file and rename: a crash never leaves a truncated key.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(STANDARD.encode(key).as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(Self::from_key(&key))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        if sealed.len() < 12 {
            return Err(CipherError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.aead.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| CipherError::Decrypt)
    }

    /// Seals `plaintext` bound to `context` (AES-GCM associated data): it opens only with
    /// the same context, so a sealed value copied to another row (another tenant's
    /// service) does not open there. Marked with [`BOUND_MAGIC`].
    pub fn seal_bound(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = BOUND_MAGIC.to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens what [`Cipher::seal_bound`] sealed with the same `context`. A value sealed
    /// by [`Cipher::seal`] before values were bound opens too, reported as
    /// [`Opened::Unbound`] so the caller can seal it again bound.
    pub fn open_bound(&self, sealed: &[u8], context: &[u8]) -> Result<Opened, CipherError> {
        if let Some(rest) = sealed.strip_prefix(BOUND_MAGIC.as_slice())
            && rest.len() >= 12
        {
            let (nonce, ct) = rest.split_at(12);
            if let Ok(plain) =
                self.aead.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: context })
            {
                return Ok(Opened::Bound(plain));
            }
        }
        // An unbound value (whose random nonce may even begin like the magic).
        match self.open(sealed) {
            Ok(plain) => Ok(Opened::Unbound(plain)),
            Err(_) if sealed.starts_with(BOUND_MAGIC.as_slice()) => Err(CipherError::WrongContext),
            Err(e) => Err(e),
        }
    }
}

/// What [`Cipher::open_bound`] opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Bound to the context it was opened with.
    Bound(Vec<u8>),
    /// Sealed before values were bound: seal it again.
    Unbound(Vec<u8>),
}

impl Opened {
    pub fn plaintext(&self) -> &[u8] {
        match self {
            Opened::Bound(p) | Opened::Unbound(p) => p,
        }
    }
}

/// The first bytes of a bound sealed value.
pub const BOUND_MAGIC: [u8; 4] = *b"AVb1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let c = Cipher::from_key(&[7u8; 32]);
        let sealed = c.seal(b"private-key");
        assert!(!sealed.windows(11).any(|w| w == b"private-key"), "plaintext visible");
        assert_eq!(c.open(&sealed).unwrap(), b"private-key");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(c.open(&bad).is_err());
        assert!(Cipher::from_key(&[8u8; 32]).open(&sealed).is_err());
    }

    #[test]
    fn bound_values_open_only_in_their_context() {
        let c = Cipher::from_key(&[7u8; 32]);
        let sealed = c.seal_bound(b"private-key", b"acme/connectwise");
        assert_eq!(
            c.open_bound(&sealed, b"acme/connectwise").unwrap(),
            Opened::Bound(b"private-key".to_vec())
        );
        assert!(matches!(
            c.open_bound(&sealed, b"globex/connectwise"),
            Err(CipherError::WrongContext)
        ));
        // Values sealed before binding still open, and say so.
        let legacy = c.seal(b"old");
        assert_eq!(
            c.open_bound(&legacy, b"acme/connectwise").unwrap(),
            Opened::Unbound(b"old".to_vec())
        );
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(c.open_bound(&bad, b"acme/connectwise").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let a = Cipher::load_or_create(&path).unwrap();
        let b = Cipher::load_or_create(&path).unwrap();
        assert_eq!(b.open(&a.seal(b"x")).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
