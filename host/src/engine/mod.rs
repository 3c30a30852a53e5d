//! wasmtime: the engine and compilation, the loaded component version and
//! its linker, the data of a store and its next hop, instances made ahead
//! of requests, and the workers that run requests in stores.

pub mod bindings;
pub mod compile;
pub mod keeper;
pub mod limits;
pub mod next_hop;
pub mod pool;
pub mod post_return;
pub mod runtime;
pub mod state;
pub mod warm;
pub mod worker;
