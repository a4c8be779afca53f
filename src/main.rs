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
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returns freed pages to the OS after 2 ms instead of mimalloc's 10 ms: a
/// 10,000-model compile then peaks at 172 MB instead of 173-197 MB, with the
/// same ~1,400 `madvise` calls. A delay of 0 made 58,000 of them, each a TLB
/// shootdown across threads, for no smaller peak. `MIMALLOC_PURGE_DELAY` in
/// the environment, which mimalloc reads itself, takes precedence.
#[allow(unsafe_code)]
fn return_freed_memory_soon() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a process-wide allocator option by value; mimalloc
    // documents options as changeable at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 2) };
}

fn main() -> ExitCode {
    return_freed_memory_soon();
    sb::main(std::env::args_os())
}
