//! Handle retirement: a registry slot whose generation runs out is retired,
//! so its handles stay dead forever and no handle repeats (README: "a closed
//! handle is INVALID_HANDLE forever, never another socket"). The slots are
//! aged with `registry::debug_age_free_slots`; the registry is global, so
//! this is a test binary of its own, with one test.

mod common;

use common::*;
use usocket::registry::debug_age_free_slots;

fn generation(h: u64) -> u32 {
    (h >> 32) as u32
}

fn index(h: u64) -> u32 {
    h as u32
}

fn new_list() -> u64 {
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    w
}

#[test]
fn a_slot_whose_generation_runs_out_is_retired() {
    let mut seen = std::collections::HashSet::new();
    let mut dead = vec![];
    // One slot, freed, aged to one before the last generation.
    let w1 = new_list();
    seen.insert(w1);
    ok(usocket_close(w1));
    dead.push(w1);
    debug_age_free_slots(u32::MAX - 1);
    // Its next two lives: generations MAX - 1 and MAX, same slot.
    let w2 = new_list();
    assert_eq!((index(w2), generation(w2)), (index(w1), u32::MAX - 1), "w1 {w1:#x} w2 {w2:#x}");
    ok(usocket_close(w2));
    dead.push(w2);
    // A socket this time: any object kind ages the same slot.
    let u = udp("127.0.0.1", 0);
    assert_eq!((index(u), generation(u)), (index(w1), u32::MAX), "u {u:#x}");
    ok(usocket_close(u));
    dead.push(u);
    // Retired: the slot never comes back, and no generation wraps to 0 or 1.
    for _ in 0..2000 {
        let w = new_list();
        assert_ne!(index(w), index(w1), "retired slot reused: {w:#x}");
        assert_ne!(w, 0);
        assert!(seen.insert(w), "handle {w:#x} came back");
        ok(usocket_close(w));
        dead.push(w);
    }
    // Aged straight to the last generation: one life, then retired.
    let a = new_list();
    ok(usocket_close(a));
    debug_age_free_slots(u32::MAX);
    let b = new_list();
    assert_eq!((index(b), generation(b)), (index(a), u32::MAX));
    ok(usocket_close(b));
    dead.extend([a, b]);
    for _ in 0..100 {
        let (c, s) = pair("127.0.0.1");
        for h in [c, s] {
            assert!(index(h) != index(a) && index(h) != index(w1), "retired slot reused: {h:#x}");
            assert!(seen.insert(h), "handle {h:#x} came back");
        }
        ok(usocket_close(c));
        ok(usocket_close(s));
    }
    // Every dead handle stays dead.
    for h in dead {
        expect_err(usocket_close(h), USOCKET_ERR_INVALID_HANDLE);
        let mut k = 0;
        expect_err(usocket_kind(h, &mut k), USOCKET_ERR_INVALID_HANDLE);
    }
    assert_eq!(usocket_open_handles(), 0);
}
