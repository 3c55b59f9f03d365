//! `-o exec-credential`: the Kubernetes client-go credential plugin answer, an `ExecCredential`
//! in the `apiVersion` kubectl asked for. kubectl describes its request in the
//! `KUBERNETES_EXEC_INFO` variable (an `ExecCredential` whose `apiVersion` is the one from the
//! kubeconfig's `exec` section) and refuses an answer in another version; see
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins>.
//! The variable's value is passed in by the caller (it is read from the environment snapshot).

use crate::env::EnvVars;
use crate::error::{Error, Result};
use serde_json::json;

/// The `client.authentication.k8s.io` versions entra-token answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ExecApiVersion {
    /// Kubernetes 1.11 to today (the only one before 1.22).
    V1Beta1,
    /// Kubernetes 1.22 and later; the answer when nothing is asked for.
    #[default]
    V1,
}

impl ExecApiVersion {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExecApiVersion::V1Beta1 => "client.authentication.k8s.io/v1beta1",
            ExecApiVersion::V1 => "client.authentication.k8s.io/v1",
        }
    }

    /// The version asked for in `KUBERNETES_EXEC_INFO` (`None` or empty: not run by kubectl, so
    /// v1). Anything but an `ExecCredential` object naming one of the two versions is a usage
    /// error (exit 2) naming the variable.
    pub(crate) fn from_exec_info(raw: Option<&str>) -> Result<ExecApiVersion> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(ExecApiVersion::V1);
        };
        let bad = |why: String| {
            Error::usage(format!(
                "{} is not a usable ExecCredential request: {why}",
                EnvVars::KUBERNETES_EXEC_INFO
            )).hint(
                "kubectl sets it for credential plugins; unset it, or set the kubeconfig's exec apiVersion to client.authentication.k8s.io/v1 or /v1beta1",
            )
        };
        let info: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(format!("not JSON ({e})")))?;
        if info.get("kind").and_then(|k| k.as_str()) != Some("ExecCredential") {
            return Err(bad("its kind is not ExecCredential".into()));
        }
        match info.get("apiVersion").and_then(|v| v.as_str()) {
            Some("client.authentication.k8s.io/v1") => Ok(ExecApiVersion::V1),
            Some("client.authentication.k8s.io/v1beta1") => Ok(ExecApiVersion::V1Beta1),
            Some(other) => Err(bad(format!(
                "apiVersion '{other}' is not supported (client.authentication.k8s.io/v1 or /v1beta1)"
            ))),
            None => Err(bad("it has no apiVersion".into())),
        }
    }
}

/// The `ExecCredential` answer (one line of JSON): the token and its expiry (RFC 3339, UTC).
pub(crate) fn render(version: ExecApiVersion, token: &str, expiration_timestamp: &str) -> String {
    let status = json!({"expirationTimestamp": expiration_timestamp, "token": token});
    let v = match version {
        ExecApiVersion::V1 => json!({
            "kind": "ExecCredential",
            "apiVersion": version.as_str(),
            "spec": {"interactive": false},
            "status": status,
        }),
        ExecApiVersion::V1Beta1 => json!({
            "kind": "ExecCredential",
            "apiVersion": version.as_str(),
            "status": status,
        }),
    };
    format!("{}\n", serde_json::to_string(&v).expect("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_kubectl_asks_for() {
        assert_eq!(ExecApiVersion::from_exec_info(None).unwrap(), ExecApiVersion::V1);
        assert_eq!(ExecApiVersion::from_exec_info(Some(" ")).unwrap(), ExecApiVersion::V1);
        let v1beta1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#;
        assert_eq!(
            ExecApiVersion::from_exec_info(Some(v1beta1)).unwrap(),
            ExecApiVersion::V1Beta1
        );
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"cluster":{"server":"https://k"},"interactive":true}}"#;
        assert_eq!(ExecApiVersion::from_exec_info(Some(v1)).unwrap(), ExecApiVersion::V1);
    }

    #[test]
    fn malformed_requests_are_usage_errors_naming_the_variable() {
        for raw in [
            "v1beta1",
            "{",
            "[]",
            r#"{"apiVersion":"client.authentication.k8s.io/v1"}"#,
            r#"{"kind":"ExecCredential"}"#,
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
            r#"{"kind":"ExecCredential","apiVersion":7}"#,
        ] {
            let err = ExecApiVersion::from_exec_info(Some(raw)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{raw}");
            assert!(err.render().contains("KUBERNETES_EXEC_INFO"), "{raw}: {}", err.render());
        }
    }

    #[test]
    fn answers_in_the_version_asked_for() {
        for version in [ExecApiVersion::V1, ExecApiVersion::V1Beta1] {
            let text = render(version, "tok", "2030-01-01T00:00:00Z");
            assert!(text.ends_with('\n') && text.lines().count() == 1);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["kind"], "ExecCredential");
            assert_eq!(v["apiVersion"], version.as_str());
            assert_eq!(v["status"]["token"], "tok");
            assert_eq!(v["status"]["expirationTimestamp"], "2030-01-01T00:00:00Z");
        }
    }
}
