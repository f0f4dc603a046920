//! Stopping children: the [`CancelToken`] that stops every registered
//! process group (TERM, then KILL after [`GRACE`]), the guards that stop a
//! child's group on every return ([`Registered`], [`Reaper`]), and the
//! SIGINT/SIGTERM handling that cancels the process-wide token
//! ([`interrupted`]).
//!
//! Owns: which groups are running and how they are stopped. Must not:
//! start a child (`super`), or print.

use std::collections::HashSet;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crossbeam::channel;
use rustix::process::{kill_process_group, Pid, Signal};

/// How long a stopped child's group has between TERM and KILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// Exit status of a run ended by SIGINT or SIGTERM.
pub const INTERRUPTED: i32 = 130;

/// A shareable "stop now": cancelling sets the flag and stops the process
/// groups of every child registered with it. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Process group ids of the running children.
    groups: Mutex<HashSet<i32>>,
    /// Tokens made with [`CancelToken::child`]: cancelled with this one.
    children: Mutex<Vec<std::sync::Weak<Inner>>>,
}

impl CancelToken {
    /// A fresh, unset token.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that is cancelled when this one is, and can also be
    /// cancelled alone: one part of the run (a build whose revisions could
    /// not be looked up) stops without the whole process counting as
    /// interrupted.
    pub fn child(&self) -> Self {
        let child = Self::new();
        self.children().push(Arc::downgrade(&child.0));
        // Checked after registering: a `cancel` racing with this call
        // either sees the child or has set the flag read here.
        if self.is_cancelled() {
            child.cancel();
        }
        child
    }

    fn children(&self) -> std::sync::MutexGuard<'_, Vec<std::sync::Weak<Inner>>> {
        self.0
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live children, dropping the references to those gone.
    fn live_children(&self) -> Vec<CancelToken> {
        let mut children = self.children();
        children.retain(|c| c.strong_count() > 0);
        children
            .iter()
            .filter_map(|c| c.upgrade())
            .map(CancelToken)
            .collect()
    }

    /// Sets the token (and its children's): TERM to every registered group
    /// now, KILL to those still registered after [`GRACE`].
    pub fn cancel(&self) {
        if self.0.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        for child in self.live_children() {
            child.cancel();
        }
        self.signal_all(Signal::TERM);
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("cancel-grace".to_owned())
            .spawn(move || {
                std::thread::sleep(GRACE);
                me.signal_all(Signal::KILL);
            });
    }

    /// Whether [`cancel`](Self::cancel) was called (or a signal arrived).
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Sends `sig` to every registered group, its children's too.
    pub fn signal_all(&self, sig: Signal) {
        {
            let groups = self.0.groups.lock().unwrap_or_else(PoisonError::into_inner);
            for &pg in groups.iter() {
                if let Some(pid) = Pid::from_raw(pg) {
                    let _ = kill_process_group(pid, sig);
                }
            }
        }
        for child in self.live_children() {
            child.signal_all(sig);
        }
    }

    /// Registers `child` (a process group leader) until the guard drops.
    /// A child started just as the token was set is stopped at once.
    pub fn register(&self, child: &Child) -> Registered {
        let pg = Pid::from_child(child).as_raw_nonzero().get();
        self.0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pg);
        if self.is_cancelled() {
            if let Some(pid) = Pid::from_raw(pg) {
                let _ = kill_process_group(pid, Signal::TERM);
            }
        }
        Registered {
            token: self.clone(),
            pg,
        }
    }
}

/// A registered child's group; unregistered on drop.
#[derive(Debug)]
pub struct Registered {
    token: CancelToken,
    pg: i32,
}

impl Registered {
    /// Sends `sig` to the child's whole group.
    pub fn signal(&self, sig: Signal) {
        // Under the lock: a group is never signalled after it was
        // unregistered (and its id maybe reused).
        let groups = self
            .token
            .0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if groups.contains(&self.pg) {
            if let Some(pid) = Pid::from_raw(self.pg) {
                let _ = kill_process_group(pid, sig);
            }
        }
    }

    /// TERM to the group, KILL after [`GRACE`] unless `exited` says the
    /// child is gone by then.
    pub fn stop(&self, exited: &channel::Receiver<()>) {
        self.signal(Signal::TERM);
        if exited.recv_timeout(GRACE).is_err() {
            self.signal(Signal::KILL);
        }
    }
}

/// A registered child that has a waiter: on drop (every return, and a
/// panic) its group is killed and the drop waits, up to [`GRACE`], until the
/// child is reaped.
#[derive(Debug)]
pub struct Reaper {
    pub registered: Registered,
    pub exited: channel::Receiver<()>,
}

impl Reaper {
    /// TERM to the group, KILL after [`GRACE`] unless it exited.
    pub fn stop(&self) {
        self.registered.stop(&self.exited);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.registered.signal(Signal::KILL);
        let _ = self.exited.recv_timeout(GRACE);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // Whatever the child left in its group goes with it.
        self.signal(Signal::KILL);
        self.token
            .0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.pg);
    }
}

/// The process-wide token that SIGINT and SIGTERM cancel.
pub fn interrupted() -> &'static CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(CancelToken::new)
}

/// Makes SIGINT and SIGTERM cancel [`interrupted`] (stopping every
/// registered child) instead of killing this process, and call `on_first`
/// (work that waits on no child stops through it: template rendering); a
/// second signal kills the children's groups and exits with 130 at once.
/// Call once.
pub fn install_signal_handlers(on_first: fn()) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for _ in signals.forever() {
                let token = interrupted();
                if token.is_cancelled() {
                    token.signal_all(Signal::KILL);
                    // A second signal: the children are killed, and nothing
                    // else may run (README, "Interruption").
                    #[allow(clippy::disallowed_methods)]
                    std::process::exit(INTERRUPTED);
                }
                on_first();
                token.cancel();
            }
        })?;
    Ok(())
}
