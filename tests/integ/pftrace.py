# SPDX-License-Identifier: MIT
# Reads a Perfetto trace as `protoc --decode=perfetto.protos.Trace` prints it (text format) and
# replays it the way Perfetto's importer does, for test_perfetto.sh:
#   pftrace.py facts TEXT REPORT.json [CHROME.json]
# prints one "key value" line each (values with no spaces):
#   unknown N          fields protoc did not know (printed as numbers)
#   unbalanced N       ENDs on an empty track + BEGINs still open at the end
#   backwards N        events earlier than the one before on their track
#   undefined_iid N    names/source locations used before being interned on their sequence
#   unflagged N        packets using interned state without SEQ_NEEDS_INCREMENTAL_STATE
#   uncleared N        sequences that used state before a SEQ_INCREMENTAL_STATE_CLEARED
#   calls_equal yes|no slices per name = the report's calls of every function and span
#   marks_equal yes|no instants per name = the report's calls of every mark
#   slices N, instants N, threads N, processes N
#   thread_names a,b   sorted distinct thread names; process_names likewise
#   inherited a,b      sorted names of slices marked ctrace.inherited (unfinished likewise)
#   lost N             sum over counter tracks of their last value
#   srclocs N          slices whose source location names a file
#   args a,b           sorted "slice:key=value" of the annotations on ENDs (not ctrace.*)
#   chrome_equal yes|no|- every slice (thread, name, start, duration in ns) equals the
#                      Chrome export's complete events, as multisets
import json
import re
import sys
from collections import Counter, defaultdict


