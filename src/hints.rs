//! One-line hints for well-known AADSTS codes: what the user most likely did and what to do.
//! Codes and texts are from Entra's error reference
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>).

/// The hint for the first AADSTS code that has one.
pub(crate) fn for_codes(codes: &[u64]) -> Option<&'static str> {
    codes.iter().find_map(|c| for_code(*c))
}

pub(crate) fn for_code(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "the client secret is wrong, or it is the secret's ID: copy the secret's Value (shown once, when it is created) into AZURE_CLIENT_SECRET or --client-secret-file"
        }
        7000222 => {
            "the client secret has expired: create a new one under the app's Certificates & secrets and update AZURE_CLIENT_SECRET"
        }
        7000218 => {
            "no credential was sent: set AZURE_CLIENT_SECRET, --client-secret-file, --certificate or --federated-token-file"
        }
        700016 => {
            "the app is not in this tenant: check --client-id and --tenant, or have an admin of the tenant grant consent (entra-token consent-url --listen)"
        }
        90002 | 90072 => "the tenant was not found: check --tenant (a GUID or a verified domain) and --cloud",
        9001023 => {
            "client credentials need a specific tenant: use the tenant's GUID or domain, not common, consumers or organizations"
        }
        1002012 => {
            "app-only tokens need the resource's /.default scope, e.g. --scope https://graph.microsoft.com/.default"
        }
        700022 => "one token is for one resource: request each resource's /.default separately",
        901002 => "the v2 endpoint takes --scope, not a resource: drop --resource or add --v1",
        500011 => "the resource is not in the tenant: check the scope/resource URI, or consent the API into the tenant",
        700027 => {
            "the certificate is not registered on the app (compare `entra-token cert inspect` with the app's Certificates & secrets), or, for subject-name/issuer auth, add --send-x5c"
        }
        700024 => "the client assertion is outside its valid time: check this machine's clock",
        700023 | 50012 => {
            "the client assertion's audience does not match the token endpoint: use a specific tenant and the same authority host"
        }
        50027 => "the client assertion is not a valid JWT for Entra (thumbprint header missing or malformed)",
        50032 => "Entra requires an RSA key of at least 2048 bits: create a new certificate (entra-token cert create)",
        70021 | 700213 | 7002137 | 7002138 => {
            "no federated credential on the app matches the token's issuer/subject/audience (matching is case-sensitive)"
        }
        700025 => {
            "a public client must not send a credential: remove the secret/certificate or make the app confidential"
        }
        54005 => "an authorization code can be redeemed once: sign in again to get a new code",
        70008 | 700082 | 700084 | 50173 => {
            "the refresh token has expired or was revoked: run `entra-token login` again"
        }
        65001 => "consent is missing: have an admin grant consent (entra-token consent-url --listen)",
        50076 | 50079 | 50074 => "multi-factor authentication is required: run `entra-token login` again",
        501481 => "the PKCE code verifier does not match the code challenge",
        50011 => "the redirect URI does not match one registered on the app",
        70011 => "the scope is not valid for this request",
        9002313 => {
            "the request was malformed, often a stale or foreign refresh token or code: run `entra-token login` again (for redeem, use a new code)"
        }
        _ => return None,
    })
}

/// Extracts `AADSTSnnnn` codes from a text (used when `error_codes` is absent).
pub(crate) fn codes_in_text(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("AADSTS") {
        let digits: String = rest[pos + 6..].chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse()
            && !out.contains(&n)
        {
            out.push(n);
        }
        rest = &rest[pos + 6..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_have_hints() {
        for c in [7000215, 7000222, 700016, 90002, 9001023, 1002012, 500011] {
            assert!(for_code(c).is_some(), "{c}");
        }
        assert_eq!(codes_in_text("AADSTS700016: x AADSTS50012: y"), vec![700016, 50012]);
        assert!(for_code(9002313).unwrap().contains("entra-token login"));
    }
}
