//! Downloads into the content-addressed cache against a local index.

mod common;

use common::index_config;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use strata_provider::Hint as _;
use strata_python::{
    DownloadConfig, DownloadError, DownloadReporter, Downloader, EnvMap, HedgePolicy, NoReporter,
    PinnedDistribution, WheelCache,
};
use strata_tests::wheel::{WheelBuilder, sha256_hex};
use strata_tests::{LocalIndex, Stall};
use url::Url;

fn config(offline: bool) -> DownloadConfig {
    DownloadConfig {
        offline,
        backoff: Duration::from_millis(10),
        ..DownloadConfig::default()
    }
}

fn downloader(cache: &Path, index: &LocalIndex, offline: bool) -> Downloader {
    Downloader::new(
        WheelCache::new(cache),
        index_config(&index.url_with_credentials()),
        &EnvMap::new(),
        config(offline),
    )
    .unwrap()
}

fn pin_for(index: &LocalIndex, wheel: &WheelBuilder) -> PinnedDistribution {
    let bytes = wheel.build();
    let filename = wheel.filename();
    let mut pin = PinnedDistribution::new(
        filename.split('-').next().unwrap(),
        "1.0",
        &filename,
        &Url::parse(&index.file_url(&filename)).unwrap(),
        &sha256_hex(&bytes),
    );
    pin.size = Some(bytes.len() as u64);
    pin
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl DownloadReporter for Recorder {
    fn on_start(&self, name: &str, size: Option<u64>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("start {name} {size:?}"));
    }
    fn on_progress(&self, _name: &str, _bytes: u64) {}
    fn on_finish(&self, name: &str, cached: bool) {
        self.events
            .lock()
            .unwrap()
            .push(format!("finish {name} cached={cached}"));
    }
}

#[test]
fn downloads_verify_cache_and_work_offline() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let builders: Vec<WheelBuilder> = (0..12)
        .map(|i| {
            WheelBuilder::new(&format!("pkg{i}"), "1.0")
                .file(&format!("pkg{i}/big.bin"), vec![i as u8; 200_000])
        })
        .collect();
    for builder in &builders {
        builder.write_to(wheels.path()).unwrap();
    }
    let index = LocalIndex::start(wheels.path()).unwrap();
    let pins: Vec<PinnedDistribution> = builders.iter().map(|b| pin_for(&index, b)).collect();

    let recorder = Recorder::default();
    let paths = downloader(cache.path(), &index, false)
        .fetch_all(&pins, &recorder)
        .unwrap();
    for (path, builder) in paths.iter().zip(&builders) {
        assert_eq!(std::fs::read(path).unwrap(), builder.build());
        assert!(path.starts_with(cache.path().join("wheels/sha256")));
        assert!(path.ends_with(builder.filename()));
    }
    assert_eq!(
        recorder
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.ends_with("cached=false"))
            .count(),
        12
    );
    assert_eq!(index.requests().len(), 12);

    // Offline from the cache: no request at all.
    index.clear_requests();
    let recorder = Recorder::default();
    let again = downloader(cache.path(), &index, true)
        .fetch_all(&pins, &recorder)
        .unwrap();
    assert_eq!(again, paths);
    assert!(index.requests().is_empty());
    assert!(
        recorder
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e == "finish pkg0-1.0-py3-none-any.whl cached=true")
    );

    // Offline with a missing wheel: an error naming it, still no request.
    let extra = WheelBuilder::new("missing", "1.0");
    extra.write_to(wheels.path()).unwrap();
    let error = downloader(cache.path(), &index, true)
        .fetch(&pin_for(&index, &extra), &NoReporter)
        .unwrap_err();
    assert!(matches!(error, DownloadError::OfflineMissing { .. }));
    assert_eq!(
        error.to_string(),
        "missing-1.0-py3-none-any.whl is not in the cache and --offline forbids downloading it"
    );
    assert!(error.hint().unwrap().contains("without --offline"));
    assert!(index.requests().is_empty());

    // A corrupted cache entry is detected and replaced.
    std::fs::write(&paths[0], b"garbage").unwrap();
    let repaired = downloader(cache.path(), &index, false)
        .fetch(&pins[0], &NoReporter)
        .unwrap();
    assert_eq!(std::fs::read(repaired).unwrap(), builders[0].build());
}

#[test]
fn hash_mismatch_is_an_error_and_leaves_nothing_behind() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let builder = WheelBuilder::new("victim", "1.0").file("victim/data.bin", vec![7u8; 100_000]);
    builder.write_to(wheels.path()).unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth("alice", "pa55word")
        .start()
        .unwrap();
    index.corrupt(&builder.filename());
    let pin = pin_for(&index, &builder);
    let error = downloader(cache.path(), &index, false)
        .fetch(&pin, &NoReporter)
        .unwrap_err();
    let DownloadError::HashMismatch {
        filename,
        url,
        expected,
        actual,
    } = &error
    else {
        panic!("expected a hash mismatch, got {error:?}");
    };
    assert_eq!(filename, &builder.filename());
    assert_eq!(url, &index.file_url(&builder.filename()));
    assert_eq!(expected, &pin.sha256);
    assert_ne!(actual, &pin.sha256);
    assert_eq!(
        error.to_string(),
        format!(
            "sha256 mismatch for {} from {}: expected {}, got {actual}; the download was discarded",
            builder.filename(),
            index.file_url(&builder.filename()),
            pin.sha256,
        )
    );
    assert!(!format!("{error:?}").contains("pa55word"));
    // Neither the final file nor a partial one remains.
    assert_eq!(files_under(cache.path()), Vec::<PathBuf>::new());
}

