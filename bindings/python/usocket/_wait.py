"""wait_for_input and WaitList."""

from __future__ import annotations

import os
import threading
from array import array as _array
from ctypes import byref, c_int64, c_size_t, c_uint8, c_uint64, pointer
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from . import _ffi
from ._constants import USOCKET_ERR_INVALID_HANDLE, USOCKET_STATE_READ
from ._socket import SLICE_MS, Usocket, _get_ident, seconds_to_ms
from .errors import last_error

_ERR_INVALID_HANDLE = USOCKET_ERR_INVALID_HANDLE
_raw_wait = _ffi.raw["usocket_wait_for_input"]
_raw_list_wait = _ffi.raw["usocket_wait_list_wait"]
_MAIN_IDENT = threading.main_thread().ident


def _after_fork_in_child() -> None:
    global _MAIN_IDENT
    _MAIN_IDENT = threading.main_thread().ident


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_READ = "read"
#: A timeout of the core's waits: forever.
_FOREVER = -1

#: Most handles one WaitList.wait asks the core for; more ready sockets are
#: reported by the next wait (epoll is level-triggered).
WAIT_LIST_BATCH = 128


def _timeout_ms(timeout: Any) -> int:
    """Seconds -> ms for a wait: None -> -1 (forever)."""
    if timeout is None:
        return -1
    t = type(timeout)
    if (t is float or t is int) and 0 <= timeout < 2000000.0:
        ms = int(timeout * 1000.0)
        return ms + 1 if ms < timeout * 1000.0 else ms
    return seconds_to_ms(timeout, "timeout")


_wfi_cache: List[Any] = []


def _handles(socks: List[Any]) -> List[int]:
    try:
        return [s._handle for s in socks]
    except AttributeError:
        pass
    for s in socks:
        if not isinstance(s, Usocket):
            raise TypeError(f"wait_for_input: {s!r} is not a usocket socket")
    raise TypeError("wait_for_input: not a list of usocket sockets")


def wait_for_input(sockets: Any, timeout: Optional[float] = None, ready_only: bool = False) -> Tuple[Any, Optional[float]]:
    """usocket's ``wait-for-input``.

    Waits until at least one of ``sockets`` (a socket, an iterable of
    sockets or a :class:`WaitList`) can be read (data or end of file),
    accepted on, or received from; or ``timeout`` seconds pass (``None``:
    wait forever). Sets each socket's ``.state`` to ``"read"`` or ``None``.

    Returns ``(sockets, remaining)``: without ``ready_only`` what was passed
    in, with it a new list of the ready sockets; ``remaining`` is the time
    left in seconds, ``None`` without a timeout. Any number of sockets, any
    descriptor numbers.
    """
    if isinstance(sockets, Usocket):
        socks = [sockets]
    elif isinstance(sockets, WaitList):
        got, left_s = sockets.wait(timeout)
        return (got if ready_only else sockets.sockets), left_s
    elif type(sockets) is list:
        socks = sockets
    else:
        try:
            socks = list(sockets)
        except TypeError:
            raise TypeError(
                f"wait_for_input needs a socket, a list of sockets or a WaitList, not {type(sockets).__name__}"
            ) from None
    n = len(socks)
    ms = _timeout_ms(timeout)
    # The ctypes arrays of the last call are kept for the next one on the
    # same sockets (a popped entry: concurrent calls never share one).
    handles = _array("Q", _handles(socks))
    cache = _wfi_cache
    entry = cache.pop() if cache else None
    if entry is None or entry[0] != handles:
        arr = (c_uint64 * n).from_buffer(handles) if n else None
        nready = c_size_t()
        rem = c_int64()
        entry = (handles, arr, (c_uint8 * n)(), nready, byref(nready), rem, byref(rem))
    _key, arr, states, nready, pn, rem, prem = entry
    if n == 0 and ms < 0:
        ms_first = -1  # waiting forever on nothing: the core says so (INVALID_ARGUMENT)
        sliced = False
    else:
        ms_first = ms
        sliced = (ms < 0 or ms > SLICE_MS) and _get_ident() == _MAIN_IDENT
    # On the main thread, wait in slices so that Ctrl-C is handled.
    step = SLICE_MS if sliced else ms_first
    final = not sliced
    left = ms
    while True:
        rc = _raw_wait(arr, n, step, states, pn, prem)
        if rc:
            e = last_error(rc)
            if rc == _ERR_INVALID_HANDLE:
                closed = [s for s in socks if s._closed]
                if closed:
                    e.strerror = f"wait_for_input on a closed socket {closed[0]!r} ({e.strerror})"
                    e.args = (e.strerror,)
            raise e
        k = nready.value
        if ms >= 0:
            r = rem.value
            left -= step - r if r > 0 else step
        if k or final:
            break
        if ms >= 0 and left <= SLICE_MS:
            step = left if left > 0 else 0
            final = True
    cache.append(entry)
    ready: List[Usocket] = []
    if k:
        flags = bytes(states)
        if k == 1 and n > 8:
            i = flags.index(USOCKET_STATE_READ)
            for s in socks:
                s.state = None
            s = socks[i]
            s.state = _READ
            ready.append(s)
        else:
            for s, f in zip(socks, flags):
                if f == USOCKET_STATE_READ:
                    s.state = _READ
                    ready.append(s)
                else:
                    s.state = None
    else:
        for s in socks:
            s.state = None
    remaining = None if ms < 0 else (left / 1000.0 if left > 0 else 0.0)
    if ready_only:
        return ready, remaining
    return sockets, remaining


