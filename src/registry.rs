//! The handle registry: maps the `u64` handles C callers hold to live objects.
//!
//! A handle is `generation << 32 | slot << 4 | shard`. The generation of a slot starts at 1
//! and grows each time the slot is freed, so a handle is never 0 and never names
//! another object after it was closed: a stale or double-closed handle is an
//! error, not undefined behaviour. A slot whose generation would wrap is retired.
//!
//! Lookups clone the object's `Arc` and release the lock at once, so no lock is
//! ever held across a blocking call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::server::Server;
use crate::socket::Socket;
use crate::wait::WaitList;

/// The objects a handle can name.
#[derive(Clone)]
pub enum Object {
    Socket(Arc<Socket>),
    WaitList(Arc<WaitList>),
    Server(Arc<Server>),
}

impl Object {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Object::Socket(_) => "socket",
            Object::WaitList(_) => "wait list",
            Object::Server(_) => "server",
        }
    }
}

struct Slot {
    generation: u32,
    object: Option<Object>,
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// The registry is split into shards, each with its own lock: a thread
/// registers in a shard of its own (the shard is part of the handle), so
/// threads that accept and close at once do not take one global write lock.
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Slots per shard: the index (slot << SHARD_BITS | shard) stays below
/// 2^32 - 1, so no handle is ever u64::MAX (the wait list's wake token).
const MAX_SLOTS: usize = (1 << (32 - SHARD_BITS)) - 1;

static TABLES: Lazy<[RwLock<Table>; SHARDS]> = Lazy::new(|| std::array::from_fn(|_| RwLock::new(Table::default())));
static LIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The shard this thread registers in, given out round-robin.
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// A handle's shard, slot in it, and generation.
fn split(handle: u64) -> (usize, usize, u32) {
    let index = handle & 0xffff_ffff;
    ((index as usize) & (SHARDS - 1), (index >> SHARD_BITS) as usize, (handle >> 32) as u32)
}

/// Registers a socket and tells it its handle: the one way a socket gets one.
pub fn register_socket(s: Arc<Socket>) -> Result<u64> {
    let handle = insert(Object::Socket(s.clone()))?;
    s.set_handle(handle);
    Ok(handle)
}

/// Registers a wait list.
pub fn register_wait_list(list: Arc<WaitList>) -> Result<u64> {
    insert(Object::WaitList(list))
}

/// Registers a server.
pub fn register_server(server: Arc<Server>) -> Result<u64> {
    insert(Object::Server(server))
}

/// Registers `object` and returns its new handle.
fn insert(object: Object) -> Result<u64> {
    let shard = MY_SHARD.try_with(|s| *s).unwrap_or(0);
    let mut table = TABLES[shard].write();
    let slot = match table.free.pop() {
        Some(slot) => slot as usize,
        None => {
            if table.slots.len() >= MAX_SLOTS {
                return Err(Error::new(crate::error::USOCKET_ERR_NO_BUFFERS, "no handles left"));
            }
            table.slots.push(Slot { generation: 1, object: None });
            table.slots.len() - 1
        }
    };
    let entry = &mut table.slots[slot];
    entry.object = Some(object);
    let handle = ((entry.generation as u64) << 32) | ((slot as u64) << SHARD_BITS) | shard as u64;
    LIVE.fetch_add(1, Ordering::Relaxed);
    Ok(handle)
}

/// The object behind `handle`.
pub fn get(handle: u64) -> Result<Object> {
    with_object(handle, |object| Ok(object.clone()))
}

/// Looks up many handles, in order.
pub fn get_many(handles: &[u64]) -> Result<Vec<Object>> {
    handles.iter().map(|&handle| get(handle)).collect()
}

/// Unregisters `handle` and returns what it named; the handle is dead from now on.
pub fn remove(handle: u64) -> Result<Object> {
    let (shard, slot, generation) = split(handle);
    let mut table = TABLES[shard].write();
    let entry = match table.slots.get_mut(slot) {
        Some(entry) if entry.generation == generation && entry.object.is_some() => entry,
        _ => return Err(Error::invalid_handle(handle)),
    };
    let object = entry.object.take().expect("checked above");
    // A slot whose generation would wrap is retired: its handles stay dead.
    if entry.generation != u32::MAX {
        entry.generation += 1;
        table.free.push(slot as u32);
    }
    LIVE.fetch_sub(1, Ordering::Relaxed);
    Ok(object)
}

/// How many handles are open now (for tests and leak checks).
pub fn live_count() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Tests only: sets the generation of every free slot, so a test can see a
/// slot retire when its generation runs out (run it in a process of its own).
#[doc(hidden)]
pub fn debug_age_free_slots(generation: u32) {
    for table in TABLES.iter() {
        let mut table = table.write();
        let Table { slots, free } = &mut *table;
        for &slot in free.iter() {
            slots[slot as usize].generation = generation;
        }
    }
}

/// Runs `f` on the object behind `handle` with the table's read lock held
/// (`f` must not block: it clones what it needs).
#[inline]
fn with_object<T>(handle: u64, f: impl FnOnce(&Object) -> Result<T>) -> Result<T> {
    let (shard, slot, generation) = split(handle);
    let table = TABLES[shard].read();
    match table.slots.get(slot) {
        Some(Slot { generation: g, object: Some(object) }) if *g == generation => f(object),
        _ => Err(Error::invalid_handle(handle)),
    }
}

/// The socket behind `handle`, or `USOCKET_ERR_WRONG_KIND` if it names something else.
#[inline]
pub fn socket(handle: u64) -> Result<Arc<Socket>> {
    with_object(handle, |object| match object {
        Object::Socket(s) => Ok(s.clone()),
        other => Err(Error::wrong_kind(format!("handle {handle} is a {}, not a socket", other.kind_name()))),
    })
}

/// The wait list behind `handle`.
pub fn wait_list(handle: u64) -> Result<Arc<WaitList>> {
    match get(handle)? {
        Object::WaitList(w) => Ok(w),
        other => Err(Error::wrong_kind(format!("handle {handle} is a {}, not a wait list", other.kind_name()))),
    }
}

/// The server behind `handle`.
pub fn server(handle: u64) -> Result<Arc<Server>> {
    match get(handle)? {
        Object::Server(s) => Ok(s),
        other => Err(Error::wrong_kind(format!("handle {handle} is a {}, not a server", other.kind_name()))),
    }
}
