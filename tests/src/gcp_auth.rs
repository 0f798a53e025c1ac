//! Google's side of Application Default Credentials, for the Cloud Functions contract fake:
//! the OAuth 2.0 token endpoint (`authorized_user` refresh tokens), the Security Token Service
//! (workload identity federation's token exchange), the IAM Credentials
//! `generateAccessToken` call (service account impersonation), and the check of the bearer
//! token on every API call.
//!
//! It answers as `google-cloud-auth` 1.19 calls these services (read from its sources):
//! - a `service_account` key file never reaches a token endpoint: the library signs a JWT
//!   (RS256, `iss` = `sub` = the client email, `scope` = cloud-platform, `kid` = the key id)
//!   and sends it as the bearer token, so the check verifies its signature with the public
//!   key registered here, its issuer, its scope and its expiry;
//! - `authorized_user` POSTs JSON `{grant_type: refresh_token, client_id, client_secret,
//!   refresh_token}` to `token_uri`;
//! - `external_account` POSTs a form (`grant_type` token-exchange, `audience`,
//!   `subject_token`, `subject_token_type`, `scope`) to `token_url`, then, with
//!   `service_account_impersonation_url`, POSTs JSON `{scope, lifetime}` there with the STS
//!   token as bearer and uses the `accessToken` it gets back;
//! - the metadata server (at `GCE_METADATA_HOST`) answers
//!   `GET /computeMetadata/v1/instance/service-accounts/default/token` with the header
//!   `Metadata-Flavor: Google` with the default service account's token.
//!
//! Every access token it issues contains [`TOKEN_CANARY`], so tests can prove none reaches
//! strata's output. Tokens are bound to the identity they were issued to; the fake records
//! which identity made each API call.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Part of every access token the fake issues.
pub const TOKEN_CANARY: &str = "t0k3nc4n4ry";

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const METADATA_TOKEN: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// The request headers the token services and the bearer check read.
#[derive(Default)]
pub(crate) struct Headers {
    pub(crate) authorization: Option<String>,
    pub(crate) metadata_flavor: Option<String>,
}

/// Who may call, and the tokens handed out so far.
#[derive(Default)]
pub(crate) struct Authority {
    /// Client email → RSA public key (PKCS#1 `RSAPublicKey`, DER).
    service_accounts: BTreeMap<String, Vec<u8>>,
    /// Refresh token → (client id, client secret).
    users: BTreeMap<String, (String, String)>,
    /// Workload identity pool provider audience → the subject token (OIDC JWT) it accepts.
    federation: BTreeMap<String, String>,
    /// The default service account of the "machine" whose metadata server this is.
    metadata_account: Option<String>,
    /// Access token → the identity it stands for.
    issued: BTreeMap<String, String>,
    /// The identity behind each API call, in order.
    pub(crate) callers: Vec<String>,
    /// API calls refused for a missing or wrong bearer token.
    pub(crate) refused: usize,
}

