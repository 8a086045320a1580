//! The host side of kubectl-release: everything between "a reference to a task component" and
//! "the outcome of one run".

pub mod digest;
pub mod oci;

pub use digest::Digest;
