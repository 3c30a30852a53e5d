//! What one store (one request's instances) may use: linear memory up to
//! the configured size, and fixed caps on table elements, instances,
//! memories and tables, so a guest that asks for more fails alone.

use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// Most elements of one table.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Most core instances in one store: a composed chain of middlewares and
/// an origin has a few per link.
pub const MAX_INSTANCES: usize = 64;
/// Most linear memories in one store.
pub const MAX_MEMORIES: usize = 16;
/// Most tables in one store.
pub const MAX_TABLES: usize = 32;

/// The limits of a request's store, with `max_memory_bytes` per linear
/// memory. Growing past a limit traps (the store's request fails) rather
/// than returning -1 to a guest that would not expect it.
pub fn store_limits(max_memory_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(max_memory_bytes)
        .table_elements(MAX_TABLE_ELEMENTS)
        .instances(MAX_INSTANCES)
        .memories(MAX_MEMORIES)
        .tables(MAX_TABLES)
        .trap_on_grow_failure(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    fn store(engine: &Engine) -> Store<StoreLimits> {
        let mut store = Store::new(engine, store_limits(1 << 20));
        store.limiter(|limits| limits);
        store
    }

    fn instantiate(engine: &Engine, wat: &str) -> wasmtime::Result<Instance> {
        let module = Module::new(engine, wat)?;
        Instance::new(&mut store(engine), &module, &[])
    }

    #[test]
    fn memories_and_tables_are_capped_per_store() {
        let engine = Engine::default();
        let memories = |n: usize| format!("(module {})", "(memory 0)".repeat(n));
        let tables = |n: usize| format!("(module {})", "(table 0 funcref)".repeat(n));
        assert!(instantiate(&engine, &memories(MAX_MEMORIES)).is_ok());
        assert!(instantiate(&engine, &memories(MAX_MEMORIES + 1)).is_err());
        assert!(instantiate(&engine, &tables(MAX_TABLES)).is_ok());
        assert!(instantiate(&engine, &tables(MAX_TABLES + 1)).is_err());
    }

    #[test]
    fn instances_are_capped_per_store() {
        let engine = Engine::default();
        let module = Module::new(&engine, "(module)").unwrap();
        let mut store = store(&engine);
        for _ in 0..MAX_INSTANCES {
            Instance::new(&mut store, &module, &[]).unwrap();
        }
        assert!(Instance::new(&mut store, &module, &[]).is_err());
    }

    #[test]
    fn tables_and_memory_cannot_grow_past_their_limits() {
        let engine = Engine::default();
        let elements = MAX_TABLE_ELEMENTS;
        let table = |n: usize| format!("(module (table {n} funcref))");
        assert!(instantiate(&engine, &table(elements)).is_ok());
        assert!(instantiate(&engine, &table(elements + 1)).is_err());
        // 1 MiB is 16 pages: growing to 17 traps instead of returning -1.
        let grow = |pages: u32| {
            let wat = format!(
                "(module (memory 1) (func (export \"grow\") (result i32) \
                 (memory.grow (i32.const {pages}))))"
            );
            let module = Module::new(&engine, wat).unwrap();
            let mut store = store(&engine);
            let instance = Instance::new(&mut store, &module, &[]).unwrap();
            let grow = instance
                .get_typed_func::<(), i32>(&mut store, "grow")
                .unwrap();
            grow.call(&mut store, ())
        };
        assert_eq!(grow(15).unwrap(), 1);
        assert!(grow(16).is_err(), "past 1 MiB traps");
    }
}
