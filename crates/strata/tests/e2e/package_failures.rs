//! Builds that must fail, and fail cleanly: malicious wheels, corrupted downloads, a Lambda
//! size budget overrun; and the boto3 warning that must not fail.

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::{Malice, WheelBuilder, sha256_hex};

const LAYER: &str = "aws/layers/python-requirements-py312-x86_64.zip";

/// Points the lock's pin of `filename` at other bytes, as if the index had served them when
/// the lock was written: the build then trusts the hash and must catch the wheel itself.
fn repin(project: &Project, old: &[u8], new: &[u8]) {
    let lock = project.read("strata.lock");
    let old_hash = sha256_hex(old);
    assert!(lock.contains(&old_hash), "{lock}");
    let lock = lock.replace(&old_hash, &sha256_hex(new)).replace(
        &format!("size = {}\n", old.len()),
        &format!("size = {}\n", new.len()),
    );
    project.write("strata.lock", &lock);
}

#[test]
fn malicious_wheels_fail_naming_wheel_and_entry_and_leave_the_old_zip() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let benign = WheelBuilder::new("evil", "1.0");
    publish(&index, &[WheelBuilder::new("good", "1.0"), benign.clone()]);
    let project = layer_project(Resolver::Pip, &index, &["good==1.0", "evil==1.0"]);
    project.strata(&["package"]).assert_success();
    let good_zip = std::fs::read(project.out(LAYER)).unwrap();
    let filename = benign.filename();

    let cases: Vec<(Malice, &str)> = vec![
        (Malice::PathEscape, "../../escaped.py"),
        (Malice::AbsolutePath, "/tmp/absolute.py"),
        (Malice::SymlinkEntry, "evil/link"),
        (Malice::DuplicateName, "evil/__init__.py"),
        (Malice::CaseCollision, "EVIL/__INIT__.PY"),
        (Malice::BadRecordHash, "evil/__init__.py"),
        (Malice::NameMismatch, "evil-1.0.dist-info/METADATA"),
        (Malice::VersionMismatch, "evil-1.0.dist-info/METADATA"),
        (
            Malice::ZipBomb {
                declared_size: 100,
                actual_size: 4 << 20,
            },
            "evil/bomb.bin",
        ),
    ];
    let mut previous = benign.build();
    for (malice, named_entry) in cases {
        let evil = benign.clone().malicious(malice.clone());
        let bytes = evil.build();
        std::fs::write(wheels.path().join(&filename), &bytes).unwrap();
        repin(&project, &previous, &bytes);
        previous = bytes;

        let run = project.strata(&["package"]);
        run.assert_failure(1);
        assert!(
            run.stderr.contains(&filename) && run.stderr.contains(named_entry),
            "{malice:?}: names {filename} and {named_entry}:\n{}",
            run.stderr
        );
        assert!(
            std::fs::read(project.out(LAYER)).unwrap() == good_zip,
            "{malice:?}: the previous layer is untouched"
        );
        for dir in [project.path(), project.cache.path()] {
            assert_eq!(partial_files(dir), Vec::<String>::new(), "{malice:?}");
        }
    }
}

#[test]
fn corrupted_download_fails_naming_file_and_both_hashes_and_caches_nothing() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let wheel = WheelBuilder::new("fragile", "1.0");
    publish(&index, std::slice::from_ref(&wheel));
    let project = layer_project(Resolver::Pip, &index, &["fragile==1.0"]);
    project.strata(&["lock"]).assert_success();

    index.corrupt(&wheel.filename());
    let run = project.strata(&["package"]);
    run.assert_failure(1);
    let mut corrupted = wheel.build();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0xff;
    for needle in [
        wheel.filename(),
        sha256_hex(&wheel.build()),
        sha256_hex(&corrupted),
    ] {
        assert!(run.stderr.contains(&needle), "{needle}:\n{}", run.stderr);
    }
    let cached: Vec<String> = tree(project.cache.path())
        .into_keys()
        .filter(|path| path.contains("fragile") || path.contains(".partial"))
        .collect();
    assert_eq!(cached, Vec::<String>::new());
    assert!(!project.out(LAYER).exists());
    assert_eq!(partial_files(project.path()), Vec::<String>::new());
}

/// `count` files of `size` zero bytes: megabytes in the archive, hundreds once unzipped.
fn big_wheel(name: &str, count: usize, size: usize) -> WheelBuilder {
    let mut wheel = WheelBuilder::new(name, "1.0");
    for index in 0..count {
        wheel = wheel.file(&format!("{name}/blob{index}.bin"), vec![0u8; size]);
    }
    wheel
}

