//! How a component's linear memories are initialised in each new instance, decided per
//! component from the size of its data segments.
//!
//! Copying the data into every fresh memory is cheaper for small guests than mapping it
//! copy-on-write (no page faults, no TLB shootdowns when the slot is reset): +11 % throughput
//! on the 94 KB examples/hello. A JavaScript or Python engine carries megabytes of data,
//! which a copy pays for on every invocation; mapped copy-on-write, an instance only touches
//! the pages it uses. wasmtime decides this per engine, so the host keeps one engine for each
//! way (see [`crate::host`]) and compiles each component with the one its data calls for.

use wasmparser::{Parser, Payload};

/// How an engine initialises linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryInit {
    /// Each instance's data segments are copied into its memory.
    Copy,
    /// Each instance's memory maps the module's data image copy-on-write.
    CopyOnWrite,
}

impl MemoryInit {
    /// Both ways, in the order the host keeps their engines.
    pub const ALL: [MemoryInit; 2] = [MemoryInit::Copy, MemoryInit::CopyOnWrite];

    /// The way for a component with `data_bytes` of active data: copy-on-write from
    /// `cow_min_bytes` up (`u64::MAX`: never).
    pub fn for_data(data_bytes: u64, cow_min_bytes: u64) -> MemoryInit {
        if data_bytes >= cow_min_bytes {
            MemoryInit::CopyOnWrite
        } else {
            MemoryInit::Copy
        }
    }

    /// The way for the component `bytes` (its data segments summed; bytes that do not parse
    /// count as no data, and are refused later by the compiler).
    pub fn for_component(bytes: &[u8], cow_min_bytes: u64) -> MemoryInit {
        MemoryInit::for_data(data_bytes(bytes).unwrap_or(0), cow_min_bytes)
    }

    pub fn cow(self) -> bool {
        self == MemoryInit::CopyOnWrite
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemoryInit::Copy => "copy",
            MemoryInit::CopyOnWrite => "cow",
        }
    }

    /// Index into [`MemoryInit::ALL`].
    pub fn index(self) -> usize {
        match self {
            MemoryInit::Copy => 0,
            MemoryInit::CopyOnWrite => 1,
        }
    }
}

/// Bytes of active data segments in every core module of a component (or of a core module).
pub fn data_bytes(bytes: &[u8]) -> Result<u64, wasmparser::BinaryReaderError> {
    let mut total = 0u64;
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::DataSection(reader) = payload? {
            for data in reader {
                let data = data?;
                if matches!(data.kind, wasmparser::DataKind::Active { .. }) {
                    total = total.saturating_add(data.data.len() as u64);
                }
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with one memory and one active data segment of `len` bytes at offset 0.
    fn module_with_data(len: u8) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // memory section: one memory, min 1 page.
        wasm.extend_from_slice(&[5, 3, 1, 0, 1]);
        // data section: one active segment for memory 0 at i32.const 0.
        let mut segment = vec![1, 0, 0x41, 0, 0x0b, len];
        segment.extend(std::iter::repeat_n(7u8, usize::from(len)));
        wasm.push(11);
        wasm.push(u8::try_from(segment.len()).unwrap());
        wasm.extend_from_slice(&segment);
        wasm
    }

    #[test]
    fn data_segments_are_summed() {
        assert_eq!(data_bytes(&module_with_data(0)).unwrap(), 0);
        assert_eq!(data_bytes(&module_with_data(100)).unwrap(), 100);
        assert!(data_bytes(b"\0asm\x01\0\0\0\x0b\x05").is_err());
    }

    #[test]
    fn large_data_is_mapped_and_small_data_copied() {
        let module = module_with_data(100);
        assert_eq!(
            MemoryInit::for_component(&module, 100),
            MemoryInit::CopyOnWrite
        );
        assert_eq!(MemoryInit::for_component(&module, 101), MemoryInit::Copy);
        assert_eq!(
            MemoryInit::for_component(b"junk", 0),
            MemoryInit::CopyOnWrite
        );
        assert_eq!(MemoryInit::for_component(b"junk", 1), MemoryInit::Copy);
    }
}
