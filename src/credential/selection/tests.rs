//! Unit tests of the credential source decision.

use super::*;
use crate::error::Kind as ErrorKind;

fn profile(name: &str) -> ProfileSources {
    ProfileSources {
        name: name.into(),
        ..ProfileSources::default()
    }
}

fn reasons(d: &Decision) -> Vec<(Kind, &str)> {
    d.considered.iter().map(|c| (c.kind, c.reason.as_str())).collect()
}

#[test]
fn nothing_configured_lists_every_way() {
    let e = decide(&Inputs::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage);
    assert_eq!(e.message, "no credential configured");
    let rendered = e.render();
    for way in [
        "--certificate PATH",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "--client-secret-file PATH",
        "AZURE_CLIENT_SECRET",
        "--federated-token-file PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "--federated-token-env NAME",
        "--federated-github",
        "--federated-azure-pipelines",
        "--managed-identity",
        "--profile NAME",
    ] {
        assert!(rendered.contains(way), "{way} missing from: {rendered}");
    }
    assert!(
        !rendered.contains("more characters"),
        "the list must not be cut: {rendered}"
    );
}

#[test]
fn two_source_flags_are_refused() {
    let i = Inputs {
        flags: vec![Flag::Certificate, Flag::ManagedIdentity],
        ..Inputs::default()
    };
    let e = decide(&i).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage);
    assert!(
        e.message.contains("--certificate") && e.message.contains("--managed-identity"),
        "{}",
        e.message
    );
}

#[test]
fn a_flag_wins_and_the_trace_says_what_it_shadows() {
    let p = ProfileSources {
        certificate: true,
        ..profile("northwind")
    };
    let i = Inputs {
        flags: vec![Flag::ManagedIdentity],
        env_client_secret: true,
        profile: Some(&p),
        github_actions: true,
        ..Inputs::default()
    };
    let d = decide(&i).unwrap();
    assert_eq!(d.kind, Kind::ManagedIdentity);
    assert_eq!(d.selected_by, SelectedBy::Flag("--managed-identity"));
    assert_eq!(d.selected_by.describe(), "flag --managed-identity");
    assert_eq!(
        reasons(&d),
        [
            (Kind::ManagedIdentity, "chosen: --managed-identity given"),
            (
                Kind::ClientSecret,
                "AZURE_CLIENT_SECRET is set; not used: --managed-identity decides"
            ),
            (
                Kind::Certificate,
                "profile 'northwind' sets certificate; not used: --managed-identity decides"
            ),
        ]
    );
    for flag in [
        Flag::Certificate,
        Flag::ClientSecretFile,
        Flag::FederatedTokenFile,
        Flag::FederatedTokenEnv,
        Flag::FederatedGithub,
        Flag::FederatedAzurePipelines,
        Flag::ManagedIdentity,
    ] {
        let d = decide(&Inputs {
            flags: vec![flag],
            ..Inputs::default()
        })
        .unwrap();
        assert_eq!(d.kind, flag.kind());
        assert_eq!(d.selected_by.describe(), format!("flag {}", flag.name()));
    }
}

