//! Which package indexes to use and with which credentials.
//!
//! Precedence for the primary index: requirements-file option, then the manifest, then
//! `UV_INDEX_URL`, then `PIP_INDEX_URL`, then PyPI. Extra indexes and find-links accumulate from
//! all sources. Credentials come from the URL's userinfo, then `STRATA_INDEX_USERNAME` /
//! `STRATA_INDEX_PASSWORD` (never sent to PyPI), then `~/.netrc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;

use crate::secret::{Credentials, SecretUrl, may_send_credentials};

/// Environment variables as the caller sees them; injected so tests never touch the process
/// environment.
pub type EnvMap = BTreeMap<String, String>;

/// The process environment as an [`EnvMap`] (non-UTF-8 variables are skipped).
pub fn process_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";

/// Hosts that never receive credentials from `STRATA_INDEX_*`.
const PUBLIC_HOSTS: &[&str] = &["pypi.org", "files.pythonhosted.org"];

/// Index options as written in one place (a requirements file or the manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOptions {
    pub index_url: Option<SecretUrl>,
    pub extra_index_urls: Vec<SecretUrl>,
    /// URLs or absolute paths, as pip's `--find-links` takes them.
    pub find_links: Vec<String>,
    pub no_index: bool,
    /// `--pre`: allow pre-releases.
    pub pre: bool,
}

impl IndexOptions {
    /// Later options win for the primary index; lists accumulate without duplicates.
    pub fn merge(&mut self, other: &IndexOptions) {
        if other.index_url.is_some() {
            self.index_url.clone_from(&other.index_url);
        }
        for url in &other.extra_index_urls {
            if !self.extra_index_urls.contains(url) {
                self.extra_index_urls.push(url.clone());
            }
        }
        for link in &other.find_links {
            if !self.find_links.contains(link) {
                self.find_links.push(link.clone());
            }
        }
        self.no_index |= other.no_index;
        self.pre |= other.pre;
    }
}

/// The effective index configuration for resolving and downloading, credentials included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    pub index_url: SecretUrl,
    pub extra_index_urls: Vec<SecretUrl>,
    pub find_links: Vec<String>,
    pub no_index: bool,
    pub pre: bool,
    /// Credentials by `host[:port]`, for downloads from hosts other than the index pages'.
    host_credentials: BTreeMap<String, Credentials>,
}

/// What to do when credentials would go out over plain http.
pub(crate) const INSECURE_CREDENTIALS_HINT: &str = "use https for this index; plain http with credentials is only allowed to a loopback address (127.0.0.1, ::1, localhost)";

/// Errors building an [`IndexConfig`].
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("`{variable}` is not a valid URL")]
    InvalidEnvUrl {
        variable: String,
        #[source]
        source: url::ParseError,
    },
    #[error("refusing to send credentials to the index {url} over plain http")]
    InsecureCredentials { url: SecretUrl },
    #[error("cannot read netrc file `{}`", path.display())]
    Netrc {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl strata_provider::Hint for IndexError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::InsecureCredentials { .. } => Some(INSECURE_CREDENTIALS_HINT.to_owned()),
            _ => None,
        }
    }
}

/// Where credentials may come from besides URLs.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// `~/.netrc` by default; `None` disables netrc lookup.
    pub netrc: Option<PathBuf>,
}

impl CredentialSources {
    /// `$NETRC` or `~/.netrc`.
    pub fn from_env(env: &EnvMap) -> Self {
        let netrc = env
            .get("NETRC")
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|home| Path::new(home).join(".netrc")))
            .or_else(|| dirs::home_dir().map(|home| home.join(".netrc")));
        Self { netrc }
    }
}

impl IndexConfig {
    /// PyPI, no extras, no credentials.
    pub fn pypi() -> Self {
        Self {
            index_url: SecretUrl::parse(PYPI_SIMPLE).expect("constant URL parses"),
            extra_index_urls: Vec::new(),
            find_links: Vec::new(),
            no_index: false,
            pre: false,
            host_credentials: BTreeMap::new(),
        }
    }

