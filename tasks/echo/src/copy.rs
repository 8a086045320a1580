use kubectl_release_sdk::HostError;

/// The two file trees of a run, behind a trait so the copy logic is tested without a host.
pub trait Tree {
    /// Every file (not directory) of the input tree with its size, sorted by path.
    fn files(&mut self) -> Result<Vec<(String, u64)>, HostError>;
    fn read(&mut self, path: &str) -> Result<Vec<u8>, HostError>;
    fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), HostError>;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub bytes: u64,
}

/// Copies each input file to the same path in the output tree; stops at the first error so a
/// failed run says which file it could not copy.
pub fn copy_tree(tree: &mut impl Tree) -> Result<CopyStats, HostError> {
    let mut stats = CopyStats::default();
    for (path, _) in tree.files()? {
        let contents = tree.read(&path)?;
        tree.write(&path, &contents)?;
        stats.files += 1;
        stats.bytes += contents.len() as u64;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kubectl_release_sdk::ErrorKind;

    use super::*;

    #[derive(Default)]
    struct Memory {
        input: BTreeMap<String, Vec<u8>>,
        output: BTreeMap<String, Vec<u8>>,
        deny_writes: bool,
    }

    impl Tree for Memory {
        fn files(&mut self) -> Result<Vec<(String, u64)>, HostError> {
            Ok(self
                .input
                .iter()
                .map(|(p, c)| (p.clone(), c.len() as u64))
                .collect())
        }

        fn read(&mut self, path: &str) -> Result<Vec<u8>, HostError> {
            self.input
                .get(path)
                .cloned()
                .ok_or_else(|| HostError::new(ErrorKind::NotFound, path))
        }

        fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), HostError> {
            if self.deny_writes {
                return Err(HostError::new(ErrorKind::Denied, format!("write {path}")));
            }
            self.output.insert(path.to_owned(), contents.to_vec());
            Ok(())
        }
    }

    #[test]
    fn copies_every_file_and_counts_bytes() {
        let mut tree = Memory::default();
        tree.input.insert("a.txt".into(), b"hello".to_vec());
        tree.input.insert("dir/b.bin".into(), vec![0; 1000]);
        let stats = copy_tree(&mut tree).unwrap();
        assert_eq!(
            stats,
            CopyStats {
                files: 2,
                bytes: 1005
            }
        );
        assert_eq!(tree.output, tree.input);
    }

    #[test]
    fn empty_tree_copies_nothing() {
        assert_eq!(
            copy_tree(&mut Memory::default()).unwrap(),
            CopyStats::default()
        );
    }

    #[test]
    fn host_errors_propagate() {
        let mut tree = Memory {
            deny_writes: true,
            ..Memory::default()
        };
        tree.input.insert("a".into(), vec![1]);
        assert_eq!(copy_tree(&mut tree).unwrap_err().kind, ErrorKind::Denied);
    }
}
