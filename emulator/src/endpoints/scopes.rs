//! Scope strings of the sign-in flows: which resource and delegated permissions a v2 scope list
//! asks for, and what `/.default` (and v1's `resource`) grants.

use crate::fixtures as fx;

/// The OpenID Connect scopes, which name no resource.
pub(crate) const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The resource and delegated permissions a v2 scope list asks for (the first resource wins).
pub(crate) fn scopes_to_resource(scopes: &[String]) -> (String, Vec<String>) {
    let mut resource: Option<String> = None;
    let mut perms = Vec::new();
    for s in scopes {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            continue;
        }
        let (res, perm) = match s.rfind('/') {
            Some(i) if s.contains("://") || uuid::Uuid::parse_str(&s[..i]).is_ok() => (s[..i].to_string(), &s[i + 1..]),
            _ => (fx::GRAPH_RESOURCE.to_string(), s.as_str()),
        };
        let res = res.trim_end_matches('/').to_string();
        match &resource {
            None => resource = Some(res.clone()),
            Some(r) if !r.eq_ignore_ascii_case(&res) => continue,
            _ => {}
        }
        if perm == ".default" || perm.is_empty() {
            perms.extend(default_permissions(&res));
        } else {
            perms.push(perm.to_string());
        }
    }
    let resource = resource.unwrap_or_else(|| fx::GRAPH_RESOURCE.to_string());
    if perms.is_empty() {
        perms.push("User.Read".to_string());
    }
    let mut seen = Vec::new();
    perms.retain(|p| {
        let k = p.to_ascii_lowercase();
        let fresh = !seen.contains(&k);
        seen.push(k);
        fresh
    });
    (resource, perms)
}

/// Delegated permissions consented for a resource (what `/.default` and v1 get).
pub(crate) fn default_permissions(resource: &str) -> Vec<String> {
    let r = resource.trim_end_matches('/').to_ascii_lowercase();
    let list: &[&str] = if r == fx::GRAPH_RESOURCE || r == fx::GRAPH_APP_ID {
        &[
            "User.Read",
            "User.Read.All",
            "Group.ReadWrite.All",
            "DeviceManagementManagedDevices.Read.All",
            "CloudPC.Read.All",
        ]
    } else if r == fx::MANAGE_OFFICE_RESOURCE || r == fx::MANAGE_OFFICE_APP_ID {
        &["ActivityFeed.Read"]
    } else if r == fx::MANAGED_DESKTOP_RESOURCE {
        &["MWaaSDevice.Read"]
    } else {
        &["user_impersonation"]
    };
    list.iter().map(|s| s.to_string()).collect()
}

/// A space-separated scope list.
pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_map_to_one_resource() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            scopes_to_resource(&s(&["openid", "User.Read", "offline_access"])),
            (fx::GRAPH_RESOURCE.to_string(), s(&["User.Read"]))
        );
        assert_eq!(
            scopes_to_resource(&s(&[
                "https://graph.microsoft.com/User.Read.All",
                "https://manage.office.com/ActivityFeed.Read"
            ])),
            (fx::GRAPH_RESOURCE.to_string(), s(&["User.Read.All"]))
        );
        assert_eq!(
            scopes_to_resource(&s(&["https://manage.office.com/.default"])),
            (fx::MANAGE_OFFICE_RESOURCE.to_string(), s(&["ActivityFeed.Read"]))
        );
        assert_eq!(scopes_to_resource(&s(&["openid"])).1, s(&["User.Read"]));
    }
}
