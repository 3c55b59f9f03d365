//! Unit tests of the credential source choice: levels, kinds, the environment and profiles.

use super::*;
use crate::env::Env;
use crate::settings::Profile;
use std::path::Path;

/// Settings with `profile` (named `p`) and the environment `env`: nothing of the machine's
/// own environment takes part.
fn settings_with(profile: Profile, env: Env) -> Settings {
    Settings {
        tenant: None,
        client_id: None,
        authority: url::Url::parse("https://login.microsoftonline.com").unwrap(),
        cloud: crate::protocol::authority::Cloud::Public,
        timeout: super::super::DEFAULT_TIMEOUT,
        timeout_explicit: false,
        tls_roots: Default::default(),
        cache: crate::cache::Config {
            mode: crate::cache::Mode::Auto,
            dir: None,
            keyring: Default::default(),
        },
        profile_name: Some("p".into()),
        profile,
        env,
    }
}

fn settings(profile: Profile) -> Settings {
    settings_with(profile, Env::default())
}

fn credential_source(args: &CredentialArgs, s: &Settings) -> Result<Option<CredentialSource>> {
    s.credential(args).client()
}

fn kind(src: Option<CredentialSource>) -> String {
    match src {
        Some(CredentialSource::Certificate(c)) => format!("certificate:{}", c.origin.describe()),
        Some(CredentialSource::ClientSecret(SecretSource::File(_, s))) => format!("secret:{}", s.describe()),
        Some(CredentialSource::ClientSecret(SecretSource::Env(_))) => "secret:env".into(),
        Some(CredentialSource::Federated(FederatedSource::File(_, s))) => {
            format!("federated-file:{}", s.describe())
        }
        Some(CredentialSource::Federated(FederatedSource::GitHub { audience, origin, .. })) => {
            format!("github:{}:{audience}", origin.describe())
        }
        Some(CredentialSource::Federated(FederatedSource::Env { name, .. })) => format!("federated-env:{name}"),
        Some(CredentialSource::Federated(FederatedSource::AzurePipelines { service_connection, .. })) => {
            format!(
                "azure-pipelines:{}",
                service_connection.map(|(_, o)| o.describe()).unwrap_or_default()
            )
        }
        None => "none".into(),
    }
}

/// The kind an app-only request uses (`managed-identity` when no client credential).
fn app_kind(s: &Settings, args: &CredentialArgs) -> Result<String> {
    Ok(match s.credential(args).app()?.1 {
        AppCredential::Client(c) => kind(Some(c)),
        AppCredential::ManagedIdentity(_) => "managed-identity".into(),
    })
}

#[test]
fn kinds_within_a_level_and_levels() {
    let full_profile = Profile {
        certificate: Some("p.pem".into()),
        client_secret_file: Some("p.secret".into()),
        federated_token_file: Some("p.token".into()),
        ..Profile::default()
    };
    let s = settings(full_profile.clone());
    let none = CredentialArgs::default();
    assert_eq!(kind(credential_source(&none, &s).unwrap()), "certificate:profile 'p'");

    // the flag level wins over the profile, whatever the kinds
    let args = CredentialArgs {
        federated_token_file: Some("f.token".into()),
        ..CredentialArgs::default()
    };
    assert_eq!(
        kind(credential_source(&args, &s).unwrap()),
        "federated-file:--federated-token-file"
    );
    // two source flags are refused: the command line names one source
    let args = CredentialArgs {
        client_secret_file: Some("f.secret".into()),
        federated_token_file: Some("f.token".into()),
        ..CredentialArgs::default()
    };
    let e = credential_source(&args, &s).err().unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.message.contains("--client-secret-file") && e.message.contains("--federated-token-file"),
        "{}",
        e.message
    );
    let args = CredentialArgs {
        certificate: Some("f.pem".into()),
        client_secret_file: Some("f.secret".into()),
        ..CredentialArgs::default()
    };
    let e = credential_source(&args, &s).err().unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.message.contains("--certificate") && e.message.contains("--client-secret-file"),
        "{}",
        e.message
    );

    let s = settings(Profile {
        client_secret_file: Some("p.secret".into()),
        federated_token_file: Some("p.token".into()),
        ..Profile::default()
    });
    assert_eq!(kind(credential_source(&none, &s).unwrap()), "secret:profile 'p'");
    assert_eq!(
        kind(credential_source(&none, &settings(Profile::default())).unwrap()),
        "none"
    );
}

