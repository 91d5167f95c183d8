//! `memcpy`, `memmove`, `memcmp` and `bcmp` for the static musl builds of `clawdbot`
//! and `clawdbot-verify` (x86_64), in place of musl's own. Each binary links it with
//! `use clawdbot_mem as _;` in its `main.rs`.
//!
//! Why: musl's x86_64 `memcpy` aligns with single-byte `movsb` and copies with
//! `rep movsq` whatever the size, and its `memcmp` is a byte loop. Verify makes hundreds
//! of thousands of small copies and comparisons (strings of a few to a hundred bytes):
//! on 2000 pulled services 329,000 `memcpy` calls, 60 % of them under 16 bytes, took a
//! quarter of the process's cycles (perf). The static glibc build, whose routines are
//! fast, ran that file in 24 ms against 36 ms, but starts 0.7 ms slower (its start-up
//! asks the CPU for its features and cache sizes, which costs in a virtual machine), so
//! the musl build keeps its start and gets these instead. The gateway built for size
//! (opt-level `z`, docs/release.md) moves its futures with `memcpy` calls instead of
//! inlined moves: musl's routine was 12 % of its samples under a `health` load.
//!
//! How: sizes up to 64 bytes are copied by a few unaligned loads and stores, all loads
//! first (so that overlapping `memmove`s are right); longer ones by `rep movsb`, which
//! CPUs with ERMS run at full speed (backwards with the direction flag, as musl does,
//! when a `memmove` destination overlaps the end of its source). Comparisons go eight
//! bytes at a time. No loop here is one the compiler could turn back into a call of the
//! function it is in (copies have no Rust loop; the comparison loop compares words).
//! The portable parts are plain functions tested on every target; the exported symbols
//! exist only in musl x86_64 binaries (the static linker then takes no `memcpy.o` or
//! `memmove.o` from musl's libc.a: its `memmove` is the only user of `__memcpy_fwd`).

// Elsewhere only the tests use the functions.
#![cfg_attr(
    not(all(target_env = "musl", target_arch = "x86_64")),
    allow(dead_code)
)]

use std::ptr::{read_unaligned as load, write_unaligned as store};

/// Copies `n <= 64` bytes from `src` to `dst`; the regions may overlap.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_small(dst: *mut u8, src: *const u8, n: usize) {
    debug_assert!(n <= 64);
    if n >= 32 {
        let a = load(src as *const u128);
        let b = load(src.add(16) as *const u128);
        let c = load(src.add(n - 32) as *const u128);
        let d = load(src.add(n - 16) as *const u128);
        store(dst as *mut u128, a);
        store(dst.add(16) as *mut u128, b);
        store(dst.add(n - 32) as *mut u128, c);
        store(dst.add(n - 16) as *mut u128, d);
    } else if n >= 16 {
        ends::<u128>(dst, src, n);
    } else if n >= 8 {
        ends::<u64>(dst, src, n);
    } else if n >= 4 {
        ends::<u32>(dst, src, n);
    } else if n > 0 {
        let a = *src;
        let b = *src.add(n / 2);
        let c = *src.add(n - 1);
        *dst = a;
        *dst.add(n / 2) = b;
        *dst.add(n - 1) = c;
    }
}

/// Copies `size_of::<T>() <= n <= 2 * size_of::<T>()` bytes as two (overlapping) words,
/// the first and the last, both loaded before either is stored.
///
/// # Safety
/// As [`copy_small`].
#[inline(always)]
unsafe fn ends<T: Copy>(dst: *mut u8, src: *const u8, n: usize) {
    let last = n - std::mem::size_of::<T>();
    let a = load(src as *const T);
    let b = load(src.add(last) as *const T);
    store(dst as *mut T, a);
    store(dst.add(last) as *mut T, b);
}

/// Copies `n > 64` bytes forward (`rep movsb`); right for overlapping regions when
/// `dst` is below `src`.
///
/// # Safety
/// As [`copy_small`].
#[inline(always)]
unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    std::arch::asm!(
        "rep movsb",
        inout("rcx") n => _,
        inout("rdi") dst => _,
        inout("rsi") src => _,
        options(nostack, preserves_flags)
    );
    #[cfg(not(target_arch = "x86_64"))]
    std::ptr::copy(src, dst, n);
}

