//! Host bindings (wasm32 only). The public API re-exports what it needs from
//! here; [`p3::bindings`] gives raw access to the generated WASI bindings.

#[cfg(feature = "p2")]
pub mod p2;
#[cfg(not(feature = "p2"))]
pub mod p3;
