//! Source zips in Cloud Storage: content-addressed uploads to the user's bucket through the
//! storage client (single-shot or resumable, checksums verified), the JSON API calls that
//! client leaves to gRPC (object metadata, listing, deleting), and the signed-URL upload of
//! `generateUploadUrl`.

use google_cloud_auth::credentials::CacheableResource;
use google_cloud_functions_v2::model::StorageSource;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_provider::Secret;

use crate::client::Clients;
use crate::error::CallError;

/// Cloud Functions' limit on an uploaded source zip.
pub const MAX_SOURCE_BYTES: u64 = 100 * 1000 * 1000;

/// Where strata keeps the sources of one service and stage in the bucket.
pub fn stage_prefix(service: &str, stage: &str) -> String {
    format!("strata/{service}/{stage}/")
}

/// The content-addressed object name of a function's source.
pub fn object_name(service: &str, stage: &str, function_id: &str, sha256_hex: &str) -> String {
    format!(
        "{}{function_id}/{sha256_hex}.zip",
        stage_prefix(service, stage)
    )
}

/// What a path segment or query value keeps unescaped (RFC 3986 unreserved characters).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn percent(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

async fn auth_headers(clients: &Clients) -> Result<http::HeaderMap, CallError> {
    match clients
        .storage_credentials
        .headers(http::Extensions::new())
        .await
    {
        Ok(CacheableResource::New { data, .. }) => Ok(data),
        Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
        Err(error) => Err(CallError {
            authentication: true,
            ..CallError::new(None, None, crate::error::error_chain(&error))
        }),
    }
}

/// Sends a JSON API request and reads the answer, turning an error status into a
/// [`CallError`] with Google's message.
async fn json_call(
    clients: &Clients,
    method: reqwest::Method,
    path_and_query: &str,
) -> Result<Option<serde_json::Value>, CallError> {
    let url = format!("{}{path_and_query}", clients.storage_url);
    let response = clients
        .http
        .request(method, url)
        .headers(auth_headers(clients).await?)
        .send()
        .await
        .map_err(|error| CallError::transport(crate::error::error_chain(&error)))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|error| CallError::transport(crate::error::error_chain(&error)))?;
    if status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&status) {
        return Err(status_error(status, &body));
    }
    if body.is_empty() {
        return Ok(Some(serde_json::Value::Null));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|error| CallError::new(Some(status), None, error.to_string()))
}

/// Google's JSON error document (`{"error": {"code", "message", "status"}}`) as a
/// [`CallError`].
fn status_error(status: u16, body: &[u8]) -> CallError {
    let document: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &document["error"];
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    CallError::new(Some(status), error["status"].as_str(), message)
}

/// The size of `bucket/name`, or `None` when there is no such object.
pub async fn object_size(
    clients: &Clients,
    bucket: &str,
    name: &str,
) -> Result<Option<u64>, CallError> {
    let path = format!("/storage/v1/b/{}/o/{}", percent(bucket), percent(name));
    let document = json_call(clients, reqwest::Method::GET, &path).await?;
    Ok(document.map(|document| {
        document["size"]
            .as_str()
            .and_then(|size| size.parse().ok())
            .unwrap_or_default()
    }))
}

/// Names of the objects under `prefix`, every page.
pub async fn list_objects(
    clients: &Clients,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, CallError> {
    let mut names = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut path = format!(
            "/storage/v1/b/{}/o?prefix={}",
            percent(bucket),
            percent(prefix)
        );
        if let Some(token) = &page_token {
            path.push_str(&format!("&pageToken={}", percent(token)));
        }
        let Some(document) = json_call(clients, reqwest::Method::GET, &path).await? else {
            return Ok(names);
        };
        if let Some(items) = document["items"].as_array() {
            names.extend(
                items
                    .iter()
                    .filter_map(|item| item["name"].as_str().map(str::to_owned)),
            );
        }
        match document["nextPageToken"].as_str() {
            Some(token) if !token.is_empty() => page_token = Some(token.to_owned()),
            _ => return Ok(names),
        }
    }
}

pub async fn delete_object(clients: &Clients, bucket: &str, name: &str) -> Result<(), CallError> {
    let path = format!("/storage/v1/b/{}/o/{}", percent(bucket), percent(name));
    json_call(clients, reqwest::Method::DELETE, &path).await?;
    Ok(())
}

/// Uploads `zip` as `bucket/name` unless an object of that name and size is there already
/// (the name is the zip's sha256). Returns whether it uploaded.
pub async fn upload_to_bucket(
    clients: &Clients,
    bucket: &str,
    name: &str,
    zip: bytes::Bytes,
) -> Result<bool, CallError> {
    if object_size(clients, bucket, name).await? == Some(zip.len() as u64) {
        return Ok(false);
    }
    // The CRC32C goes up front, in the object's metadata, rather than in a trailing part: the
    // zip is in memory already, and servers other than Google's (fake-gcs-server) store a
    // trailing part as part of the object. Google still checks it against what arrives.
    let crc32c = crc32c::crc32c(&zip);
    clients
        .storage
        .write_object(format!("projects/_/buckets/{bucket}"), name, zip)
        .set_content_type("application/zip")
        .with_known_crc32c(crc32c)
        .send_unbuffered()
        .await
        .map_err(CallError::from)?;
    Ok(true)
}

/// PUTs `zip` to a signed upload URL. No Authorization header: the URL carries the
/// identity, and a token of our own would make Google refuse the upload. The URL never
/// reaches an error message.
pub async fn upload_to_signed_url(
    clients: &Clients,
    url: &Secret,
    zip: bytes::Bytes,
) -> Result<(), CallError> {
    let response = clients
        .http
        .put(url.expose())
        .header("content-type", "application/zip")
        .body(zip)
        .send()
        .await
        .map_err(|error| CallError::transport(redacted_transport(error)))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    Err(status_error(status, &body))
}

/// A transport error of the signed-URL PUT, without the URL (and its signature) in it.
fn redacted_transport(error: reqwest::Error) -> String {
    crate::error::error_chain(&error.without_url())
}

/// The storage source a function points at.
pub fn storage_source(bucket: &str, object: &str, generation: i64) -> StorageSource {
    let mut source = StorageSource::default();
    source.bucket = bucket.to_owned();
    source.object = object.to_owned();
    source.generation = generation;
    source
}