/// The environment level sits between the flags and the profile.
#[test]
fn the_environment_is_the_middle_level() {
    let env = Env::default()
        .with(EnvVars::AZURE_CLIENT_SECRET, "s")
        .with(EnvVars::AZURE_FEDERATED_TOKEN_FILE, "/e.token");
    let s = settings_with(
        Profile {
            certificate: Some("p.pem".into()),
            ..Profile::default()
        },
        env,
    );
    let none = CredentialArgs::default();
    assert_eq!(kind(credential_source(&none, &s).unwrap()), "secret:env");
    let args = CredentialArgs {
        federated_token_file: Some("f.token".into()),
        ..CredentialArgs::default()
    };
    assert_eq!(
        kind(credential_source(&args, &s).unwrap()),
        "federated-file:--federated-token-file"
    );
    let env = Env::default().with(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH, "/e.pem");
    let s = settings_with(
        Profile {
            client_secret_file: Some("p.secret".into()),
            ..Profile::default()
        },
        env,
    );
    assert_eq!(
        kind(credential_source(&none, &s).unwrap()),
        "certificate:AZURE_CLIENT_CERTIFICATE_PATH"
    );
}

#[test]
fn github_only_when_asked_and_no_token_file() {
    let s = settings(Profile {
        federated: Some("GitHub".into()),
        ..Profile::default()
    });
    let none = CredentialArgs::default();
    assert_eq!(
        kind(credential_source(&none, &s).unwrap()),
        "github:profile 'p':api://AzureADTokenExchange"
    );
    let s = settings(Profile {
        federated: Some("github".into()),
        federated_token_file: Some("p.token".into()),
        ..Profile::default()
    });
    assert_eq!(
        kind(credential_source(&none, &s).unwrap()),
        "federated-file:profile 'p'"
    );
    let args = CredentialArgs {
        federated_github: true,
        federated_audience: Some("api://custom".into()),
        ..CredentialArgs::default()
    };
    // the explicit flag decides, whatever a lower level configures
    assert_eq!(
        kind(credential_source(&args, &s).unwrap()),
        "github:--federated-github:api://custom"
    );
    let s = settings(Profile::default());
    assert_eq!(
        kind(credential_source(&args, &s).unwrap()),
        "github:--federated-github:api://custom"
    );
    let bad = settings(Profile {
        federated: Some("gitlab".into()),
        ..Profile::default()
    });
    assert_eq!(credential_source(&none, &bad).err().unwrap().exit_code(), 2);
}

/// App-only requests with nothing configured fall back to GitHub Actions' OIDC token, and
/// only when the job has both variables; user sign-in stays a public client.
#[test]
fn github_actions_fallback_is_for_app_only_requests() {
    let none = CredentialArgs::default();
    let actions = Env::default()
        .with(
            EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL,
            "https://actions.example/idtoken?x=1",
        )
        .with(EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN, "req-token");
    let s = settings_with(Profile::default(), actions.clone());
    assert_eq!(
        app_kind(&s, &none).unwrap(),
        "github:ACTIONS_ID_TOKEN_REQUEST_URL:api://AzureADTokenExchange"
    );
    assert_eq!(kind(s.credential(&none).client().unwrap()), "none");
    let half = Env::default().with(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL, "https://actions.example/x");
    let e = app_kind(&settings_with(Profile::default(), half), &none).err().unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(e.message.contains("no credential configured"), "{}", e.message);
    // a configured credential is used, not the job's token
    let s = settings_with(Profile::default(), actions.with(EnvVars::AZURE_CLIENT_SECRET, "s"));
    assert_eq!(app_kind(&s, &none).unwrap(), "secret:env");
}