fn refuse(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

/// The OAuth error shape token endpoints answer with.
fn oauth_error(description: &str) -> (u16, Value) {
    (
        400,
        json!({"error": "invalid_grant", "error_description": description}),
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(key), decode(value))
        })
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl Authority {
    pub(crate) fn add_service_account(&mut self, email: &str, public_key_der: Vec<u8>) {
        self.service_accounts
            .insert(email.to_owned(), public_key_der);
    }

    pub(crate) fn add_user(&mut self, client_id: &str, client_secret: &str, refresh_token: &str) {
        self.users.insert(
            refresh_token.to_owned(),
            (client_id.to_owned(), client_secret.to_owned()),
        );
    }

    pub(crate) fn add_federation(&mut self, audience: &str, subject_token: &str) {
        self.federation
            .insert(audience.to_owned(), subject_token.to_owned());
    }

    pub(crate) fn set_metadata_account(&mut self, email: &str) {
        self.metadata_account = Some(email.to_owned());
    }

    fn issue(&mut self, identity: String) -> String {
        let token = format!("ya29.{TOKEN_CANARY}-{}", self.issued.len() + 1);
        self.issued.insert(token.clone(), identity);
        token
    }

    /// Answers a call to one of the token services, or `None` when `path` is not one.
    pub(crate) fn token_service(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &Headers,
    ) -> Option<(u16, Value)> {
        if method == "GET" && path == METADATA_TOKEN {
            return Some(self.metadata_token(headers.metadata_flavor.as_deref()));
        }
        if method == "GET" && path.starts_with("/computeMetadata/") {
            // The universe domain and the rest: not set on this machine, as older metadata
            // servers answer (the library then uses googleapis.com).
            return Some((404, json!({"error": "not found"})));
        }
        if method != "POST" {
            return None;
        }
        let authorization = headers.authorization.as_deref();
        if path == "/token" {
            return Some(self.refresh(body));
        }
        if path == "/v1/token" {
            return Some(self.exchange(body));
        }
        let email = path
            .strip_prefix("/v1/projects/-/serviceAccounts/")?
            .strip_suffix(":generateAccessToken")?;
        Some(self.impersonate(email, body, authorization))
    }

    /// The metadata server: the default service account's token, for requests that say they
    /// are meant for it.
    fn metadata_token(&mut self, flavor: Option<&str>) -> (u16, Value) {
        let Some(email) = self.metadata_account.clone() else {
            return (404, json!({"error": "not found"}));
        };
        if flavor != Some("Google") {
            return (
                403,
                json!({"error": "Missing Metadata-Flavor:Google header."}),
            );
        }
        let token = self.issue(format!("serviceAccount:{email}"));
        (
            200,
            json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
        )
    }

    /// `authorized_user`: a refresh token for an access token.
    fn refresh(&mut self, body: &[u8]) -> (u16, Value) {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
        if field("grant_type") != "refresh_token" {
            return oauth_error("unsupported grant_type");
        }
        let Some((client_id, client_secret)) = self.users.get(&field("refresh_token")).cloned()
        else {
            return oauth_error("Token has been expired or revoked.");
        };
        if field("client_id") != client_id || field("client_secret") != client_secret {
            return (
                401,
                json!({"error": "invalid_client", "error_description": "Unauthorized"}),
            );
        }
        let token = self.issue(format!("user:{client_id}"));
        (
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3599, "scope": CLOUD_PLATFORM}),
        )
    }

    /// Workload identity federation: an OIDC token from the CI for a federated token.
    fn exchange(&mut self, body: &[u8]) -> (u16, Value) {
        let request = form(body);
        let field = |name: &str| request.get(name).cloned().unwrap_or_default();
        if field("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
            || field("requested_token_type") != "urn:ietf:params:oauth:token-type:access_token"
        {
            return oauth_error("unsupported grant_type or requested_token_type");
        }
        let audience = field("audience");
        match self.federation.get(&audience) {
            Some(expected) if *expected == field("subject_token") => {}
            _ => return oauth_error("The audience or the subject token is not accepted."),
        }
        let token = self.issue(format!("principal:{audience}"));
        (
            200,
            json!({
                "access_token": token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3599,
            }),
        )
    }

    /// Service account impersonation with a federated token.
    fn impersonate(
        &mut self,
        email: &str,
        body: &[u8],
        authorization: Option<&str>,
    ) -> (u16, Value) {
        let caller = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.issued.get(token));
        if !caller.is_some_and(|identity| identity.starts_with("principal:")) {
            self.refused += 1;
            return refuse(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let scoped = request["scope"]
            .as_array()
            .is_some_and(|scopes| scopes.iter().any(|scope| scope == CLOUD_PLATFORM));
        if !scoped {
            return refuse(400, "INVALID_ARGUMENT", "scope must include cloud-platform");
        }
        let token = self.issue(format!("serviceAccount:{email}"));
        (
            200,
            json!({"accessToken": token, "expireTime": "2099-01-01T00:00:00Z"}),
        )
    }

    /// The identity behind `authorization`, or the refusal an API answers with.
    pub(crate) fn check(&mut self, authorization: Option<&str>) -> Result<(), (u16, Value)> {
        let identity = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| {
                self.issued
                    .get(token)
                    .cloned()
                    .or_else(|| self.self_signed(token))
            });
        match identity {
            Some(identity) => {
                self.callers.push(identity);
                Ok(())
            }
            None => {
                self.refused += 1;
                Err(refuse(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access \
                     token, login cookie or other valid authentication credential.",
                ))
            }
        }
    }

    /// A service account's self-signed JWT: its signature by a registered key, its issuer,
    /// its scope and its expiry.
    fn self_signed(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (header, claims_part, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        if decode(header)?["alg"] != "RS256" {
            return None;
        }
        let claims = decode(claims_part)?;
        let issuer = claims["iss"].as_str()?;
        let public_key = self.service_accounts.get(issuer)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            public_key,
        )
        .verify(format!("{header}.{claims_part}").as_bytes(), &signature)
        .ok()?;
        let scoped = claims["scope"]
            .as_str()
            .is_some_and(|scopes| scopes.split(' ').any(|scope| scope == CLOUD_PLATFORM));
        let audience = claims["aud"]
            .as_str()
            .is_some_and(|audience| audience.starts_with("https://cloudfunctions.googleapis.com"));
        let fresh = claims["exp"].as_u64().is_some_and(|exp| exp > now());
        (claims["sub"] == issuer && (scoped || audience) && fresh)
            .then(|| format!("serviceAccount:{issuer}"))
    }
}

/// A service account key made at test time: the JSON key file as Google issues it, and the
/// public half the fake verifies signatures with. RSA keys come from the `openssl` command
/// (ring cannot generate them).
pub struct ServiceAccountKey {
    pub email: String,
    /// The `type: service_account` JSON, `private_key` included.
    pub file: Value,
    pub public_key_der: Vec<u8>,
}

impl ServiceAccountKey {
    /// A fresh 2048-bit key for `email`; `token_uri` is where the file says tokens come from
    /// (the library does not call it for self-signed JWTs, but a key file always names one).
    pub fn generate(email: &str, token_uri: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let private = dir.path().join("key.pem");
        let public = dir.path().join("public.der");
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap_or_else(|error| {
                    panic!("`openssl` is needed to make RSA test keys ({error}); install it")
                });
            assert!(status.success(), "openssl {args:?} failed");
        };
        let private_path = private.display().to_string();
        let public_path = public.display().to_string();
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &private_path,
        ]);
        run(&[
            "rsa",
            "-in",
            &private_path,
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            &public_path,
        ]);
        let private_key = std::fs::read_to_string(&private).expect("private key");
        let public_key_der = std::fs::read(&public).expect("public key");
        let project = email
            .split_once('@')
            .and_then(|(_, domain)| domain.split('.').next())
            .unwrap_or("project");
        let file = json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": format!("{:040x}", key_id(&public_key_der)),
            "private_key": private_key,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        });
        Self {
            email: email.to_owned(),
            file,
            public_key_der,
        }
    }
}

/// A key id derived from the key, as stable as Google's.
fn key_id(public_key_der: &[u8]) -> u128 {
    public_key_der
        .iter()
        .fold(0u128, |id, byte| id.rotate_left(5) ^ u128::from(*byte))
}
