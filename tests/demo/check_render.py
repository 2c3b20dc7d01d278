# SPDX-License-Identifier: MIT
"""tests/demo/check_render.py PNG DOM CSV yes/no - check a rendering of weft-demo's
HTML report.

PNG: Chromium's screenshot of the report. It is decoded here (zlib and the
PNG row filters, no imaging library) and must be a real picture: not tiny,
several colours, and a fair share of pixels that differ from the
background, which a blank or failed page would not have.

DOM: Chromium's --dump-dom of the same page. The results table must be
there with one row per variant of the CSV (weft-demo --csv of the same
run), each showing that variant's answer, and each variant's timeline
figure with an SVG of one lane per worker of its run.

Prints what it found; exits 0 when every check passes, 1 otherwise.
"""
import csv
import re
import struct
import sys
import zlib


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def decode_png(path):
    """(width, height, rows of pixel tuples) of an 8-bit RGB/RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("%s is not a PNG" % path)
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if hdr is None:
        fail("no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        fail("unexpected PNG format: depth %d colour type %d interlace %d"
             % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        off = y * (stride + 1)
        ftype = raw[off]
        line = bytearray(raw[off + 1:off + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
            elif ftype != 0:
                fail("bad PNG filter %d on row %d" % (ftype, y))
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path):
    size = len(open(path, "rb").read())
    if size < 5000:
        fail("screenshot is only %d bytes" % size)
    width, height, bpp, rows = decode_png(path)
    counts = {}
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    total = width * height
    background, most = max(counts.items(), key=lambda kv: kv[1])
    other = 1.0 - most / total
    print("screenshot: %dx%d, %d bytes, %d colours, %.1f%% of pixels "
          "differ from the background %s"
          % (width, height, size, len(counts), 100 * other,
             background.hex()))
    if len(counts) < 8:
        fail("screenshot has only %d colours: blank page?" % len(counts))
    if other < 0.02:
        fail("screenshot is almost one colour: blank page?")


def check_dom(dom_path, csv_path, timelines):
    dom = open(dom_path, encoding="utf-8", errors="replace").read()
    results = list(csv.DictReader(open(csv_path)))
    if not results:
        fail("no results in %s" % csv_path)
    if 'id="results"' not in dom:
        fail("no results table in the DOM")
    shown = re.findall(r'<tr class="variant[^"]*" data-variant="([^"]+)">'
                       r'(.*?)</tr>', dom, re.S)
    by_key = dict(shown)
    print("DOM: results table with %d variant rows (CSV has %d)"
          % (len(shown), len(results)))
    for r in results:
        row = by_key.get(r["variant"])
        if row is None:
            fail("variant %s has no row in the table" % r["variant"])
        if r["answer"] not in row:
            fail("row of %s does not show its answer %s"
                 % (r["variant"], r["answer"]))
    if len(shown) != len(results):
        fail("%d rows in the table, %d variants" % (len(shown), len(results)))
    for wl in sorted({r["workload"] for r in results}):
        if 'id="%s"' % wl not in dom:
            fail("no section for workload %s" % wl)
    # Each variant's timeline: a figure holding an inline SVG drawn from
    # its trace, with a lane per worker of its runtime (the serial loop
    # has no runtime: its picture has no worker lane). A build without
    # the tracer has none.
    if not timelines:
        if 'class="timeline"' in dom:
            fail("timelines in the report of a build without the tracer")
        print("DOM: no timelines (a build without the tracer)")
        return
    for r in results:
        m = re.search(r'<figure class="timeline" id="timeline-%s">(.*?)'
                      r'</figure>' % re.escape(r["variant"]), dom, re.S)
        if m is None:
            fail("variant %s has no timeline figure" % r["variant"])
        fig = m.group(1)
        if "<svg" not in fig:
            fail("the timeline of %s has no picture" % r["variant"])
        lanes = len(re.findall(r'<g class="lane worker"', fig))
        want = 0 if r["variant"] == "cpu-serial" else int(r["workers"])
        if lanes != want:
            fail("the timeline of %s has %d worker lanes, its run had %d "
                 "workers" % (r["variant"], lanes, want))
    print("DOM: a timeline with one lane per worker for each variant")


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("yes", "no"):
        fail("usage: check_render.py PNG DOM CSV yes|no (timelines)")
    check_png(sys.argv[1])
    check_dom(sys.argv[2], sys.argv[3], sys.argv[4] == "yes")
    print("ok")


main()
