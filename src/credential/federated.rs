//! Federated credential (workload identity federation): an external identity provider's JWT is
//! the `client_assertion`. It rotates, so it is read again for every token request and never
//! stored: from a file (`AZURE_FEDERATED_TOKEN_FILE`, Kubernetes/AKS and most CI systems), from a
//! variable (`--federated-token-env`, GitLab CI), or straight from the GitHub Actions or Azure
//! Pipelines OIDC endpoint when asked for.

use super::certificate::JWT_BEARER;
use super::source::FederatedSource;
use crate::error::{Error, Result};
use crate::http::{self, Deadline, Http, Request, TlsRoots};
use crate::input;
use crate::origin::Origin;
use crate::protocol::authority;
use crate::protocol::pipelines;
use crate::protocol::token::is_safe_token;
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The audience Entra expects in federated assertions by default.
pub(crate) const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

/// GitHub's OIDC replies are tiny; anything large is not one.
const GITHUB_REPLY_CAP: usize = 256 * 1024;

pub(crate) enum Federated {
    File {
        path: PathBuf,
        origin: Origin,
        /// How long a read may wait (a FIFO without a writer): `--timeout`.
        timeout: Duration,
    },
    GitHub {
        /// ACTIONS_ID_TOKEN_REQUEST_URL with `audience=` set.
        url: Url,
        request_token: Secret<String>,
        timeout: Duration,
        roots: TlsRoots,
    },
    /// The value of a variable named by `--federated-token-env` (the process's environment does
    /// not change while it runs, so the value read at start is the value at each request).
    Env { name: String, value: Secret<String> },
    /// A fresh OIDC token from Azure DevOps for every token request.
    AzurePipelines {
        request: pipelines::OidcRequest,
        /// The service connection's id (for the cache key).
        service_connection: String,
        timeout: Duration,
        roots: TlsRoots,
    },
}

/// Azure DevOps' OIDC replies are small JSON documents.
const PIPELINES_REPLY_CAP: usize = 256 * 1024;

impl Federated {
    /// Checks the configuration; nothing is read or fetched yet. `timeout` and `roots` are for
    /// the GitHub Actions OIDC request.
    pub(crate) fn load(src: FederatedSource, timeout: Duration, roots: &TlsRoots) -> Result<Federated> {
        match src {
            FederatedSource::File(path, origin) => Ok(Federated::File { path, origin, timeout }),
            FederatedSource::GitHub {
                audience,
                origin,
                request,
            } => {
                let Some((raw_url, request_token)) = request else {
                    return Err(Error::usage(format!(
                        "{} asks for a GitHub Actions OIDC token, but ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
                        origin.describe()
                    ))
                    .hint("run inside a GitHub Actions job with `permissions: id-token: write`, or use --federated-token-file"));
                };
                let url = github_request_url(&raw_url, &audience)?;
                Ok(Federated::GitHub {
                    url,
                    request_token,
                    timeout,
                    roots: roots.clone(),
                })
            }
            FederatedSource::Env { name, value } => {
                check_variable_name(&name)?;
                let value = value.ok_or_else(|| {
                    Error::usage(format!(
                        "{name} (named by --federated-token-env) is not set or empty"
                    ))
                    .hint(format!(
                        "put the identity provider's token in {name}; in GitLab CI declare it under the job's `id_tokens:` (with `aud: api://AzureADTokenExchange`)"
                    ))
                })?;
                let token = value.expose().trim();
                if !is_safe_token(token) {
                    return Err(Error::usage(format!(
                        "{name} (named by --federated-token-env) does not hold a single token"
                    )));
                }
                crate::log::register_secret(token);
                Ok(Federated::Env {
                    value: Secret::new(token.to_string()),
                    name,
                })
            }
            FederatedSource::AzurePipelines {
                oidc_request_uri,
                access_token,
                service_connection,
            } => {
                let origin = service_connection.as_ref().map(|(_, o)| o.describe());
                let request = pipelines::build_request(
                    oidc_request_uri.as_deref(),
                    access_token.as_ref(),
                    service_connection
                        .as_ref()
                        .map(|(id, _)| id.as_str())
                        .zip(origin.as_deref()),
                )?;
                Ok(Federated::AzurePipelines {
                    request,
                    service_connection: service_connection
                        .map(|(id, _)| id.trim().to_ascii_lowercase())
                        .unwrap_or_default(),
                    timeout,
                    roots: roots.clone(),
                })
            }
        }
    }

