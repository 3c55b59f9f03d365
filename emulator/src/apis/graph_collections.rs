//! The fixture collections the emulator's Microsoft Graph serves, with their query rules:
//! users (generated on demand from an index, so large counts cost nothing), groups, Microsoft
//! Entra devices, Intune managed devices and Windows 365 Cloud PCs. Every item is a JSON object
//! with all its properties; `graph_query` projects, filters, sorts and pages them.

use serde_json::{Value, json};

use crate::apis::graph::{device, user};
use crate::apis::graph_query::{Kind, Order, Query, Rules, Source, filterable, plain, project};
use crate::clock::iso8601;
use crate::fixtures as fx;

/// 2020-01-01T00:00:00Z: fixture creation dates count from here.
const EPOCH_2020: u64 = 1_577_836_800;

// ---- users ---------------------------------------------------------------------------------

/// The properties Graph returns for a user without `$select`.
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

pub(crate) const USERS: Rules = Rules {
    odata_type: "microsoft.graph.user",
    resource: "User",
    directory: true,
    props: &[
        filterable("id", Kind::Str),
        filterable("displayName", Kind::Str).ordered(Order::Default),
        filterable("givenName", Kind::Str),
        filterable("surname", Kind::Str),
        filterable("jobTitle", Kind::Str),
        filterable("mail", Kind::Str).with_ends_with(),
        filterable("userPrincipalName", Kind::Str)
            .with_ends_with()
            .ordered(Order::Default),
        filterable("mobilePhone", Kind::Str),
        filterable("officeLocation", Kind::Str),
        filterable("preferredLanguage", Kind::Str),
        filterable("accountEnabled", Kind::Bool),
        filterable("userType", Kind::Str),
        filterable("department", Kind::Str),
        filterable("companyName", Kind::Str),
        filterable("employeeId", Kind::Str),
        filterable("onPremisesSyncEnabled", Kind::Bool),
        plain("businessPhones", Kind::Other),
        plain("otherMails", Kind::Other),
        plain("proxyAddresses", Kind::Other),
        plain("createdDateTime", Kind::DateTime).ordered(Order::Advanced),
    ],
    default_select: Some(USER_DEFAULT),
    default_page: 100,
    max_page: 999,
};

const DEPARTMENTS: &[&str] = &["Engineering", "Finance", "Sales", "Marketing", "Human Resources"];

/// User `i` with every property (the default projection is what `/me` and `/users` show).
pub(crate) fn user_full(i: u64) -> Value {
    let mut u = user(i);
    let upn = u["userPrincipalName"].as_str().unwrap_or_default().to_string();
    let extra = json!({
        "accountEnabled": i == 0 || i % 17 != 16,
        "userType": if i > 0 && i % 25 == 24 { "Guest" } else { "Member" },
        "department": if i == 0 { "IT" } else { DEPARTMENTS[(i % DEPARTMENTS.len() as u64) as usize] },
        "companyName": "Contoso",
        "employeeId": format!("E{i:06}"),
        "onPremisesSyncEnabled": null,
        "otherMails": [],
        "proxyAddresses": [format!("SMTP:{upn}")],
        "createdDateTime": iso8601((EPOCH_2020 + i * 3_600) as i64),
    });
    if let (Some(obj), Value::Object(more)) = (u.as_object_mut(), extra) {
        obj.extend(more);
    }
    u
}

/// `user_count` generated users.
pub(crate) struct Users(pub(crate) u64);

impl Source for Users {
    fn len(&self) -> u64 {
        self.0
    }
    fn item(&self, i: u64) -> Value {
        user_full(i)
    }
    /// Without `$select`, the default projection is [`user`] itself (paging 100 000 users stays
    /// as cheap as before the query options).
    fn shown(&self, i: u64, q: &Query, rules: &Rules) -> Value {
        match q.select {
            None => user(i),
            Some(_) => project(self.item(i), q, rules),
        }
    }
}

// ---- groups --------------------------------------------------------------------------------

pub(crate) const GROUPS: Rules = Rules {
    odata_type: "microsoft.graph.group",
    resource: "Group",
    directory: true,
    props: &[
        filterable("id", Kind::Str),
        filterable("displayName", Kind::Str).ordered(Order::Default),
        filterable("description", Kind::Str),
        filterable("mail", Kind::Str).with_ends_with(),
        filterable("mailEnabled", Kind::Bool),
        filterable("mailNickname", Kind::Str),
        filterable("securityEnabled", Kind::Bool),
        filterable("visibility", Kind::Str),
        filterable("classification", Kind::Str),
        filterable("securityIdentifier", Kind::Str),
        filterable("onPremisesSyncEnabled", Kind::Bool),
        plain("groupTypes", Kind::Other),
        plain("proxyAddresses", Kind::Other),
        plain("createdDateTime", Kind::DateTime),
        plain("renewedDateTime", Kind::DateTime),
        plain("deletedDateTime", Kind::DateTime).ordered(Order::Advanced),
    ],
    default_select: None,
    default_page: 100,
    max_page: 999,
};

