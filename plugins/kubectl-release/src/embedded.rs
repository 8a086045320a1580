//! The catalog tasks compiled into this binary (see build.rs).

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

pub fn find(name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(n, _)| *n)
}
