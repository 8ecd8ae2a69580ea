//! The IDX parser under random and mutated input: 100,000+ headers and
//! bodies (random bytes, flipped bytes, files cut at every length, absurd
//! counts and sides). It must never panic, must accept only files whose
//! length matches their header, and must never allocate in proportion to
//! what a header claims: a counting allocator records the largest single
//! allocation made while parsing.

use autoencoders::data::{parse_idx_images, parse_idx_labels};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// xorshift64*: a small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn header(fields: &[u32]) -> Vec<u8> {
    fields.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn valid_images(n: usize) -> Vec<u8> {
    let mut b = header(&[0x803, n as u32, 28, 28]);
    b.extend((0..n * 784).map(|i| (i * 7 % 256) as u8));
    b
}

fn valid_labels(n: usize) -> Vec<u8> {
    let mut b = header(&[0x801, n as u32]);
    b.extend((0..n).map(|i| (i % 10) as u8));
    b
}

/// Parses `bytes` both ways; checks what an accepted file must satisfy.
fn check(bytes: &[u8]) {
    let path = Path::new("fuzz");
    if let Ok(px) = parse_idx_images(path, bytes) {
        let n = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(
            px.len(),
            n * 784,
            "accepted images whose length does not match the header"
        );
    }
    if let Ok(labels) = parse_idx_labels(path, bytes) {
        let n = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(labels.len(), n);
        assert!(labels.iter().all(|&l| l <= 9));
    }
}

#[test]
fn the_idx_parser_survives_random_and_mutated_files() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = 0usize;
    let bases = [
        valid_images(0),
        valid_images(1),
        valid_images(3),
        valid_labels(0),
        valid_labels(5),
        valid_labels(40),
    ];
    LARGEST.store(0, Ordering::Relaxed);
    // Every cut of valid files.
    for base in &bases {
        for len in 0..=base.len() {
            check(&base[..len]);
            cases += 1;
        }
    }
    // Random bytes, and valid files with flipped bytes, absurd header fields,
    // cuts and tails.
    let absurd = [0u32, 1, 27, 29, 255, 0x7fff_ffff, 0xffff_ffff, 0x803, 0x801, 60_000];
    while cases < 120_000 {
        let bytes = match rng.below(5) {
            0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
            1 => {
                let mut b = bases[rng.below(bases.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    if !b.is_empty() {
                        let at = rng.below(b.len());
                        b[at] ^= 1 << rng.below(8);
                    }
                }
                b
            }
            2 => {
                let mut b = bases[rng.below(bases.len())].clone();
                let field = rng.below(4) * 4;
                if b.len() >= field + 4 {
                    let v = absurd[rng.below(absurd.len())];
                    b[field..field + 4].copy_from_slice(&v.to_be_bytes());
                }
                b
            }
            3 => {
                let b = &bases[rng.below(bases.len())];
                b[..rng.below(b.len() + 1)].to_vec()
            }
            _ => {
                let mut b = bases[rng.below(bases.len())].clone();
                b.extend((0..1 + rng.below(32)).map(|_| rng.next() as u8));
                b
            }
        };
        check(&bytes);
        cases += 1;
    }
    // The largest buffer ever asked for while parsing is a short error
    // message, not anything a lying header announced (up to 4 GiB images).
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 64 * 1024, "an allocation of {largest} bytes");
    println!("{cases} cases, largest allocation {largest} bytes");
}
