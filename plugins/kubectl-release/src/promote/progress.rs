//! The progress bar `promote` draws on a terminal: components finished out of all, advanced by
//! the task's `promoted` log events, with the task's other log lines printed above it. Off a
//! terminal (CI logs, pipes) there is no bar and the lines are printed as they come.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar over `components` if stderr is a terminal, else none.
    pub fn new(components: usize) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::none();
        }
        let bar = ProgressBar::new(components as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} promoting [{bar:30}] {pos}/{len} components, {elapsed}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    pub fn none() -> Self {
        Self(None)
    }

    /// A task log line: above the bar if there is one.
    pub fn print(&self, line: &str) {
        match &self.0 {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn component_done(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// Clears the bar before the report is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