/// Copies `n` bytes from the end down (`std; rep movsb; cld`): for a `memmove` whose
/// destination overlaps the end of its source.
///
/// # Safety
/// As [`copy_small`].
#[inline(always)]
unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    std::arch::asm!(
        "std",
        "rep movsb",
        "cld",
        inout("rcx") n => _,
        inout("rdi") dst.add(n - 1) => _,
        inout("rsi") src.add(n - 1) => _,
        options(nostack)
    );
    #[cfg(not(target_arch = "x86_64"))]
    std::ptr::copy(src, dst, n);
}

/// `memmove`: any size, overlapping or not.
///
/// # Safety
/// As [`copy_small`].
#[inline(always)]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    if n <= 64 {
        copy_small(dst, src, n);
    } else if (dst as usize).wrapping_sub(src as usize) >= n {
        // `dst` below `src`, or not overlapping its end: forward is right.
        copy_forward(dst, src, n);
    } else {
        copy_backward(dst, src, n);
    }
}

/// `memcmp`: the difference of the first differing bytes (as unsigned), or 0.
///
/// # Safety
/// `a` and `b` readable for `n` bytes.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        let x = load(a.add(i) as *const u64);
        let y = load(b.add(i) as *const u64);
        if x != y {
            // Little-endian: the lowest differing byte is the first one.
            let k = i + ((x ^ y).trailing_zeros() / 8) as usize;
            return i32::from(*a.add(k)) - i32::from(*b.add(k));
        }
        i += 8;
    }
    while i < n {
        let (x, y) = (*a.add(i), *b.add(i));
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// `bcmp`: 0 when the bytes are equal, else non-zero.
///
/// # Safety
/// As [`compare`].
#[inline(always)]
pub unsafe fn differ(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n < 8 {
        if n >= 4 {
            let x = load(a as *const u32) ^ load(b as *const u32);
            let y = load(a.add(n - 4) as *const u32) ^ load(b.add(n - 4) as *const u32);
            return i32::from(x | y != 0);
        }
        if n == 0 {
            return 0;
        }
        // One to three bytes: the first, the middle and the last cover them.
        let d = (*a ^ *b) | (*a.add(n / 2) ^ *b.add(n / 2)) | (*a.add(n - 1) ^ *b.add(n - 1));
        return i32::from(d != 0);
    }
    let mut i = 0;
    while i + 8 < n {
        if load(a.add(i) as *const u64) != load(b.add(i) as *const u64) {
            return 1;
        }
        i += 8;
    }
    // The last eight bytes (overlapping the words before).
    let x = load(a.add(n - 8) as *const u64) ^ load(b.add(n - 8) as *const u64);
    i32::from(x != 0)
}

/// The symbols the static musl binary links instead of musl's.
#[cfg(all(target_env = "musl", target_arch = "x86_64"))]
mod exported {
    use std::ffi::c_int;

    #[no_mangle]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        super::copy(dst, src, n);
        dst
    }

    #[no_mangle]
    unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        super::copy(dst, src, n);
        dst
    }

    #[no_mangle]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
        super::compare(a, b, n)
    }

    #[no_mangle]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
        super::differ(a, b, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size to 300 at several offsets, against the byte-by-byte answers: copies
    /// (forward, backward, overlapping both ways) and comparisons (equal, and a
    /// difference at each position, both signs).
    #[test]
    fn copies_and_comparisons_match_the_byte_by_byte_answers() {
        let source: Vec<u8> = (0..700u32).map(|i| (i * 131 % 251) as u8).collect();
        for n in 0..300 {
            for (from, to) in [(0, 400), (3, 350), (10, 13), (13, 10), (40, 41), (41, 40)] {
                let mut mine = source.clone();
                let mut want = source.clone();
                want.copy_within(from..from + n, to);
                unsafe { copy(mine.as_mut_ptr().add(to), mine.as_ptr().add(from), n) };
                assert_eq!(mine, want, "copy n={n} from={from} to={to}");
            }
            let a = &source[5..5 + n];
            let mut b = a.to_vec();
            assert_eq!(unsafe { compare(a.as_ptr(), b.as_ptr(), n) }, 0);
            assert_eq!(unsafe { differ(a.as_ptr(), b.as_ptr(), n) }, 0);
            for k in 0..n {
                for delta in [1u8, 255] {
                    b[k] = a[k].wrapping_add(delta);
                    let want = i32::from(a[k]) - i32::from(b[k]);
                    assert_eq!(
                        unsafe { compare(a.as_ptr(), b.as_ptr(), n) },
                        want,
                        "n={n} k={k}"
                    );
                    assert_ne!(
                        unsafe { differ(a.as_ptr(), b.as_ptr(), n) },
                        0,
                        "n={n} k={k}"
                    );
                    b[k] = a[k];
                }
            }
        }
    }
}
