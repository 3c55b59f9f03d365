//! What the emulator's intercepting HTTPS proxy (`emulator exec --tls`) lets through. `CONNECT`
//! to `login.microsoftonline.com`, `graph.microsoft.com` or `manage.office.com` on port 443 is
//! answered `200` and the tunnel's TLS is terminated with a leaf certificate for that host from
//! the test CA (`tls`); the decrypted requests are served by the emulator's own routes, each host
//! only its own service's paths. Any other target gets a 403 that says why: nothing is forwarded
//! and no connection is made anywhere. This file decides; the server wires it to the listener.

/// The hosts whose HTTPS the proxy intercepts (all on port 443).
pub(crate) const INTERCEPTED_HOSTS: &[&str] =
    &["login.microsoftonline.com", "graph.microsoft.com", "manage.office.com"];

/// The proxy's URL for clients (`HTTPS_PROXY`): the emulator's own port, in plain HTTP (where
/// that port takes `CONNECT`), whatever scheme its `base_url` has.
pub(crate) fn proxy_url(base_url: &str) -> String {
    base_url.replacen("https://", "http://", 1)
}

/// What to do with a `CONNECT host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Connect {
    /// Terminate TLS for this host here.
    Intercept(&'static str),
    /// Answer 403 with this text.
    Refuse(String),
}

/// Decides a `CONNECT` request's target (`host:port`, the request's authority).
pub(crate) fn decide(authority: &str) -> Connect {
    let allowed = || {
        let (host, port) = authority.rsplit_once(':')?;
        if port != "443" {
            return None;
        }
        INTERCEPTED_HOSTS.iter().find(|h| h.eq_ignore_ascii_case(host)).copied()
    };
    match allowed() {
        Some(host) => Connect::Intercept(host),
        None => Connect::Refuse(refusal(authority)),
    }
}

/// Why a target is refused (the 403's body).
pub(crate) fn refusal(target: &str) -> String {
    let shown: String = target.chars().filter(|c| !c.is_control()).take(300).collect();
    format!(
        "entra-token emulator: refused to connect to {shown:?}. This proxy is a test double: it \
         answers only for {} (port 443) from the emulator itself, and never forwards anything \
         to the network or to any other host.\n",
        INTERCEPTED_HOSTS.join(", ")
    )
}

/// The 403 for an intercepted host on an emulator started without its test CA.
pub(crate) fn no_ca(host: &str) -> String {
    format!(
        "entra-token emulator: cannot intercept {host}: this emulator has no test CA (start it \
         with --tls, or use `emulator exec --tls`); nothing is forwarded.\n"
    )
}

/// Whether a path belongs to the service behind `host` (Graph: `/v1.0`, `/beta`; Management:
/// `/api/`; sign-in: everything else but the emulator's own control API).
pub(crate) fn serves(host: &str, path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match host {
        "graph.microsoft.com" => first == "v1.0" || first == "beta",
        "manage.office.com" => first == "api",
        "login.microsoftonline.com" => !matches!(first, "v1.0" | "beta" | "api" | "_emulator"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_hosts_on_443_are_intercepted() {
        assert_eq!(
            decide("graph.microsoft.com:443"),
            Connect::Intercept("graph.microsoft.com")
        );
        assert_eq!(
            decide("LOGIN.microsoftonline.com:443"),
            Connect::Intercept("login.microsoftonline.com")
        );
        assert_eq!(decide("manage.office.com:443"), Connect::Intercept("manage.office.com"));
        for other in [
            "graph.microsoft.com:8443",
            "graph.microsoft.com",
            "graph.microsoft.com.evil.example:443",
            "evil-graph.microsoft.com:443",
            "management.azure.com:443",
            "127.0.0.2:443",
            "[::1]:443",
            "",
        ] {
            match decide(other) {
                Connect::Refuse(why) => {
                    assert!(why.contains("never forwards"), "{why}");
                    assert!(why.contains("graph.microsoft.com"), "{why}");
                }
                c => panic!("{other}: {c:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_shows_the_target_without_control_characters() {
        let why = refusal("evil.example:443\r\nX-Injected: 1");
        assert!(why.contains("evil.example:443X-Injected: 1"), "{why}");
        assert!(!why.trim_end().contains('\n'), "{why}");
    }

    #[test]
    fn paths_belong_to_their_host() {
        assert!(serves("graph.microsoft.com", "/v1.0/users"));
        assert!(serves("graph.microsoft.com", "/beta/deviceManagement/managedDevices"));
        assert!(!serves("graph.microsoft.com", "/common/oauth2/v2.0/token"));
        assert!(serves(
            "manage.office.com",
            "/api/v1.0/t/activity/feed/subscriptions/list"
        ));
        assert!(!serves("manage.office.com", "/v1.0/users"));
        assert!(serves("login.microsoftonline.com", "/common/discovery/instance"));
        assert!(serves("login.microsoftonline.com", "/t/oauth2/v2.0/token"));
        assert!(!serves("login.microsoftonline.com", "/_emulator/requests"));
        assert!(!serves("login.microsoftonline.com", "/v1.0/users"));
    }
}
