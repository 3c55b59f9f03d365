//! The device-code flow: `POST /{tenant}/oauth2/v2.0/devicecode` (and v1), the `/devicelogin`
//! page, approval through the control API (`POST /_emulator/device/approve`) and the token
//! endpoint's `device_code` grant.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::aadsts::{self, AadError};
use crate::directory::TenantRef;
use crate::endpoints::random_token;
use crate::endpoints::scopes::split_scopes;
use crate::endpoints::user_tokens::{GrantRequest, check_tenant, issue};
use crate::endpoints::web::WebReply;
use crate::fixtures::{USERS, user_by_upn};
use crate::signer::Signer;
use crate::state::{DeviceGrant, DeviceStatus, Endpoint, MutableState};

/// Letters and digits of user codes (no 0/O, 1/I).
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh 9-character user code.
fn user_code() -> String {
    let mut buf = [0u8; 9];
    if getrandom::fill(&mut buf).is_err() {
        buf.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..9]);
    }
    buf.iter()
        .map(|b| USER_CODE_ALPHABET[(*b as usize) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` and `/{tenant}/oauth2/devicecode`.
pub(crate) fn device_code(
    mutable: &mut MutableState,
    segment: &str,
    endpoint: Endpoint,
    form: &BTreeMap<String, String>,
    base: &str,
    now: u64,
) -> Result<Value, AadError> {
    let get = |k: &str| form.get(k).filter(|v| !v.is_empty());
    if let TenantRef::Unknown = mutable.directory.resolve_tenant(segment) {
        return Err(aadsts::tenant_not_found(segment));
    }
    let client_id = get("client_id").ok_or_else(|| aadsts::missing_parameter("client_id"))?;
    let app = mutable
        .directory
        .app(client_id)
        .ok_or_else(|| aadsts::app_not_found(client_id, segment))?;
    let (scopes, resource) = match endpoint {
        Endpoint::V2 => {
            if get("resource").is_some() {
                return Err(aadsts::resource_on_v2());
            }
            (
                split_scopes(get("scope").ok_or_else(|| aadsts::missing_parameter("scope"))?),
                None,
            )
        }
        Endpoint::V1 => (Vec::new(), get("resource").cloned()),
    };
    let code = user_code();
    let device = random_token(48);
    let cfg = &mutable.config;
    let uri = format!("{base}/devicelogin");
    mutable.grants.devices.retain(|_, d| d.expires + 3600 > now);
    mutable.grants.devices.insert(
        device.clone(),
        DeviceGrant {
            client_id: app.client_id.clone(),
            user_code: code.clone(),
            scopes,
            resource,
            expires: now + cfg.device_expires_in,
            status: DeviceStatus::Pending,
        },
    );
    let num = |n: u64| {
        if cfg.device_numbers_as_strings {
            json!(n.to_string())
        } else {
            json!(n)
        }
    };
    let uri_key = if endpoint == Endpoint::V1 {
        "verification_url"
    } else {
        "verification_uri"
    };
    let mut body = Map::new();
    body.insert("user_code".into(), json!(code));
    body.insert("device_code".into(), json!(device));
    body.insert(uri_key.into(), json!(uri));
    body.insert("expires_in".into(), num(cfg.device_expires_in));
    body.insert("interval".into(), num(cfg.device_interval));
    body.insert(
        "message".into(),
        json!(format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."
        )),
    );
    Ok(Value::Object(body))
}

/// `POST /_emulator/device/approve {"user_code", "decline"?, "user"?}`.
pub(crate) fn approve_device(mutable: &mut MutableState, body: &Value) -> Result<Value, String> {
    let obj = body.as_object().ok_or("expected a JSON object")?;
    let code = obj
        .get("user_code")
        .and_then(Value::as_str)
        .ok_or("\"user_code\" must be a string")?;
    let decline = match obj.get("decline") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"decline\" must be a boolean".into()),
    };
    let user = match obj.get("user") {
        None | Some(Value::Null) => user_by_upn(&mutable.config.signed_in_user).unwrap_or(USERS[0]),
        Some(Value::String(u)) => user_by_upn(u).ok_or_else(|| format!("unknown user {u:?}"))?,
        Some(_) => return Err("\"user\" must be a UPN string".into()),
    };
    let decline = decline || std::mem::take(&mut mutable.config.decline_next);
    let wanted: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let grant = mutable
        .grants
        .devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| format!("no pending device authorization with user_code {code:?}"))?;
    grant.status = if decline {
        DeviceStatus::Declined
    } else {
        DeviceStatus::Approved(user)
    };
    Ok(json!({"ok": true, "status": if decline { "declined" } else { "approved" }, "user": user.upn}))
}

/// The `/devicelogin` page (the verification URI).
pub(crate) fn device_login_page() -> WebReply {
    WebReply {
        status: 200,
        headers: Vec::new(),
        content_type: "text/html; charset=utf-8",
        body: "<!DOCTYPE html>\n<html><head><title>Enter code</title></head><body>\n<h1>entra-token emulator: device login</h1>\n<p>This is a test double of Microsoft Entra ID. Approve a code with <code>POST /_emulator/device/approve {\"user_code\":\"...\"}</code>.</p>\n</body></html>\n".into(),
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub(crate) fn poll_device(
    mutable: &mut MutableState,
    signer: &Signer,
    req: &GrantRequest<'_>,
) -> Result<Value, AadError> {
    let code = req
        .param("device_code")
        .or_else(|| req.param("code"))
        .ok_or_else(|| aadsts::missing_parameter("device_code"))?;
    let grant = mutable
        .grants
        .devices
        .get(code)
        .cloned()
        .ok_or_else(aadsts::device_bad_code)?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(aadsts::device_bad_code());
    }
    if grant.expires <= req.now && !matches!(grant.status, DeviceStatus::Redeemed) {
        return Err(aadsts::device_expired());
    }
    match grant.status {
        DeviceStatus::Pending => {
            if std::mem::take(&mut mutable.config.device_slow_down) {
                Err(aadsts::device_slow_down())
            } else {
                Err(aadsts::device_pending())
            }
        }
        DeviceStatus::Declined => Err(aadsts::device_declined()),
        DeviceStatus::Redeemed => Err(aadsts::invalid_grant("The device code was already redeemed.")),
        DeviceStatus::Approved(user) => {
            check_tenant(&mutable.directory, req.segment, &user)?;
            let reply = issue(
                mutable,
                signer,
                req,
                &user,
                &grant.scopes,
                grant.resource.as_deref(),
                None,
            )?;
            if let Some(d) = mutable.grants.devices.get_mut(code) {
                d.status = DeviceStatus::Redeemed;
            }
            Ok(reply)
        }
    }
}
