//! Reading the policy file, and noticing without reading it that it has not
//! changed.
//!
//! A reused instance must see an edit on the very next request, yet reading
//! and comparing the whole file on every request costs a third of the
//! throughput (more for a large policy). So the instance keeps the file's stamp
//! (size and modification time: one `stat`) and skips the read while the stamp
//! is unchanged.
//!
//! A stamp alone can lie in two ways, and both are closed:
//! - Timestamps have a granularity (a kernel tick, up to 2 s on some
//!   filesystems), so a second write in the same tick as the one that produced
//!   the stamp leaves it unchanged. The stamp is trusted only once a read has
//!   confirmed the content at least [`SETTLE`] after the stamp was first seen:
//!   any later write comes more than a tick after the one the stamp records.
//!   This is git's "racy clean" rule, timed with the instance's monotonic clock
//!   so that clock skew between guest and filesystem does not matter; a file
//!   last written over a minute ago by the wall clock is settled at once (so
//!   short-lived instances profit too).
//! - Tools can set a modification time back (`cp -p`, `touch -r`, archives),
//!   and wasmtime reports no status-change time to catch that (its
//!   `status-change-timestamp` is the creation time). So even a trusted stamp
//!   is re-confirmed by a read every [`RECHECK`]: a rewrite of the same size
//!   that also restores the old time is seen within that bound; every other
//!   edit on the next request.
//!
//! A fresh instance (one request) never stats: it just reads.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longer than the coarsest timestamp granularity in common use (2 s, FAT).
const SETTLE: Duration = Duration::from_secs(3);
/// Far beyond a timestamp tick plus any plausible clock skew between the
/// filesystem (e.g. an NFS server) and the host.
const LONG_AGO: Duration = Duration::from_secs(60);
/// How long a trusted stamp stands in for a read.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<(u64, u32)>,
}

impl Stamp {
    /// Last written more than [`LONG_AGO`] before now by the wall clock: a
    /// short-lived instance (a host that recycles instances every few
    /// hundred requests) need not wait [`SETTLE`] to trust a file that has
    /// not been touched for a while.
    fn written_long_ago(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.modified
            .is_some_and(|(secs, _)| secs.saturating_add(LONG_AGO.as_secs()) <= now)
    }
}

struct Watched {
    path: String,
    bytes: Arc<Vec<u8>>,
    /// `None` until a second request: a fresh instance never pays for a stat.
    stamp: Option<Stamp>,
    /// When `stamp` was first seen, and the last read that confirmed the
    /// content under it (both taken after the stat).
    first_seen: Instant,
    confirmed: Instant,
    /// `stamp` was written long ago by the wall clock, as of the last read.
    /// Kept, so that serving from the stamp needs no wall-clock call (once
    /// true it stays true; while false, reads go on and refresh it).
    long_ago: bool,
}

thread_local! {
    // Boxed so that `None` is all zero bits: the static then sits in .bss,
    // on a page a fresh instance writes anyway, instead of in .data, where
    // the first write copies a page of the module's memory image (a TLB
    // shootdown across cores: measured ~10 µs of a fresh preflight).
    static WATCHED: RefCell<Option<Box<Watched>>> = const { RefCell::new(None) };
}

/// The file's content: the cached bytes when the stamp proves them current,
/// else a fresh read.
pub fn read(path: &str) -> std::io::Result<Arc<Vec<u8>>> {
    let known = WATCHED.with(|w| w.borrow().as_ref().is_some_and(|w| w.path == path));
    // Stat before reading: content read after the stat is at least as new as
    // the stamp, never older.
    let stamp = if known { stamp(path) } else { None };
    let now = Instant::now();
    let trusted = WATCHED.with(|w| {
        let w = w.borrow();
        let w = w.as_ref()?;
        let settled = w.long_ago || w.confirmed.duration_since(w.first_seen) >= SETTLE;
        let recent = now.duration_since(w.confirmed) < RECHECK;
        (stamp.is_some() && w.stamp == stamp && settled && recent).then(|| Arc::clone(&w.bytes))
    });
    if let Some(bytes) = trusted {
        return Ok(bytes);
    }
    let fresh = match read_shared(path) {
        Ok(b) => b,
        Err(e) => {
            WATCHED.with(|w| *w.borrow_mut() = None);
            return Err(e);
        }
    };
    let long_ago = stamp.is_some_and(|s| s.written_long_ago());
    WATCHED.with(|w| {
        let mut w = w.borrow_mut();
        match w.as_mut() {
            Some(w) if w.path == path && *w.bytes == fresh[..] => {
                w.long_ago = long_ago;
                if stamp.is_some() && w.stamp == stamp {
                    w.confirmed = now;
                } else {
                    w.stamp = stamp;
                    w.first_seen = now;
                    w.confirmed = now;
                }
                Ok(Arc::clone(&w.bytes))
            }
            _ => {
                *w = Some(Box::new(Watched {
                    path: path.to_string(),
                    bytes: Arc::clone(&fresh),
                    stamp,
                    first_seen: now,
                    confirmed: now,
                    long_ago,
                }));
                Ok(fresh)
            }
        }
    })
}

