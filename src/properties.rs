//! Property tests (proptest, built only for `cargo test`) of entra-token's pure functions:
//! scope/resource mapping, the URLs it builds, cache key derivation and cache freshness. They
//! hold for every generated input, not just the examples elsewhere; no binary, no emulator.

use crate::cache::tests::meta;
use crate::cache::{CacheKey, Freshness, KeyKind, Stale, check_fresh};
use crate::protocol::api::{self, ApiKind};
use crate::protocol::authority::{self, Endpoint, Tenant};
use crate::protocol::authorize::{self, AuthorizeRequest, ConsentKind};
use crate::protocol::redirect::RedirectParams;
use proptest::prelude::*;
use std::collections::HashMap;
use url::Url;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any text, including characters that need escaping in URLs and JSON.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[ -~]{0,40}",
        Just("a b+c&d=e#f?g/h%20i".to_string()),
        Just("é✓\u{0}\u{1b}[2J".to_string()),
    ]
}

/// An https authority host, with or without a path prefix and a trailing slash.
fn authority_url() -> impl Strategy<Value = Url> {
    (
        prop_oneof![
            Just("login.microsoftonline.com"),
            Just("login.microsoftonline.us"),
            Just("127.0.0.1:8443"),
            Just("proxy.example")
        ],
        "(/[a-z0-9]{1,8}){0,3}/?",
    )
        .prop_map(|(host, path)| Url::parse(&format!("https://{host}{path}")).unwrap())
}

/// Tenant strings, valid and not.
fn tenant_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){1,3}",
        Just("common".to_string()),
        Just("Organizations".to_string()),
        ".{0,30}",
    ]
}

