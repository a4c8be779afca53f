//! Ctrl-C (SIGINT) and SIGTERM, handled once for the whole process. An
//! [`Interrupt`] is a cloneable handle on a flag that says an interrupt
//! arrived and on the hooks to run when one does (a warehouse cancelling its
//! running jobs, DuckDB interrupting its running statements).
//! [`Interrupt::install`] starts the one listener. On the first signal the
//! run stops gracefully: [`requested`] turns true (the scheduler starts no
//! new node), the hooks run, then [`cancelled`] turns true (waits on
//! cancelled work give up); the command then finishes as a failed run would,
//! writing `run_results.json` and its summary, and `lib::main` exits with
//! 128 + the signal (130, 143). A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The exit code after Ctrl-C: 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// SIGINT and SIGTERM, as their numbers.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// The signal that asked the process to stop (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The hooks of that signal have run.
static CANCELLED: AtomicBool = AtomicBool::new(false);

/// The signal (2 for SIGINT, 15 for SIGTERM) that asked the process to
/// stop, once one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Whether the running work was told to stop (the hooks ran): a wait on a
/// warehouse job may give up.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// The exit code after `signal`: 128 + its number.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// The signal's name, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        _ => "SIGINT (Ctrl-C)",
    }
}

type Hook = Box<dyn Fn() + Send + Sync>;

/// A handle on the process's interrupt: its flag and its hooks.
#[derive(Clone, Default)]
pub struct Interrupt {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    interrupted: AtomicBool,
    hooks: Mutex<Vec<Hook>>,
}

impl Interrupt {
    /// A handle no signal reaches, until something calls [`Interrupt::raise`]
    /// (for tests and for adapters opened outside a command).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide handle, whose listener starts on the first call: a
    /// thread of its own with a small current-thread runtime waiting for
    /// SIGINT or SIGTERM. It returns once the listener is registered, so a
    /// signal that follows is never missed. Should the listener fail to
    /// start, the signals keep their default effect.
    pub fn install() -> Self {
        static PROCESS: OnceLock<Interrupt> = OnceLock::new();
        PROCESS
            .get_or_init(|| {
                let interrupt = Self::new();
                interrupt.listen();
                interrupt
            })
            .clone()
    }

    /// Whether an interrupt arrived.
    pub fn is_interrupted(&self) -> bool {
        self.shared.interrupted.load(Ordering::SeqCst)
    }

    /// Registers `hook`, run when an interrupt arrives, on the listener's
    /// thread and outside any async runtime (so it may block on its own).
    pub fn on_interrupt(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.shared.hooks.lock() {
            hooks.push(Box::new(hook));
        }
    }

    /// What an interrupt does: sets the flag, then runs every hook in the
    /// order they were registered.
    pub fn raise(&self) {
        self.shared.interrupted.store(true, Ordering::SeqCst);
        if let Ok(hooks) = self.shared.hooks.lock() {
            for hook in hooks.iter() {
                hook();
            }
        }
    }

    fn listen(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (ready, registered) = std::sync::mpsc::channel();
        let interrupt = self.clone();
        let listener = std::thread::Builder::new()
            .name("sb-interrupt".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = ready.send(());
                    return;
                };
                // Registering the streams replaces the signals' default
                // effect; only then may `install` return.
                let streams = runtime.block_on(async {
                    Some((
                        signal(SignalKind::interrupt()).ok()?,
                        signal(SignalKind::terminate()).ok()?,
                    ))
                });
                let _ = ready.send(());
                let Some((mut int, mut term)) = streams else {
                    return;
                };
                let mut next = || {
                    runtime.block_on(async {
                        tokio::select! {
                            _ = int.recv() => SIGINT,
                            _ = term.recv() => SIGTERM,
                        }
                    })
                };
                let first = next();
                SIGNAL.store(first, Ordering::SeqCst);
                // The hooks run on a thread of their own, outside the
                // runtime (they may block, a cancel request may hang), so a
                // second signal is heard meanwhile.
                let cancelling =
                    std::thread::Builder::new()
                        .name("sb-cancel".into())
                        .spawn(move || {
                            interrupt.raise();
                            CANCELLED.store(true, Ordering::SeqCst);
                        });
                if cancelling.is_err() {
                    CANCELLED.store(true, Ordering::SeqCst);
                }
                let second = next();
                std::process::exit(128 + second);
            });
        if listener.is_ok() {
            let _ = registered.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_sets_the_flag_and_runs_the_hooks_in_order() {
        let interrupt = Interrupt::new();
        let ran = Arc::new(Mutex::new(Vec::new()));
        for name in ["first", "second"] {
            let ran = Arc::clone(&ran);
            interrupt.on_interrupt(move || ran.lock().expect("log").push(name));
        }
        let clone = interrupt.clone();
        assert!(!clone.is_interrupted());
        assert!(ran.lock().expect("log").is_empty());
        interrupt.raise();
        assert!(clone.is_interrupted());
        assert_eq!(*ran.lock().expect("log"), ["first", "second"]);
    }
}
