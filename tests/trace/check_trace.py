#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/trace/check_trace.py FILE CHECK... - parse a weft trace (the
# format of docs/TRACE_FORMAT.md) and check it: the structure always, then
# each CHECK, written NAME OP NUMBER with OP one of = >= <= >, where NAME is
#   slices:F        fiber slices of the fiber named F
#   end:F:E         of those, the ones that ended with E (park/yield/exit)
#   reason:F:R      of those, parks for reason R
#   why:R           parks for reason R, of any fiber
#   flows           flow arrows (s/f pairs; each s has its f)
#   tasks           tasks in task slices (args.tasks summed)
#   steals, timers, idle, spawns   instants or slices of that category
#   io:OP           I/O slices named OP
#   span:S, mark:M  user spans / marks named S / M
#   workers         worker tracks; dropped, events: otherData's
#   threads         plain-thread tracks
#   first_mark      the number in the name of the earliest mark "m<N>"
# Exits 0 when all hold, 1 (printing what failed) otherwise.
import json, re, sys
from collections import Counter

def fail(msg):
    print("check_trace: " + msg)
    sys.exit(1)

path, checks = sys.argv[1], sys.argv[2:]
with open(path) as f:
    doc = json.load(f)
od = doc.get("otherData", {})
ev = doc.get("traceEvents")
if od.get("weft_trace") != 1 or not isinstance(ev, list):
    fail("no otherData.weft_trace or traceEvents")
if od.get("events") != len(ev):
    fail("otherData.events %r != %d events" % (od.get("events"), len(ev)))
n = Counter()
names = {}
flows_s, flows_f = {}, {}
marks = []
for e in ev:
    for k in ("ph", "pid", "tid"):
        if k not in e:
            fail("event without %s: %r" % (k, e))
    if e["pid"] != 1:
        fail("pid != 1: %r" % e)
    ph = e["ph"]
    if ph == "M":
        if e["name"] == "thread_name":
            names[e["tid"]] = e["args"]["name"]
        continue
    ts = float(e["ts"])
    cat = e["cat"]
    if ph == "X":
        if float(e["dur"]) < 0:
            fail("negative dur: %r" % e)
        if cat == "fiber":
            a = e["args"]
            if e["tid"] < 1 or e["tid"] >= 1000:
                fail("fiber slice off a worker track: %r" % e)
            fn = a["name"] or ("fiber %d" % a["fiber"])
            n["slices:" + fn] += 1
            n["end:%s:%s" % (fn, a["end"])] += 1
            if a["end"] == "park":
                n["reason:%s:%s" % (fn, a["reason"])] += 1
                n["why:" + a["reason"]] += 1
        elif cat == "task":
            n["tasks"] += e["args"]["tasks"]
        elif cat == "idle":
            n["idle"] += 1
        elif cat == "io":
            if e["tid"] != 1000:
                fail("io slice off tid 1000: %r" % e)
            n["io:" + e["name"]] += 1
        elif cat == "span":
            n["span:" + e["name"]] += 1
        else:
            fail("unknown slice category: %r" % e)
    elif ph == "i":
        if cat == "mark":
            n["mark:" + e["name"]] += 1
            marks.append((ts, e["name"]))
        elif cat == "steal":
            n["steals"] += 1
        elif cat == "timer":
            n["timers"] += 1
        elif cat == "spawn":
            n["spawns"] += 1
        else:
            fail("unknown instant category: %r" % e)
    elif ph == "s":
        flows_s[e["id"]] = e
    elif ph == "f":
        flows_f[e["id"]] = e
    else:
        fail("unknown ph: %r" % e)
if set(flows_s) != set(flows_f):
    fail("unmatched flows: %d s, %d f" % (len(flows_s), len(flows_f)))
starts = set()
for e in ev:
    if e["ph"] == "X" and e["cat"] == "fiber":
        starts.add((e["tid"], e["ts"]))
for k, f in flows_f.items():
    if (f["tid"], f["ts"]) not in starts:
        fail("flow %r points at no fiber slice" % f)
    if float(f["ts"]) < float(flows_s[k]["ts"]):
        fail("flow %r ends before it starts" % k)
n["flows"] = len(flows_f)
workers = [t for t in names if 1 <= t < 1000]
n["workers"] = len(workers)
if od["workers"] != len(workers):
    fail("otherData.workers %d != %d worker tracks" % (od["workers"], len(workers)))
for t in workers:
    if names[t] != "worker %d" % (t - 1):
        fail("track %d named %r" % (t, names[t]))
n["threads"] = len([t for t in names if t >= 2000])
n["dropped"] = od["dropped"]
n["events"] = od["events"]
if marks:
    first = min(marks)[1]
    m = re.match(r"m(\d+)$", first)
    n["first_mark"] = int(m.group(1)) if m else -1

bad = []
for c in checks:
    m = re.match(r"(.+?)(>=|<=|=|>)(\d+)$", c)
    if not m:
        fail("bad check %r" % c)
    k, op, v = m.group(1), m.group(2), int(m.group(3))
    got = n[k]
    ok = {"=": got == v, ">=": got >= v, "<=": got <= v, ">": got > v}[op]
    if not ok:
        bad.append("%s: got %d" % (c, got))
if bad:
    fail("; ".join(bad) + "\n" + "\n".join("  %s = %d" % kv for kv in sorted(n.items())))
print("check_trace: %d events, all %d checks hold" % (len(ev), len(checks)))