#[test]
fn environment_order_certificate_secret_file() {
    let i = Inputs {
        env_certificate: true,
        env_client_secret: true,
        env_federated_token_file: true,
        ..Inputs::default()
    };
    let d = decide(&i).unwrap();
    assert_eq!(d.kind, Kind::Certificate);
    assert_eq!(d.selected_by.describe(), "env AZURE_CLIENT_CERTIFICATE_PATH");
    assert_eq!(
        reasons(&d),
        [
            (Kind::Certificate, "chosen: AZURE_CLIENT_CERTIFICATE_PATH is set"),
            (
                Kind::ClientSecret,
                "AZURE_CLIENT_SECRET is set; not used: the certificate (env AZURE_CLIENT_CERTIFICATE_PATH) comes first"
            ),
            (
                Kind::FederatedFile,
                "AZURE_FEDERATED_TOKEN_FILE is set; not used: the certificate (env AZURE_CLIENT_CERTIFICATE_PATH) comes first"
            ),
        ]
    );
    assert_eq!(
        d.variables,
        [
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE"
        ]
    );
    let d = decide(&Inputs {
        env_client_secret: true,
        env_federated_token_file: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(
        (d.kind, d.selected_by),
        (Kind::ClientSecret, SelectedBy::Env("AZURE_CLIENT_SECRET"))
    );
    let d = decide(&Inputs {
        env_federated_token_file: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::FederatedFile);
}

#[test]
fn environment_beats_the_profile_and_the_profile_has_an_order() {
    let full = ProfileSources {
        certificate: true,
        client_secret_file: true,
        federated_token_file: true,
        federated: Some(ProfileFederated::GitHub),
        managed_identity: true,
        ..profile("ci")
    };
    let d = decide(&Inputs {
        env_client_secret: true,
        profile: Some(&full),
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::ClientSecret);
    assert_eq!(d.considered.len(), 6);
    assert!(
        d.considered[1]
            .reason
            .starts_with("profile 'ci' sets certificate; not used")
    );

    let order = [
        (Kind::Certificate, "certificate"),
        (Kind::ClientSecret, "client_secret_file"),
        (Kind::FederatedFile, "federated_token_file"),
        (Kind::GitHubActions, "federated = \"github\""),
        (Kind::ManagedIdentity, "managed_identity = true"),
    ];
    let mut p = full.clone();
    for (kind, field) in order {
        let d = decide(&Inputs {
            profile: Some(&p),
            ..Inputs::default()
        })
        .unwrap();
        assert_eq!(d.kind, kind, "{p:?}");
        assert_eq!(d.selected_by.describe(), "profile ci");
        assert_eq!(d.considered[0].reason, format!("chosen: profile 'ci' sets {field}"));
        match kind {
            Kind::Certificate => p.certificate = false,
            Kind::ClientSecret => p.client_secret_file = false,
            Kind::FederatedFile => p.federated_token_file = false,
            Kind::GitHubActions => p.federated = None,
            _ => {}
        }
    }
    let pipelines = ProfileSources {
        federated: Some(ProfileFederated::AzurePipelines),
        ..profile("ado")
    };
    let d = decide(&Inputs {
        profile: Some(&pipelines),
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(
        (d.kind, d.selected_by),
        (Kind::AzurePipelines, SelectedBy::Profile("ado".into()))
    );
}

#[test]
fn automatic_github_then_an_announced_managed_identity() {
    let d = decide(&Inputs {
        github_actions: true,
        managed_identity_announced_by: Some("IDENTITY_ENDPOINT"),
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(
        (d.kind, d.selected_by.clone()),
        (Kind::GitHubActions, SelectedBy::Automatic)
    );
    assert_eq!(
        d.variables,
        [
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "IDENTITY_ENDPOINT"
        ]
    );

    let d = decide(&Inputs {
        managed_identity_announced_by: Some("MSI_ENDPOINT"),
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(
        (d.kind, d.selected_by.clone()),
        (Kind::ManagedIdentity, SelectedBy::Automatic)
    );
    assert_eq!(d.considered.len(), 2);
    assert_eq!(d.considered[0].kind, Kind::GitHubActions);
    assert!(d.considered[0].reason.starts_with("not in GitHub Actions"));
    assert_eq!(d.considered[1].reason, "chosen: MSI_ENDPOINT announces one");
    assert_eq!(d.variables, ["MSI_ENDPOINT"]);
}

#[test]
fn no_blind_probe_and_no_automatic_pipelines() {
    // Without an announcing variable (whatever else is set), nothing picks a managed identity or
    // Azure Pipelines on its own.
    let p = profile("empty");
    for i in [
        Inputs::default(),
        Inputs {
            profile: Some(&p),
            ..Inputs::default()
        },
    ] {
        let e = decide(&i).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
    }
}

#[test]
fn token_credentials_values() {
    for (v, r) in [
        ("prod", Restriction::Prod),
        ("PROD", Restriction::Prod),
        ("EnvironmentCredential", Restriction::Environment),
        ("environmentcredential", Restriction::Environment),
        ("WorkloadIdentityCredential", Restriction::WorkloadIdentity),
        (" ManagedIdentityCredential ", Restriction::ManagedIdentity),
    ] {
        assert_eq!(Restriction::parse(Some(v)).unwrap(), Some(r), "{v}");
    }
    assert_eq!(Restriction::parse(None).unwrap(), None);
    assert_eq!(Restriction::parse(Some("  ")).unwrap(), None);
    for dev in [
        "dev",
        "DEV",
        "AzureCliCredential",
        "azureclicredential",
        "AzurePowerShellCredential",
    ] {
        let e = Restriction::parse(Some(dev)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(
            e.message.contains("AZURE_TOKEN_CREDENTIALS") && e.message.contains("developer-tool"),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("entra-token login"));
    }
    for unknown in ["production", "ClientSecretCredential", "managedidentity"] {
        let e = decide(&Inputs {
            token_credentials: Some(unknown),
            env_client_secret: true,
            ..Inputs::default()
        })
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(
            e.message.contains(&format!("AZURE_TOKEN_CREDENTIALS={unknown}")),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("ManagedIdentityCredential"));
    }
}

#[test]
fn token_credentials_conflicting_with_a_flag() {
    let conflicts = [
        ("ManagedIdentityCredential", Flag::Certificate),
        ("EnvironmentCredential", Flag::ManagedIdentity),
        ("EnvironmentCredential", Flag::FederatedTokenFile),
        ("WorkloadIdentityCredential", Flag::ClientSecretFile),
        ("prod", Flag::FederatedGithub),
        ("prod", Flag::FederatedAzurePipelines),
        ("prod", Flag::FederatedTokenEnv),
    ];
    for (value, flag) in conflicts {
        let e = decide(&Inputs {
            flags: vec![flag],
            token_credentials: Some(value),
            ..Inputs::default()
        })
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage, "{value} {flag:?}");
        assert!(
            e.message.contains(flag.name()) && e.message.contains(value),
            "{}",
            e.message
        );
    }
    let fine = [
        ("ManagedIdentityCredential", Flag::ManagedIdentity),
        ("EnvironmentCredential", Flag::Certificate),
        ("EnvironmentCredential", Flag::ClientSecretFile),
        ("WorkloadIdentityCredential", Flag::FederatedTokenFile),
        ("prod", Flag::Certificate),
        ("prod", Flag::ManagedIdentity),
    ];
    for (value, flag) in fine {
        let d = decide(&Inputs {
            flags: vec![flag],
            token_credentials: Some(value),
            ..Inputs::default()
        })
        .unwrap();
        assert_eq!(d.kind, flag.kind());
        assert!(d.variables.contains(&"AZURE_TOKEN_CREDENTIALS"));
    }
}

#[test]
fn token_credentials_restricts_the_later_steps() {
    // EnvironmentCredential: the federated file and GitHub are passed over
    let d = decide(&Inputs {
        token_credentials: Some("EnvironmentCredential"),
        env_client_secret: true,
        env_federated_token_file: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::ClientSecret);
    assert_eq!(d.restriction, Some(Restriction::Environment));
    let e = decide(&Inputs {
        token_credentials: Some("EnvironmentCredential"),
        env_federated_token_file: true,
        github_actions: true,
        ..Inputs::default()
    })
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage);
    assert!(e.message.contains("EnvironmentCredential"));
    assert!(e.hint.unwrap().contains("AZURE_CLIENT_SECRET"));

    // WorkloadIdentityCredential: only the federated token file
    let d = decide(&Inputs {
        token_credentials: Some("WorkloadIdentityCredential"),
        env_certificate: true,
        env_federated_token_file: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::FederatedFile);
    assert_eq!(
        d.considered[0].reason,
        "AZURE_CLIENT_CERTIFICATE_PATH is set; not used: AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential excludes it"
    );

    // ManagedIdentityCredential: explicit, so no announcement is needed; the secret is passed over
    let d = decide(&Inputs {
        token_credentials: Some("managedidentitycredential"),
        env_client_secret: true,
        github_actions: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::ManagedIdentity);
    assert_eq!(d.selected_by.describe(), "env AZURE_TOKEN_CREDENTIALS");
    let r = reasons(&d);
    assert!(
        r[0].1
            .contains("AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential excludes it"),
        "{r:?}"
    );
    assert!(r[1].1.contains("GitHub Actions OIDC is available; not used"), "{r:?}");
    assert!(r[2].1.contains("no endpoint variable is set: IMDS"), "{r:?}");

    // prod: environment, workload identity, then managed identity
    let d = decide(&Inputs {
        token_credentials: Some("prod"),
        env_federated_token_file: true,
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::FederatedFile);
    let d = decide(&Inputs {
        token_credentials: Some("prod"),
        managed_identity_announced_by: Some("IDENTITY_ENDPOINT"),
        ..Inputs::default()
    })
    .unwrap();
    assert_eq!(d.kind, Kind::ManagedIdentity);
    assert!(d.considered.last().unwrap().reason.contains("IDENTITY_ENDPOINT is set"));

    // a profile's GitHub federation is outside every restriction
    let p = ProfileSources {
        federated: Some(ProfileFederated::GitHub),
        ..profile("gh")
    };
    let e = decide(&Inputs {
        token_credentials: Some("WorkloadIdentityCredential"),
        profile: Some(&p),
        ..Inputs::default()
    })
    .unwrap_err();
    assert!(e.hint.unwrap().contains("AZURE_FEDERATED_TOKEN_FILE"));
}

#[test]
fn report_and_trace() {
    let d = decide(&Inputs {
        managed_identity_announced_by: Some("IDENTITY_ENDPOINT"),
        ..Inputs::default()
    })
    .unwrap();
    let r = d.report(Some("app-service"));
    assert_eq!(r.kind, "managed-identity");
    assert_eq!(r.detail, Some("app-service"));
    assert_eq!(r.selected_by, "automatic");
    assert_eq!(r.considered.len(), 2);
    assert_eq!(r.considered[1].kind, "managed-identity");
    let lines = d.trace_lines();
    assert_eq!(lines[0], "credential: managed-identity (selected by automatic)");
    assert_eq!(lines.len(), 3);
    assert!(lines[2].starts_with("  considered managed-identity: chosen"));
}

#[test]
fn kind_names() {
    let all = [
        Kind::ClientSecret,
        Kind::Certificate,
        Kind::FederatedFile,
        Kind::FederatedEnv,
        Kind::GitHubActions,
        Kind::AzurePipelines,
        Kind::ManagedIdentity,
    ];
    assert_eq!(
        all.map(Kind::as_str),
        [
            "client-secret",
            "certificate",
            "federated-file",
            "federated-env",
            "github-actions",
            "azure-pipelines",
            "managed-identity"
        ]
    );
}
