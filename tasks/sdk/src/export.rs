//! What `export_task!` expands to calls into here: the bridge from a [`Task`] to the generated
//! `runner` export, plus the panic hook.

use std::sync::Once;

use crate::bindings::kubectl_release::task::types as wit;
use crate::{Input, Outcome, TaskError, TaskSpec, log};

/// A task: a static description and one entry point. Export it with [`crate::export_task!`].
pub trait Task {
    fn describe() -> TaskSpec;

    /// An `Err` ends the run as failed with the error's reason and message.
    fn run(input: Input) -> Result<Outcome, TaskError>;
}

pub fn describe<T: Task>() -> wit::TaskSpec {
    install_panic_hook();
    T::describe().into()
}

pub fn run<T: Task>(input: wit::TaskInput) -> wit::TaskOutcome {
    install_panic_hook();
    Outcome::from(T::run(input.into())).into()
}

/// With `panic = "abort"` a panic ends in a bare `unreachable` trap; sending the message through
/// the `log` import first is the only way the host can tell the user what went wrong.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let location = info
                .location()
                .map(ToString::to_string)
                .unwrap_or_else(|| "unknown".to_owned());
            log::error(
                &format!("task panicked: {message} at {location}"),
                &[("location", &location)],
            );
        }));
    });
}

/// Exports a type implementing [`Task`] as this component's `runner` interface, and installs
/// the panic hook that reports panics through the `log` import.
///
/// ```ignore
/// struct Echo;
/// impl Task for Echo { /* ... */ }
/// export_task!(Echo);
/// ```
#[macro_export]
macro_rules! export_task {
    ($task:ty) => {
        const _: () = {
            struct KubectlReleaseTask;

            impl $crate::__private::Guest for KubectlReleaseTask {
                fn describe() -> $crate::__private::WitTaskSpec {
                    $crate::__private::describe::<$task>()
                }

                fn run(
                    input: $crate::__private::WitTaskInput,
                ) -> $crate::__private::WitTaskOutcome {
                    $crate::__private::run::<$task>(input)
                }
            }

            // Braces, because rustfmt misindents this macro around the `with_types_in` form otherwise.
            $crate::bindings::export! { KubectlReleaseTask with_types_in $crate::bindings }
        };
    };
}