/// (display name, mail nickname, Microsoft 365 group?, security enabled, description)
const GROUP_FIXTURE: &[(&str, &str, bool, bool, &str)] = &[
    ("All Company", "allcompany", true, false, "Everyone at Contoso"),
    ("Engineering", "engineering", true, false, "Engineering team"),
    ("Finance", "finance", true, false, "Finance team"),
    (
        "Sales and Marketing",
        "salesmarketing",
        true,
        false,
        "Sales and marketing teams",
    ),
    ("Human Resources", "hr", true, false, "People team"),
    (
        "IT Admins",
        "itadmins",
        false,
        true,
        "Administrators of the IT department",
    ),
    (
        "Intune - Windows devices",
        "intune-windows",
        false,
        true,
        "Dynamic device group",
    ),
    (
        "Intune - iOS devices",
        "intune-ios",
        false,
        true,
        "Dynamic device group",
    ),
    (
        "Windows 365 users",
        "w365-users",
        false,
        true,
        "Users with a Cloud PC license",
    ),
    (
        "Project Falcon",
        "falcon",
        true,
        true,
        "A mail-enabled security project group",
    ),
];

/// The fixture groups of the home tenant.
pub(crate) fn groups() -> Vec<Value> {
    GROUP_FIXTURE
        .iter()
        .enumerate()
        .map(|(i, (name, nick, unified, security, description))| {
            let mail = unified.then(|| format!("{nick}@{}", fx::TENANT_DOMAIN));
            json!({
                "id": format!("0b5e0000-0000-4000-8000-{:012}", i + 1),
                "displayName": name,
                "description": description,
                "mail": mail,
                "mailEnabled": unified,
                "mailNickname": nick,
                "securityEnabled": security,
                "groupTypes": if *unified { json!(["Unified"]) } else { json!([]) },
                "visibility": if *unified { Value::from("Private") } else { Value::Null },
                "classification": null,
                "createdDateTime": iso8601((EPOCH_2020 + i as u64 * 86_400) as i64),
                "renewedDateTime": iso8601((EPOCH_2020 + i as u64 * 86_400) as i64),
                "deletedDateTime": null,
                "proxyAddresses": mail.iter().map(|m| format!("SMTP:{m}")).collect::<Vec<_>>(),
                "securityIdentifier": format!("S-1-12-1-{}-{}", 1_000 + i, 2_000 + i),
                "onPremisesSyncEnabled": null,
            })
        })
        .collect()
}

// ---- Microsoft Entra devices ---------------------------------------------------------------

pub(crate) const DEVICES: Rules = Rules {
    odata_type: "microsoft.graph.device",
    resource: "Device",
    directory: true,
    props: &[
        filterable("id", Kind::Str),
        filterable("deviceId", Kind::Str),
        filterable("displayName", Kind::Str).ordered(Order::Advanced),
        filterable("operatingSystem", Kind::Str),
        filterable("operatingSystemVersion", Kind::Str),
        filterable("accountEnabled", Kind::Bool),
        filterable("trustType", Kind::Str),
        filterable("isCompliant", Kind::Bool),
        filterable("isManaged", Kind::Bool),
        filterable("manufacturer", Kind::Str),
        filterable("model", Kind::Str),
        filterable("profileType", Kind::Str),
        plain("approximateLastSignInDateTime", Kind::DateTime).ordered(Order::Advanced),
        plain("registrationDateTime", Kind::DateTime),
        plain("createdDateTime", Kind::DateTime).ordered(Order::Advanced),
    ],
    default_select: None,
    default_page: 100,
    max_page: 999,
};

/// The Microsoft Entra device object of Intune managed device `i` (same `deviceId` as its
/// `azureADDeviceId`, same name and operating system).
pub(crate) fn entra_device(i: u64, now: u64) -> Value {
    let d = device(i, now);
    let os = d["operatingSystem"].as_str().unwrap_or_default().to_string();
    let (manufacturer, model) = match os.as_str() {
        "Windows" => ("Contoso Computers", "Surface Laptop 6"),
        "macOS" => ("Apple", "MacBook Air"),
        "iOS" => ("Apple", "iPhone 15"),
        _ => ("Fabrikam Mobile", "Pixel 8"),
    };
    json!({
        "id": format!("de000000-0000-4000-8000-{i:012}"),
        "deviceId": d["azureADDeviceId"],
        "displayName": d["deviceName"],
        "operatingSystem": os,
        "operatingSystemVersion": d["osVersion"],
        "accountEnabled": i % 13 != 12,
        "trustType": if os == "Windows" { "AzureAd" } else { "Workplace" },
        "isCompliant": d["complianceState"] == "compliant",
        "isManaged": true,
        "manufacturer": manufacturer,
        "model": model,
        "profileType": "RegisteredDevice",
        "approximateLastSignInDateTime": d["lastSyncDateTime"],
        "registrationDateTime": d["enrolledDateTime"],
        "createdDateTime": d["enrolledDateTime"],
    })
}

