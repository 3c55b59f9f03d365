//! Client secret credential: from AZURE_CLIENT_SECRET or `--client-secret-file` (never argv),
//! sent form-encoded in the body (`client_secret_post`).

use super::source::SecretSource;
use crate::error::{Error, Result};
use crate::input;
use crate::secret::Secret;

pub(crate) struct ClientSecret {
    secret: Secret<String>,
}

impl ClientSecret {
    /// `timeout` bounds the read of a secret file (a FIFO without a writer): `--timeout`.
    pub(crate) fn load(src: SecretSource, timeout: std::time::Duration) -> Result<ClientSecret> {
        let secret = match src {
            SecretSource::Env(s) => s,
            SecretSource::File(path, origin) => {
                let what = format!("client secret file (from {})", origin.describe());
                let bytes = input::read(&path, &what, input::SECRET_CAP, timeout)?;
                let mut text = String::from_utf8(bytes)
                    .map_err(|_| Error::usage(format!("{what} '{}' is not UTF-8 text", path.display())))?;
                // exactly one trailing newline is removed (files written by `echo`)
                if text.ends_with("\r\n") {
                    text.truncate(text.len() - 2);
                } else if text.ends_with('\n') {
                    text.truncate(text.len() - 1);
                }
                if text.is_empty() {
                    return Err(Error::usage(format!("{what} '{}' is empty", path.display())));
                }
                Secret::new(text)
            }
        };
        crate::log::register_secret(secret.expose());
        Ok(ClientSecret { secret })
    }

    pub(crate) fn fingerprint(&self) -> String {
        super::digest_label("secret", self.secret.expose().as_bytes())
    }

    pub(crate) fn auth_fields(&self) -> super::AuthFields {
        vec![("client_secret".to_string(), self.secret.clone())]
    }
}
