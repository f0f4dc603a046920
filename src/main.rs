//! Entry point: parse the command line, run, exit with the code `run` returns.

fn main() {
    let code = build_unit_test_docker::run(std::env::args_os());
    // Everything `run` owns has been dropped: its report, its children.
    #[allow(clippy::disallowed_methods)]
    std::process::exit(code);
}
