//! Project pages of a simple repository: the PEP 691 JSON form, asked for first, and the PEP 503
//! HTML form as the fallback, read into one list of files with their PEP 592 yanked flag,
//! PEP 658/714 metadata-file marker, `Requires-Python` and PEP 700 upload time.

use serde::Deserialize;
use url::Url;

/// What `Accept` asks for: JSON first, HTML for indexes that only have that.
pub(crate) const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One file of a project, as its index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexFile {
    pub filename: String,
    /// Absolute, credentials kept only when the page URL had them.
    pub url: Url,
    pub sha256: Option<String>,
    pub requires_python: Option<String>,
    pub yanked: bool,
    /// A PEP 658 metadata file exists at `<url>.metadata`, with this sha256 when given.
    pub metadata_file: Option<Option<String>>,
    /// PEP 700 `upload-time` (RFC 3339), JSON pages only.
    pub upload_time: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct JsonProject {
    #[serde(default)]
    files: Vec<JsonFile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    Reason(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOrHashes {
    Bool(bool),
    Hashes(std::collections::BTreeMap<String, String>),
}

impl BoolOrHashes {
    fn as_metadata(&self) -> Option<Option<String>> {
        match self {
            Self::Bool(false) => None,
            Self::Bool(true) => Some(None),
            Self::Hashes(hashes) => Some(hashes.get("sha256").cloned()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    requires_python: Option<String>,
    yanked: Option<BoolOrString>,
    core_metadata: Option<BoolOrHashes>,
    dist_info_metadata: Option<BoolOrHashes>,
    /// PyPI's spelling of the old key (PEP 714 explains why).
    #[serde(rename = "data-dist-info-metadata")]
    data_dist_info_metadata: Option<BoolOrHashes>,
    upload_time: Option<String>,
    size: Option<u64>,
}

/// Reads a project page, JSON or HTML by its content type. `None` when it is neither.
pub(crate) fn parse_project_page(
    body: &[u8],
    content_type: &str,
    base: &Url,
) -> Option<Vec<IndexFile>> {
    if content_type.contains("json") {
        let project: JsonProject = serde_json::from_slice(body).ok()?;
        return Some(
            project
                .files
                .into_iter()
                .filter_map(|file| {
                    let url = base.join(&file.url).ok()?;
                    Some(IndexFile {
                        sha256: file
                            .hashes
                            .get("sha256")
                            .cloned()
                            .or_else(|| fragment_sha256(&url)),
                        url,
                        filename: file.filename,
                        requires_python: file.requires_python.filter(|text| !text.is_empty()),
                        yanked: matches!(
                            file.yanked,
                            Some(BoolOrString::Bool(true) | BoolOrString::Reason(_))
                        ),
                        metadata_file: file
                            .core_metadata
                            .or(file.dist_info_metadata)
                            .or(file.data_dist_info_metadata)
                            .and_then(|value| value.as_metadata()),
                        upload_time: file.upload_time,
                        size: file.size,
                    })
                })
                .collect(),
        );
    }
    let text = String::from_utf8_lossy(body);
    Some(parse_html(&text, base))
}

fn fragment_sha256(url: &Url) -> Option<String> {
    url.fragment()?
        .strip_prefix("sha256=")
        .map(str::to_ascii_lowercase)
}

/// The anchors of a PEP 503 page. A small scanner rather than an HTML parser: index pages are
/// generated, one anchor each, and only `href` and the `data-*` attributes matter.
pub(crate) fn parse_html(text: &str, base: &Url) -> Vec<IndexFile> {
    let mut files = Vec::new();
    let mut rest = text;
    while let Some(start) = find_ignore_case(rest, "<a ") {
        rest = &rest[start + 3..];
        let Some(end) = rest.find('>') else { break };
        let attributes = &rest[..end];
        rest = &rest[end + 1..];
        let Some(close) = find_ignore_case(rest, "</a>") else {
            break;
        };
        let label = unescape(rest[..close].trim());
        rest = &rest[close + 4..];
        let Some(href) = attribute(attributes, "href") else {
            continue;
        };
        let Ok(url) = base.join(&href) else { continue };
        let filename = url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .map(|name| {
                percent_encoding::percent_decode_str(name)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|name| !name.is_empty())
            .unwrap_or(label);
        let metadata_file = attribute(attributes, "data-core-metadata")
            .or_else(|| attribute(attributes, "data-dist-info-metadata"))
            .filter(|value| value != "false")
            .map(|value| value.strip_prefix("sha256=").map(str::to_string));
        files.push(IndexFile {
            sha256: fragment_sha256(&url),
            url,
            filename,
            requires_python: attribute(attributes, "data-requires-python")
                .filter(|text| !text.is_empty()),
            yanked: attribute(attributes, "data-yanked").is_some(),
            metadata_file,
            upload_time: None,
            size: None,
        });
    }
    files
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The value of `name` in an attribute list (`href="…"`, `data-yanked`, `data-yanked=""`).
fn attribute(attributes: &str, name: &str) -> Option<String> {
    let mut rest = attributes;
    loop {
        let position = find_ignore_case(rest, name)?;
        let before = rest[..position].chars().next_back();
        let after = &rest[position + name.len()..];
        rest = after;
        if before.is_some_and(|c| !c.is_whitespace()) {
            continue;
        }
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            if after.is_empty() || after.starts_with(char::is_whitespace) || after.starts_with('/')
            {
                return Some(String::new());
            }
            continue;
        };
        let value = value.trim_start();
        let text = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value[1..].split(quote).next().unwrap_or_default(),
            _ => value.split(char::is_whitespace).next().unwrap_or_default(),
        };
        return Some(unescape(text));
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_anchors_give_files_with_their_attributes() {
        let base = Url::parse("https://example.org/simple/demo/").unwrap();
        let page = r#"<html><body>
<a href="../../files/demo-1.0-py3-none-any.whl#sha256=ABC" data-requires-python="&gt;=3.9" data-dist-info-metadata="sha256=def">demo-1.0-py3-none-any.whl</a><br/>
<A HREF='https://cdn.example/demo-0.9-py3-none-any.whl' data-yanked="">demo-0.9</A>
</body></html>"#;
        let files = parse_html(page, &base);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename, "demo-1.0-py3-none-any.whl");
        assert_eq!(
            files[0].url.as_str(),
            "https://example.org/files/demo-1.0-py3-none-any.whl#sha256=ABC"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("abc"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(files[0].metadata_file, Some(Some("def".to_string())));
        assert!(!files[0].yanked);
        assert!(files[1].yanked);
        assert_eq!(files[1].metadata_file, None);
    }

    #[test]
    fn json_pages_read_pep_691_fields() {
        let base = Url::parse("https://example.org/simple/demo/").unwrap();
        let body = br#"{"meta":{"api-version":"1.1"},"name":"demo","files":[
 {"filename":"demo-1.0-py3-none-any.whl","url":"/f/demo-1.0-py3-none-any.whl","hashes":{"sha256":"aa"},
  "requires-python":">=3.8","yanked":"broken","core-metadata":{"sha256":"bb"},"upload-time":"2024-01-01T00:00:00Z","size":10},
 {"filename":"demo-1.1-py3-none-any.whl","url":"demo-1.1-py3-none-any.whl","hashes":{},"dist-info-metadata":true}]}"#;
        let files = parse_project_page(body, "application/vnd.pypi.simple.v1+json", &base).unwrap();
        assert_eq!(
            files[0].url.as_str(),
            "https://example.org/f/demo-1.0-py3-none-any.whl"
        );
        assert!(files[0].yanked);
        assert_eq!(files[0].metadata_file, Some(Some("bb".to_string())));
        assert_eq!(
            files[0].upload_time.as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            files[1].url.as_str(),
            "https://example.org/simple/demo/demo-1.1-py3-none-any.whl"
        );
        assert_eq!(files[1].metadata_file, Some(None));
        assert!(!files[1].yanked);
    }
}
