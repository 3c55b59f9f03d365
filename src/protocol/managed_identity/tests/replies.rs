//! Managed-identity replies: tokens, expiry, refresh and error classification.

use super::*;

const NOW: i64 = 1_700_000_000;

fn classify(
    source: Source,
    status: u16,
    body: serde_json::Value,
    selector: Option<&Selector>,
) -> crate::error::Result<reply::Token> {
    reply::classify(
        source,
        status,
        Some("application/json"),
        body.to_string().as_bytes(),
        NOW,
        selector,
    )
}

#[test]
fn token_replies_with_strings_or_numbers() {
    // IMDS: all strings
    let t = classify(
        Source::Imds,
        200,
        json!({"access_token":"eyJ0.eyJ1.sig","refresh_token":"","expires_in":"3599",
               "expires_on": (NOW + 3599).to_string(),"not_before":"1","resource":"https://graph.microsoft.com","token_type":"Bearer"}),
        None,
    )
    .unwrap();
    assert_eq!(t.access_token.expose(), "eyJ0.eyJ1.sig");
    assert_eq!((t.expires_on, t.refresh_on), (NOW + 3599, None));
    assert_eq!(t.resource.as_deref(), Some("https://graph.microsoft.com"));
    assert_eq!(t.token_type, "Bearer");
    // Service Fabric: a number
    let t = classify(
        Source::ServiceFabric,
        200,
        json!({"access_token":"a.b.c","expires_on": NOW + 600}),
        None,
    )
    .unwrap();
    assert_eq!(t.expires_on, NOW + 600);
    // expires_in only (a number, or a string)
    let t = classify(
        Source::Arc,
        200,
        json!({"access_token":"a.b.c","expires_in": 1200}),
        None,
    )
    .unwrap();
    assert_eq!(t.expires_on, NOW + 1200);
    let t = classify(
        Source::CloudShell,
        200,
        json!({"access_token":"a.b.c","expires_in":"1200"}),
        None,
    )
    .unwrap();
    assert_eq!(t.expires_on, NOW + 1200);
    // App Service's old date-form expires_on is ignored when expires_in is there
    let t = classify(
        Source::AppService,
        200,
        json!({"access_token":"a.b.c","expires_on":"09/14/2017 00:00:00 PM +00:00","expires_in":"100"}),
        None,
    )
    .unwrap();
    assert_eq!(t.expires_on, NOW + 100);
}

#[test]
fn long_lived_tokens_refresh_at_half_life() {
    let day = classify(
        Source::Imds,
        200,
        json!({"access_token":"a.b.c","expires_in":"86400"}),
        None,
    )
    .unwrap();
    assert_eq!(day.refresh_on, Some(NOW + 43_200));
    let two_hours = classify(
        Source::Imds,
        200,
        json!({"access_token":"a.b.c","expires_in":7200}),
        None,
    )
    .unwrap();
    assert_eq!(two_hours.refresh_on, Some(NOW + 3600));
    let under = classify(
        Source::Imds,
        200,
        json!({"access_token":"a.b.c","expires_in":7199}),
        None,
    )
    .unwrap();
    assert_eq!(under.refresh_on, None);
    let told = classify(
        Source::Imds,
        200,
        json!({"access_token":"a.b.c","expires_in":86400,"refresh_in":"600"}),
        None,
    )
    .unwrap();
    assert_eq!(told.refresh_on, Some(NOW + 600), "the endpoint's refresh_in wins");
}

#[test]
fn unusable_token_replies_are_exit_4() {
    for body in [
        json!({"access_token":"a.b.c","expires_on": (NOW - 10).to_string()}),
        json!({"access_token":"a.b.c","expires_on": NOW}),
        json!({"access_token":"a.b.c"}),
        json!({"access_token":"a.b.c","expires_on":"soon"}),
        json!({"access_token":"a.b.c","expires_in":"-5"}),
        json!({"access_token":"a.b.c","expires_on": NOW + 20 * 365 * 86_400}),
        json!({"access_token":"","expires_in":"10"}),
        json!({"access_token":"a b","expires_in":"10"}),
        json!({"expires_in":"10"}),
        json!([1, 2]),
    ] {
        let e = classify(Source::Imds, 200, body.clone(), None).unwrap_err();
        assert_eq!(e.kind, Kind::Network, "{body}");
    }
    let e = classify(
        Source::Imds,
        200,
        json!({"access_token":"a.b.c","expires_on": (NOW - 10).to_string()}),
        None,
    )
    .unwrap_err();
    assert!(
        e.message.contains("expired already") && e.message.contains("clock"),
        "{}",
        e.message
    );
    let html = reply::classify(Source::Imds, 200, Some("text/html"), b"<html>proxy</html>", NOW, None).unwrap_err();
    assert_eq!(html.kind, Kind::Network);
    let empty = reply::classify(Source::Imds, 502, None, b"", NOW, None).unwrap_err();
    assert_eq!(empty.kind, Kind::Network);
}