#[test]
fn managed_identity_pipelines_and_variable_sources() {
    const ID: &str = "1b8f7a2e-52c4-4a8e-9b8e-3d2c1a0f9e8d";
    let none = CredentialArgs::default();
    // an endpoint variable announces a managed identity
    let env = Env::default()
        .with(EnvVars::IDENTITY_ENDPOINT, "http://127.0.0.1:9/msi/token")
        .with(EnvVars::IDENTITY_HEADER, "h");
    assert_eq!(
        app_kind(&settings_with(Profile::default(), env), &none).unwrap(),
        "managed-identity"
    );
    let s = settings(Profile {
        managed_identity: Some(true),
        ..Profile::default()
    });
    assert_eq!(app_kind(&s, &none).unwrap(), "managed-identity");
    // no endpoint variable: nothing is automatic, whatever AZURE_POD_IDENTITY_AUTHORITY_HOST says
    let pod = Env::default().with(EnvVars::AZURE_POD_IDENTITY_AUTHORITY_HOST, "http://127.0.0.1:9");
    let e = app_kind(&settings_with(Profile::default(), pod), &none).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.render().contains("--managed-identity"), "{}", e.render());
    // a managed identity signs no user in
    let mi = CredentialArgs {
        managed_identity: true,
        ..CredentialArgs::default()
    };
    assert_eq!(
        settings(Profile::default())
            .credential(&mi)
            .client()
            .err()
            .unwrap()
            .exit_code(),
        2
    );
    // a selector flag without a managed identity is refused, not ignored
    let args = CredentialArgs {
        client_secret_file: Some("f.secret".into()),
        mi_object_id: Some(ID.into()),
        ..CredentialArgs::default()
    };
    let e = app_kind(&settings(Profile::default()), &args).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.message.contains("--mi-object-id"), "{}", e.message);
    // a token in a variable named on the command line
    let args = CredentialArgs {
        federated_token_env: Some("CI_ID_TOKEN".into()),
        ..CredentialArgs::default()
    };
    let s = settings_with(Profile::default(), Env::default().with_named("CI_ID_TOKEN", "a.b.c"));
    assert_eq!(app_kind(&s, &args).unwrap(), "federated-env:CI_ID_TOKEN");
    // Azure Pipelines: the service connection id from the flag, else the variable, else the profile
    let env = Env::default().with(EnvVars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, ID);
    let s = settings_with(
        Profile {
            federated: Some("azure-pipelines".into()),
            service_connection_id: Some(ID.into()),
            ..Profile::default()
        },
        env,
    );
    assert_eq!(
        app_kind(&s, &none).unwrap(),
        "azure-pipelines:AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"
    );
    let args = CredentialArgs {
        federated_azure_pipelines: true,
        service_connection_id: Some(ID.into()),
        ..CredentialArgs::default()
    };
    assert_eq!(app_kind(&s, &args).unwrap(), "azure-pipelines:--service-connection-id");
}

#[test]
fn certificate_options() {
    let s = settings(Profile {
        certificate: Some("p.pem".into()),
        assertion_alg: Some("RS256".into()),
        send_x5c: Some(true),
        certificate_password_file: Some("p.pw".into()),
        ..Profile::default()
    });
    let Some(CredentialSource::Certificate(c)) = credential_source(&CredentialArgs::default(), &s).unwrap() else {
        panic!("certificate expected");
    };
    assert_eq!(c.alg, AssertionAlg::Rs256);
    assert!(c.send_x5c);
    assert!(matches!(c.password, Some(PasswordSource::File(ref p, _)) if p == Path::new("p.pw")));
    let args = CredentialArgs {
        assertion_alg: Some(AssertionAlg::Ps256),
        certificate_password_file: Some("f.pw".into()),
        ..CredentialArgs::default()
    };
    let Some(CredentialSource::Certificate(c)) = credential_source(&args, &s).unwrap() else {
        panic!("certificate expected");
    };
    assert_eq!(c.alg, AssertionAlg::Ps256);
    assert!(matches!(c.password, Some(PasswordSource::File(ref p, _)) if p == Path::new("f.pw")));
    let bad = settings(Profile {
        certificate: Some("p.pem".into()),
        assertion_alg: Some("es256".into()),
        ..Profile::default()
    });
    assert!(credential_source(&CredentialArgs::default(), &bad).is_err());
    assert!(is_truthy("TRUE") && is_truthy("1") && !is_truthy("yes") && !is_truthy("0"));
    // the environment's password and chain flag, between the flags and the profile
    let env = Env::default()
        .with(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD, "env-pw")
        .with(EnvVars::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, "true");
    let s = settings_with(
        Profile {
            certificate: Some("p.pem".into()),
            certificate_password_file: Some("p.pw".into()),
            ..Profile::default()
        },
        env,
    );
    let Some(CredentialSource::Certificate(c)) = credential_source(&CredentialArgs::default(), &s).unwrap() else {
        panic!("certificate expected");
    };
    assert!(c.send_x5c);
    assert!(matches!(c.password, Some(PasswordSource::Env(ref p)) if p.expose() == "env-pw"));
}
