//! placeholder, replaced by the OCI module
