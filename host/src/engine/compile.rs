//! The engine (built once, with the epoch ticker that preempts guests) and
//! component compilation, with its on-disk cache.

use crate::ops::config::Settings;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: a guest that computes without
/// pause yields to the scheduler this often, so deadlines and other requests
/// are never starved by it.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory that stay resident when its slot is
/// freed (only pages the instance dirtied, found by PAGEMAP_SCAN), reset in
/// place for the next instance. A Rust guest's hot pages (the top of its
/// stack, static data, the first heap pages) start at its stack size, so
/// this must cover the stack and some: our guests link with a 128 KiB stack
/// (`.cargo/config.toml`), and with it 256 KiB takes the composed auth-app
/// from 20.8 page faults per fresh request (128 KiB kept) to none; against
/// the 1 MiB stack with 128 KiB kept (23.5 faults), one connection went from
/// 1,514-1,589 req/s to 1,900-1,983. Guests with Rust's default 1 MiB
/// stack fault as before: keeping 2 MiB resident removed their faults too,
/// but kept 2.2 GB resident after a load of ~750 stores at once (338 MB at
/// 128 KiB).
const MEMORY_KEEP_RESIDENT: usize = 256 << 10;

/// Bytes of each pooled table kept resident the same way (a component's
/// tables are a few KiB each).
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Builds the engine: WASI 0.3 async, epoch interruption, and (by default)
/// the pooling allocator sized from the settings. Starts the epoch ticker.
pub fn engine(settings: &Settings) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    if settings.pooling {
        let slots = settings.pool_instances;
        let mut pool = PoolingAllocationConfig::default();
        // A store holds the served component and, with --origin, the origin.
        pool.total_component_instances(slots * 2)
            .total_core_instances(slots * 16)
            .total_memories(slots * 4)
            .total_tables(slots * 8)
            .total_stacks(slots * 4)
            .max_core_instances_per_component(32)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            .max_memory_size(settings.max_memory_bytes);
        // A freed slot's dirtied pages are found with PAGEMAP_SCAN (Linux
        // 6.7+) and the first of them reset in place, so the next instance
        // neither faults them in again nor waits for the madvise (and its
        // TLB shootdowns) that would drop them. Without the scan, keeping
        // pages resident would mean a memset of all of them: not done.
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
                .table_keep_resident(TABLE_KEEP_RESIDENT);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)?;
    let ticking = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = ticking.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// Compiles `bytes`, or loads the result of an earlier compilation from the
/// cache directory. The cache key covers the bytes and the engine settings
/// that affect code generation.
pub fn compile(
    engine: &Engine,
    bytes: &[u8],
    cache: Option<&Path>,
) -> wasmtime::Result<(Component, bool)> {
    let Some(dir) = cache else {
        return Ok((Component::new(engine, bytes)?, false));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let file: PathBuf = dir.join(format!("{:016x}.cwasm", hasher.finish()));
    if file.exists() {
        // SAFETY: the cache directory belongs to the operator, and only this
        // host writes `.cwasm` files into it, from `Component::serialize`.
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(component) => return Ok((component, true)),
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "ignoring unusable cache entry")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let temp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, component.serialize().map_err(std::io::Error::other)?)?;
        std::fs::rename(&temp, &file)
    });
    if let Err(error) = written {
        tracing::warn!(dir = %dir.display(), %error, "cannot write the compile cache");
    }
    Ok((component, false))
}
