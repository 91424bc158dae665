//! The handle registry: maps the `u64` handles C callers hold to live objects.
//!
//! A handle is `generation << 32 | index`. The generation of a slot starts at 1
//! and grows each time the slot is freed, so a handle is never 0 and never names
//! another object after it was closed: a stale or double-closed handle is an
//! error, not undefined behaviour. A slot whose generation would wrap is retired.
//!
//! Lookups clone the object's `Arc` and release the lock at once, so no lock is
//! ever held across a blocking call.

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

struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

static TABLE: Lazy<RwLock<Table>> = Lazy::new(|| RwLock::new(Table { slots: Vec::new(), free: Vec::new(), live: 0 }));

fn split(handle: u64) -> (usize, u32) {
    ((handle & 0xffff_ffff) as usize, (handle >> 32) as u32)
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
    let mut table = TABLE.write();
    let index = match table.free.pop() {
        Some(index) => index as usize,
        None => {
            if table.slots.len() >= u32::MAX as usize {
                return Err(Error::new(crate::error::USOCKET_ERR_NO_BUFFERS, "no handles left"));
            }
            table.slots.push(Slot { generation: 1, object: None });
            table.slots.len() - 1
        }
    };
    let slot = &mut table.slots[index];
    slot.object = Some(object);
    let handle = ((slot.generation as u64) << 32) | index as u64;
    table.live += 1;
    Ok(handle)
}

/// The object behind `handle`.
pub fn get(handle: u64) -> Result<Object> {
    let (index, generation) = split(handle);
    let table = TABLE.read();
    match table.slots.get(index) {
        Some(Slot { generation: g, object: Some(object) }) if *g == generation => Ok(object.clone()),
        _ => Err(Error::invalid_handle(handle)),
    }
}

/// Looks up many handles under one lock, in order.
pub fn get_many(handles: &[u64]) -> Result<Vec<Object>> {
    let table = TABLE.read();
    handles
        .iter()
        .map(|&handle| {
            let (index, generation) = split(handle);
            match table.slots.get(index) {
                Some(Slot { generation: g, object: Some(object) }) if *g == generation => Ok(object.clone()),
                _ => Err(Error::invalid_handle(handle)),
            }
        })
        .collect()
}

/// Unregisters `handle` and returns what it named; the handle is dead from now on.
pub fn remove(handle: u64) -> Result<Object> {
    let (index, generation) = split(handle);
    let mut table = TABLE.write();
    let slot = match table.slots.get_mut(index) {
        Some(slot) if slot.generation == generation && slot.object.is_some() => slot,
        _ => return Err(Error::invalid_handle(handle)),
    };
    let object = slot.object.take().expect("checked above");
    let retired = slot.generation == u32::MAX;
    if !retired {
        slot.generation += 1;
    }
    if !retired {
        table.free.push(index as u32);
    }
    table.live -= 1;
    Ok(object)
}

/// How many handles are open now (for tests and leak checks).
pub fn live_count() -> usize {
    TABLE.read().live
}

/// Runs `f` on the object behind `handle` with the table's read lock held
/// (`f` must not block: it clones what it needs).
#[inline]
fn with_object<T>(handle: u64, f: impl FnOnce(&Object) -> Result<T>) -> Result<T> {
    let (index, generation) = split(handle);
    let table = TABLE.read();
    match table.slots.get(index) {
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