fn pairs(url: &Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn cache_key() -> impl Strategy<Value = CacheKey> {
    (
        prop_oneof![Just(KeyKind::App), Just(KeyKind::User), Just(KeyKind::Refresh)],
        "[a-z:/.]{0,12}",
        "[a-z.\"\\\\]{0,8}",
        "[a-z0-9-]{0,8}",
        "[a-z:0-9\"]{0,10}",
        prop_oneof![Just("v1"), Just("v2")],
        ".{0,12}",
        proptest::option::of(".{0,8}"),
    )
        .prop_map(
            |(kind, authority, tenant, client_id, credential, endpoint, audience, account)| CacheKey {
                kind,
                authority,
                tenant,
                client_id,
                credential,
                endpoint: endpoint.into(),
                audience,
                account,
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// `--resource R` on v2 is `R/.default`, and the v1 resource of that scope is `R` again,
    /// trailing slashes included (`https://management.core.windows.net/` → `…//.default`).
    #[test]
    fn resource_scope_round_trip(resource in ".{1,60}") {
        let scope = authority::resource_to_scope(&resource);
        prop_assert!(scope.ends_with("/.default"));
        prop_assert_eq!(authority::scope_to_resource(&scope), Some(resource));
    }

    #[test]
    fn scope_resource_round_trip(prefix in ".{0,60}") {
        let scope = format!("{prefix}/.default");
        match authority::scope_to_resource(&scope) {
            Some(r) => prop_assert_eq!(authority::resource_to_scope(&r), scope),
            None => prop_assert!(prefix.is_empty()),
        }
        // a scope that is not a `/.default` scope has no v1 resource
        let plain = format!("{prefix}/User.Read");
        prop_assert_eq!(authority::scope_to_resource(&plain), None);
    }

    /// Every known API host takes its own `/.default` scope whatever the path, query, case of
    /// the host or a trailing dot; a port or plain http makes it unknown.
    #[test]
    fn known_hosts_map_to_their_scope(
        host in prop_oneof![
            Just(("graph.microsoft.com", ApiKind::Graph)),
            Just(("manage.office.com", ApiKind::Management)),
            Just(("management.azure.com", ApiKind::ResourceManager)),
            Just(("graph.microsoft.us", ApiKind::Graph)),
            Just(("management.chinacloudapi.cn", ApiKind::ResourceManager)),
        ],
        upper in any::<bool>(),
        dot in any::<bool>(),
        path in "(/[A-Za-z0-9$'()]{1,10}){0,4}",
        query in proptest::option::of("[a-z$=&]{0,20}"),
    ) {
        let (name, kind) = host;
        let shown = if upper { name.to_ascii_uppercase() } else { name.to_string() };
        let dot = if dot { "." } else { "" };
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        let url = Url::parse(&format!("https://{shown}{dot}{path}{q}")).unwrap();
        let graph = Url::parse("https://graph.microsoft.com").unwrap();
        let (k, scope) = api::infer_scope(&url, &graph, "https://graph.microsoft.com/.default").unwrap();
        prop_assert_eq!(k, kind);
        prop_assert_eq!(&scope, &format!("https://{name}/.default"));
        prop_assert_eq!(api::kind_of_scope(&scope), Some(kind));
        let with_port = Url::parse(&format!("https://{name}:8443{path}")).unwrap();
        prop_assert_eq!(api::infer_scope(&with_port, &Url::parse("https://g.example").unwrap(), "s"), None);
        let http = Url::parse(&format!("http://{name}{path}")).unwrap();
        prop_assert_eq!(api::infer_scope(&http, &Url::parse("https://g.example").unwrap(), "s"), None);
    }

    /// A tenant that parses is one clean path segment: token and authorize URLs keep the
    /// authority's scheme, host, port and path prefix, and add exactly `/{tenant}/{suffix}`.
    #[test]
    fn token_urls_are_built_under_the_authority(authority in authority_url(), raw in tenant_text(), v1 in any::<bool>()) {
        let Ok(tenant) = Tenant::parse(&raw) else { return Ok(()) };
        let t = tenant.as_str();
        prop_assert!(!t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'), "{}", t);
        let endpoint = if v1 { Endpoint::V1 } else { Endpoint::V2 };
        let url = authority::token_url(&authority, &tenant, endpoint);
        prop_assert_eq!(url.scheme(), authority.scheme());
        prop_assert_eq!(url.host_str(), authority.host_str());
        prop_assert_eq!(url.port(), authority.port());
        prop_assert_eq!(url.query(), None);
        let prefix = authority.path().trim_end_matches('/');
        let suffix = if v1 { "oauth2/token" } else { "oauth2/v2.0/token" };
        prop_assert_eq!(url.path(), format!("{prefix}/{t}/{suffix}"));
        let reparsed = Url::parse(url.as_str()).unwrap();
        prop_assert_eq!(reparsed, url);
    }

    /// Whatever the values (spaces, `&`, `=`, `#`, `%`, non-ASCII, control characters), every
    /// parameter of an /authorize URL reads back exactly, and nothing lands in a fragment.
    #[test]
    fn authorize_url_parameters_round_trip(
        authority in authority_url(),
        client_id in any_text(),
        redirect_uri in any_text(),
        scope in any_text(),
        state in any_text(),
        nonce in any_text(),
        hint in proptest::option::of(any_text()),
    ) {
        let challenge = authorize::s256(&nonce);
        let r = AuthorizeRequest {
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            state: &state,
            nonce: &nonce,
            code_challenge: &challenge,
            login_hint: hint.as_deref(),
            prompt: None,
        };
        let url = authorize::authorize_url(&authority, "organizations", &r);
        let url = Url::parse(url.as_str()).unwrap();
        prop_assert_eq!(url.fragment(), None);
        prop_assert!(url.path().ends_with("/organizations/oauth2/v2.0/authorize"));
        let q = pairs(&url);
        prop_assert_eq!(q.get("client_id"), Some(&client_id));
        prop_assert_eq!(q.get("redirect_uri"), Some(&redirect_uri));
        prop_assert_eq!(q.get("scope"), Some(&scope));
        prop_assert_eq!(q.get("state"), Some(&state));
        prop_assert_eq!(q.get("nonce"), Some(&nonce));
        prop_assert_eq!(q.get("code_challenge"), Some(&challenge));
        prop_assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
        prop_assert_eq!(q.get("login_hint"), hint.as_ref());
        // and the redirect parser reads a state echoed the same way
        let echoed: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", "c")
            .append_pair("state", &state)
            .finish();
        prop_assert!(RedirectParams::from_query(&echoed).state_matches(&state));
    }

    #[test]
    fn consent_url_parameters_round_trip(
        authority in authority_url(),
        client_id in any_text(),
        redirect_uri in any_text(),
        state in any_text(),
        scope in any_text(),
        which in 0..3usize,
    ) {
        let kind = match which {
            0 => ConsentKind::All,
            1 => ConsentKind::Scopes(&scope),
            _ => ConsentKind::V1Resource(&scope),
        };
        let url = authorize::consent_url(&authority, "contoso.com", &client_id, &redirect_uri, &state, &kind);
        let q = pairs(&Url::parse(url.as_str()).unwrap());
        prop_assert_eq!(q.get("client_id"), Some(&client_id));
        prop_assert_eq!(q.get("redirect_uri"), Some(&redirect_uri));
        prop_assert_eq!(q.get("state"), Some(&state));
        match which {
            0 => prop_assert!(!q.contains_key("scope") && !q.contains_key("resource")),
            1 => prop_assert_eq!(q.get("scope"), Some(&scope)),
            _ => prop_assert_eq!(q.get("resource"), Some(&scope)),
        }
    }

    /// The entry name is 40 lower-case hex characters, the same for equal keys and different
    /// for different keys (field boundaries and quotes cannot make two keys collide).
    #[test]
    fn cache_stems_identify_keys(a in cache_key(), b in cache_key()) {
        let (sa, sb) = (a.stem(), b.stem());
        prop_assert_eq!(sa.len(), 40);
        prop_assert!(sa.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        prop_assert_eq!(&sa, &a.clone().stem());
        prop_assert_eq!(a == b, sa == sb);
    }

    #[test]
    fn cache_stems_see_field_boundaries(x in "[a-z\"\\\\]{0,6}", y in "[a-z\"\\\\]{0,6}") {
        // moving text from one field to the next is another key
        let base = CacheKey {
            kind: KeyKind::App, authority: String::new(), tenant: format!("{x}{y}"), client_id: String::new(),
            credential: String::new(), endpoint: "v2".into(), audience: String::new(), account: None,
        };
        let moved = CacheKey { tenant: x.clone(), client_id: y.clone(), ..base.clone() };
        prop_assert_eq!(base == moved, base.stem() == moved.stem());
    }

    /// Freshness: a fresh token is valid for at least `min_validity` more seconds and its refresh
    /// time has not come; forcing always refreshes; nothing panics whatever the stored numbers.
    #[test]
    fn freshness_rules(
        now in 0..i64::MAX,
        expires_on in any::<i64>(),
        refresh_on in proptest::option::of(any::<i64>()),
        min_validity in any::<i64>(),
    ) {
        let m = meta(expires_on, refresh_on);
        prop_assert_eq!(check_fresh(Some(&m), now, min_validity, true), Freshness::Stale(Stale::Forced));
        prop_assert_eq!(check_fresh(None, now, min_validity, false), Freshness::Stale(Stale::Missing));
        match check_fresh(Some(&m), now, min_validity, false) {
            Freshness::Fresh => {
                prop_assert!(expires_on > now);
                prop_assert!(expires_on.saturating_sub(now) >= min_validity);
                prop_assert!(refresh_on.is_none_or(|r| r > now));
            }
            Freshness::Stale(Stale::Expired) => prop_assert!(expires_on <= now),
            Freshness::Stale(Stale::ExpiringSoon) => prop_assert!(expires_on > now && expires_on.saturating_sub(now) < min_validity),
            Freshness::Stale(Stale::RefreshDue) => prop_assert!(refresh_on.is_some_and(|r| r <= now)),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    /// A token fresh now was fresh a moment ago, and asking for more validity never turns a
    /// stale token fresh.
    #[test]
    fn freshness_is_monotonic(
        now in 1_000_000_000i64..4_000_000_000,
        earlier in 0i64..1_000_000,
        lifetime in -100_000i64..100_000,
        refresh in proptest::option::of(-100_000i64..100_000),
        min_validity in 0i64..10_000,
        more in 0i64..10_000,
    ) {
        let m = meta(now + lifetime, refresh.map(|r| now + r));
        if check_fresh(Some(&m), now, min_validity, false) == Freshness::Fresh {
            prop_assert_eq!(check_fresh(Some(&m), now - earlier, min_validity, false), Freshness::Fresh);
        }
        if check_fresh(Some(&m), now, min_validity, false) != Freshness::Fresh {
            prop_assert_ne!(check_fresh(Some(&m), now, min_validity + more, false), Freshness::Fresh);
        }
    }
}