#[test]
fn identity_not_found_names_the_selector_and_its_origin() {
    let body = json!({"error":"invalid_request","error_description":"Identity not found"});
    let from_env = sel(SelectorKind::ClientId, GUID, Origin::Env("AZURE_CLIENT_ID"));
    let e = classify(Source::Imds, 400, body.clone(), Some(&from_env)).unwrap_err();
    assert_eq!(e.kind, Kind::Rejected);
    assert!(
        e.message.contains("Identity not found") && e.message.contains("400"),
        "{}",
        e.message
    );
    let hint = e.hint.unwrap();
    assert!(
        hint.contains("`client_id` from AZURE_CLIENT_ID: is that the app's id rather than the managed identity's?"),
        "{hint}"
    );

    let from_flag = sel(SelectorKind::ResourceId, ARM_ID, Origin::Flag("--mi-resource-id"));
    let hint = classify(Source::Imds, 400, body.clone(), Some(&from_flag))
        .unwrap_err()
        .hint
        .unwrap();
    assert!(hint.starts_with("`msi_res_id` from --mi-resource-id"), "{hint}");
    let hint = classify(Source::AppService, 400, body.clone(), Some(&from_flag))
        .unwrap_err()
        .hint
        .unwrap();
    assert!(hint.starts_with("`mi_res_id` from --mi-resource-id"), "{hint}");
    let from_profile = sel(SelectorKind::ObjectId, GUID, Origin::Profile("ci".into()));
    let hint = classify(Source::Imds, 400, body.clone(), Some(&from_profile))
        .unwrap_err()
        .hint
        .unwrap();
    assert!(hint.starts_with("`object_id` from profile 'ci'"), "{hint}");

    let system = classify(Source::Imds, 400, body, None).unwrap_err();
    assert_eq!(system.kind, Kind::Rejected);
    assert!(system.hint.unwrap().contains("no system-assigned identity"));

    // App Service and Service Fabric say it their way
    let app = classify(
        Source::AppService,
        400,
        json!({"statusCode":400,"message":"Unable to load requested managed identity.","correlationId":"x"}),
        Some(&from_env),
    )
    .unwrap_err();
    assert_eq!(app.kind, Kind::Rejected);
    assert!(app.hint.unwrap().contains("AZURE_CLIENT_ID"));
    let sf = classify(
        Source::ServiceFabric,
        404,
        json!({"error":{"correlationId":"","code":"ManagedIdentityNotFound","message":"no identity"}}),
        None,
    )
    .unwrap_err();
    assert_eq!(sf.kind, Kind::Rejected);
}

#[test]
fn other_endpoint_errors() {
    let e = classify(
        Source::Imds,
        400,
        json!({"error":"invalid_resource","error_description":"AADSTS50001: The application named https://x was not found"}),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, Kind::Rejected);
    assert!(e.message.contains("invalid_resource: AADSTS50001"), "{}", e.message);
    let e = classify(
        Source::Imds,
        500,
        json!({"error":"unknown","error_description":"Failed to retrieve token"}),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, Kind::Network, "5xx left after retries");
    let e = classify(
        Source::Imds,
        429,
        json!({"error":"throttled","error_description":"slow down"}),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, Kind::Network);
    // IMDS still updating when the retries end: transient, not a refusal
    for status in [404, 410] {
        let body = json!({"error":"not_found","error_description":"updating"});
        let e = classify(Source::Imds, status, body, None).unwrap_err();
        assert_eq!(e.kind, Kind::Network, "{status}");
    }
    // elsewhere a 404 is final: the endpoint refused
    let body = json!({"statusCode":404,"message":"Not found"});
    let e = classify(Source::AppService, 404, body, None).unwrap_err();
    assert_eq!(e.kind, Kind::Rejected);
    let e = classify(
        Source::CloudShell,
        401,
        json!({"error":{"code":"Unauthorized","message":"no"}}),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, Kind::Rejected);
    assert!(e.message.contains("Cloud Shell") && e.message.contains("Unauthorized: no"));
    let e = classify(Source::Imds, 400, json!({"unrelated": true}), None).unwrap_err();
    assert_eq!(e.kind, Kind::Network, "an error without a recognisable body");
}

#[test]
fn endpoint_error_shapes() {
    assert_eq!(
        EndpointError::from_json(&json!({"error":"invalid_request","error_description":"Identity not found"})),
        Some(EndpointError {
            code: Some("invalid_request".into()),
            message: Some("Identity not found".into())
        })
    );
    assert_eq!(
        EndpointError::from_json(&json!({"statusCode":500,"message":"boom"})),
        Some(EndpointError {
            code: Some("500".into()),
            message: Some("boom".into())
        })
    );
    assert_eq!(
        EndpointError::from_json(&json!({"error":{"code":"SecretHeaderNotFound","message":"m"}}))
            .unwrap()
            .code,
        Some("SecretHeaderNotFound".into())
    );
    assert_eq!(EndpointError::from_json(&json!({"access_token":"x"})), None);
    assert_eq!(EndpointError::from_json(&json!("text")), None);
}
