//! How a deferred task ends.

/// How a deferred task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task's future resolved to `ok`.
    Fulfilled,
    /// The task's future resolved to `err`, was closed without a value, or the
    /// instance running it failed. Carries the reason.
    Rejected(String),
    /// The deferred deadline passed before the task settled.
    TimedOut,
}
