//! Builds a Lambda layer zip from wheel files and prints how long each phase took.
//!
//! `cargo run --release -p strata-archive --example build_layer -- OUT.zip WHEEL...`

#![expect(clippy::print_stdout, reason = "an example program prints its result")]

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use strata_archive::{ArchiveBuilder, ArchiveOptions, Excludes, WheelLimits, verify_wheel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args_os().skip(1).map(PathBuf::from);
    let out = arguments
        .next()
        .ok_or("usage: build_layer OUT.zip WHEEL...")?;
    let wheels: Vec<PathBuf> = arguments.collect();

    let start = Instant::now();
    let verified = wheels
        .par_iter()
        .map(|path| verify_wheel(path, &WheelLimits::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let verify_time = start.elapsed();

    let start = Instant::now();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    for wheel in &verified {
        builder.add_wheel(wheel, "python/", &Excludes::none())?;
    }
    let report = builder.write_to(&out)?;
    let write_time = start.elapsed();

    println!("verify: {verify_time:?}");
    println!("assemble: {write_time:?}");
    println!("{report}");
    Ok(())
}