    /// Combines environment, manifest and requirements-file options (in rising precedence),
    /// then attaches credentials to every index URL that lacks them.
    pub fn from_sources(
        env: &EnvMap,
        manifest: &IndexOptions,
        requirements: &IndexOptions,
        credentials: &CredentialSources,
    ) -> Result<Self, IndexError> {
        let mut options = IndexOptions::default();
        for variable in ["PIP_INDEX_URL", "UV_INDEX_URL"] {
            if let Some(value) = env.get(variable).filter(|value| !value.trim().is_empty()) {
                options.index_url = Some(parse_env_url(variable, value.trim())?);
            }
        }
        for variable in ["PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"] {
            if let Some(value) = env.get(variable) {
                for part in value.split_whitespace() {
                    let url = parse_env_url(variable, part)?;
                    if !options.extra_index_urls.contains(&url) {
                        options.extra_index_urls.push(url);
                    }
                }
            }
        }
        options.merge(manifest);
        options.merge(requirements);

        let netrc = match &credentials.netrc {
            Some(path) => Netrc::read(path)?,
            None => Netrc::default(),
        };
        let env_credentials = match (
            env.get("STRATA_INDEX_USERNAME"),
            env.get("STRATA_INDEX_PASSWORD"),
        ) {
            (Some(username), password) => Some(Credentials {
                username: username.clone(),
                password: password.cloned().unwrap_or_default(),
            }),
            (None, Some(password)) => Some(Credentials {
                username: "__token__".to_string(),
                password: password.clone(),
            }),
            (None, None) => None,
        };

        let mut config = Self::pypi();
        config.no_index = options.no_index;
        config.pre = options.pre;
        config.find_links = options.find_links;
        let mut with_credentials = |url: SecretUrl| -> SecretUrl {
            let url = if url.has_credentials() {
                url
            } else if let Some(found) = env_credentials
                .as_ref()
                .filter(|_| !is_public_host(url.expose()))
                .or_else(|| netrc.lookup(url.expose().host_str().unwrap_or_default()))
            {
                url.with_credentials(found)
            } else {
                url
            };
            if let (Some(found), Some(host)) = (url.credentials(), host_key(url.expose())) {
                config.host_credentials.entry(host).or_insert(found);
            }
            url
        };
        let index_url = options
            .index_url
            .map(&mut with_credentials)
            .unwrap_or_else(|| SecretUrl::parse(PYPI_SIMPLE).expect("constant URL parses"));
        let extra: Vec<SecretUrl> = options
            .extra_index_urls
            .into_iter()
            .map(&mut with_credentials)
            .collect();
        for (host, found) in netrc.hosts() {
            config.host_credentials.entry(host).or_insert(found);
        }
        // Checked here, before the resolver gets the URLs, not only before a download.
        if let Some(url) = std::iter::once(&index_url)
            .chain(&extra)
            .find(|url| url.has_credentials() && !may_send_credentials(url.expose()))
        {
            return Err(IndexError::InsecureCredentials { url: url.clone() });
        }
        config.index_url = index_url;
        config.extra_index_urls = extra;
        Ok(config)
    }

    /// Credentials to send when downloading `url`: its own userinfo, else those of an index on
    /// the same host.
    pub fn credentials_for(&self, url: &Url) -> Option<Credentials> {
        let own = SecretUrl::from_url(url.clone());
        if let Some(credentials) = own.credentials() {
            return Some(credentials);
        }
        host_key(url).and_then(|host| {
            self.host_credentials.get(&host).cloned().or_else(|| {
                // netrc entries are keyed by host without port.
                url.host_str()
                    .and_then(|bare| self.host_credentials.get(bare).cloned())
            })
        })
    }

    /// Every secret that must be scrubbed from text shown to the user.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = std::iter::once(&self.index_url)
            .chain(&self.extra_index_urls)
            .flat_map(SecretUrl::secrets)
            .collect();
        secrets.extend(
            self.host_credentials
                .values()
                .filter(|credentials| !credentials.password.is_empty())
                .map(|credentials| credentials.password.clone()),
        );
        secrets.sort();
        secrets.dedup();
        secrets
    }
}

