//! What the `ferry-bench` binary and its Criterion benches share: the seeded random
//! numbers of every scenario ([`rng`]) and the client store filled to a heavy user's size
//! ([`store_world`], B10).

pub mod rng;
pub mod store_world;
