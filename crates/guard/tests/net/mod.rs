#![allow(dead_code)]
//! A guard running on loopback sockets for the network tests: started from a configuration file, its control
//! handle, waiting on its status with a deadline, and a stop that waits for it to end.

use std::path::Path;
use std::time::Duration;

use guard::{Guard, GuardHandle, GuardStatus};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a network test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A started guard and what stops it.
pub struct Live {
    pub handle: GuardHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Live {
    /// Starts the guard of this configuration file and runs it until [`Live::stop`].
    pub async fn start(config: &Path) -> Live {
        let guard = Guard::start(config).await.unwrap();
        let handle = guard.handle();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(guard.run(async {
            let _ = stop_rx.await;
        }));
        Live {
            handle,
            stop: Some(stop),
            task,
        }
    }

    pub async fn status(&self) -> GuardStatus {
        self.handle.status().await.expect("the guard is running")
    }

    /// Waits until the guard's status satisfies `ok` (commands are served between batches of messages).
    pub async fn wait_status(&self, what: &str, ok: impl Fn(&GuardStatus) -> bool) -> GuardStatus {
        let deadline = Instant::now() + DEADLINE;
        let mut every = tokio::time::interval(Duration::from_millis(10));
        loop {
            let s = self.status().await;
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: status is {s:?}");
            every.tick().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(DEADLINE, &mut self.task).await;
    }
}