def parse(path):
    """Text format -> nested dicts of lists: {"packet": [{...}, ...]}."""
    root = {}
    stack = [root]
    unknown = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        s = line.strip()
        if not s:
            continue
        if s == "}":
            stack.pop()
            continue
        m = re.match(r"^([A-Za-z_0-9]+)\s*\{$", s)
        if m:
            if m.group(1)[0].isdigit():
                unknown += 1
            child = {}
            stack[-1].setdefault(m.group(1), []).append(child)
            stack.append(child)
            continue
        m = re.match(r"^([A-Za-z_0-9]+):\s*(.*)$", s)
        if not m:
            raise SystemExit("pftrace.py: cannot read line: " + s)
        if m.group(1)[0].isdigit():
            unknown += 1
        v = m.group(2)
        if v.startswith('"'):
            v = bytes(v[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
        stack[-1].setdefault(m.group(1), []).append(v)
    return root, unknown


def one(d, k, default=None):
    v = d.get(k)
    return v[0] if v else default


def facts(text, report, chrome):
    root, unknown = parse(text)
    f = Counter(unknown=unknown)
    seqs = {}  # id -> state
    stacks = defaultdict(list)  # track -> open slices [name, start, inherited]
    last = {}
    slices, instants, lost = Counter(), Counter(), {}
    threads, procs = {}, {}
    inherited, unfinished, args, mine = [], [], [], Counter()
    for p in root.get("packet", []):
        sid = int(one(p, "trusted_packet_sequence_id", 0))
        st = seqs.setdefault(sid, {"names": {}, "locs": {}, "cleared": False, "clock": None, "t": 0,
                                   "track": None, "incr": False})
        flags = int(one(p, "sequence_flags", 0))
        if flags & 1:
            st.update(names={}, locs={}, cleared=True)
        d = one(p, "trace_packet_defaults")
        if d:
            st["clock"] = int(one(d, "timestamp_clock_id", 0))
            ted = one(d, "track_event_defaults")
            st["track"] = int(one(ted, "track_uuid")) if ted else None
        cs = one(p, "clock_snapshot")
        if cs:
            for c in cs.get("clocks", []):
                if int(one(c, "clock_id")) == st["clock"]:
                    st["t"] = int(one(c, "timestamp"))
                    st["incr"] = one(c, "is_incremental") == "true"
        idata = one(p, "interned_data")
        uses = bool(idata)
        if idata:
            for n in idata.get("event_names", []):
                st["names"][int(one(n, "iid"))] = one(n, "name")
            for n in idata.get("source_locations", []):
                st["locs"][int(one(n, "iid"))] = one(n, "file_name")
        td = one(p, "track_descriptor")
        if td:
            th, pr = one(td, "thread"), one(td, "process")
            if th:
                threads[int(one(td, "uuid"))] = (int(one(th, "pid")), int(one(th, "tid")), one(th, "thread_name"))
            if pr:
                procs[int(one(td, "uuid"))] = one(pr, "process_name", one(pr, "cmdline", "?"))
        if "timestamp" in p:
            ts = int(one(p, "timestamp"))
            st["t"] = st["t"] + ts if st["incr"] else ts
        te = one(p, "track_event")
        if not te:
            continue
        uses = uses or "name_iid" in te or "source_location_iid" in te or st["incr"]
        track = int(one(te, "track_uuid", st["track"] if st["track"] is not None else -1))
        t = st["t"]
        if t < last.get(track, 0):
            f["backwards"] += 1
        last[track] = t
        name = one(te, "name")
        if "name_iid" in te:
            name = st["names"].get(int(one(te, "name_iid")))
            if name is None:
                f["undefined_iid"] += 1
        if "source_location_iid" in te:
            loc = st["locs"].get(int(one(te, "source_location_iid")))
            if loc is None:
                f["undefined_iid"] += 1
            elif loc:
                f["srclocs"] += 1
        anns = {one(a, "name"): one(a, "string_value", one(a, "int_value", one(a, "bool_value")))
                for a in te.get("debug_annotations", [])}
        typ = one(te, "type")
        if typ == "TYPE_SLICE_BEGIN":
            slices[name] += 1
            stacks[track].append([name, t])
            if anns.get("ctrace.inherited") == "true":
                inherited.append(name)
        elif typ == "TYPE_SLICE_END":
            if not stacks[track]:
                f["unbalanced"] += 1
                continue
            sname, t0 = stacks[track].pop()
            mine[(track, sname, t0, t - t0)] += 1
            if anns.get("ctrace.unfinished") == "true":
                unfinished.append(sname)
            args += ["%s:%s=%s" % (sname, k, v) for k, v in anns.items() if not k.startswith("ctrace.")]
        elif typ == "TYPE_INSTANT":
            instants[name] += 1
        elif typ == "TYPE_COUNTER":
            lost[track] = int(one(te, "counter_value", 0))
        if uses and not flags & 2:
            f["unflagged"] += 1
        if uses and not st["cleared"]:
            f["uncleared"] += 1
    f["unbalanced"] += sum(len(s) for s in stacks.values())
    rep = json.load(open(report))
    want = {x["name"]: x["calls"] for x in rep["functions"] if x["kind"] != "mark"}
    wmarks = {x["name"]: x["calls"] for x in rep["functions"] if x["kind"] == "mark"}
    out = {k: f[k] for k in ("unknown", "unbalanced", "backwards", "undefined_iid", "unflagged", "uncleared")}
    out["calls_equal"] = "yes" if want == dict(slices) else "no:%s/%s" % (sorted(want.items())[:4], sorted(slices.items())[:4])
    out["marks_equal"] = "yes" if wmarks == dict(instants) else "no"
    out["slices"] = sum(slices.values())
    out["instants"] = sum(instants.values())
    out["threads"] = len(threads)
    out["processes"] = len(procs)
    out["thread_names"] = ",".join(sorted({n for _, _, n in threads.values()}))
    out["process_names"] = ",".join(sorted(set(procs.values())))
    out["inherited"] = ",".join(sorted(inherited)) or "-"
    out["unfinished"] = ",".join(sorted(unfinished)) or "-"
    out["lost"] = sum(lost.values())
    out["srclocs"] = f["srclocs"]
    out["args"] = ",".join(sorted(args)) or "-"
    out["chrome_equal"] = "-"
    if chrome:
        evs = json.load(open(chrome))["traceEvents"]
        theirs = Counter()
        for e in evs:
            if e.get("ph") == "X" and e.get("cat") != "offcpu":
                theirs[((e["pid"], e["tid"]), e["name"], round(e["ts"] * 1000), round(e["dur"] * 1000))] += 1
        ours = Counter({((threads[k[0]][0], threads[k[0]][1]), k[1], k[2], k[3]): n
                        for k, n in mine.items() if k[0] in threads})
        out["chrome_equal"] = "yes" if ours == theirs and ours else "no:%d/%d" % (sum(ours.values()), sum(theirs.values()))
    for k, v in out.items():
        print(k, str(v).replace(" ", ""))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "facts":
        raise SystemExit("usage: pftrace.py facts TEXT REPORT.json [CHROME.json]")
    facts(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
