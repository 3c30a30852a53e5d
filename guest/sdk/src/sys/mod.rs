//! The backends behind the component API: WASI 0.3 (`p3`, the default on
//! wasm32), WASI 0.2 (`p2`, feature `p2`) and, off wasm32, `native` (the
//! same API without a host, for `cargo check` and unit tests of component
//! crates). The public API re-exports what it needs from here; the WASI
//! backends' `bindings` give raw access to the generated WASI bindings.

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
pub mod p2;
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
pub mod p3;
