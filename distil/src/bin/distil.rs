//! The `distil` command: see `distil --help` and `distil::cli`.

fn main() -> std::process::ExitCode {
    distil::cli::main()
}
