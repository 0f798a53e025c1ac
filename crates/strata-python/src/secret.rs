//! URLs that may carry credentials, and scrubbing of text that may contain them.

use std::fmt;

use serde::{Serialize, Serializer};
use url::Url;

/// What a redacted password reads as.
pub const REDACTED: &str = "****";

/// A URL whose credentials are never shown: `Display`, `Debug` and `Serialize` all print
/// `https://****@host/...?****`. Any userinfo counts as a credential (a token is often sent as
/// the username alone), and so does a query string (`?token=...`). Only [`SecretUrl::expose`]
/// gives the real URL, for the HTTP client and a child's environment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretUrl {
    url: Url,
}

impl SecretUrl {
    pub fn parse(text: &str) -> Result<Self, url::ParseError> {
        Url::parse(text).map(Self::from_url)
    }

    pub fn from_url(url: Url) -> Self {
        Self { url }
    }

    /// The URL with its credentials. Never log or display it.
    pub fn expose(&self) -> &Url {
        &self.url
    }

    /// The URL with userinfo and query removed: what may be written to a lock file.
    pub fn without_credentials(&self) -> Url {
        strip_credentials(&self.url)
    }

    pub fn has_credentials(&self) -> bool {
        !self.url.username().is_empty() || self.url.password().is_some()
    }

    /// Username and password, percent-decoded, when the URL carries them.
    pub fn credentials(&self) -> Option<Credentials> {
        if !self.has_credentials() {
            return None;
        }
        Some(Credentials {
            username: decode(self.url.username()),
            password: self.url.password().map(decode).unwrap_or_default(),
        })
    }

    /// This URL with `credentials` as its userinfo.
    pub fn with_credentials(&self, credentials: &Credentials) -> Self {
        let mut url = self.url.clone();
        // Only fails for URLs that cannot have a userinfo (`file:`, `data:`): leave them alone.
        let _ = url.set_username(&credentials.username);
        let _ = url.set_password(Some(&credentials.password));
        Self { url }
    }