/// `device_count` Entra devices.
pub(crate) struct EntraDevices {
    pub(crate) count: u64,
    pub(crate) now: u64,
}

impl Source for EntraDevices {
    fn len(&self) -> u64 {
        self.count
    }
    fn item(&self, i: u64) -> Value {
        entra_device(i, self.now)
    }
}

// ---- Intune managed devices ----------------------------------------------------------------

/// Intune serves pages of at most this many managed devices; a larger `$top` is a 503, as
/// Microsoft's Intune documentation warns for large pages.
pub(crate) const INTUNE_MAX_PAGE: u64 = 50;

pub(crate) const MANAGED_DEVICES: Rules = Rules {
    odata_type: "microsoft.graph.managedDevice",
    resource: "ManagedDevice",
    directory: false,
    props: &[
        filterable("id", Kind::Str),
        filterable("userId", Kind::Str),
        filterable("deviceName", Kind::Str)
            .with_ends_with()
            .ordered(Order::Default),
        filterable("managedDeviceOwnerType", Kind::Str),
        filterable("operatingSystem", Kind::Str).ordered(Order::Default),
        filterable("osVersion", Kind::Str),
        filterable("complianceState", Kind::Str).ordered(Order::Default),
        filterable("managementAgent", Kind::Str),
        filterable("userPrincipalName", Kind::Str)
            .with_ends_with()
            .ordered(Order::Default),
        filterable("serialNumber", Kind::Str),
        filterable("azureADDeviceId", Kind::Str),
        plain("enrolledDateTime", Kind::DateTime).ordered(Order::Default),
        plain("lastSyncDateTime", Kind::DateTime).ordered(Order::Default),
    ],
    default_select: None,
    default_page: INTUNE_MAX_PAGE,
    // a larger `$top` is Intune's 503, not Graph's 400: checked by the handler
    max_page: i64::MAX as u64,
};

/// `device_count` managed devices.
pub(crate) struct ManagedDevices {
    pub(crate) count: u64,
    pub(crate) now: u64,
}

impl Source for ManagedDevices {
    fn len(&self) -> u64 {
        self.count
    }
    fn item(&self, i: u64) -> Value {
        device(i, self.now)
    }
}

// ---- Windows 365 Cloud PCs -----------------------------------------------------------------

pub(crate) const CLOUD_PCS: Rules = Rules {
    odata_type: "microsoft.graph.cloudPC",
    resource: "CloudPC",
    directory: false,
    props: &[
        filterable("id", Kind::Str),
        filterable("displayName", Kind::Str).ordered(Order::Default),
        filterable("imageDisplayName", Kind::Str),
        filterable("managedDeviceId", Kind::Str),
        filterable("managedDeviceName", Kind::Str),
        filterable("provisioningPolicyId", Kind::Str),
        filterable("provisioningPolicyName", Kind::Str),
        filterable("onPremisesConnectionName", Kind::Str),
        filterable("servicePlanId", Kind::Str),
        filterable("servicePlanName", Kind::Str),
        filterable("servicePlanType", Kind::Str),
        filterable("status", Kind::Str).ordered(Order::Default),
        filterable("userPrincipalName", Kind::Str)
            .with_ends_with()
            .ordered(Order::Default),
        filterable("provisioningType", Kind::Str),
        filterable("productType", Kind::Str),
        plain("lastModifiedDateTime", Kind::DateTime).ordered(Order::Default),
        plain("gracePeriodEndDateTime", Kind::DateTime),
    ],
    default_select: None,
    default_page: 100,
    max_page: 999,
};

const CLOUD_PC_STATUS: &[&str] = &["provisioned", "provisioned", "inGracePeriod", "provisioning", "failed"];

