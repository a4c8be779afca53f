//! Ctrl-C (SIGINT), handled once for the whole process. An [`Interrupt`] is a
//! cloneable handle on a flag that says an interrupt arrived and on the
//! hooks to run when one does (a warehouse cancelling the jobs it has
//! running). [`Interrupt::install`] starts the one listener: on the first
//! SIGINT it sets the flag, runs the hooks in the order they were
//! registered, and ends the process with exit code 130, the only exit code
//! decided outside `lib::main` (the run cannot finish its work once it is
//! interrupted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;

/// The exit code after an interrupt: 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

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
    /// Ctrl-C. It returns once the listener is registered, so a Ctrl-C that
    /// follows is never missed. Should the listener fail to start, Ctrl-C
    /// keeps its default effect.
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

    /// What an interrupt does before the process ends: sets the flag, then
    /// runs every hook in the order they were registered.
    pub fn raise(&self) {
        self.shared.interrupted.store(true, Ordering::SeqCst);
        if let Ok(hooks) = self.shared.hooks.lock() {
            for hook in hooks.iter() {
                hook();
            }
        }
    }

    fn listen(&self) {
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
                let signalled = runtime.block_on(async {
                    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
                    // The first poll registers the handler; only then may
                    // `install` return.
                    let first =
                        std::future::poll_fn(|cx| Poll::Ready(ctrl_c.as_mut().poll(cx))).await;
                    let _ = ready.send(());
                    match first {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => ctrl_c.await,
                    }
                });
                // The hooks run outside the runtime: they may block on their own.
                drop(runtime);
                if signalled.is_ok() {
                    interrupt.raise();
                    std::process::exit(EXIT_INTERRUPTED);
                }
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
