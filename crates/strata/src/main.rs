//! The `strata` command line. The only crate that reads flags, prints, draws progress or picks
//! an exit code; everything it does is delegated to the library crates.

mod cli;
mod cloud_variables;
mod clouds;
mod commands;
mod error;
mod github;
mod interrupt;
mod logging;
mod printer;
mod progress;
mod project_lock;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::Context;
use crate::error::CliError;
use crate::printer::Printer;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout with exit 0, usage errors to stderr with 2.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    logging::init_logging(cli.global.verbose, cli.global.quiet);
    let env: std::collections::BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let printer = Printer::new(
        &cli.global,
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    )
    .with_github(
        github::GithubActions::from_env(cli.global.github, &env),
        cli.global.color,
    );
    let context = match Context::from_args(&cli.global, printer.clone()) {
        Ok(context) => context,
        Err(error) => {
            error.render(&printer);
            return ExitCode::from(error.exit_code());
        }
    };
    interrupt::install(&printer, &context.env);
    match commands::run(cli.command, &context) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.render(&printer);
            ExitCode::from(error.exit_code())
        }
    }
}

/// A panic is a bug in strata: say so, ask for a report, and exit 2 as docs/cli.md promises.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let error = CliError::internal("strata hit an internal bug (a panic)")
            .with_hint("please report it with the command you ran and the output above");
        #[expect(
            clippy::print_stderr,
            reason = "the panic hook runs outside the printer, which may be what panicked"
        )]
        {
            eprintln!("error: {}", error.message);
            for hint in &error.hints {
                eprintln!("hint: {hint}");
            }
        }
        std::process::exit(2);
    }));
}
