//! Runs the Cloud Functions v2 contract fake and the fake-gcs-server proxy until killed, for
//! `benches/gcp-deploy.sh`: prints the two variables that point strata at them, one a line.

use strata_tests::gcp_fake::FunctionsFake;
use strata_tests::gcs::{self, GcsProxy};

#[expect(
    clippy::print_stdout,
    reason = "the variables are this program's output"
)]
fn main() {
    let proxy = GcsProxy::start();
    let upload_bucket = format!("gcf-uploads-bench{:08x}", std::process::id());
    gcs::create_bucket(&upload_bucket);
    let fake = FunctionsFake::start(proxy.url(), &upload_bucket);
    println!("STORAGE_EMULATOR_HOST={}", proxy.host());
    println!(
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS={}/",
        fake.url()
    );
    loop {
        std::thread::park();
    }
}
