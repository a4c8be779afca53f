use std::process::ExitCode;

fn main() -> ExitCode {
    sb::main(std::env::args_os())
}
