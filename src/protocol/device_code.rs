//! The device authorization grant (RFC 8628) as Entra speaks it: the device code URL and its
//! reply (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code>).

use crate::protocol::authority::join;
use crate::secret::Secret;
use url::Url;

/// The device authorization endpoint at `tenant`.
pub(crate) fn device_code_url(authority: &Url, tenant: &str) -> Url {
    join(authority, tenant, "oauth2/v2.0/devicecode")
}

/// A device authorization reply (RFC 8628; Entra's v1-style replies say `verification_url`,
/// and `interval`/`expires_in` may be strings).
#[derive(Debug)]
pub(crate) struct DeviceAuthorization {
    pub(crate) device_code: Secret<String>,
    pub(crate) user_code: String,
    pub(crate) verification_uri: String,
    pub(crate) expires_in: u64,
    pub(crate) interval: u64,
    pub(crate) message: Option<String>,
}

impl DeviceAuthorization {
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<DeviceAuthorization> {
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let num = |k: &str| super::token::int_field(v, k).filter(|n| *n >= 0).map(|n| n as u64);
        Some(DeviceAuthorization {
            device_code: Secret::new(s("device_code")?),
            user_code: s("user_code")?,
            verification_uri: s("verification_uri").or_else(|| s("verification_url"))?,
            expires_in: num("expires_in").unwrap_or(900),
            interval: num("interval").unwrap_or(5),
            message: s("message"),
        })
    }

    /// What to tell the user: Entra's own message, else one built from the URI and code
    /// (server text either way: no control characters or escape sequences reach the terminal).
    pub(crate) fn instructions(&self) -> String {
        let text = self.message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}",
                self.verification_uri, self.user_code
            )
        });
        crate::sanitize::line(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_authorization_forms() {
        let v2 = serde_json::json!({"device_code":"d","user_code":"U1","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"go"});
        let d = DeviceAuthorization::from_json(&v2).unwrap();
        assert_eq!((d.expires_in, d.interval, d.instructions().as_str()), (900, 5, "go"));
        let v1 = serde_json::json!({"device_code":"d","user_code":"U1","verification_url":"https://aka.ms/devicelogin","expires_in":"600","interval":"2"});
        let d = DeviceAuthorization::from_json(&v1).unwrap();
        assert_eq!((d.expires_in, d.interval), (600, 2));
        assert!(d.instructions().contains("https://aka.ms/devicelogin") && d.instructions().contains("U1"));
        assert!(DeviceAuthorization::from_json(&serde_json::json!({"user_code":"x"})).is_none());
    }

    #[test]
    fn device_code_instructions_are_printable() {
        let v = serde_json::json!({"device_code":"d","user_code":"U1","verification_uri":"https://microsoft.com/devicelogin",
            "message":"To sign in, use a web browser to open \x1b]8;;https://evil.example/\x1b\\https://microsoft.com/devicelogin\x1b]8;;\x1b\\ and enter the code U1\r\x1b[2K"});
        let d = DeviceAuthorization::from_json(&v).unwrap();
        assert_eq!(
            d.instructions(),
            "To sign in, use a web browser to open https://microsoft.com/devicelogin and enter the code U1"
        );
    }
}
