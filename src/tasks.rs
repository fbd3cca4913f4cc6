//! Every task the hub runs has an owner: a tracker the shutdown waits for, under one root
//! cancellation token, each task inside a span that names what it serves (tenant, server,
//! session). Knows nothing of MCP.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// A handle to the hub's tasks: cheap to clone, shared by everything that spawns.
#[derive(Clone, Debug)]
pub struct Tasks {
    tracker: TaskTracker,
    root: CancellationToken,
}

impl Tasks {
    pub fn new(tracker: TaskTracker, root: CancellationToken) -> Self {
        Self { tracker, root }
    }

    /// Runs `task` in the tracker, inside `span`.
    pub fn spawn<F>(&self, span: tracing::Span, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task.instrument(span));
    }

    /// The token every task stops with (the hub's shutdown).
    pub fn root(&self) -> &CancellationToken {
        &self.root
    }

    /// A token that stops with the root, or on its own.
    pub fn child_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}
