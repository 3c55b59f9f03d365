//! The managed-identity token request per source (method, URL with `api-version`, `resource`
//! and the selector, headers, Cloud Shell's form), and the Azure Arc challenge: which key file a
//! `WWW-Authenticate: Basic realm=PATH` may name. Pure: reading the key is the caller's job
//! (`credential::arc_key`).
//!
//! Shapes: IMDS and App Service as in MSAL Python's `managed_identity.py`; Arc as in
//! <https://learn.microsoft.com/azure/azure-arc/servers/managed-identity-authentication>;
//! Service Fabric as in
//! <https://learn.microsoft.com/azure/service-fabric/how-to-managed-identity-service-fabric-app-code>.

use super::{Endpoint, Selector, Source, check_selector};
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::path::{Component, Path, PathBuf};

/// `api-version` per source.
pub(crate) fn api_version(source: Source) -> Option<&'static str> {
    match source {
        Source::Imds => Some("2018-02-01"),
        Source::AppService => Some("2019-08-01"),
        Source::Arc => Some("2019-11-01"),
        Source::ServiceFabric => Some("2019-07-01-preview"),
        // Cloud Shell's endpoint takes a form with `resource` only.
        Source::CloudShell => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// A header value; secret ones (`X-IDENTITY-HEADER`, `secret`, `Authorization`) stay boxed.
#[derive(Debug)]
pub(crate) enum HeaderValue {
    Plain(&'static str),
    Secret(Secret<String>),
}

impl HeaderValue {
    /// The value to put on the wire.
    pub(crate) fn expose(&self) -> &str {
        match self {
            HeaderValue::Plain(v) => v,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

/// One managed-identity token request. `Debug` shows no secret.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: url::Url,
    pub(crate) headers: Vec<(&'static str, HeaderValue)>,
    /// Cloud Shell: `application/x-www-form-urlencoded` body fields.
    pub(crate) form: Vec<(&'static str, String)>,
}

impl Request {
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Builds the token request for `resource` (see [`super::resource_for`]). `arc_key` is the
/// content of the key file an Arc challenge named: the second Arc request sends it as
/// `Authorization: Basic <key>`. A selector the source cannot take is exit 2.
pub(crate) fn build(
    endpoint: &Endpoint,
    resource: &str,
    selector: Option<&Selector>,
    arc_key: Option<&Secret<String>>,
) -> Result<Request> {
    check_selector(endpoint.source, selector)?;
    let mut url = endpoint.url.clone();
    let mut headers: Vec<(&'static str, HeaderValue)> = Vec::new();
    let mut form = Vec::new();
    let identity_header = || {
        endpoint
            .identity_header
            .clone()
            .ok_or_else(|| Error::internal(format!("{} endpoint without IDENTITY_HEADER", endpoint.source.label())))
    };
    let method = match endpoint.source {
        Source::CloudShell => {
            form.push(("resource", resource.to_string()));
            headers.push(("Metadata", HeaderValue::Plain("true")));
            Method::Post
        }
        source => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(v) = api_version(source) {
                    q.append_pair("api-version", v);
                }
                q.append_pair("resource", resource);
                if let Some(s) = selector
                    && let Some(name) = source.selector_parameter(s.kind)
                {
                    q.append_pair(name, &s.value);
                }
            }
            match source {
                Source::Imds => headers.push(("Metadata", HeaderValue::Plain("true"))),
                Source::AppService => {
                    headers.push(("X-IDENTITY-HEADER", HeaderValue::Secret(identity_header()?)));
                    // Not needed by App Service, but Azure Automation (same variables) wants it;
                    // MSAL sends it too.
                    headers.push(("Metadata", HeaderValue::Plain("true")));
                }
                Source::ServiceFabric => headers.push(("secret", HeaderValue::Secret(identity_header()?))),
                Source::Arc => {
                    headers.push(("Metadata", HeaderValue::Plain("true")));
                    if let Some(key) = arc_key {
                        headers.push((
                            "Authorization",
                            HeaderValue::Secret(Secret::new(format!("Basic {}", key.expose()))),
                        ));
                    }
                }
                Source::CloudShell => unreachable!("handled above"),
            }
            Method::Get
        }
    };
    Ok(Request {
        method,
        url,
        headers,
        form,
    })
}

/// The folder the Azure Arc agent writes challenge keys to on this platform:
/// `/var/opt/azcmagent/tokens` on Linux, `%ProgramData%\AzureConnectedMachineAgent\Tokens` on
/// Windows (`program_data` is that variable's value). `None`: Arc is not supported here.
pub(crate) fn arc_key_folder(program_data: Option<&str>) -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        Some(PathBuf::from("/var/opt/azcmagent/tokens"))
    } else if cfg!(windows) {
        let pd = program_data.map(str::trim).filter(|p| !p.is_empty())?;
        Some(Path::new(pd).join("AzureConnectedMachineAgent").join("Tokens"))
    } else {
        None
    }
}

/// The largest Arc key file read (the agent's are a few dozen bytes).
pub(crate) const ARC_KEY_MAX_BYTES: u64 = 4096;

fn refuse(why: String) -> Error {
    Error::network(format!("refusing the Azure Arc challenge: {why}"))
        .hint("the Arc agent names a key file in its own folder; nothing was read or sent")
}

/// The key file an Arc `401` names in `WWW-Authenticate: Basic realm=PATH`, accepted only when
/// PATH is absolute, directly in `folder` (no `..`, no subfolder) and named `*.key`. Anything
/// else is exit 4 and nothing may be read: a hostile endpoint could otherwise make us send any
/// file's content (`/etc/shadow`) as a header. The file itself is checked when it is opened.
pub(crate) fn arc_challenge_key_path(www_authenticate: Option<&str>, folder: &Path) -> Result<PathBuf> {
    let header = www_authenticate
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refuse("the 401 reply has no WWW-Authenticate header".into()))?;
    let (scheme, params) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refuse(format!("the challenge scheme is '{scheme}', not Basic")));
    }
    let params = params.trim();
    let Some((name, value)) = params.split_once('=') else {
        return Err(refuse("the challenge has no realm=PATH".into()));
    };
    if !name.trim().eq_ignore_ascii_case("realm") {
        return Err(refuse("the challenge has no realm=PATH".into()));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if value.is_empty() || value.contains('"') || value.contains(',') {
        return Err(refuse("the realm is not a file path".into()));
    }
    check_key_path(value, folder)
}

/// Whether `path` may be an Arc key: absolute, directly in `folder`, no `.` or `..` segment,
/// named `*.key`. Lexical only (no I/O); exit 4 otherwise.
pub(crate) fn check_key_path(path: &str, folder: &Path) -> Result<PathBuf> {
    if path.contains('\0') {
        return Err(refuse("the realm is not a file path".into()));
    }
    let p = PathBuf::from(path);
    let shown = p.display();
    if !p.is_absolute() {
        return Err(refuse(format!("'{shown}' is not an absolute path")));
    }
    // Checked on the text too: `Path::components` drops inner `.` segments.
    if path.split(['/', '\\']).any(|seg| seg == "." || seg == "..")
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse(format!("'{shown}' contains '.' or '..'")));
    }
    if p.parent() != Some(folder) {
        return Err(refuse(format!(
            "'{shown}' is not directly in the agent's folder {}",
            folder.display()
        )));
    }
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.len() <= ".key".len() || !name.ends_with(".key") {
        return Err(refuse(format!("'{shown}' is not a *.key file")));
    }
    Ok(p)
}
