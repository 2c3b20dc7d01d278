# SPDX-License-Identifier: MIT
# weft-gdb.py - list weft fibers and show their backtraces in gdb.
#
#   (gdb) source tools/weft-gdb.py   # installed: share/weft/weft-gdb.py
#   (gdb) weft-fibers            # every live fiber: id, name, state, what it
#                                # waits for, worker
#   (gdb) weft-bt ID|NAME        # backtrace of a suspended fiber
#
# `cmake --install` puts this file in <prefix>/share/weft/weft-gdb.py.
# Structures it reads (src/core/core_int.h): wf__rt (nslots, nworkers,
# workers[].current, chunks[] of struct wf__slot {ctl, fiber}) and the
# fiber control block struct wf__fcb (id, name, wstate, why, ex.ctx.sp).
# tests/inspect/gdb_test.sh runs it against a stopped program in ctest.
#
# The runtime keeps every live fiber in its handle table (wf__rt.chunks);
# a suspended fiber's saved stack pointer is in its control block, and the
# callee-saved frame at that address (src/arch/x86_64/switch.S) holds its
# frame pointer and resume address. weft-bt loads those into the selected
# thread's registers, prints the backtrace and puts the registers back, so
# it needs a live process (not a core file) and an x86-64 asm build.
# A fiber that is running right now is on a worker thread: use `thread N`
# and `bt` for it.

import gdb

CHUNK = 4096
STATES = {1: "live", 2: "joining", 3: "detached", 4: "scoped"}
WSTATES = {1: "runnable", 2: "parking", 3: "parked", 4: "woken",
           5: "claimed"}


def wait_reason(f):
    """What a parked fiber waits for (enum wf__why), "" when not parked."""
    why = int(f["why"])
    if why == 0:
        return ""
    try:
        name = str(gdb.Value(why).cast(gdb.lookup_type("enum wf__why")))
        return name.replace("WF__WHY_", "").lower()
    except gdb.error:
        return "why=%d" % why


def live_fibers():
    sym = gdb.lookup_global_symbol("wf__rt") or gdb.lookup_symbol("wf__rt")[0]
    if sym is None:
        raise gdb.GdbError("no wf__rt: is this a weft program with debug info?")
    rt = sym.value()
    nslots = int(rt["nslots"])
    running = {}
    for i in range(int(rt["nworkers"])):
        cur = rt["workers"][i]["current"]
        if int(cur):
            running[int(cur)] = i
    for idx in range(nslots):
        chunk = rt["chunks"][idx // CHUNK]
        if not int(chunk):
            continue
        slot = chunk[idx % CHUNK]
        state = int(slot["ctl"]) & 0xF
        fiber = slot["fiber"]
        if state not in STATES or not int(fiber):
            continue
        yield fiber, STATES[state], running.get(int(fiber))


class WeftFibers(gdb.Command):
    """List live weft fibers: id, name, state, worker if running."""

    def __init__(self):
        super().__init__("weft-fibers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        n = 0
        for f, state, worker in live_fibers():
            ws = WSTATES.get(int(f["wstate"]), "?")
            if worker is not None:
                where = "running on worker %d" % worker
            elif ws in ("parked", "parking") and wait_reason(f):
                where = "%s on %s" % (ws, wait_reason(f))
            else:
                where = ws
            print("%-20d %-32s %-9s %s" % (int(f["id"]), f["name"].string(),
                                          state, where))
            n += 1
        print("%d live fibers" % n)


class WeftBt(gdb.Command):
    """Backtrace of a suspended weft fiber: weft-bt ID or weft-bt NAME."""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        want = int(arg) if arg.isdigit() else arg
        for f, state, worker in live_fibers():
            if want != (int(f["id"]) if isinstance(want, int)
                        else f["name"].string()):
                continue
            want = int(f["id"])
            if worker is not None:
                print("fiber %d is running on worker %d: use `thread` and `bt`"
                      % (want, worker))
                return
            sp = int(f["ex"]["ctx"]["sp"])
            u64 = gdb.lookup_type("unsigned long").pointer()
            frame = gdb.Value(sp).cast(u64)
            rbp, rip = int(frame[6]), int(frame[7])
            saved = [int(gdb.parse_and_eval(r)) for r in ("$rsp", "$rbp", "$pc")]
            try:
                gdb.execute("set $rsp = %d" % (sp + 64))
                gdb.execute("set $rbp = %d" % rbp)
                gdb.execute("set $pc = %d" % rip)
                gdb.execute("bt")
            finally:
                gdb.execute("set $rsp = %d" % saved[0])
                gdb.execute("set $rbp = %d" % saved[1])
                gdb.execute("set $pc = %d" % saved[2])
            return
        print("no live fiber %s" % want)


WeftFibers()
WeftBt()