    pub(crate) fn fingerprint(&self) -> String {
        match self {
            Federated::File { path, .. } => super::digest_label("federated", path.to_string_lossy().as_bytes()),
            Federated::GitHub { url, .. } => {
                let audience = url
                    .query_pairs()
                    .find(|(k, _)| k == "audience")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                super::digest_label("federated", format!("github-actions\0{audience}").as_bytes())
            }
            Federated::Env { name, .. } => super::digest_label("federated", format!("env\0{name}").as_bytes()),
            Federated::AzurePipelines { service_connection, .. } => {
                super::digest_label("federated", format!("azure-pipelines\0{service_connection}").as_bytes())
            }
        }
    }

    /// The current external token (re-read or re-fetched now).
    pub(crate) async fn assertion(&self) -> Result<Secret<String>> {
        match self {
            Federated::File { path, origin, timeout } => read_token_file(path, origin, *timeout),
            Federated::GitHub {
                url,
                request_token,
                timeout,
                roots,
            } => fetch_github(url, request_token, *timeout, roots).await,
            Federated::Env { value, .. } => Ok(value.clone()),
            Federated::AzurePipelines {
                request,
                timeout,
                roots,
                ..
            } => fetch_pipelines(request, *timeout, roots).await,
        }
    }

    pub(crate) async fn auth_fields(&self) -> Result<super::AuthFields> {
        let assertion = self.assertion().await?;
        crate::log::register_secret(assertion.expose());
        Ok(vec![
            ("client_assertion_type".to_string(), Secret::new(JWT_BEARER.to_string())),
            ("client_assertion".to_string(), assertion),
        ])
    }
}

/// `{ACTIONS_ID_TOKEN_REQUEST_URL}&audience=AUDIENCE` (URL-encoded; any audience already there
/// is replaced), refusing plain http except to loopback.
pub(crate) fn github_request_url(raw: &str, audience: &str) -> Result<Url> {
    let mut url =
        Url::parse(raw.trim()).map_err(|e| Error::usage("ACTIONS_ID_TOKEN_REQUEST_URL is not a valid URL").cause(e))?;
    authority::check_transport(&url, "ACTIONS_ID_TOKEN_REQUEST_URL")?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "audience")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("audience", audience);
    }
    Ok(url)
}

fn read_token_file(path: &std::path::Path, origin: &Origin, timeout: Duration) -> Result<Secret<String>> {
    let what = format!("federated token file (from {})", origin.describe());
    let bytes = Secret::new(input::read(path, &what, input::TOKEN_FILE_CAP, timeout)?);
    let text = std::str::from_utf8(bytes.expose())
        .map_err(|_| Error::usage(format!("{what} '{}' is not UTF-8 text", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::usage(format!("{what} '{}' is empty", path.display()))
            .hint("the file should hold the identity provider's JWT (it is re-read for every request)"));
    }
    if token.contains(char::is_whitespace) {
        return Err(Error::usage(format!(
            "{what} '{}' does not hold a single token (it contains whitespace)",
            path.display()
        )));
    }
    Ok(Secret::new(token.to_string()))
}

async fn fetch_github(
    url: &Url,
    request_token: &Secret<String>,
    timeout: Duration,
    roots: &TlsRoots,
) -> Result<Secret<String>> {
    let client = Http::new(timeout, roots)?;
    let request = Request {
        method: reqwest::Method::GET,
        url: url.clone(),
        headers: vec![
            ("Authorization".into(), format!("bearer {}", request_token.expose())),
            ("Accept".into(), "application/json".into()),
        ],
        form: None,
        body: None,
        bearer: None,
    };
    let reply = client
        .send(
            &request,
            &http::retry::Policy::token(),
            Deadline::after(timeout),
            GITHUB_REPLY_CAP,
        )
        .await?;
    parse_github_reply(reply.status, &reply.body)
}

/// One OIDC token from Azure DevOps (`POST` with the job's access token; retried on 429/5xx).
async fn fetch_pipelines(oidc: &pipelines::OidcRequest, timeout: Duration, roots: &TlsRoots) -> Result<Secret<String>> {
    let client = Http::new(timeout, roots)?;
    let token = oidc
        .authorization
        .expose()
        .strip_prefix("Bearer ")
        .ok_or_else(|| Error::internal("Azure Pipelines authorization is a bearer token"))?;
    let request = Request {
        method: reqwest::Method::POST,
        url: oidc.url.clone(),
        headers: vec![
            ("Content-Type".into(), pipelines::OidcRequest::CONTENT_TYPE.into()),
            ("Accept".into(), "application/json".into()),
        ],
        form: None,
        body: Some(bytes::Bytes::new()),
        bearer: Some(Secret::new(token.to_string())),
    };
    let reply = client
        .send(
            &request,
            &http::retry::Policy::token(),
            Deadline::after(timeout),
            PIPELINES_REPLY_CAP,
        )
        .await?;
    pipelines::parse_reply(reply.status, reply.content_type(), &reply.body)
}

/// A variable name as shells write them: a letter or `_`, then letters, digits and `_`.
fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--federated-token-env: '{name}' is not an environment variable name"
        ))
        .hint("pass the variable's NAME (e.g. --federated-token-env AZURE_ID_TOKEN), not its value"))
    }
}

