//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz builds the crate with
//! `--cfg fuzzing`) and for the replay of their corpora and crash files by `cargo test`: each
//! hands untrusted bytes to one of the parsers that read what entra-token does not control —
//! token replies, Entra's error bodies, JWTs, redirect queries, PEM/PFX files, config.toml, API
//! pages, cache entries, server text on its way to a terminal — and must return without
//! panicking (any error is fine). Each says whether the input got all the way through, so the
//! replay can check that the seeds are meaningful. Nothing in entra-token calls it.

use crate::cache::{Backend, CacheKey, file};
use crate::credential::keyfile::{self, Need};
use crate::http::pager;
use crate::protocol::entra_error::EntraError;
use crate::protocol::redirect::RedirectParams;
use crate::protocol::{api, jwt, token};
use crate::secret::Secret;

/// A fixed clock (2027-01-15) so that runs are reproducible.
pub const NOW: i64 = 1_800_000_000;

/// The password the key-file seeds are encrypted with (`fuzz/run.sh` generates them).
pub const KEY_PASSWORD: &str = "fuzz-password";

/// The secret the server-text target hides in its input.
pub const SERVER_TEXT_SECRET: &str = "Fuzz~Secret/Value+1 é";

/// A token endpoint's reply, as a success and as error statuses, rendered as the user would see
/// it. `true`: a token came out.
pub fn token_reply(body: &[u8]) -> bool {
    // every token parsed is registered for redaction; one fuzzing process parses millions
    crate::log::forget_secrets();
    let mut ok = false;
    for (status, ct) in [(200, Some("application/json")), (400, None), (200, Some("text/html"))] {
        match token::parse_reply(status, ct, body, NOW) {
            Ok(t) => {
                assert!(t.expires_on > NOW, "a token that is already expired is refused");
                assert!(t.expires_on <= NOW + token::MAX_LIFETIME, "lifetime capped");
                assert!(token::is_safe_token(t.access_token.expose()), "printable token");
                ok = true;
            }
            Err(e) => {
                let _ = e.render();
            }
        }
    }
    ok
}

/// An Entra error body (and an API's error body), as turned into messages. `true`: it parsed
/// as an Entra error.
pub fn entra_error(body: &[u8]) -> bool {
    let service = api::ServiceError::parse(body, |_| None);
    let _ = (service.code, service.message);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let Some(e) = EntraError::from_json(&v) else {
        return false;
    };
    let _ = (e.summary(), e.codes_label());
    let rendered = e.into_error("fuzzing").render();
    assert!(
        !rendered.chars().any(|c| c.is_control() && c != '\n'),
        "control character in {rendered:?}"
    );
    true
}

/// A JWT as `decode` and the account store read it (header and claims, never verified).
/// `true`: it decoded.
pub fn jwt_decode(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let _ = token::tenant_of(text);
    let _ = token::id_token_nonce(text);
    let _ = token::Account::from_tokens(&[Some(text), None]);
    let Some(d) = jwt::decode(text) else {
        return false;
    };
    if let Some(exp) = jwt::claim_i64(&d.claims, "exp") {
        let _ = crate::output::rfc3339(exp, false);
    }
    true
}

/// The query (or whole URL) a browser brings back to the redirect URI. `true`: it looks like
/// an OAuth redirect.
pub fn redirect_query(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let p = RedirectParams::from_query(&text);
    let _ = p.state_matches("fuzz-state-value");
    if let Some(e) = p.error("fuzzing") {
        let _ = e.render();
    }
    if let Ok(u) = RedirectParams::from_url(&text) {
        let _ = u.is_redirect();
    }
    p.is_redirect()
}

/// A certificate/key file (PEM, PFX or DER), without and with a password, for a credential and
/// for `cert inspect`. `true`: a certificate came out (the committed seeds hold no private key;
/// `fuzz/run.sh` adds generated key files to the run).
pub fn key_file(bytes: &[u8]) -> bool {
    let password = Secret::new(KEY_PASSWORD.to_string());
    let mut ok = false;
    for pw in [None, Some(&password)] {
        for need in [Need::KeyAndCertificate, Need::Certificate] {
            match keyfile::read(bytes, "fuzzing", pw, need) {
                Ok(m) => ok |= !m.certs.is_empty(),
                Err(e) => {
                    let _ = e.render();
                }
            }
        }
    }
    ok
}

/// config.toml. `true`: it is a valid config.
pub fn config_toml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    crate::settings::profile::parse_config(text).is_ok()
}

