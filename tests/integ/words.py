# SPDX-License-Identifier: MIT
# Reads the event words of raw event files (docs/format.md, versions 1 and 2) for
# test_encoding.sh.
#   words.py stats FILE NM      per function (names from `nm` output): LEAF, ENTER words;
#                               then totals: calls, event bytes, LEAF, EXIT2 words
#   words.py v1 IN OUT          rewrites a version-2 file as version 1 (LEAF -> ENTER + EXIT,
#                               EXIT2 -> EXIT + EXIT, EXIT -> the 31-bit EXIT), same events
import struct
import sys


def words(path):
    data = open(path, "rb").read()
    hdr = data[:128]
    ver = struct.unpack_from("<H", hdr, 8)[0]
    end = struct.unpack_from("<Q", hdr, 48)[0] or len(data)
    n = (end - 128) // 4
    return hdr, ver, list(struct.unpack_from("<%dI" % n, data, 128))


def walk(ws):
    """yields (kind, word, payload) per record; stops at a zero word"""
    i = 0
    while i < len(ws):
        w = ws[i]
        if w == 0:
            return
        if w & 3 == 0:
            nw = (w >> 8) & 0xFF
            yield "ext", w, ws[i + 1:i + 1 + nw]
            i += 1 + nw
            continue
        yield {2: "enter", 3: "leaf", 1: "exit2" if w & 7 == 5 else "exit"}[w & 3], w, None
        i += 1


def stats(path, nm):
    hdr, ver, ws = words(path)
    assert ver == 2, ver
    names = {}
    for line in open(nm):
        f = line.split()
        if len(f) == 3 and f[1] in "tT":
            names[int(f[0], 16)] = f[2]
    slot = {}
    per = {}
    tot = {"enter": 0, "leaf": 0, "exit": 0, "exit2": 0}
    nwords = 0
    for kind, w, pay in walk(ws):
        nwords += 1 + (len(pay) if pay is not None else 0)
        if kind == "ext":
            if (w >> 2) & 0x3F == 2:  # DEFINE
                slot[w >> 16] = names.get(pay[0] | pay[1] << 32, "?")
            continue
        tot[kind] += 1
        if kind in ("enter", "leaf"):
            fn = slot.get((w >> 2) & 0x3FFF, "?")
            per.setdefault(fn, {"enter": 0, "leaf": 0})[kind] += 1
    for fn in sorted(per):
        print(fn, per[fn]["leaf"], per[fn]["enter"])
    calls = tot["enter"] + tot["leaf"]
    print("total", calls, nwords * 4, tot["leaf"], tot["exit2"])


def to_v1(src, dst):
    hdr, ver, ws = words(src)
    assert ver == 2, ver
    out = []
    for kind, w, pay in walk(ws):
        if kind == "ext":
            out.append(w)
            out.extend(pay)
        elif kind == "enter":
            out.append(w)
        elif kind == "leaf":
            out.append((w & 0xFFFF) & ~1 | ((w >> 16) & 0xFF) << 16)
            out.append((w >> 24) << 1 | 1)
        elif kind == "exit":
            out.append((w >> 3) << 1 | 1)
        else:
            out.append(((w >> 3) & 0x3FFF) << 1 | 1)
            out.append((w >> 17) << 1 | 1)
    hdr = bytearray(hdr)
    struct.pack_into("<H", hdr, 8, 1)
    if struct.unpack_from("<Q", hdr, 48)[0]:
        struct.pack_into("<Q", hdr, 48, 128 + 4 * len(out))
    with open(dst, "wb") as f:
        f.write(bytes(hdr))
        f.write(struct.pack("<%dI" % len(out), *out))


if sys.argv[1] == "stats":
    stats(sys.argv[2], sys.argv[3])
else:
    to_v1(sys.argv[2], sys.argv[3])
