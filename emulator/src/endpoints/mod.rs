//! Entra's endpoints as pure functions of a request and the emulator's state: the token
//! endpoints and their grants, client assertions, sign-in (`/authorize`, admin consent, device
//! code) and OpenID discovery. No HTTP here: `server` turns requests into calls and the results
//! into responses.

pub(crate) mod assertion;
pub(crate) mod authorize;
pub(crate) mod consent;
pub(crate) mod device;
pub(crate) mod discovery;
pub(crate) mod managed_identity;
pub(crate) mod pipelines;
pub(crate) mod scopes;
pub(crate) mod token;
pub(crate) mod user_tokens;
pub(crate) mod web;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `bytes` random bytes, base64url: authorization codes, refresh tokens, device codes.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Fall back to UUID randomness rather than failing the request.
        buf = (0..bytes.div_ceil(16))
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .take(bytes)
            .collect();
    }
    URL_SAFE_NO_PAD.encode(buf)
}
