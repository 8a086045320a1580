//! Safe wrappers over the world's imports: the only ways a task reaches outside its sandbox.
//! Natively (unit tests) the underlying imports are not linked, so calling these there panics;
//! keep host calls at the edge of a task and test the logic around them.

pub mod clock;
pub mod cluster;
pub mod files;
pub mod log;
pub mod registry;
