//! wasmtime: the engine, compiling and linking components, the data of a
//! store, and the workers that run requests in stores.

pub mod bindings;
pub mod fetch_event;
pub mod limits;
pub mod next_hop;
pub mod post_return;
pub mod runtime;
pub mod state;
pub mod worker;