#[test]
fn server_errors_are_retried_and_missing_credentials_fail_with_a_hint() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let builder = WheelBuilder::new("flaky", "1.0");
    builder.write_to(wheels.path()).unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth("bob", "hunter22")
        .start()
        .unwrap();
    index.fail_next(&builder.filename(), 2);
    let pin = pin_for(&index, &builder);
    let path = downloader(cache.path(), &index, false)
        .fetch(&pin, &NoReporter)
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), builder.build());
    let statuses: Vec<u16> = index.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let expected_auth = "Basic Ym9iOmh1bnRlcjIy"; // bob:hunter22
    assert!(
        index
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(expected_auth))
    );

    // Too many failures: a transport error after the configured attempts.
    let other = WheelBuilder::new("down", "1.0");
    other.write_to(wheels.path()).unwrap();
    index.fail_next(&other.filename(), 10);
    let error = downloader(cache.path(), &index, false)
        .fetch(&pin_for(&index, &other), &NoReporter)
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::Transport { attempts: 4, .. }),
        "{error:?}"
    );

    // No credentials at all: 401 with a hint, no retry.
    let anonymous = Downloader::new(
        WheelCache::new(cache.path().join("anon")),
        index_config(&index.url()),
        &EnvMap::new(),
        config(false),
    )
    .unwrap();
    index.clear_requests();
    let error = anonymous
        .fetch(&pin_for(&index, &other), &NoReporter)
        .unwrap_err();
    assert!(matches!(error, DownloadError::Status { status: 401, .. }));
    assert!(
        error
            .hint()
            .unwrap()
            .starts_with("check the index credentials")
    );
    assert_eq!(index.requests().len(), 1);
}

#[test]
fn concurrent_downloads_of_one_wheel_share_the_cache() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let builder = WheelBuilder::new("shared", "1.0").file("shared/blob.bin", vec![3u8; 2_000_000]);
    builder.write_to(wheels.path()).unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let pin = pin_for(&index, &builder);
    // Separate downloaders stand in for separate strata processes sharing one cache.
    let paths: Vec<PathBuf> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let pin = pin.clone();
                let index = &index;
                let cache = cache.path();
                scope.spawn(move || {
                    downloader(cache, index, false)
                        .fetch(&pin, &NoReporter)
                        .unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    assert!(paths.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(std::fs::read(&paths[0]).unwrap(), builder.build());
    let files = files_under(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn local_files_are_copied_and_hashed() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let builder = WheelBuilder::new("local", "1.0");
    let source = builder.write_to(wheels.path()).unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let url = Url::from_file_path(&source).unwrap();
    let pin = PinnedDistribution::new(
        "local",
        "1.0",
        &builder.filename(),
        &url,
        &sha256_hex(&builder.build()),
    );
    let loader = downloader(cache.path(), &index, false);
    let path = loader.fetch(&pin, &NoReporter).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), builder.build());
    assert!(index.requests().is_empty());

    let (unverified, sha256, size) = loader.fetch_unverified(&builder.filename(), &url).unwrap();
    assert_eq!(unverified, path);
    assert_eq!(sha256, pin.sha256);
    assert_eq!(size, builder.build().len() as u64);

    let mut wrong = pin.clone();
    wrong.sha256 = "0".repeat(64);
    let error = loader.fetch(&wrong, &NoReporter).unwrap_err();
    assert!(matches!(error, DownloadError::HashMismatch { .. }));
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1 that answers every request with
/// `head` and then whatever `body` writes, for misbehaving-server tests the index cannot play.
fn raw_server(
    head: &'static str,
    body: impl Fn(&mut std::net::TcpStream) + Send + Sync + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        // One connection per attempt; the client makes at most a few.
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { break };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            if stream.write_all(head.as_bytes()).is_ok() {
                body(&mut stream);
            }
        }
    });
    (
        format!("http://127.0.0.1:{port}/files/big-1.0-py3-none-any.whl"),
        handle,
    )
}

fn pin_at(url: &str, size: Option<u64>) -> PinnedDistribution {
    let mut pin = PinnedDistribution::new(
        "big",
        "1.0",
        "big-1.0-py3-none-any.whl",
        &Url::parse(url).unwrap(),
        &"a".repeat(64),
    );
    pin.size = size;
    pin
}

