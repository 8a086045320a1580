use kubectl_release_sdk::files::EntryKind;
use kubectl_release_sdk::prelude::*;

use crate::copy::{CopyStats, Tree, copy_tree};

pub struct Echo;

/// What a run was asked to do, parsed from the params before any host call.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub message: String,
    pub copy_files: bool,
}

impl Request {
    pub fn from_params(params: &Params) -> Result<Self, TaskError> {
        Ok(Request {
            message: params.string("message")?,
            copy_files: params.bool("files")?,
        })
    }

    pub fn results(self, stats: CopyStats) -> Results {
        Results::new()
            .string("message", self.message)
            .string("files-copied", stats.files.to_string())
            .string("bytes-copied", stats.bytes.to_string())
    }
}

impl Task for Echo {
    fn describe() -> TaskSpec {
        TaskSpec::new(
            "echo",
            "Echoes its message; optionally copies the input tree to the output tree",
        )
        .param(
            ParamSpec::string("message", "What to echo back as the `message` result")
                .default("hello"),
        )
        .param(
            ParamSpec::string(
                "files",
                "\"true\" copies every input file to the output tree",
            )
            .default("false"),
        )
        .result(ResultSpec::string("message", "The `message` param"))
        .result(ResultSpec::string(
            "files-copied",
            "How many files were copied",
        ))
        .result(ResultSpec::string(
            "bytes-copied",
            "How many bytes were copied",
        ))
    }

    fn run(input: Input) -> Result<Outcome, TaskError> {
        let request = Request::from_params(&input.params)?;
        let stats = if request.copy_files {
            copy_tree(&mut HostTree)?
        } else {
            CopyStats::default()
        };
        log::info(
            "echo",
            &[
                ("message", &request.message),
                ("files-copied", &stats.files.to_string()),
                ("bytes-copied", &stats.bytes.to_string()),
            ],
        );
        Ok(Outcome::succeeded(request.results(stats)))
    }
}

/// The run's real trees, through the `files` import.
struct HostTree;

impl Tree for HostTree {
    fn files(&mut self) -> Result<Vec<(String, u64)>, HostError> {
        let entries = files::list("")?;
        Ok(entries
            .into_iter()
            .filter(|e| e.kind == EntryKind::File)
            .map(|e| (e.path, e.size))
            .collect())
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, HostError> {
        files::read(path)
    }

    fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), HostError> {
        files::write(path, contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_valid_and_defaults_make_every_param_optional() {
        let spec = Echo::describe();
        spec.check().unwrap();
        assert!(spec.params.iter().all(|p| !p.is_required()));
        assert_eq!(spec.params[0].default, Some(Value::from("hello")));
    }

    #[test]
    fn request_reads_typed_params() {
        let params = Params::new().with("message", "hi").with("files", "true");
        assert_eq!(
            Request::from_params(&params).unwrap(),
            Request {
                message: "hi".into(),
                copy_files: true
            }
        );
    }

    #[test]
    fn bad_files_flag_names_the_param() {
        let params = Params::new().with("message", "hi").with("files", "yes");
        let e = Request::from_params(&params).unwrap_err();
        assert_eq!(e.reason, "InvalidParam");
        assert!(e.message.starts_with("param `files`"), "{e}");
    }

    #[test]
    fn results_are_strings_for_every_declared_result() {
        let results = Request {
            message: "m".into(),
            copy_files: false,
        }
        .results(CopyStats { files: 2, bytes: 7 });
        assert_eq!(results.get("message"), Some(&Value::from("m")));
        assert_eq!(results.get("files-copied"), Some(&Value::from("2")));
        assert_eq!(results.get("bytes-copied"), Some(&Value::from("7")));
        let declared: Vec<_> = Echo::describe()
            .results
            .into_iter()
            .map(|r| r.name)
            .collect();
        let produced: Vec<_> = results.iter().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(declared, produced);
    }
}