class WaitList:
    """usocket's wait list (make-wait-list, add-waiter, remove-waiter).

    The core keeps the registrations between waits (epoll), so a
    :meth:`wait` costs in proportion to the ready sockets, not to the list.
    A socket closed while in the list leaves it by itself.
    """

    _core_free = staticmethod(_ffi.lib.usocket_wait_list_free)

    def __init__(self, sockets: Iterable[Usocket] = ()) -> None:
        self._closed = True
        out = c_uint64()
        rc = _ffi.lib.usocket_wait_list_new(byref(out))
        if rc:
            raise last_error(rc)
        self._handle = out.value
        self._h = c_uint64(out.value)
        self._closed = False
        self._members: Dict[int, Usocket] = {}
        self._last_ready: List[Usocket] = []
        self._scratch: List[Tuple[Any, Any, Any, Any, Any]] = []
        # the last wait's timeout and what it means: (timeout, ms, first step, final)
        self._plan: Tuple[Any, int, int, bool] = (None, _FOREVER, SLICE_MS, False)
        for s in sockets:
            self.add(s)

    @property
    def handle(self) -> int:
        return self._handle

    def _check_socket(self, s: Any) -> Usocket:
        if not isinstance(s, Usocket):
            raise TypeError(f"a WaitList holds usocket sockets, not {type(s).__name__}")
        return s

    def add(self, s: Usocket) -> None:
        """usocket's ``add-waiter``; adding a socket twice is harmless."""
        self._check_socket(s)
        rc = _ffi.lib.usocket_wait_list_add(self._h, s._h)
        if rc:
            e = last_error(rc)
            if rc == _ERR_INVALID_HANDLE:
                if self._closed:
                    e.strerror = f"the wait list is closed ({e.strerror})"
                elif s._closed:
                    e.strerror = f"cannot add a closed socket to a wait list ({e.strerror})"
                e.args = (e.strerror,)
            raise e
        self._members[s._handle] = s

    def remove(self, s: Usocket) -> None:
        """usocket's ``remove-waiter``; removing a socket that is not there is harmless."""
        self._check_socket(s)
        self._members.pop(s._handle, None)
        if s.state is not None and s in self._last_ready:
            s.state = None
        if s._closed:
            return  # it has left the list already
        rc = _ffi.lib.usocket_wait_list_remove(self._h, s._h)
        if rc and not (rc == _ERR_INVALID_HANDLE and s._closed):
            raise last_error(rc)

    def clear(self) -> None:
        """usocket's ``remove-all-waiters``."""
        rc = _ffi.lib.usocket_wait_list_clear(self._h)
        if rc:
            raise last_error(rc)
        self._members.clear()
        self._last_ready = []

    @property
    def sockets(self) -> List[Usocket]:
        """The open sockets in the list."""
        members = self._members
        dead = [h for h, s in members.items() if s._closed]
        for h in dead:
            del members[h]
        return list(members.values())

    def __len__(self) -> int:
        return len(self.sockets)

    def __iter__(self) -> Iterator[Usocket]:
        return iter(self.sockets)

    def __contains__(self, s: object) -> bool:
        return isinstance(s, Usocket) and not s._closed and self._members.get(s._handle) is s

    def _new_scratch(self) -> Tuple[Any, Any, Any, Any, Any]:
        nready = c_size_t()
        rem = c_int64()
        return ((c_uint64 * WAIT_LIST_BATCH)(), nready, pointer(nready), rem, pointer(rem))

    def wait(self, timeout: Optional[float] = None) -> Tuple[List[Usocket], Optional[float]]:
        """Wait for input on the list's sockets: ``(ready, remaining)``.

        ``ready`` is a new list of the ready sockets (their ``.state`` is
        ``"read"``; sockets ready at the previous wait but not now get
        ``None``); ``remaining`` as for :func:`wait_for_input`. At most
        ``WAIT_LIST_BATCH`` sockets are reported at once; the others stay
        ready for the next wait.
        """
        plan = self._plan
        if timeout is plan[0] or timeout == plan[0]:
            _t, ms, step, final = plan
        else:
            ms, step, final = self._plan_for(timeout)
        scratch = self._scratch
        item = scratch.pop() if scratch else self._new_scratch()
        arr, nready, pn, rem, prem = item
        if not final and _get_ident() != _MAIN_IDENT:
            step = ms
            final = True
        rc = _raw_list_wait(self._h, step, arr, WAIT_LIST_BATCH, pn, prem)
        n = nready.value
        if rc or not n:
            n, left = self._wait_more(rc, ms, step, final, item)
        elif ms >= 0:
            r = rem.value
            left = ms - (step - r if r > 0 else step)
        else:
            left = -1
        members = self._members
        last = self._last_ready
        if n == 1:
            s1 = members.get(arr[0])
            if s1 is None:
                ready: List[Usocket] = []
            elif len(last) == 1 and last[0] is s1:
                # the same socket ready again: its state is "read" already
                scratch.append(item)
                if ms < 0:
                    return [s1], None
                return [s1], (left / 1000.0 if left > 0 else 0.0)
            else:
                ready = [s1]
        elif n:
            ready = [members[x] for x in arr[:n] if x in members]
        else:
            ready = []
        scratch.append(item)
        if last:
            for s in last:
                s.state = None
        for s in ready:
            s.state = _READ
        self._last_ready = ready
        if ms < 0:
            return ready, None
        return ready, (left / 1000.0 if left > 0 else 0.0)

    def _plan_for(self, timeout: Any) -> Tuple[int, int, bool]:
        """(ms, first step, final) of a wait with this timeout, kept for the next wait.

        On the main thread a wait longer than a slice goes in slices so that
        Ctrl-C is handled; the core's remaining time tells how long each
        slice took. (Other threads wait the whole time in one call.)"""
        if timeout is None:
            ms = -1
        else:
            t = type(timeout)
            if (t is float or t is int) and 0 <= timeout < 2000000.0:
                ms = int(timeout * 1000.0)
                if ms < timeout * 1000.0:
                    ms += 1
            else:
                ms = seconds_to_ms(timeout, "timeout")
        if ms < 0 or ms > SLICE_MS:
            plan = (timeout, ms, SLICE_MS, False)
        else:
            plan = (timeout, ms, ms, True)
        self._plan = plan
        return plan[1], plan[2], plan[3]

    def _wait_more(self, rc: int, ms: int, step: int, final: bool, item: Any) -> Tuple[int, int]:
        """After a first slice that failed or found nothing: the next slices; (n, ms left)."""
        arr, nready, pn, rem, prem = item
        h = self._h
        left = ms
        while True:
            if rc:
                self._scratch.append(item)
                raise self._wait_error(rc)
            n = nready.value
            if ms >= 0:
                r = rem.value
                left -= step - r if r > 0 else step
            if n or final:
                return n, left
            if ms >= 0 and left <= SLICE_MS:
                step = left if left > 0 else 0
                final = True
            rc = _raw_list_wait(h, step, arr, WAIT_LIST_BATCH, pn, prem)

    def _wait_error(self, rc: int) -> Exception:
        e = last_error(rc)
        if rc == _ERR_INVALID_HANDLE and self._closed:
            e.strerror = f"the wait list is closed ({e.strerror})"
            e.args = (e.strerror,)
        return e

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Free the wait list (its sockets stay open). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._members = {}
        self._last_ready = []
        rc = self._core_free(self._h)
        if rc and rc != _ERR_INVALID_HANDLE:
            raise last_error(rc)

    free = close

    def __enter__(self) -> "WaitList":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self._core_free(self._h)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._members)} sockets"
        return f"<usocket.WaitList handle={self._handle:#x} {state}>"


def make_wait_list(sockets: Iterable[Usocket] = ()) -> WaitList:
    """usocket's ``make-wait-list``."""
    return WaitList(sockets)


def add_waiter(wait_list: WaitList, s: Usocket) -> WaitList:
    """usocket's ``add-waiter``."""
    wait_list.add(s)
    return wait_list


def remove_waiter(wait_list: WaitList, s: Usocket) -> WaitList:
    """usocket's ``remove-waiter``."""
    wait_list.remove(s)
    return wait_list


def remove_all_waiters(wait_list: WaitList) -> WaitList:
    """usocket's ``remove-all-waiters``."""
    wait_list.clear()
    return wait_list

