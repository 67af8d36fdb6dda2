//! Password hashing: argon2id with a random salt, stored as a PHC string.

use std::sync::OnceLock;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::RngCore;

/// The shortest password a user may be given (characters).
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest (bytes; argon2 hashes all of it).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password's length: at least [`MIN_PASSWORD_LEN`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes. The error says which.
pub fn check_new_password(p: &str) -> Result<(), String> {
    let chars = p.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters (it has {chars})"
        ));
    }
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(format!("password must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// Hashes a password with argon2id (the `argon2` crate's default parameters: 19 MiB,
/// 2 passes, 1 lane) and a fresh 16-byte random salt. Returns the PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which carries everything
/// [`verify_password`] needs.
///
/// This is CPU-heavy by design (tens of milliseconds); call it off the async runtime
/// (`tokio::task::spawn_blocking`) in servers.
pub fn hash_password(plain: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("a 16-byte salt is valid");
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .expect("argon2id with default parameters accepts any password")
        .to_string()
}

/// Checks a password against a PHC string made by [`hash_password`] (the parameters are
/// read from the string). A malformed PHC string verifies nothing.
pub fn verify_password(plain: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a password nobody knows, verified when the user does not exist so that
/// an unknown user costs the same time as a wrong password.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut random);
        hash_password(&format!("{random:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(h, hash_password("correct horse"), "salts must differ");
    }
}
