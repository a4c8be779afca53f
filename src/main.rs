use std::process::ExitCode;

/// mimalloc serves every allocation in the process: Rust's through this
/// global allocator and DuckDB's C++ ones through the `override` feature,
/// which replaces `malloc` and `free`. DuckDB allocates and frees many small
/// objects per statement (plans, expressions, catalog entries); glibc's
/// allocator took about a sixth of `sb run`'s CPU time on a 1,000-model project.
///
/// mimalloc is built without transparent huge pages (`no_thp`): zeroing 2 MiB
/// pages for a short-lived process cost more than it saved. A 10,000-model
/// compile peaked at 187 MB with them and 170 MB without, and a seed of
/// 10 million events at 428 MB against 364 MB, in less time.
///
/// Freed pages go back to the OS after mimalloc's default delay (10 ms).
/// Returning them at once (delay 0) kept a 10,000-model compile 2 MB smaller
/// but made 58,000 `madvise` calls, each a TLB shootdown across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sb::main(std::env::args_os())
}
