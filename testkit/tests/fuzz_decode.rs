//! Fuzzed decoding: random and mutated inputs for every decoder of what
//! other nodes send. Each input must give an error or a value, never a
//! panic, and no single allocation may exceed the input's size by more than
//! serde's cautious pre-allocation cap (1 MiB) because of a length prefix.
//!
//! `PEEPER_FUZZ_INPUTS=1000000 cargo test --release -p peeper-testkit --test fuzz_decode`
//! runs a million inputs; the default fits CI.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the largest single allocation.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

const CAUTIOUS_CAP: usize = 1024 * 1024;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A mutation of `seed`: flipped bits, cut, spliced huge length prefixes.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(bytes.len() + 1)),
            2 => {
                // A varint near 2^63: a length no input can back.
                let i = rng.below(bytes.len() + 1);
                let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
                bytes.splice(i..i, huge);
            }
            3 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            _ => bytes.push(rng.next() as u8),
        }
    }
    bytes
}

#[test]
fn decoders_refuse_garbage_without_panics_or_huge_allocations() {
    let inputs: usize = std::env::var("PEEPER_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seeds = peeper::cluster::fuzz_seeds();
    assert!(seeds.len() >= 8, "seeds of every kind");
    for seed in &seeds {
        assert!(
            peeper::cluster::decode_untrusted(seed) >= 1,
            "a seed must decode as what it is"
        );
    }
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut accepted = 0;
    for n in 0..inputs {
        let input = if n % 4 == 0 {
            let len = rng.below(256);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        LARGEST.store(0, Ordering::Relaxed);
        accepted += peeper::cluster::decode_untrusted(&input);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= CAUTIOUS_CAP + 4 * input.len() + 4096,
            "input of {} bytes made an allocation of {largest} bytes: {input:?}",
            input.len()
        );
    }
    println!("{inputs} inputs, {accepted} decodes accepted");
}
