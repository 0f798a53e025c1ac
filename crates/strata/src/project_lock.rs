//! One strata process at a time per project: an advisory lock on `.strata/lock`, held by
//! `package`, `lock`, `plan` and `deploy` while they write `.strata/` or `strata.lock` (and, for
//! a deploy, while it uploads the zips it built), so a second process waits instead of
//! losing the first one's lock update or reporting its zips.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows): it is
//! released when the process ends, however it ends, so a crashed run never leaves the
//! project locked.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::WaitArgs;
use crate::error::CliError;
use crate::printer::Printer;

/// The lock file, relative to the project directory.
pub const LOCK_PATH: &str = ".strata/lock";

/// How often a waiting process tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Held for as long as the command works on the project; dropping it releases the lock.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

/// Takes the project's lock, waiting (with one message on stderr naming the holder) up to
/// `--lock-timeout` seconds, or not at all with `--no-wait`.
pub fn acquire(
    printer: &Printer,
    project_dir: &Path,
    wait: &WaitArgs,
) -> Result<ProjectLock, CliError> {
    let path = project_dir.join(LOCK_PATH);
    let open_error = |error: std::io::Error| {
        CliError::from_source(&error).with_hint(format!(
            "strata keeps its lock in {}; check that the directory is writable",
            path.display()
        ))
    };
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir).map_err(&open_error)?;
    }
    let mut file = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(&open_error)?
        .into_parts()
        .0;
    let started = Instant::now();
    let timeout = Duration::from_secs(wait.lock_timeout);
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(error)) => return Err(open_error(error)),
        }
        let holder = holder(&mut file);
        if wait.no_wait || started.elapsed() >= timeout {
            return Err(busy_error(&path, &holder, wait));
        }
        if !told {
            told = true;
            printer.warning(&format!(
                "waiting for {holder}, which is using this project ({}); up to {}s",
                path.display(),
                wait.lock_timeout
            ));
        }
        std::thread::sleep(POLL);
    }
    record_holder(&mut file);
    Ok(ProjectLock { _file: file })
}

fn busy_error(path: &Path, holder: &str, wait: &WaitArgs) -> CliError {
    let message = if wait.no_wait {
        format!("{holder} is using this project ({})", path.display())
    } else {
        format!(
            "{holder} is still using this project ({}) after {}s",
            path.display(),
            wait.lock_timeout
        )
    };
    CliError::input(message)
        .with_hint("let it finish, or stop it, then run this command again")
        .with_hint("`--lock-timeout SECONDS` waits longer; `--no-wait` fails at once instead")
}

/// Who holds the lock, as it wrote itself into the file (`strata (pid 123, strata deploy)`).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .rewind()
        .and_then(|()| file.take(512).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => "another strata process".to_owned(),
    }
}

/// Writes who holds the lock, for the message a waiting process shows. Best effort: the
/// lock itself is what excludes, not the text.
fn record_holder(file: &mut File) {
    let command: Vec<String> = std::env::args()
        .take(3)
        .map(|argument| {
            Path::new(&argument)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .filter(|_| argument.contains(std::path::MAIN_SEPARATOR))
                .unwrap_or(argument)
        })
        .collect();
    let text = format!(
        "strata (pid {}, `{}`)\n",
        std::process::id(),
        command.join(" ")
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(text.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer() -> Printer {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from(["strata", "--quiet", "validate"]);
        Printer::new(&cli.global, true)
    }

    fn wait(no_wait: bool, lock_timeout: u64) -> WaitArgs {
        WaitArgs {
            no_wait,
            lock_timeout,
        }
    }

    #[test]
    fn a_second_holder_fails_with_no_wait_and_after_its_timeout_naming_the_first() {
        let project = tempfile::tempdir().unwrap();
        let first = acquire(&printer(), project.path(), &wait(false, 0)).unwrap();

        let error = acquire(&printer(), project.path(), &wait(true, 600)).unwrap_err();
        assert!(
            error
                .message
                .contains(&format!("pid {}", std::process::id())),
            "{}",
            error.message
        );
        assert!(error.hints.iter().any(|hint| hint.contains("--no-wait")));

        let error = acquire(&printer(), project.path(), &wait(false, 0)).unwrap_err();
        assert!(error.message.contains("still using"), "{}", error.message);

        drop(first);
        acquire(&printer(), project.path(), &wait(true, 0)).expect("free again");
    }
}