    /// `scheme://****@host/path?****` (or the plain URL when it has neither userinfo nor query).
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    /// The secrets a child's output could echo back, raw and percent-decoded: the password, a
    /// username that stands alone (a token), and every query value.
    pub fn secrets(&self) -> Vec<String> {
        let mut raw: Vec<&str> = Vec::new();
        match self.url.password() {
            Some(password) => raw.push(password),
            None => raw.push(self.url.username()),
        }
        if let Some(query) = self.url.query() {
            raw.extend(
                query
                    .split('&')
                    .map(|pair| pair.split_once('=').map_or(pair, |(_, value)| value)),
            );
        }
        let mut secrets = Vec::new();
        for value in raw.into_iter().filter(|value| !value.is_empty()) {
            secrets.push(value.to_string());
            let decoded = decode(value);
            if decoded != value {
                secrets.push(decoded);
            }
        }
        secrets
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// A username and password for an index. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .finish()
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Credentials go over https, or over plain http only to this machine: anyone on the path
/// can read a Basic `Authorization` header sent in the clear.
pub fn may_send_credentials(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(address)) => address.is_loopback(),
            Some(url::Host::Ipv6(address)) => address.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// `url` without username and password: what a request goes to (the credentials travel in a
/// header instead).
pub fn strip_userinfo(url: &Url) -> Url {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// `url` without userinfo and query: what may be recorded (the lock, a dependency-set key).
/// Private indexes put tokens in either place; neither is needed to identify a file.
pub fn strip_credentials(url: &Url) -> Url {
    let mut url = strip_userinfo(url);
    url.set_query(None);
    url
}

/// `url` with its userinfo and its query (if any) replaced by [`REDACTED`].
pub fn redact_url(url: &Url) -> String {
    let mut shown = strip_userinfo(url);
    if !url.username().is_empty() || url.password().is_some() {
        let _ = shown.set_username(REDACTED);
    }
    if url.query().is_some() {
        shown.set_query(Some(REDACTED));
    }
    shown.to_string()
}

/// Scrubs text that may contain credentials (a child's stderr, an error from a library, a log
/// line): every `scheme://userinfo@` loses its whole userinfo, and every string in `secrets` is
/// replaced wherever it appears.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("://") {
        let (before, after) = rest.split_at(position + 3);
        out.push_str(before);
        // The authority ends at the first '/', whitespace or quote; a userinfo ends at its last '@'.
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    for secret in secrets {
        if secret.len() >= 3 {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

/// A requirements file as it may ship inside a zip: every URL loses its userinfo and its query
/// string, unless they are only pip's `${VARIABLE}` references (which the installing pip fills
/// from its own environment, so they hold no secret). Comments are scrubbed too. Returns the
/// text and whether anything was removed.
pub fn strip_requirements_credentials(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut removed = false;
    let mut rest = text;
    while let Some(position) = rest.find("://") {
        let (before, after) = rest.split_at(position + 3);
        out.push_str(before);
        let url_end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(url_end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) if !only_variables(&authority[..at]) => {
                removed = true;
                out.push_str(&authority[at + 1..]);
            }
            _ => out.push_str(authority),
        }
        let (path, fragment) = path.split_at(path.find('#').unwrap_or(path.len()));
        match path.split_once('?') {
            Some((before_query, query)) if !only_variables(query) => {
                removed = true;
                out.push_str(before_query);
            }
            _ => out.push_str(path),
        }
        out.push_str(fragment);
        rest = tail;
    }
    out.push_str(rest);
    (out, removed)
}

/// Whether every value in `text` (userinfo `user:pass`, or a query `a=x&b=y`) is a `${NAME}`
/// reference, and there is at least one.
fn only_variables(text: &str) -> bool {
    let values: Vec<&str> = text
        .split(['&', ':'])
        .map(|part| part.split_once('=').map_or(part, |(_, value)| value))
        .collect();
    values.iter().any(|value| !value.is_empty())
        && values.iter().all(|value| {
            value.is_empty()
                || value
                    .strip_prefix("${")
                    .and_then(|inner| inner.strip_suffix('}'))
                    .is_some_and(|name| {
                        !name.is_empty()
                            && name
                                .chars()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_debug_and_serialize_hide_the_userinfo() {
        let url = SecretUrl::parse("https://alice:p%40ss@example.com/simple/").unwrap();
        assert_eq!(url.to_string(), "https://****@example.com/simple/");
        assert_eq!(
            format!("{url:?}"),
            "SecretUrl(https://****@example.com/simple/)"
        );
        assert_eq!(
            serde_json::to_string(&url).unwrap(),
            "\"https://****@example.com/simple/\""
        );
        assert_eq!(
            url.without_credentials().as_str(),
            "https://example.com/simple/"
        );
        let credentials = url.credentials().unwrap();
        assert_eq!(credentials.password, "p@ss");
        assert!(!format!("{credentials:?}").contains("p@ss"));
        assert_eq!(
            url.secrets(),
            vec!["p%40ss".to_string(), "p@ss".to_string()]
        );
    }

    /// Regression: a token sent as the username alone (`https://TOKEN@host`) and a token in the
    /// query string were printed as they are.
    #[test]
    fn username_only_tokens_and_query_tokens_are_secret() {
        let url = SecretUrl::parse("https://gh0token@example.com/simple/?auth=q%2Btok&x").unwrap();
        let shown = url.to_string();
        assert_eq!(shown, "https://****@example.com/simple/?****");
        assert!(!format!("{url:?}").contains("gh0token"));
        assert!(!serde_json::to_string(&url).unwrap().contains("q%2Btok"));
        assert_eq!(
            url.without_credentials().as_str(),
            "https://example.com/simple/"
        );
        assert_eq!(
            url.secrets(),
            vec![
                "gh0token".to_string(),
                "q%2Btok".to_string(),
                "q+tok".to_string(),
                "x".to_string()
            ]
        );
        let plain = SecretUrl::parse("https://example.com/simple/").unwrap();
        assert_eq!(plain.to_string(), "https://example.com/simple/");
        assert!(plain.secrets().is_empty());
        // A request keeps its query (the index may need it) but never carries userinfo.
        assert_eq!(
            strip_userinfo(url.expose()).as_str(),
            "https://example.com/simple/?auth=q%2Btok&x"
        );
    }

    #[test]
    fn with_credentials_round_trips() {
        let url = SecretUrl::parse("https://example.com/simple/").unwrap();
        assert!(!url.has_credentials());
        let url = url.with_credentials(&Credentials {
            username: "bob".into(),
            password: "a b".into(),
        });
        assert_eq!(
            url.expose().as_str(),
            "https://bob:a%20b@example.com/simple/"
        );
        assert_eq!(url.credentials().unwrap().password, "a b");
    }

    #[test]
    fn redact_text_scrubs_userinfo_and_known_secrets() {
        let text = "Looking in indexes: https://alice:hunter2@example.com/simple, \
                    http://token@h/x\nERROR: 401 for user alice with hunter2";
        let redacted = redact_text(text, &["hunter2".to_string()]);
        assert_eq!(
            redacted,
            "Looking in indexes: https://****@example.com/simple, \
             http://****@h/x\nERROR: 401 for user alice with ****"
        );
    }

    /// Regression: `--index-url https://user:token@host` in requirements.txt shipped inside
    /// every function zip.
    #[test]
    fn requirements_lose_their_credentials_but_keep_pip_variables() {
        let text = "--index-url https://ci:s3cr3t@private.example/simple/\n\
                    --extra-index-url=https://t0ken@extra.example/simple?auth=q7ok#frag\n\
                    -i https://${USER}:${TOKEN}@env.example/simple?key=${KEY}\n\
                    pkg @ https://u:p4ss@files.example/pkg-1-py3-none-any.whl#sha256=ab\n\
                    plain==1.0 # see https://docs.example/page\n";
        let (clean, removed) = strip_requirements_credentials(text);
        assert!(removed);
        assert_eq!(
            clean,
            "--index-url https://private.example/simple/\n\
             --extra-index-url=https://extra.example/simple#frag\n\
             -i https://${USER}:${TOKEN}@env.example/simple?key=${KEY}\n\
             pkg @ https://files.example/pkg-1-py3-none-any.whl#sha256=ab\n\
             plain==1.0 # see https://docs.example/page\n"
        );
        let (same, removed) = strip_requirements_credentials("requests==2.32.0\n");
        assert!(!removed);
        assert_eq!(same, "requests==2.32.0\n");
        // A variable next to a literal secret is still a literal secret.
        let (clean, removed) =
            strip_requirements_credentials("-i https://${USER}:hunter2@h.example/simple\n");
        assert!(removed);
        assert_eq!(clean, "-i https://h.example/simple\n");
    }

    /// Regression: Basic credentials were sent over plain http to any host.
    #[test]
    fn credentials_go_over_https_or_to_loopback_only() {
        for allowed in [
            "https://index.example/simple/",
            "http://127.0.0.1:8080/simple/",
            "http://127.1.2.3/simple/",
            "http://[::1]:9000/simple/",
            "http://localhost/simple/",
        ] {
            assert!(
                may_send_credentials(&Url::parse(allowed).unwrap()),
                "{allowed}"
            );
        }
        for refused in [
            "http://index.example/simple/",
            "http://10.0.0.5/simple/",
            "http://127.0.0.1.nip.io/simple/",
            "http://localhost.example/simple/",
            "ftp://127.0.0.1/simple/",
        ] {
            assert!(
                !may_send_credentials(&Url::parse(refused).unwrap()),
                "{refused}"
            );
        }
    }
}
