//! Entry point: parse the command line, run, exit with the code `run` returns.

fn main() {
    std::process::exit(build_unit_test_docker::run(std::env::args_os()));
}
