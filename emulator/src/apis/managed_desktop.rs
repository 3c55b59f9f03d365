//! A stand-in for the Microsoft Managed Desktop API's device list,
//! `GET /support/odata/v1/tenants/{tenant}/devices`: a delegated token (the API takes a user's
//! token only) for the API's fixture Application ID URI carrying `MWaaSDevice.Read`, issued in
//! the tenant the path names, gets an OData page of the fixture devices. (The real API's
//! Application ID URI is the one the "Modern Workplace Customer APIs" registration shows in the
//! customer's tenant; the emulator's is [`fx::MANAGED_DESKTOP_RESOURCE`].)

use serde_json::{Value, json};

use crate::apis::{ApiReply, ApiRequest, TokenProblem, check_bearer, has_permission, is_delegated};
use crate::fixtures as fx;
use crate::signer::Signer;

/// The delegated permission the device list needs.
pub(crate) const DEVICE_READ: &str = "MWaaSDevice.Read";

/// Handles a request whose path starts with `/support/odata/v1/`.
pub(crate) fn handle(req: &ApiRequest<'_>, signer: &Signer) -> ApiReply {
    let error = |status: u16, code: &str, message: &str| {
        ApiReply::json(status, json!({"error": {"code": code, "message": message}}))
    };
    let claims = match check_bearer(
        (req.header)("authorization").as_deref(),
        signer,
        &[fx::MANAGED_DESKTOP_RESOURCE],
        req.now,
    ) {
        Ok(c) => c,
        Err(problem) => {
            let message = match problem {
                TokenProblem::Missing => "Authorization header is missing.",
                TokenProblem::Expired => "The access token has expired.",
                TokenProblem::Invalid => "The access token is invalid.",
                TokenProblem::WrongAudience => "The access token is not for this API (audience).",
            };
            return error(401, "Unauthorized", message).header("www-authenticate", "Bearer");
        }
    };
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let ["support", "odata", "v1", "tenants", tenant, "devices"] = segments.as_slice() else {
        return error(404, "NotFound", "No such resource.");
    };
    if req.method != "GET" {
        return error(405, "MethodNotAllowed", "The devices collection is read-only.");
    }
    if !is_delegated(&claims) || !has_permission(&claims, &[DEVICE_READ]) {
        return error(
            403,
            "Forbidden",
            "The API takes a user's token with the delegated permission MWaaSDevice.Read.",
        );
    }
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
    if !tenant.eq_ignore_ascii_case(tid) {
        return error(
            403,
            "Forbidden",
            "The token was not issued in the tenant the path names.",
        );
    }
    ApiReply::json(
        200,
        json!({
            "@odata.context": format!("{}/support/odata/v1/$metadata#devices", req.origin),
            "value": devices(tid),
        }),
    )
}

/// The fixture tenant's managed devices (none elsewhere).
fn devices(tid: &str) -> Vec<Value> {
    if tid != fx::TENANT_ID {
        return Vec::new();
    }
    [
        (
            "MMD-0001-4E2A",
            "Microsoft Corporation",
            "Surface Laptop 5",
            "Sensitive data",
        ),
        ("MMD-0002-7B1C", "Microsoft Corporation", "Surface Pro 9", "Standard"),
        ("MMD-0003-9D3F", "Lenovo", "ThinkPad X1 Carbon Gen 11", "Power user"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (serial, make, model, group))| {
        json!({
            "serialNumber": serial,
            "make": make,
            "model": model,
            "group": group,
            "userPrincipalName": format!("user{:06}@{}", i + 1, fx::TENANT_DOMAIN),
            "state": "Active",
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(path: &'a str, header: &'a dyn Fn(&str) -> Option<String>) -> ApiRequest<'a> {
        ApiRequest {
            method: "GET",
            path,
            query: None,
            header,
            body: b"",
            origin: "http://127.0.0.1:1",
            now: 1_900_000_000,
        }
    }

    #[test]
    fn a_user_token_with_the_permission_in_its_tenant_lists_the_devices() {
        let signer = Signer::generate().unwrap();
        let sign = |claims: Value| signer.sign(&claims).unwrap();
        let user = sign(
            json!({"aud": fx::MANAGED_DESKTOP_RESOURCE, "tid": fx::TENANT_ID, "scp": "MWaaSDevice.Read", "exp": 2_000_000_000u64}),
        );
        let auth = format!("Bearer {user}");
        let header = |n: &str| (n == "authorization").then(|| auth.clone());
        let path = format!("/support/odata/v1/tenants/{}/devices", fx::TENANT_ID);
        let r = handle(&request(&path, &header), &signer);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
        // another tenant in the path
        let other = format!("/support/odata/v1/tenants/{}/devices", fx::OTHER_TENANT_ID);
        assert_eq!(handle(&request(&other, &header), &signer).status, 403);

        // app-only, or without the permission: 403; no token: 401
        let app = sign(
            json!({"aud": fx::MANAGED_DESKTOP_RESOURCE, "tid": fx::TENANT_ID, "roles": ["MWaaSDevice.Read"], "exp": 2_000_000_000u64}),
        );
        let auth_app = format!("Bearer {app}");
        let header_app = |n: &str| (n == "authorization").then(|| auth_app.clone());
        assert_eq!(handle(&request(&path, &header_app), &signer).status, 403);
        let none = |_: &str| None;
        assert_eq!(handle(&request(&path, &none), &signer).status, 401);
        // a token for another API: 401
        let graph = sign(
            json!({"aud": fx::GRAPH_RESOURCE, "tid": fx::TENANT_ID, "scp": "MWaaSDevice.Read", "exp": 2_000_000_000u64}),
        );
        let auth_graph = format!("Bearer {graph}");
        let header_graph = |n: &str| (n == "authorization").then(|| auth_graph.clone());
        assert_eq!(handle(&request(&path, &header_graph), &signer).status, 401);
    }
}