fn parse_env_url(variable: &str, value: &str) -> Result<SecretUrl, IndexError> {
    SecretUrl::parse(value).map_err(|source| IndexError::InvalidEnvUrl {
        variable: variable.to_string(),
        source,
    })
}

fn is_public_host(url: &Url) -> bool {
    url.host_str()
        .is_some_and(|host| PUBLIC_HOSTS.contains(&host))
}

fn host_key(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The subset of netrc that matters: `machine`, `login`, `password`, `default`.
#[derive(Debug, Default)]
struct Netrc {
    machines: BTreeMap<String, Credentials>,
    default: Option<Credentials>,
}

impl Netrc {
    fn read(path: &Path) -> Result<Self, IndexError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(IndexError::Netrc {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn parse(text: &str) -> Self {
        let mut netrc = Self::default();
        let mut tokens = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .peekable();
        // `None` = the `default` entry.
        let mut current: Option<Option<String>> = None;
        let mut login = String::new();
        let mut password = String::new();
        let finish = |netrc: &mut Self,
                      current: &mut Option<Option<String>>,
                      login: &mut String,
                      password: &mut String| {
            if let Some(machine) = current.take() {
                let credentials = Credentials {
                    username: std::mem::take(login),
                    password: std::mem::take(password),
                };
                match machine {
                    Some(host) => {
                        netrc.machines.entry(host).or_insert(credentials);
                    }
                    None => netrc.default = Some(credentials),
                }
            }
        };
        while let Some(token) = tokens.next() {
            match token {
                "machine" => {
                    finish(&mut netrc, &mut current, &mut login, &mut password);
                    current = Some(tokens.next().map(str::to_string));
                }
                "default" => {
                    finish(&mut netrc, &mut current, &mut login, &mut password);
                    current = Some(None);
                }
                "login" => login = tokens.next().unwrap_or_default().to_string(),
                "password" => password = tokens.next().unwrap_or_default().to_string(),
                "account" => {
                    tokens.next();
                }
                "macdef" => {
                    // Macros run to the next blank line, which whitespace splitting cannot see:
                    // stop here rather than misread the macro body as entries.
                    break;
                }
                _ => {}
            }
        }
        finish(&mut netrc, &mut current, &mut login, &mut password);
        netrc
    }

    fn lookup(&self, host: &str) -> Option<&Credentials> {
        self.machines.get(host).or(self.default.as_ref())
    }

    fn hosts(&self) -> impl Iterator<Item = (String, Credentials)> + '_ {
        self.machines
            .iter()
            .map(|(host, credentials)| (host.clone(), credentials.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Hint as _;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn defaults_to_pypi() {
        let config = IndexConfig::from_sources(
            &EnvMap::new(),
            &IndexOptions::default(),
            &IndexOptions::default(),
            &CredentialSources::default(),
        )
        .unwrap();
        assert_eq!(config.index_url.expose().as_str(), PYPI_SIMPLE);
        assert!(config.extra_index_urls.is_empty());
    }

    #[test]
    fn precedence_env_manifest_requirements() {
        let env = env(&[
            ("PIP_INDEX_URL", "https://pip.example/simple"),
            ("UV_INDEX_URL", "https://uv.example/simple"),
            (
                "PIP_EXTRA_INDEX_URL",
                "https://x1.example/simple https://x2.example/simple",
            ),
        ]);
        let sources = CredentialSources::default();
        let none = IndexOptions::default();
        let config = IndexConfig::from_sources(&env, &none, &none, &sources).unwrap();
        assert_eq!(config.index_url.expose().host_str(), Some("uv.example"));
        assert_eq!(config.extra_index_urls.len(), 2);
        let manifest = IndexOptions {
            index_url: Some(SecretUrl::parse("https://manifest.example/simple").unwrap()),
            ..IndexOptions::default()
        };
        let config = IndexConfig::from_sources(&env, &manifest, &none, &sources).unwrap();
        assert_eq!(
            config.index_url.expose().host_str(),
            Some("manifest.example")
        );
        let requirements = IndexOptions {
            index_url: Some(SecretUrl::parse("https://req.example/simple").unwrap()),
            ..IndexOptions::default()
        };
        let config = IndexConfig::from_sources(&env, &manifest, &requirements, &sources).unwrap();
        assert_eq!(config.index_url.expose().host_str(), Some("req.example"));
    }

    #[test]
    fn credentials_from_env_and_netrc_never_for_pypi() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        fs_err::write(
            &netrc,
            "machine netrc.example login nina password n3trc\ndefault login any password d3fault\n",
        )
        .unwrap();
        let sources = CredentialSources { netrc: Some(netrc) };
        let manifest = IndexOptions {
            index_url: Some(SecretUrl::parse("https://netrc.example/simple/").unwrap()),
            extra_index_urls: vec![SecretUrl::parse("https://private.example/simple/").unwrap()],
            ..IndexOptions::default()
        };
        let env = env(&[
            ("STRATA_INDEX_USERNAME", "ci"),
            ("STRATA_INDEX_PASSWORD", "t0ken"),
        ]);
        let config =
            IndexConfig::from_sources(&env, &manifest, &IndexOptions::default(), &sources).unwrap();
        // The environment credentials win over netrc for a non-public host.
        assert_eq!(config.index_url.credentials().unwrap().username, "ci");
        assert_eq!(
            config.extra_index_urls[0].credentials().unwrap().password,
            "t0ken"
        );
        let download = Url::parse("https://netrc.example/files/a.whl").unwrap();
        assert_eq!(config.credentials_for(&download).unwrap().username, "ci");
        assert!(!format!("{config:?}").contains("t0ken"));
        assert!(!format!("{config:?}").contains("n3trc"));
        assert!(config.secrets().contains(&"t0ken".to_string()));

        // Without env credentials, netrc applies; PyPI gets nothing from STRATA_INDEX_*.
        let config = IndexConfig::from_sources(
            &EnvMap::new(),
            &manifest,
            &IndexOptions::default(),
            &sources,
        )
        .unwrap();
        assert_eq!(config.index_url.credentials().unwrap().password, "n3trc");
        let pypi_only = IndexConfig::from_sources(
            &env,
            &IndexOptions::default(),
            &IndexOptions::default(),
            &CredentialSources::default(),
        )
        .unwrap();
        assert!(!pypi_only.index_url.has_credentials());
    }

    /// Regression: credentials for an index reached over plain http were sent in the clear.
    #[test]
    fn credentials_over_plain_http_are_refused_unless_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        fs_err::write(&netrc, "machine plain.example login u password n3trc-pw\n").unwrap();
        let sources = CredentialSources { netrc: Some(netrc) };
        let none = IndexOptions::default();
        for url in [
            "http://user:pw@plain.example/simple/",
            "http://t0ken@plain.example/simple/",
            // Credentials from netrc count the same as written ones.
            "http://plain.example/simple/",
        ] {
            let error =
                IndexConfig::from_sources(&env(&[("PIP_INDEX_URL", url)]), &none, &none, &sources)
                    .unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, IndexError::InsecureCredentials { .. }),
                "{url}"
            );
            assert!(error.hint().unwrap().starts_with("use https"), "{message}");
            assert!(
                !message.contains("pw") && !message.contains("t0ken"),
                "{message}"
            );
        }
        for url in [
            "https://user:pw@plain.example/simple/",
            "http://user:pw@127.0.0.1:8080/simple/",
            "http://other.example/simple/",
        ] {
            IndexConfig::from_sources(&env(&[("PIP_INDEX_URL", url)]), &none, &none, &sources)
                .unwrap_or_else(|error| panic!("{url}: {error}"));
        }
    }

    #[test]
    fn invalid_env_url_names_the_variable() {
        let error = IndexConfig::from_sources(
            &env(&[("PIP_INDEX_URL", "not a url")]),
            &IndexOptions::default(),
            &IndexOptions::default(),
            &CredentialSources::default(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "`PIP_INDEX_URL` is not a valid URL");
    }
}
