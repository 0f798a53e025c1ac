//! Runs the Azure contract fake (`strata_tests::azure_fake`) until stdin closes, for scripts
//! (the Azure deploy benchmark): prints `ARM=<url>` and `SCM=<url>` on its first two lines.

use std::io::{BufRead as _, Write as _};

fn main() {
    let fake = strata_tests::azure_fake::AzureFake::start();
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ARM={}\nSCM={}", fake.url(), fake.scm_url());
    let _ = stdout.flush();
    // Serve until the script closes our stdin.
    for _ in std::io::stdin().lock().lines() {}
    drop(fake);
}