/// Regression: a download had no size bound; a server could fill the disk.
#[test]
fn downloads_stop_at_the_locked_size() {
    let cache = tempfile::tempdir().unwrap();
    // No Content-Length: the body ends when the server closes, after far more than locked.
    let (url, _server) = raw_server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", |stream| {
        use std::io::Write as _;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let downloader = Downloader::new(
        WheelCache::new(cache.path()),
        index_config("https://unused.example/simple/"),
        &EnvMap::new(),
        config(false),
    )
    .unwrap();
    let error = downloader
        .fetch(&pin_at(&url, Some(100 * 1024)), &NoReporter)
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::TooLarge { limit: 102_400, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("strata.lock"), "{error}");
    assert!(
        files_under(cache.path()).is_empty(),
        "{:?}",
        files_under(cache.path())
    );

    // Announced too big: refused before the body is read. Without a locked size, the cap.
    let (url, _server) = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
        |_| {},
    );
    let capped = Downloader::new(
        WheelCache::new(cache.path()),
        index_config("https://unused.example/simple/"),
        &EnvMap::new(),
        DownloadConfig {
            max_size: 4096,
            ..config(false)
        },
    )
    .unwrap();
    let error = capped.fetch(&pin_at(&url, None), &NoReporter).unwrap_err();
    assert!(
        matches!(error, DownloadError::TooLarge { limit: 4096, .. }),
        "{error:?}"
    );
}

/// Regression: a server trickling bytes just faster than the read timeout held a build for
/// ever; every download now has a total time bound.
#[test]
fn a_trickling_download_is_abandoned_at_its_deadline() {
    let cache = tempfile::tempdir().unwrap();
    let (url, _server) = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
        |stream| {
            use std::io::Write as _;
            // Bounded, so the test also ends on code without a deadline (and then fails).
            for _ in 0..60 {
                if stream.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        },
    );
    let downloader = Downloader::new(
        WheelCache::new(cache.path()),
        index_config("https://unused.example/simple/"),
        &EnvMap::new(),
        DownloadConfig {
            deadline: Duration::from_millis(500),
            ..config(false)
        },
    )
    .unwrap();
    let error = downloader
        .fetch(&pin_at(&url, None), &NoReporter)
        .unwrap_err();
    assert!(matches!(error, DownloadError::TimedOut { .. }), "{error:?}");
    assert!(
        error.hint().unwrap().starts_with("check the network"),
        "{error}"
    );
    assert!(
        files_under(cache.path())
            .iter()
            .all(|path| !path.ends_with("big-1.0-py3-none-any.whl"))
    );
}

/// Bytes that deflate cannot shrink, so a wheel holding them is as big as they are.
fn incompressible(length: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn hedging_downloader(cache: &Path, index: &LocalIndex) -> Downloader {
    Downloader::new(
        WheelCache::new(cache),
        index_config(&index.url()),
        &EnvMap::new(),
        DownloadConfig {
            hedge: HedgePolicy {
                stall_after: Some(Duration::from_millis(200)),
                max_hedges: 1,
            },
            ..config(false)
        },
    )
    .unwrap()
}

/// A wheel whose first request stops halfway through its body (headers and half the bytes
/// arrived, then nothing): a second copy of the request is made, its bytes are the ones
/// kept, verified against the locked sha256, and the download returns while the first copy
/// still hangs. Both copies corrupted: the hash check refuses the winner as it would a lone
/// download.
#[test]
fn a_download_stalled_mid_body_is_hedged_and_verified() {
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let wheel =
        WheelBuilder::new("stalls", "1.0").file("stalls/data.bin", incompressible(64 * 1024));
    wheel.write_to(wheels.path()).unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let pin = pin_for(&index, &wheel);
    let path = format!("/files/{}", wheel.filename());
    index.stall_next(&path, 1, Stall::Body);
    let recorder = Recorder::default();
    let fetched = hedging_downloader(cache.path(), &index)
        .fetch(&pin, &recorder)
        .unwrap();
    assert_eq!(std::fs::read(&fetched).unwrap(), wheel.build());
    let asked: Vec<u16> = index
        .requests()
        .iter()
        .filter(|request| request.path == path)
        .map(|request| request.status)
        .collect();
    assert_eq!(asked, [200, 200], "the request and one copy of it");
    let events = recorder.events.lock().unwrap().clone();
    assert!(
        events.iter().any(|event| event.ends_with("cached=false")),
        "{events:?}"
    );

    let other_cache = tempfile::tempdir().unwrap();
    index.clear_requests();
    index.corrupt(&wheel.filename());
    index.stall_next(&path, 1, Stall::Body);
    let error = hedging_downloader(other_cache.path(), &index)
        .fetch(&pin, &NoReporter)
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::HashMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(
        index
            .requests()
            .iter()
            .filter(|request| request.path == path)
            .count(),
        2
    );
    assert!(
        files_under(other_cache.path())
            .iter()
            .all(|file| !file.ends_with(wheel.filename())),
        "{:?}",
        files_under(other_cache.path())
    );
}
