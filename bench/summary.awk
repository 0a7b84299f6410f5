# SPDX-License-Identifier: MIT
# Turns the raw measurements of bench/run.sh into Markdown tables and PASS/MISS lines per target.
# Input lines: "WORKLOAD KIND ROUND wall_s cpu_s maxrss_kb status bytes", where KIND is a mode
# (plain noop ring file ctrace uftrace), a post-processing step (commit report ureport), or
# "calls" (bytes = exact call count). Only runs with status 0 count. Variable threads holds
# "workload=N ..." (threads doing calls in each workload).

function sortv(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
}
# median of field f (4 wall, 5 cpu, 6 rss, 8 bytes) of key k; "" when there is none
function med(k, f,    n, i, a) {
	n = cnt[k]
	if (n == 0)
		return ""
	for (i = 1; i <= n; i++)
		a[i] = val[k, i, f]
	sortv(a, n)
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function vmin(k, f,    i, m) {
	m = ""
	for (i = 1; i <= cnt[k]; i++)
		if (m == "" || val[k, i, f] < m)
			m = val[k, i, f]
	return m
}
function vmax(k, f,    i, m) {
	m = ""
	for (i = 1; i <= cnt[k]; i++)
		if (m == "" || val[k, i, f] > m)
			m = val[k, i, f]
	return m
}
function f(x, fmt) { return x == "" ? "n/a" : sprintf(fmt, x) }
# overhead per call (ns) of mode m over the no-op build, per thread when pt is set
function ov(w, m, pt,    a, b) {
	a = med(w SUBSEP m, 4)
	b = med(w SUBSEP "noop", 4)
	if (a == "" || b == "" || calls[w] <= 0)
		return ""
	return (a - b) * 1e9 / calls[w] * (pt ? nthr[w] : 1)
}
# the same from CPU time (user+sys of all threads): robust against preemption by other
# processes, blind to time spent blocked; per call on any thread, so no per-thread factor
function ovc(w, m,    a, b) {
	a = med(w SUBSEP m, 5)
	b = med(w SUBSEP "noop", 5)
	if (a == "" || b == "" || calls[w] <= 0)
		return ""
	return (a - b) * 1e9 / calls[w]
}
function ratio(a, b) { return (a == "" || b == "" || b <= 0) ? "" : a / b }
function verdict(ok) { return ok == "" ? "n/a " : (ok ? "PASS" : "MISS") }
function judge(t, v, ok) {
	if (v == "")
		na[t] = 1
	else if (!ok)
		miss[t] = 1
}
function tv(t) { return miss[t] ? 0 : (na[t] ? "" : 1) }

BEGIN {
	n = split(threads, tp, " ")
	for (i = 1; i <= n; i++) {
		split(tp[i], kv, "=")
		nthr[kv[1]] = kv[2]
	}
}
{
	w = $1
	k = $2
	if (!(w in seen) && w != "r10m") {
		seen[w] = 1
		order[++nw] = w
	}
	if (k == "calls") {
		calls[w] = $8
		next
	}
	if ($7 != 0)
		next
	key = w SUBSEP k
	c = ++cnt[key]
	val[key, c, 4] = $4
	val[key, c, 5] = $5
	val[key, c, 6] = $6
	val[key, c, 8] = $8
}
END {
	nm = split("plain noop ring file ctrace uftrace", modes, " ")

	print "### Wall time, s: median (min-max)"
	print ""
	print "| workload | calls | plain | no-op hooks | ring floor | file floor | ctrace | uftrace |"
	print "|---|---:|---|---|---|---|---|---|"
	for (i = 1; i <= nw; i++) {
		w = order[i]
		line = sprintf("| %s | %.1f M", w, calls[w] / 1e6)
		for (j = 1; j <= nm; j++) {
			key = w SUBSEP modes[j]
			if (cnt[key])
				line = line sprintf(" | %.3f (%.3f-%.3f)", med(key, 4), vmin(key, 4),
						    vmax(key, 4))
			else
				line = line " | n/a"
		}
		print line " |"
	}

	print ""
	print "### Overhead per call over the no-op build, ns (slowdown over the no-op build)"
	print ""
	print "| workload | no-op vs plain | ring floor | file floor | ctrace | uftrace | ctrace / uftrace | ctrace / ring |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= nw; i++) {
		w = order[i]
		noop = med(w SUBSEP "noop", 4)
		plain = med(w SUBSEP "plain", 4)
		np = (noop == "" || plain == "" || calls[w] <= 0) ? "" : (noop - plain) * 1e9 / calls[w]
		line = sprintf("| %s | %s", w, f(np, "%.1f"))
		for (j = 3; j <= nm; j++) {
			o = ov(w, modes[j], 0)
			s = ratio(med(w SUBSEP modes[j], 4), noop)
			line = line (o == "" ? " | n/a" : sprintf(" | %.1f (%.2fx)", o, s))
		}
		line = line " | " f(ratio(ov(w, "ctrace", 0), ov(w, "uftrace", 0)), "%.2f")
		line = line " | " f(ratio(ov(w, "ctrace", 0), ov(w, "ring", 0)), "%.2f")
		print line " |"
	}

	print ""
	print "### Cross-check from CPU time (user+sys): overhead per call over the no-op build, ns"
	print ""
	print "| workload | ring floor | file floor | ctrace | uftrace | ctrace / uftrace | ctrace / ring |"
	print "|---|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= nw; i++) {
		w = order[i]
		line = "| " w
		for (j = 3; j <= nm; j++)
			line = line " | " f(ovc(w, modes[j]), "%.1f")
		line = line " | " f(ratio(ovc(w, "ctrace"), ovc(w, "uftrace")), "%.2f")
		line = line " | " f(ratio(ovc(w, "ctrace"), ovc(w, "ring")), "%.2f")
		print line " |"
	}

	print ""
	print "### Trace size, post-processing and memory"
	print ""
	print "| workload | event B/call ctrace | raw B/call ctrace | raw B/call uftrace | raw B/call file floor | stored B/event | commit M events/s | ctrace-report s | uftrace report s | peak RSS MiB no-op / ctrace / uftrace / commit |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for (i = 1; i <= nw; i++) {
		w = order[i]
		c = calls[w] > 0 ? calls[w] : ""
		evc = evb[w] = ratio(med(w SUBSEP "evbytes", 8), c)
		rawc[w] = ratio(med(w SUBSEP "ctrace", 8), c)
		if (rawc[w] == 0)
			rawc[w] = ""
		rawu = ratio(med(w SUBSEP "uftrace", 8), c)
		rawf = ratio(med(w SUBSEP "file", 8), c)
		cm = med(w SUBSEP "commit", 4)
		evs[w] = (cm == "" || cm <= 0 || c == "") ? "" : 2 * c / cm
		stored[w] = ratio(med(w SUBSEP "commit", 8), c == "" ? "" : 2 * c)
		if (stored[w] == 0)
			stored[w] = ""
		rep[w] = med(w SUBSEP "report", 4)
		urep = med(w SUBSEP "ureport", 4)
		rss = f(ratio(med(w SUBSEP "noop", 6), 1024), "%.0f") " / " \
		      f(ratio(vmax(w SUBSEP "ctrace", 6), 1024), "%.0f") " / " \
		      f(ratio(vmax(w SUBSEP "uftrace", 6), 1024), "%.0f") " / " \
		      f(ratio(vmax(w SUBSEP "commit", 6), 1024), "%.0f")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, f(evc, "%.2f"),
		       f(rawc[w], "%.3f"),
		       f(rawu, "%.2f"), f(rawf, "%.2f"), f(stored[w], "%.2f"),
		       f(evs[w] == "" ? "" : evs[w] / 1e6, "%.1f"), f(rep[w], "%.3f"), f(urep, "%.3f"), rss
	}

	print ""
	print "### Thread scaling: per-thread overhead per call, 2 threads / 1 thread"
	print ""
	print "| from | ring floor | file floor | ctrace | uftrace |"
	print "|---|---:|---:|---:|---:|"
	line = "| wall time x threads"
	line2 = "| CPU time"
	for (j = 3; j <= nm; j++) {
		sc[modes[j]] = ratio(ov("threads2", modes[j], 1), ov("threads1", modes[j], 1))
		scc[modes[j]] = ratio(ovc("threads2", modes[j]), ovc("threads1", modes[j]))
		line = line " | " f(sc[modes[j]], "%.2f")
		line2 = line2 " | " f(scc[modes[j]], "%.2f")
	}
	print line " |"
	print line2 " |"

	# Targets: MISS when any workload misses, else n/a when any lacks data, else PASS.
	for (i = 1; i <= nw; i++) {
		w = order[i]
		r = ratio(ov(w, "ctrace", 0), ov(w, "uftrace", 0))
		judge(1, r, r != "" && r <= 1 / 3)
		d1 = d1 sprintf(" %s %s", w, f(r, "%.2f"))
		c1 = c1 sprintf(" %s %s", w, f(ratio(ovc(w, "ctrace"), ovc(w, "uftrace")), "%.2f"))
		if (w ~ /^(fib|smallfns|threads1|threads2)$/) {
			r = ratio(ov(w, "ctrace", 0), ov(w, "ring", 0))
			judge(2, r, r != "" && r <= 1.5)
			d2 = d2 sprintf(" %s %s", w, f(r, "%.2f"))
			c2 = c2 sprintf(" %s %s", w, f(ratio(ovc(w, "ctrace"), ovc(w, "ring")), "%.2f"))
		}
		judge(3, rawc[w], rawc[w] != "" && rawc[w] <= 8 * 1.005)
		r = (stored[w] == "" || rawc[w] == "") ? "" : 2 * stored[w]
		judge(4, r, r != "" && r <= rawc[w])
		d4 = d4 sprintf(" %s %s/%s", w, f(r, "%.2f"), f(rawc[w], "%.3f"))
		judge(5, evs[w], evs[w] != "" && evs[w] >= 20e6)
		if (w ~ /^(fib|smallfns|lua|sqlite)$/) {
			judge(6, evb[w], evb[w] != "" && evb[w] <= 6.0)
			d6 = d6 sprintf(" %s %s", w, f(evb[w], "%.2f"))
		}
	}
	r10 = med("r10m" SUBSEP "report", 4)
	sr = sc["ctrace"]
	print ""
	print "### Targets"
	print ""
	print "- " verdict(tv(1)) " ctrace overhead <= 1/3 of uftrace's per call on every workload (ratio:" d1 "; from CPU time:" c1 ")"
	print "- " verdict(tv(2)) " ctrace within 1.5x of the ring floor on micro workloads (ratio:" d2 "; from CPU time:" c2 ")"
	print "- " verdict(tv(3)) " raw trace <= 8 bytes per call (+0.5% for headers, metadata and block rounding)"
	print "- " verdict(tv(4)) " stored <= raw (stored/raw bytes per call:" d4 ")"
	print "- " verdict(tv(5)) " commit >= 20 M events/s"
	print "- " verdict(tv(6)) " event words <= 6.0 bytes per call on fib, smallfns, lua, sqlite (" substr(d6, 2) ")"
	print "- " verdict(r10 == "" ? "" : r10 < 0.5) " report of a 10 M-call run (fib 33, 11.4 M calls) < 0.5 s: " f(r10, "%.3f s")
	print "- " verdict(sr == "" ? "" : sr <= 1.2) " 2-thread per-call overhead within 1.2x of 1 thread: " f(sr, "%.2f") " (from CPU time: " f(scc["ctrace"], "%.2f") ")"
}