/// The Cloud PCs: one for each of the first eight Windows managed devices' users.
pub(crate) fn cloud_pcs(now: u64) -> Vec<Value> {
    (0..8u64)
        .map(|k| {
            let i = k * 4; // managed device i is a Windows device when i % 4 == 0
            let d = device(i, now);
            let owner = user(k + 1);
            let upn = owner["userPrincipalName"].clone();
            let status = CLOUD_PC_STATUS[(k % CLOUD_PC_STATUS.len() as u64) as usize];
            let enterprise = k % 2 == 0;
            json!({
                "@odata.type": "#microsoft.graph.cloudPC",
                "id": format!("c1c0d000-0000-4000-8000-{k:012}"),
                "displayName": format!("Cloud PC {}", owner["displayName"].as_str().unwrap_or_default()),
                "imageDisplayName": "Windows 11 Enterprise + Microsoft 365 Apps 23H2",
                "managedDeviceId": d["id"],
                "managedDeviceName": format!("CPC-{}-{k:04}", owner["surname"].as_str().unwrap_or_default()),
                "provisioningPolicyId": "f0e0d0c0-0000-4000-8000-000000000001",
                "provisioningPolicyName": "Contoso Cloud PCs",
                "onPremisesConnectionName": if enterprise { Value::from("Azure network - West Europe") } else { Value::Null },
                "servicePlanId": if enterprise { "9ecf691d-8b82-46cb-b254-cd061b2c02fb" } else { "51855c77-4d2e-4736-be67-6dca605f2b57" },
                "servicePlanName": if enterprise { "Cloud PC Enterprise 2vCPU/8GB/128GB" } else { "Cloud PC Business 2vCPU/8GB/128GB" },
                "servicePlanType": if enterprise { "enterprise" } else { "business" },
                "status": status,
                "userPrincipalName": upn,
                "lastModifiedDateTime": iso8601(now.saturating_sub(3_600 * (k + 1)) as i64),
                "gracePeriodEndDateTime": if status == "inGracePeriod" { Value::from(iso8601((now + 7 * 86_400) as i64)) } else { Value::Null },
                "provisioningType": if enterprise { "dedicated" } else { "shared" },
                "productType": "enterprise",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::graph_query::{parse, run};

    fn check_props(rules: &Rules, item: &Value) {
        let obj = item.as_object().unwrap();
        for p in rules.props {
            assert!(
                obj.contains_key(p.name),
                "{}: {} missing in {item}",
                rules.odata_type,
                p.name
            );
        }
        for k in obj.keys().filter(|k| !k.starts_with('@')) {
            assert!(
                rules.props.iter().any(|p| p.name == k),
                "{}: {k} has no rule",
                rules.odata_type
            );
        }
    }

    #[test]
    fn every_fixture_property_has_a_rule_and_the_other_way_round() {
        check_props(&USERS, &user_full(0));
        check_props(&USERS, &user_full(42));
        for g in groups() {
            check_props(&GROUPS, &g);
        }
        check_props(&DEVICES, &entra_device(3, 1_700_000_000));
        check_props(&MANAGED_DEVICES, &device(3, 1_700_000_000));
        for c in cloud_pcs(1_700_000_000) {
            check_props(&CLOUD_PCS, &c);
        }
        for d in USER_DEFAULT {
            assert!(USERS.props.iter().any(|p| p.name == *d), "{d}");
        }
    }

    #[test]
    fn users_default_projection_is_what_graph_shows() {
        let q = parse(&[], false, &USERS).unwrap();
        let page = run(&Users(3), &q, &USERS, 0, 10);
        assert_eq!(page.items[0], user(0), "the same user /me shows");
        assert_eq!(page.items.len(), 3);
        // the shortcut shows exactly what projecting the full user shows
        for i in [0, 1, 16, 24, 99] {
            assert_eq!(Users(100).shown(i, &q, &USERS), project(user_full(i), &q, &USERS));
        }
    }

    #[test]
    fn ids_are_unique_and_devices_line_up() {
        let ids: std::collections::BTreeSet<String> =
            groups().iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), GROUP_FIXTURE.len());
        let now = 1_700_000_000;
        assert_eq!(entra_device(7, now)["deviceId"], device(7, now)["azureADDeviceId"]);
        for c in cloud_pcs(now) {
            let managed = c["managedDeviceId"].as_str().unwrap();
            let n: u64 = managed.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(device(n, now)["operatingSystem"], "Windows", "{c}");
        }
    }

    #[test]
    fn guests_and_disabled_users_can_be_filtered() {
        let q = parse(
            &[
                (
                    "$filter".into(),
                    "userType eq 'Guest' and accountEnabled eq true".into(),
                ),
                ("$select".into(), "id,userType".into()),
            ],
            false,
            &USERS,
        )
        .unwrap();
        let page = run(&Users(100), &q, &USERS, 0, 100);
        let ids: Vec<&str> = page.items.iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "5e3a0000-0000-4000-8000-000000000024",
                "5e3a0000-0000-4000-8000-000000000049",
                "5e3a0000-0000-4000-8000-000000000074",
                "5e3a0000-0000-4000-8000-000000000099"
            ]
        );
    }
}