/// `{"value":"<jwt>"}` on 200; anything else is a failure of the OIDC endpoint (exit 4).
pub(crate) fn parse_github_reply(status: u16, body: &[u8]) -> Result<Secret<String>> {
    if !(200..300).contains(&status) {
        let mut err = Error::network(format!("the GitHub Actions OIDC endpoint answered HTTP {status}"));
        if status == 401 || status == 403 {
            err = err.hint(
                "the job needs `permissions: id-token: write` (and ACTIONS_ID_TOKEN_REQUEST_TOKEN must be current)",
            );
        }
        return Err(err);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| Error::network("the GitHub Actions OIDC endpoint did not answer with JSON"))?;
    match value.get("value").and_then(|v| v.as_str()) {
        Some(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim().to_string())),
        _ => Err(Error::network(
            "the GitHub Actions OIDC reply has no `value` (the token)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_url_gets_encoded_audience() {
        let u = github_request_url(
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0",
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
        );
        let u = github_request_url("https://x.example/t?audience=old&a=1", "api://custom").unwrap();
        assert_eq!(u.query(), Some("a=1&audience=api%3A%2F%2Fcustom"));
        assert!(github_request_url("http://x.example/t", DEFAULT_AUDIENCE).is_err());
        assert!(github_request_url("http://127.0.0.1:8080/t?x=1", DEFAULT_AUDIENCE).is_ok());
    }

    #[test]
    fn github_reply_parsing() {
        let t = parse_github_reply(200, br#"{"count":1,"value":"eyJ.a.b"}"#).unwrap();
        assert_eq!(t.expose(), "eyJ.a.b");
        assert_eq!(parse_github_reply(403, b"{}").err().unwrap().exit_code(), 4);
        assert!(parse_github_reply(200, b"<html>").is_err());
        assert!(parse_github_reply(200, br#"{"value":""}"#).is_err());
    }

    #[test]
    fn token_file_is_trimmed_and_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first.jwt.value\n").unwrap();
        let f = Federated::File {
            path: path.clone(),
            origin: Origin::Flag("--federated-token-file"),
            timeout: Duration::from_secs(30),
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(f.assertion()).unwrap().expose(), "first.jwt.value");
        std::fs::write(&path, "second.jwt.value").unwrap();
        let fields = rt.block_on(f.auth_fields()).unwrap();
        assert_eq!(fields[0].1.expose(), JWT_BEARER);
        assert_eq!(fields[1].1.expose(), "second.jwt.value");
        std::fs::write(&path, "  \n").unwrap();
        let e = rt.block_on(f.assertion()).err().unwrap();
        assert!(e.message.contains("empty") && e.message.contains("--federated-token-file"));
    }
}
