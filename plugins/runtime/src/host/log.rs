use std::sync::Arc;

use super::HostState;
use crate::bindings::log;

/// Lines beyond this many per call are dropped (one notice says so): a chatty or looping task
/// must not fill the controller's logs.
const MAX_LINES_PER_CALL: usize = 10_000;
const MAX_MESSAGE_BYTES: usize = 8 << 10;
const PANIC_PREFIX: &str = "task panicked:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// Where a task's log lines go: the CLI prints them, the controller logs them and makes Events.
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(&LogLine) + Send + Sync>);

impl LogSink {
    pub fn new(f: impl Fn(&LogLine) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Lines become `tracing` events with target `task`.
    pub fn tracing() -> Self {
        Self::new(|line| {
            let fields = line
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            match line.level {
                LogLevel::Trace => tracing::trace!(target: "task", %fields, "{}", line.message),
                LogLevel::Debug => tracing::debug!(target: "task", %fields, "{}", line.message),
                LogLevel::Info => tracing::info!(target: "task", %fields, "{}", line.message),
                LogLevel::Warn => tracing::warn!(target: "task", %fields, "{}", line.message),
                LogLevel::Error => tracing::error!(target: "task", %fields, "{}", line.message),
            }
        })
    }

    pub fn emit(&self, line: &LogLine) {
        (self.0)(line)
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        if level == LogLevel::Error
            && let Some(panic) = message.strip_prefix(PANIC_PREFIX)
        {
            self.panic_message = Some(truncate(panic.trim()).to_owned());
        }
        self.log_lines += 1;
        if self.log_lines > MAX_LINES_PER_CALL {
            if self.log_lines == MAX_LINES_PER_CALL + 1 {
                self.ctx.log.emit(&LogLine {
                    level: LogLevel::Warn,
                    message: format!(
                        "task logged more than {MAX_LINES_PER_CALL} lines; dropping the rest"
                    ),
                    fields: vec![],
                });
            }
            return;
        }
        self.ctx.log.emit(&LogLine {
            level,
            message: truncate(&message).to_owned(),
            fields,
        });
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_MESSAGE_BYTES {
        return s;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
