//! How urgently a read is answered, handed from the API's read gate to the backend
//! without a parameter on every query method: the gate runs a request's handler in a
//! [`ReadPriority::scope`], and a backend asks [`ReadPriority::current`] when it starts
//! a read.
//!
//! A tenant that keeps several reads in flight at once (an analyst's flood of searches, a
//! script, an export) has its reads answered at [`ReadPriority::Background`], so that the
//! CPU goes first to the tenants asking one thing at a time: on a machine with few cores a
//! heavy query cannot be paused, but its threads can yield. When nothing else runs, a
//! background read runs as fast as any other.

use std::future::Future;

/// How urgently a read is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadPriority {
    /// A person waits for it.
    #[default]
    Interactive,
    /// Bulk or flooding work: it yields the CPU to interactive reads.
    Background,
}

tokio::task_local! {
    static PRIORITY: ReadPriority;
}

impl ReadPriority {
    /// Runs `f` with reads started in it (in this task) at priority `self`.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        PRIORITY.scope(self, f).await
    }

    /// The priority of reads started now: the innermost [`ReadPriority::scope`] of the
    /// current task, [`ReadPriority::Interactive`] outside any.
    pub fn current() -> ReadPriority {
        PRIORITY.try_with(|p| *p).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::ReadPriority;

    #[tokio::test]
    async fn scopes_nest_and_end() {
        assert_eq!(ReadPriority::current(), ReadPriority::Interactive);
        ReadPriority::Background
            .scope(async {
                assert_eq!(ReadPriority::current(), ReadPriority::Background);
                ReadPriority::Interactive
                    .scope(async { assert_eq!(ReadPriority::current(), ReadPriority::Interactive) })
                    .await;
                assert_eq!(ReadPriority::current(), ReadPriority::Background);
            })
            .await;
        assert_eq!(ReadPriority::current(), ReadPriority::Interactive);
    }
}