/// One page of `api --paginate` (Graph, ARM, Management Activity API shapes), then the pager's
/// next-link rules. `true`: a page parsed.
pub fn page(body: &[u8]) -> bool {
    let first = url::Url::parse("https://graph.microsoft.com/v1.0/users").expect("static URL");
    let mut ok = false;
    for header in [None, Some("https://manage.office.com/next")] {
        if let Ok(p) = pager::parse_page(body, header) {
            let mut pager = pager::Pager::new(first.clone(), Some(3));
            let _ = pager.advance(&p, &first);
            let _ = pager.next_url();
            ok = true;
        }
    }
    ok
}

/// A cache entry file, read by the file store and by the keyring store (with a fixed key) for
/// the key it names, then judged fresh or not. `true`: it was a hit.
pub fn cache_entry(bytes: &[u8]) -> bool {
    let Some(key) = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::from_value::<CacheKey>(v["meta"]["key"].clone()).ok())
    else {
        return false;
    };
    let mut hit = false;
    for backend in [Backend::File, Backend::Keyring(Secret::new(vec![7u8; 32]))] {
        if let Ok(t) = file::decode_entry(bytes, &key, &backend) {
            let _ = crate::cache::check_fresh(Some(&t.meta), NOW, 300, false);
            let _ = crate::output::rfc3339(t.meta.expires_on, true);
            hit = true;
        }
    }
    hit
}

/// Text a server sent, as printed on a terminal and redacted: no control character survives
/// the sanitizer, and no spelling of the secret survives the redactor, wherever the input puts
/// it. `true`: the input held an escape sequence.
pub fn server_text(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let clean = crate::sanitize::line(&text);
    assert!(
        !clean.chars().any(char::is_control),
        "control character left: {clean:?}"
    );
    let redactor = crate::redact::Redactor::new([SERVER_TEXT_SECRET]);
    let encoded: String = url::form_urlencoded::byte_serialize(SERVER_TEXT_SECRET.as_bytes()).collect();
    let json = serde_json::to_string(SERVER_TEXT_SECRET).expect("string serializes");
    let half = text.len() / 2;
    let split = (0..=half).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    for planted in [
        format!("{}{SERVER_TEXT_SECRET}{}", &text[..split], &text[split..]),
        format!("{}{encoded}{}", &text[..split], &text[split..]),
        format!("{}{json}{}", &text[..split], &text[split..]),
    ] {
        let out = redactor.redact(&planted);
        assert!(!out.contains(SERVER_TEXT_SECRET), "secret left in {out:?}");
        assert!(!out.contains(&encoded), "encoded secret left in {out:?}");
        let _ = redactor.redact_cut(&planted[..split]);
        let _ = crate::log::redact_text(&planted);
    }
    text.contains('\u{1b}')
}

#[cfg(test)]
mod replay {
    //! Every seed in `fuzz/corpus/<target>/` and every crash file in `fuzz/artifacts/<target>/`
    //! goes through its target on stable `cargo test`, so a crash once found stays fixed.

    use std::path::{Path, PathBuf};

    fn files(kind: &str, target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target);
        let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Runs `target` over its corpus and artifacts; the corpus must exist and at least one
    /// seed must get all the way through the parser.
    fn replay(name: &str, target: impl Fn(&[u8]) -> bool) {
        let corpus = files("corpus", name);
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ holds the seeds");
        let mut deep = 0;
        for path in corpus.iter().chain(files("artifacts", name).iter()) {
            let bytes = std::fs::read(path).unwrap();
            if target(&bytes) {
                deep += 1;
            }
        }
        assert!(
            deep > 0,
            "no seed of {name} parses all the way: the corpus would not guide the fuzzer"
        );
    }

    #[test]
    fn token_reply() {
        replay("token_reply", super::token_reply);
    }

    #[test]
    fn entra_error() {
        replay("entra_error", super::entra_error);
    }

    #[test]
    fn jwt_decode() {
        replay("jwt_decode", super::jwt_decode);
    }

    #[test]
    fn redirect_query() {
        replay("redirect_query", super::redirect_query);
    }

    #[test]
    fn key_file() {
        replay("key_file", super::key_file);
    }

    #[test]
    fn config_toml() {
        replay("config_toml", super::config_toml);
    }

    #[test]
    fn page() {
        replay("page", super::page);
    }

    #[test]
    fn cache_entry() {
        replay("cache_entry", super::cache_entry);
    }

    #[test]
    fn server_text() {
        replay("server_text", super::server_text);
    }
}