#[test]
fn function_over_lambda_size_budget_fails_listing_the_largest_distributions() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let mb = 1_000_000;
    publish(
        &index,
        &[
            big_wheel("hefty", 2, 80 * mb),
            big_wheel("bulky", 1, 110 * mb),
            WheelBuilder::new("tiny", "1.0"),
        ],
    );
    let project = layer_project(
        Resolver::Pip,
        &index,
        &["hefty==1.0", "bulky==1.0", "tiny==1.0"],
    );
    let run = project.strata(&["package"]);
    run.assert_failure(1);
    let stderr = &run.stderr;
    assert!(stderr.contains("`hello`"), "{stderr}");
    assert!(stderr.contains("262,144,000"), "{stderr}");
    let hefty = stderr.find("hefty 1.0 (160.0 MB)").expect(stderr);
    let bulky = stderr.find("bulky 1.0 (110.0 MB)").expect(stderr);
    assert!(hefty < bulky, "largest first: {stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");

    // Under the budget the same layer builds (sizes count real bytes, not headers).
    let project = layer_project(Resolver::Pip, &index, &["bulky==1.0", "tiny==1.0"]);
    project.strata(&["package"]).assert_success();
    let report = project.report();
    let layer = artifact(&report, LAYER);
    assert!(layer["unzipped_size"].as_u64().unwrap() > 110 * mb as u64);
    assert!(layer["zipped_size"].as_u64().unwrap() < 2 * mb as u64);
}

#[test]
fn bundling_boto3_for_lambda_warns_and_no_deploy_drops_it() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("boto3", "1.35.0").requires_dist("botocore==1.35.0"),
            WheelBuilder::new("botocore", "1.35.0"),
            WheelBuilder::new("requests", "2.0"),
        ],
    );
    let project = layer_project(Resolver::Pip, &index, &["boto3==1.35.0", "requests==2.0"]);
    let run = project.strata(&["package"]);
    run.assert_success();
    for package in ["boto3", "botocore"] {
        assert!(
            run.stderr
                .lines()
                .any(|line| line.starts_with("warning:")
                    && line.contains(&format!("bundles {package}"))),
            "{package}: {}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("noDeploy"), "{}", run.stderr);
    assert!(!run.stdout.contains("warning"), "warnings go to stderr");

    project.write(
        "serverless.yml",
        &format!(
            "{}    noDeploy:\n      - boto3\n      - botocore\n",
            serverless_yml("python3.12", "x86_64", true)
        ),
    );
    let run = project.strata(&["package"]);
    run.assert_success();
    assert!(!run.stderr.contains("bundles boto"), "{}", run.stderr);
    let layer = read_zip(&project.out(LAYER));
    assert!(
        names(&layer).iter().all(|name| !name.contains("boto")),
        "{:?}",
        names(&layer)
    );
    entry(&layer, "python/requests/__init__.py");
}

/// What verifying a wheel found is kept in the cache, which anything with write access to it
/// can edit: a record whose target is `../evil` must be verified afresh, never zipped.
#[test]
fn tampered_verification_record_never_reaches_a_zip() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(&index, &[WheelBuilder::new("good", "1.0")]);
    let cache = tempfile::tempdir().unwrap();
    let mut project = layer_project(Resolver::Pip, &index, &["good==1.0"]);
    project.env("STRATA_CACHE_DIR", cache.path().to_str().unwrap());
    project.strata(&["package"]).assert_success();
    let built = names(&read_zip(&project.out(LAYER)));
    assert!(
        built.contains(&"python/good/__init__.py".to_owned()),
        "{built:?}"
    );

    let mut records = Vec::new();
    for version in std::fs::read_dir(cache.path().join("verified")).unwrap() {
        for record in std::fs::read_dir(version.unwrap().path()).unwrap() {
            records.push(record.unwrap().path());
        }
    }
    assert_eq!(records.len(), 1, "{records:?}");
    let record = std::fs::read_to_string(&records[0]).unwrap();
    let tampered = record.replace(r#""target":"good/__init__.py""#, r#""target":"../evil""#);
    assert_ne!(tampered, record);
    std::fs::write(&records[0], &tampered).unwrap();
    // Without the zip and the build cache, the layer is assembled again from the record.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    std::fs::remove_dir_all(cache.path().join("artifacts")).unwrap();

    project.strata(&["package"]).assert_success();
    assert_eq!(names(&read_zip(&project.out(LAYER))), built);
    let rewritten = std::fs::read_to_string(&records[0]).unwrap();
    assert!(!rewritten.contains("../evil"), "{rewritten}");
}