/// Reads a whole file into shared bytes: a compiled policy's tables are used
/// in place, so for a large policy this is the only copy a fresh instance
/// makes (fresh pages are much of a fresh instance's cost).
fn read_shared(path: &str) -> std::io::Result<Arc<Vec<u8>>> {
    // On Wasm, `wasi:filesystem` directly when the path is beneath a preopen:
    // open, stat, read (the host closes it), where `std::fs` (wasi-libc) makes
    // nine host calls (stream, metadata hash, drops). Anything unusual takes
    // `std::fs`.
    #[cfg(target_family = "wasm")]
    if let Some(bytes) = wasi_fs::read(path) {
        return Ok(bytes);
    }
    std::fs::read(path).map(Arc::new)
}

#[cfg(target_family = "wasm")]
mod wasi_fs {
    use std::cell::RefCell;
    use std::sync::Arc;
    use wasi::filesystem::preopens::get_directories;
    use wasi::filesystem::types::{
        Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, OpenFlags, PathFlags,
    };

    thread_local! {
        // Fetched once per instance (wasi-libc would do the same on first use).
        static DIRS: Vec<(Descriptor, String)> = get_directories();
        // The last file read stays open until the next read replaces it, or
        // until the instance ends and the host closes it: a fresh instance
        // makes one host call less. (None is all zeros: .bss, see WATCHED.)
        static LAST_OPENED: RefCell<Option<Descriptor>> = const { RefCell::new(None) };
    }

    /// Calls `f` with the longest preopen that contains `path` and the path
    /// relative to it, as wasi-libc resolves it; `None` when none does.
    fn beneath<R>(path: &str, f: impl FnOnce(&Descriptor, &str) -> Option<R>) -> Option<R> {
        DIRS.with(|dirs| {
            let (dir, rel) = dirs
                .iter()
                .filter_map(|(d, name)| {
                    let name = name.trim_end_matches('/');
                    let rel = if name.is_empty() {
                        path.strip_prefix('/')
                    } else if name == "." && !path.starts_with('/') {
                        Some(path)
                    } else {
                        path.strip_prefix(name).and_then(|r| r.strip_prefix('/'))
                    }?;
                    Some((name.len(), d, rel))
                })
                .max_by_key(|(len, _, _)| *len)
                .map(|(_, d, rel)| (d, rel))?;
            f(dir, rel)
        })
    }

    /// The file's stat, following a symlink.
    pub fn stat(path: &str) -> Option<DescriptorStat> {
        beneath(path, |dir, rel| {
            // Not following symlinks lets wasmtime-wasi answer a plain file
            // name with one `statx` instead of open + fstat + close beneath
            // the preopen (measured: ~4 µs of a reused instance's ~60 µs
            // preflight). A symlink (a Kubernetes ConfigMap mount swaps one on
            // every update) is then followed explicitly.
            let st = dir.stat_at(PathFlags::empty(), rel).ok()?;
            if st.type_ == DescriptorType::SymbolicLink {
                dir.stat_at(PathFlags::SYMLINK_FOLLOW, rel).ok()
            } else {
                Some(st)
            }
        })
    }

    /// The whole file, or `None` for the caller to read it through `std::fs`
    /// (which also gives the error message): not beneath a preopen, an
    /// error, or a size that changed while reading (a rewrite in place).
    ///
    /// Four host calls for a fresh instance and a policy of up to 64 KiB:
    /// preopens, open, stat, one read. A read asks for one byte more than
    /// the rest of the size: getting exactly the size is the end of the file
    /// as of the stat (no second read to see an empty one); getting more is
    /// a file that grew.
    pub fn read(path: &str) -> Option<Arc<Vec<u8>>> {
        beneath(path, |dir, rel| {
            let file = dir
                .open_at(
                    PathFlags::SYMLINK_FOLLOW,
                    rel,
                    OpenFlags::empty(),
                    DescriptorFlags::READ,
                )
                .ok()?;
            let len = usize::try_from(file.stat().ok()?.size).ok()?;
            // The host returns at most 64 KiB per read, each in a buffer of
            // its own: a policy that fits in one is used as it arrives (no
            // copy: every page a fresh instance touches costs it a fault); a
            // larger one is appended to a buffer of the final size.
            let mut bytes = Vec::new();
            loop {
                let want = u64::try_from(len + 1 - bytes.len()).ok()?;
                let (chunk, end) = file.read(want, u64::try_from(bytes.len()).ok()?).ok()?;
                let done = end || chunk.is_empty();
                if bytes.is_empty() && chunk.len() >= len {
                    bytes = chunk;
                } else {
                    bytes.reserve_exact(len.saturating_sub(bytes.len()));
                    bytes.extend_from_slice(&chunk);
                }
                if done || bytes.len() >= len {
                    break;
                }
            }
            LAST_OPENED.with(|l| l.replace(Some(file)));
            (bytes.len() == len).then(|| Arc::new(bytes))
        })
    }
}

#[cfg(target_family = "wasm")]
fn stamp(path: &str) -> Option<Stamp> {
    let st = wasi_fs::stat(path)?;
    Some(Stamp {
        size: st.size,
        modified: st
            .data_modification_timestamp
            .map(|d| (d.seconds, d.nanoseconds)),
    })
}

/// Natively (tests, clippy) there is no WASI filesystem: always read.
#[cfg(not(target_family = "wasm"))]
fn stamp(_path: &str) -> Option<Stamp> {
    None
}
