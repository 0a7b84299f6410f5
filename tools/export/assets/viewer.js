/* SPDX-License-Identifier: MIT */
/* The ctrace viewer (docs/serve.md): run list, run page (header, profile table, flame graph,
 * timeline of every thread on one time axis) and diff page. Served by `ctrace serve`, where it
 * asks the JSON API under /api/, and inlined by `ctrace show --format html`, where the same
 * calls are answered from the page's own data (#ctrace-data). Plain DOM and canvas, no
 * network beyond the server it came from; run strings only ever reach textContent/title. */
(function () {
'use strict';

var dataEl = document.getElementById('ctrace-data');
var STATIC = dataEl ? JSON.parse(dataEl.textContent) : null;
var TOKEN = new URLSearchParams(location.search).get('token');
var app = document.getElementById('app'), crumbs = document.getElementById('crumbs');
var gen = 0; /* bumped on every route change: late answers of an old page are dropped */

/* ---- helpers ---- */
function el(tag, attrs, text) {
	var e = document.createElement(tag);
	if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
	if (text !== undefined && text !== null) e.textContent = String(text);
	return e;
}
function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
function fmtNs(ns) {
	var u = [[1e9, ' s'], [1e6, ' ms'], [1e3, ' us']];
	var a = Math.abs(ns);
	for (var i = 0; i < u.length; i++) if (a >= u[i][0]) {
		var v = ns / u[i][0], av = Math.abs(v);
		return (av >= 100 ? v.toFixed(0) : av >= 10 ? v.toFixed(1) : v.toFixed(2)) + u[i][1];
	}
	return Math.round(ns) + ' ns';
}
function fmtCount(n) { return n >= 1e9 ? (n / 1e9).toFixed(2) + ' G' : n >= 1e6 ? (n / 1e6).toFixed(2) + ' M' : n >= 1e4 ? (n / 1e3).toFixed(1) + ' k' : String(n); }
/* @s cut to @n characters in the middle: commands differ in their arguments, at the end. */
function midCut(s, n) { s = s || ''; return s.length <= n ? s : s.slice(0, Math.floor(n / 3)) + '\u2026' + s.slice(s.length - (n - Math.floor(n / 3) - 1)); }
/* An exact count with thousands separators ("13,800"), for tables where counts are compared. */
function fmtInt(n) { return n === undefined || n === null ? '' : Number(n).toLocaleString('en-US'); }
function fmtTime(unixNs) { return new Date(unixNs / 1e6).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'); }
function pct(x, base) { return base ? (100 * x / base).toFixed(1) + '%' : '-'; }
/* The shortened names of the run on screen, as ctrace-report shows them (its JSON's
 * display_name, computed by the same code as the CLI's), by full name. */
var DISPLAY = {};
/* C++ names: the CLI's shortening when the run gave one, else template arguments and parameter
 * lists folded here (diff and trend pages); the full name kept for hover. */
function shortName(n) {
	if (!n) return '?';
	if (Object.prototype.hasOwnProperty.call(DISPLAY, n)) return DISPLAY[n];
	var out = '', depth = 0;
	for (var i = 0; i < n.length; i++) {
		var c = n[i];
		if (c === '<' && !/operator$/.test(out) && !(n[i + 1] === '<' || n[i + 1] === '=' || n[i - 1] === '<')) { if (depth++ === 0) out += '<\u2026'; continue; }
		if (c === '>' && depth > 0) { if (--depth === 0) out += '>'; continue; }
		if (depth === 0) out += c;
	}
	if (out.length > 48) out = out.replace(/\((?!anonymous)[^()]*\)( const)?$/, '(\u2026)');
	return out.length > 80 ? '\u2026' + out.slice(out.length - 79) : out;
}
/* @name as it fits @w pixels in context @g: whole, else without its leading scopes one by one
 * ("leveldb::Benchmark::Run" -> "Benchmark::Run" -> "Run"), else cut with an ellipsis; '' when
 * not even three characters fit. */
function fitLabel(g, name, w) {
	if (g.measureText(name).width <= w) return name;
	var parts = [], depth = 0, last = 0;
	for (var i = 0; i < name.length; i++) {
		var c = name[i];
		if (c === '<' || c === '(') depth++;
		else if ((c === '>' || c === ')') && depth > 0) depth--;
		else if (c === ':' && name[i + 1] === ':' && depth === 0) { parts.push(name.slice(last, i)); last = i + 2; i++; }
	}
	parts.push(name.slice(last));
	for (var k = 1; k < parts.length; k++) {
		var rest = parts.slice(k).join('::');
		if (g.measureText(rest).width <= w) return rest;
	}
	var base = parts[parts.length - 1];
	for (var n = base.length - 1; n >= 3; n--) if (g.measureText(base.slice(0, n) + '\u2026').width <= w) return base.slice(0, n) + '\u2026';
	return '';
}
/* for the browser tests: the label fitting on its own */
window.ctraceViewer = {fitLabel: fitLabel};
function hash32(s) { var h = 2166136261; for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
/* A library call's name (--libcalls): SYM@LIB, as common/libcall.h reads it. */
function isLibcall(name) { return /^[^@ ()<>,]+@[^@ ()<>,]*\.so[^@ ()<>,]*$/.test(name || ''); }
/* A colour per function name, the same in every run and view; library calls in a blue-grey band of their own. */
function colour(name) { var h = hash32(name || '?'); if (isLibcall(name)) return 'hsl(' + (195 + h % 30) + ',30%,' + (68 + (h >>> 9) % 12) + '%)'; return 'hsl(' + (h % 360) + ',' + (45 + (h >>> 9) % 25) + '%,' + (62 + (h >>> 17) % 14) + '%)'; }
function debounce(fn, ms) { var t; return function () { clearTimeout(t); t = setTimeout(fn, ms); }; }

/* ---- the API, remote or answered from the static page's data ---- */
function api(path, params) {
	if (STATIC) return Promise.resolve().then(function () { return staticApi(path, params || {}); });
	var q = new URLSearchParams();
	for (var k in params || {}) if (params[k] !== '' && params[k] !== undefined && params[k] !== null) q.append(k, params[k]);
	var headers = TOKEN ? {Authorization: 'Bearer ' + TOKEN} : {};
	return fetch(path + (String(q) ? '?' + q : ''), {headers: headers, cache: 'no-store'}).then(function (r) {
		return r.json().then(function (j) {
			if (!r.ok) throw new Error((j.error_code || r.status) + ': ' + (j.message || r.statusText));
			return j;
		});
	});
}
function staticApi(path, p) {
	var run = STATIC.run, m;
	if (path === '/api/runs') {
		var s = {};
		for (var k in run) if (k !== 'functions' && k !== 'threads') s[k] = run[k];
		s.threads = run.threads.length;
		return {runs: [s], limit: 1, offset: 0};
	}
	if ((m = /^\/api\/runs\/([^/]+)(\/timeline)?$/.exec(path))) {
		if (!m[2]) return run;
		var tl = STATIC.timelines[+p.thread || 0];
		return reduceLocal(tl, +p.from, +p.to, +p.px);
	}
	throw new Error('CTRACE_E_NOT_FOUND: not in this static page (use ctrace serve)');
}
/* The static page's zoom: the inlined whole-run answer merged again for [from, to) at px. */
function reduceLocal(tl, from, to, px) {
	var pw = Math.max(1, Math.floor((to - from) / px)), calls = [], busy = [], cur = {}, md = 0;
	function merge(d, s, e, n, f) {
		var c = cur[d];
		if (c && s < c[0] + c[1] + pw) { var end = Math.max(c[0] + c[1], e); c[1] = end - c[0]; c[3] += n; if (c[4] !== f) c[4] = -1; return; }
		if (c) busy.push(c);
		cur[d] = [s, e - s, d, n, f];
	}
	var items = [];
	tl.calls.forEach(function (c) { if (c[0] < to && c[0] + c[1] > from) items.push([c[0], c[2], c]); });
	tl.busy.forEach(function (b) { if (b[0] < to && b[0] + b[1] > from) items.push([b[0], b[2], null, b]); });
	items.sort(function (a, b) { return a[1] - b[1] || a[0] - b[0]; });
	items.forEach(function (it) {
		md = Math.max(md, it[1] + 1);
		if (it[2]) { if (it[2][1] >= pw) calls.push(it[2]); else merge(it[1], it[2][0], it[2][0] + it[2][1], 1, it[2][3]); }
		else merge(it[1], it[3][0], it[3][0] + it[3][1], it[3][3], it[3][4]);
	});
	for (var d in cur) busy.push(cur[d]);
	var marks = tl.marks.filter(function (mk) { return mk[0] >= from && mk[0] < to; });
	var offcpu = (tl.offcpu || []).filter(function (o) { return o[0] < to && o[0] + o[1] > from; });
	return {thread: tl.thread, pid: tl.pid, tid: tl.tid, from: from, to: to, ns_per_px: pw, source: 'static',
		max_depth: md, calls: calls, busy: busy, marks: marks, offcpu: offcpu, detail_ns: tl.ns_per_px};
}

/* ---- routing ---- */
function parseHash() {
	var h = location.hash.replace(/^#/, '') || '/', qi = h.indexOf('?');
	var path = qi < 0 ? h : h.slice(0, qi), q = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
	return {parts: path.split('/').filter(Boolean).map(decodeURIComponent), q: q};
}
function go(hash) { location.hash = hash; }
function route() {
	var r = parseHash(), my = ++gen;
	document.body.removeAttribute('data-ctrace-ready');
	app.textContent = '';
	crumbs.textContent = '';
	var done = function () {
		if (my !== gen) return;
		if (!window.ctraceReadyAt) window.ctraceReadyAt = performance.now(); /* every section drawn, for bench/serve.sh */
		document.body.setAttribute('data-ctrace-ready', '1');
	};
	var fail = function (err) {
		if (my !== gen) return;
		add(app, el('p', {'class': 'error', id: 'error'}, String(err.message || err)));
		document.body.setAttribute('data-ctrace-ready', '1');
		document.body.setAttribute('data-ctrace-error', '1');
	};
	var p;
	if (STATIC && !r.parts.length) r.parts = ['run', STATIC.run.run_id];
	if (r.parts[0] === 'run' && r.parts[1]) p = runPage(r.parts[1], r.q, my);
	else if (r.parts[0] === 'diff' && r.parts[2]) p = diffPage(r.parts[1], r.parts[2], my);
	else if (r.parts[0] === 'trend' && !STATIC) p = trendPage(r.q, my);
	else p = listPage(r.q, my);
	p.then(done, fail);
}
function isCurrent(my) { return my === gen; }

/* ---- run list ---- */
var FILTERS = [['command', 'command contains'], ['function', 'has function'], ['since', 'since (2026-11-21, -2h)'], ['until', 'until'], ['meta', 'meta KEY=VALUE']];
function listPage(q, my) {
	var limit = 25, offset = +(q.get('offset') || 0), params = {limit: limit, offset: offset};
	add(crumbs, el('span', null, 'runs'));
	var form = el('form', {id: 'filters', 'class': 'filters'});
	FILTERS.forEach(function (f) {
		var i = el('input', {name: f[0], placeholder: f[1], value: q.get(f[0]) || ''});
		params[f[0]] = q.get(f[0]) || '';
		add(form, i);
	});
	add(form, el('button', {type: 'submit'}, 'filter'));
	form.addEventListener('submit', function (ev) {
		ev.preventDefault();
		var nq = new URLSearchParams();
		FILTERS.forEach(function (f) { var v = form.elements[f[0]].value.trim(); if (v) nq.set(f[0], v); });
		go('#/?' + nq);
	});
	add(app, el('h1', null, 'Runs'), form);
	return api('/api/runs', params).then(function (j) {
		if (!isCurrent(my)) return;
		var t = el('table', {id: 'runs', 'class': 'grid', 'data-rows': String(j.runs.length)});
		var hr = add(el('tr'), el('th', null, 'diff'), el('th', null, 'run'), el('th', null, 'start'), el('th', {'class': 'num'}, 'duration'),
			el('th', {'class': 'num'}, 'threads'), el('th', {'class': 'num'}, 'calls'), el('th', null, 'status'), el('th', null, 'command'));
		add(t, add(el('thead'), hr));
		var tb = el('tbody');
		add(t, tb);
		var picked = [];
		var diffBtn = el('button', {id: 'diff-btn', disabled: 'disabled'}, 'diff the two selected runs');
		var startOf = {};
		j.runs.forEach(function (r) { startOf[r.run_id] = r.start_unix_ns; });
		/* A is the earlier run, B the later one, whatever order they were ticked in. */
		diffBtn.addEventListener('click', function () {
			if (picked.length !== 2) return;
			var p = picked.slice().sort(function (x, y) { return startOf[x] - startOf[y]; });
			go('#/diff/' + encodeURIComponent(p[0]) + '/' + encodeURIComponent(p[1]));
		});
		j.runs.forEach(function (r) {
			var cb = el('input', {type: 'checkbox', 'data-run': r.run_id});
			cb.addEventListener('change', function () {
				if (cb.checked) picked.push(r.run_id); else picked = picked.filter(function (x) { return x !== r.run_id; });
				while (picked.length > 2) { var old = picked.shift(); var o = tb.querySelector('input[data-run="' + old + '"]'); if (o) o.checked = false; }
				if (picked.length === 2) diffBtn.removeAttribute('disabled'); else diffBtn.setAttribute('disabled', 'disabled');
			});
			var a = el('a', {href: '#/run/' + encodeURIComponent(r.run_id)}, r.run_id);
			var st = r.signal ? (r.crashed ? 'crash: signal ' : 'signal ') + r.signal : r.exit_status >= 0 ? 'exit ' + r.exit_status : '?';
			add(tb, add(el('tr', {'class': r.crashed ? 'crashed' : null}), add(el('td'), cb), add(el('td'), a), el('td', null, fmtTime(r.start_unix_ns)),
				el('td', {'class': 'num'}, fmtNs(r.duration_ns)), el('td', {'class': 'num'}, r.threads !== undefined ? r.threads : ''),
				el('td', {'class': 'num'}, r.calls !== undefined ? fmtCount(r.calls) : ''), el('td', null, st), el('td', {'class': 'cmd', title: r.command}, midCut(r.command, 64))));
		});
		add(app, t);
		var nav = el('p', {'class': 'paging'});
		var base = new URLSearchParams(q);
		if (offset > 0) { base.set('offset', String(Math.max(0, offset - limit))); add(nav, el('a', {href: '#/?' + base, id: 'prev'}, '\u2190 newer')); }
		add(nav, el('span', null, ' runs ' + (j.runs.length ? offset + 1 : 0) + '\u2013' + (offset + j.runs.length) + ' '));
		if (j.runs.length === limit) { base.set('offset', String(offset + limit)); add(nav, el('a', {href: '#/?' + base, id: 'next'}, 'older \u2192')); }
		add(app, nav, diffBtn);
		if (!j.runs.length) add(app, el('p', {'class': 'note'}, 'no runs match'));
	});
}

/* ---- run page ---- */
function runPage(id, q, my) {
	add(crumbs, add(el('a', {href: '#/'}, 'runs')), el('span', null, ' / ' + id));
	return api('/api/runs/' + encodeURIComponent(id), {tree: 1, threads: 1}).then(function (run) {
		if (!isCurrent(my)) return;
		var fn = {};
		DISPLAY = {};
		run.functions.forEach(function (f) { fn[f.id] = f; if (f.display_name) DISPLAY[f.name] = f.display_name; });
		run._fn = fn;
		header(run);
		var tlSec = add(el('section', {id: 'timeline-section'}), el('h2', null, 'Timeline'));
		var flSec = add(el('section', {id: 'flame-section'}), el('h2', null, 'Flame graph'));
		var prSec = add(el('section', {id: 'profile-section'}), el('h2', null, 'Profile'));
		add(app, tlSec, flSec, prSec);
		/* The timeline's first request goes out before the other sections are drawn. */
		performance.mark('ctrace-run');
		/* The timeline first (its requests are the slow part), then the profile and the flame
		 * graph, whether or not the timeline could be had. */
		var rest = function () {
			if (!isCurrent(my)) return;
			profile(prSec, run);
			performance.mark('ctrace-profile');
			flame(flSec, run);
			performance.mark('ctrace-flame');
		};
		return timeline(tlSec, run, my).then(rest, function (err) { rest(); throw err; });
	});
}
function header(run) {
	var pids = {};
	run.threads.forEach(function (t) { pids[t.pid] = 1; });
	var st = run.signal ? 'killed by signal ' + run.signal : run.exit_status >= 0 ? 'exit status ' + run.exit_status : 'exit status unknown';
	var h = add(el('div', {id: 'run-header', 'class': 'runhead'}), el('h1', {title: run.command}, run.command),
		el('p', {'class': 'meta'}, 'run ' + run.run_id + ' \u00b7 ' + fmtTime(run.start_unix_ns) + (run.host ? ' \u00b7 host ' + run.host : '')),
		el('p', {'class': 'meta', id: 'run-facts'}, 'duration ' + fmtNs(run.duration_ns) + ' \u00b7 ' + run.threads.length + ' thread' + (run.threads.length === 1 ? '' : 's') +
			' \u00b7 ' + Object.keys(pids).length + ' process' + (Object.keys(pids).length === 1 ? '' : 'es') + ' \u00b7 ' + fmtCount(run.calls) + ' calls \u00b7 ' + fmtCount(run.events) + ' events \u00b7 ' + st));
	if (run.lost_events) add(h, el('p', {'class': 'warn', id: 'lost'}, 'WARNING: ' + run.lost_events + ' events lost'));
	if (run.crashed) add(h, el('p', {'class': 'crash', id: 'crash'}, 'CRASHED: the program died of a fatal signal; calls open at the crash end there'));
	if (!STATIC) add(h, add(el('p', {'class': 'meta'}), el('a', {id: 'perfetto-link', download: '', title: 'the whole run in Perfetto\'s own format, for ui.perfetto.dev',
		href: '/api/runs/' + encodeURIComponent(run.run_id) + '/perfetto' + (TOKEN ? '?token=' + encodeURIComponent(TOKEN) : '')}, 'download Perfetto trace')));
	if (STATIC) add(h, el('p', {'class': 'note'}, 'Static page: the timeline is reduced to ' + STATIC.px + ' pixels for the whole run; ctrace serve zooms down to single calls.'));
	add(app, h);
}

/* Profile table: sortable columns, a filter box, percentile columns when the report has them. */
function profile(sec, run) {
	var base = run.duration_ns || 1;
	var cols = [['function', 'name', 'n'], ['calls', 'calls', 'c'], ['total', 'total_ns', 't'], ['self', 'self_ns', 't'], ['avg', 'avg_ns', 't'], ['min', 'min_ns', 't'], ['max', 'max_ns', 't']];
	var f0 = run.functions[0] || {};
	/* a run recorded with --sched: the total split into time on and off the CPU */
	if (f0.offcpu_ns !== undefined) cols.push(['on-cpu', 'oncpu_ns', 't'], ['off-cpu', 'offcpu_ns', 't']);
	/* --sched: calls more than half preempted or waiting for the recorder, left out of min/max/pNN */
	if (f0.preempted_calls !== undefined) cols.push(['preempted', 'preempted_calls', 'c']);
	Object.keys(f0).filter(function (k) { return /^p\d+(_\d+)?_ns$/.test(k); }).forEach(function (k) { cols.push([k.replace(/_ns$/, ''), k, 't']); });
	/* percentages as ctrace-report computes them: of the threads' summed top-level time */
	cols.push(['total%', 'total_percent', 'q'], ['self%', 'self_percent', 'q']);
	var key = 3, desc = true;
	var filter = el('input', {id: 'profile-filter', placeholder: 'filter functions', type: 'search'});
	var t = el('table', {id: 'profile', 'class': 'grid'}), hr = el('tr'), tb = el('tbody');
	add(t, add(el('thead'), hr), tb);
	cols.forEach(function (c, i) {
		var th = el('th', {'data-col': String(i), 'class': c[2] === 'n' ? 'name' : 'num'}, c[0]);
		th.addEventListener('click', function () { if (key === i) desc = !desc; else { key = i; desc = c[2] !== 'n'; } render(); });
		add(hr, th);
	});
	function render() {
		var c = cols[key], needle = filter.value.toLowerCase();
		var rows = run.functions.filter(function (f) { return !needle || (f.name || '').toLowerCase().indexOf(needle) >= 0; });
		rows.sort(function (a, b) { var x = a[c[1]], y = b[c[1]]; var r = x < y ? -1 : x > y ? 1 : 0; return desc ? -r : r; });
		for (var i = 0; i < hr.cells.length; i++) hr.cells[i].classList.toggle('sorted', i === key);
		tb.textContent = '';
		rows.forEach(function (f) {
			var tr = el('tr');
			cols.forEach(function (cc) {
				var v = f[cc[1]], td;
				if (cc[2] === 'n') {
					td = el('td', {'class': 'name', title: f.name + (f.file ? '  ' + f.file + ':' + f.line : '')}, shortName(f.name));
					td.setAttribute('data-name', f.name);
					var sw = el('span', {'class': 'swatch'});
					sw.style.background = colour(f.name);
					td.insertBefore(sw, td.firstChild);
					if (f.attributes && f.attributes.length) add(td, el('div', {'class': 'attrs'}, f.attributes.map(function (a) { return a.key + '=' + a.value; }).join(', ')));
					if (!STATIC && f.kind !== 'mark' && f.kind !== 'other') add(td, el('a', {'class': 'trend-link', href: '#/trend?function=' + encodeURIComponent(f.name), title: 'this function across runs'}, 'trend'));
				} else td = el('td', {'class': 'num'}, v === undefined ? '' : cc[2] === 't' ? fmtNs(v) : cc[2] === 'q' ? v.toFixed(1) + '%' : cc[2] === 'p' ? pct(v, base) : cc[2] === 'c' ? fmtInt(v) : String(v));
				add(tr, td);
			});
			add(tb, tr);
		});
		t.setAttribute('data-rows', String(rows.length));
	}
	filter.addEventListener('input', render);
	render();
	/* a pruned answer ends with one "(other)" row: the functions under a pixel, merged */
	var other = run.functions.filter(function (f) { return f.kind === 'other'; })[0];
	add(sec, el('p', {'class': 'note'}, (run.functions.length - (other ? 1 : 0) + (other ? other.merged : 0)) + ' functions' + (other ? ' (' + other.merged + ' too small to draw merged into (other))' : '') + '; times ' + (run.times || 'compensated') + ' for tracer overhead; click a column to sort'), filter, add(el('div', {'class': 'scroll'}), t));
	var pre = 0;
	run.functions.forEach(function (f) { pre += f.preempted_calls || 0; });
	if (pre) add(sec, el('p', {'class': 'note', id: 'preempted-note'}, fmtInt(pre) + ' call' + (pre === 1 ? '' : 's') + ' more than half preempted or waiting for the recorder: ' +
		((run.metadata || {}).preempted_calls === 'kept' ? 'kept in min/max/percentiles (--keep-preempted)' : 'left out of min/max/percentiles (ctrace commit --keep-preempted includes them)')));
}

/* ---- flame graph ---- */
/* A tree of any depth stays browsable: the graph draws at most FLAME_LEVELS levels below the
 * zoomed frame and its last FLAME_ANCESTORS ancestors (under the root); the "deeper" link (or a
 * click on a frame of the bottom level) zooms on down. Every walk of the tree uses an explicit
 * stack: a recursive one overflows the script's stack on a 30,000-deep run. */
var FLAME_LEVELS = 64, FLAME_ANCESTORS = 8;
function flameTree(run, thread) {
	var root = {name: thread < 0 ? 'all threads' : 'thread ' + (run.threads[thread].name || run.threads[thread].tid), total: 0, self: 0, children: [], parent: null};
	var work = [];
	run.threads.forEach(function (t, i) {
		if (thread >= 0 && thread !== i) return;
		/* a node marked "deeper" continues in the thread's subtrees (docs/report.md) */
		var subs = {};
		(t.subtrees || []).forEach(function (s) { subs[s.node] = s.children; });
		work.push([root, t.tree, subs]);
	});
	while (work.length) {
		var w = work.pop(), dst = w[0], subs = w[2];
		if (!dst.byName) dst.byName = new Map();
		(w[1] || []).forEach(function (n) {
			var c = dst.byName.get(n.name);
			if (!c) { c = {name: n.name, fid: n.function, total: 0, self: 0, calls: 0, children: [], parent: dst}; dst.children.push(c); dst.byName.set(n.name, c); }
			c.total += n.total_ns; c.self += n.self_ns; c.calls += n.calls;
			var kids = n.children || (n.deeper !== undefined ? subs[n.deeper] : null);
			if (kids) work.push([c, kids, subs]);
		});
	}
	root.children.forEach(function (c) { root.total += c.total; });
	for (var st = [root]; st.length;) {
		var n = st.pop();
		delete n.byName;
		n.children.sort(function (a, b) { return b.total - a.total; });
		for (var i = 0; i < n.children.length; i++) st.push(n.children[i]);
	}
	return root;
}
/* Levels below @n, counted down to @limit at most. */
function flameDepth(n, limit) {
	var m = 0;
	for (var st = [[n, 0]]; st.length;) {
		var e = st.pop();
		if (e[1] > m) m = e[1];
		if (e[1] < limit) e[0].children.forEach(function (c) { st.push([c, e[1] + 1]); });
	}
	return m;
}
function flame(sec, run) {
	var sel = el('select', {id: 'flame-thread'});
	add(sel, el('option', {value: '-1'}, 'all threads, merged'));
	run.threads.forEach(function (t, i) { add(sel, el('option', {value: String(i)}, 'thread ' + (t.name || '') + ' (pid ' + t.pid + ', tid ' + t.tid + ')')); });
	var search = el('input', {id: 'flame-search', type: 'search', placeholder: 'search functions'});
	var info = el('span', {id: 'flame-search-info', 'class': 'note'});
	var bc = el('div', {id: 'flame-crumbs', 'class': 'crumbs'});
	var cv = el('canvas', {id: 'flame', 'class': 'flame'});
	var tip = el('div', {id: 'flame-tip', 'class': 'tip'});
	add(sec, add(el('div', {'class': 'tools'}), sel, search, info), bc, add(el('div', {'class': 'canvaswrap'}), cv, tip));
	var deeper = el('a', {id: 'flame-deeper', href: 'javascript:void 0', 'class': 'note', title: 'zoom into the heaviest frame of the bottom level'}, 'deeper \u203a');
	deeper.style.display = 'none';
	add(sec, deeper);
	var root = flameTree(run, -1), zoom = root, rects = [], RH = 18, bottom = null;
	function depthOf(n) { var d = 0; for (var p = n; p.parent; p = p.parent) d++; return d; }
	function matches(n, re) { return re && re.test(n.name); }
	function draw() {
		var re = null, needle = search.value.trim();
		if (needle) { try { re = new RegExp(needle, 'i'); } catch (x) { re = new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i'); } }
		/* The ancestors of the zoomed frame, full width: the root and the last FLAME_ANCESTORS. */
		var anc = [];
		for (var p = zoom; p; p = p.parent) anc.push(p);
		anc.reverse();
		var skipped = anc.length > FLAME_ANCESTORS + 1 ? anc.length - FLAME_ANCESTORS - 1 : 0;
		if (skipped) anc = [anc[0]].concat(anc.slice(skipped + 1));
		var zd = anc.length - 1, md = zd + flameDepth(zoom, FLAME_LEVELS) + 1;
		var W = cv.clientWidth || 1000, H = md * RH + 2, dpr = window.devicePixelRatio || 1;
		cv.width = W * dpr; cv.height = H * dpr; cv.style.height = H + 'px';
		var g = cv.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, W, H);
		g.font = '12px system-ui, sans-serif';
		g.textBaseline = 'middle';
		rects = [];
		bottom = null;
		var matched = 0, drawn = 0;
		function box(n, x, w, d, hot) {
			var y = d * RH;
			g.fillStyle = hot ? '#e040fb' : colour(n.name);
			g.fillRect(x, y, Math.max(w - 0.5, 0.5), RH - 1);
			var label = w > 20 ? fitLabel(g, shortName(n.name), w - 6) : '';
			if (label) { g.fillStyle = '#111'; g.save(); g.beginPath(); g.rect(x, y, w - 2, RH); g.clip(); g.fillText(label, x + 3, y + RH / 2); g.restore(); }
			rects.push([x, y, w, n]);
			drawn++;
		}
		anc.forEach(function (a, i) { box(a, 0, W, i, matches(a, re)); });
		/* Depth-first with an explicit stack, FLAME_LEVELS levels below the zoomed frame; a
		 * frame of the bottom level with children below is where "deeper" goes. */
		var last = zd + FLAME_LEVELS;
		for (var st = [[zoom, 0, W, zd + 1, matches(zoom, re)]]; st.length;) {
			var e = st.pop(), n = e[0], cx = e[1], d = e[3], scale = n.total ? e[2] / n.total : 0, kids = [];
			n.children.forEach(function (c) {
				var cw = c.total * scale;
				if (cw >= 0.3) {
					var hot = matches(c, re);
					if (hot && !e[4]) matched += c.total;
					box(c, cx, cw, d, hot);
					if (d < last) kids.push([c, cx, cw, d + 1, e[4] || hot]);
					else if (c.children.length && (!bottom || c.total > bottom.total)) bottom = c;
				}
				cx += cw;
			});
			for (var i = kids.length - 1; i >= 0; i--) st.push(kids[i]);
		}
		if (re && matches(zoom, re)) matched = zoom.total;
		cv.setAttribute('data-frames', String(drawn));
		cv.setAttribute('data-zoom', zoom.name);
		cv.setAttribute('data-zoom-depth', String(depthOf(zoom)));
		cv.setAttribute('data-matched-ns', String(matched));
		deeper.style.display = bottom ? '' : 'none';
		info.textContent = re ? 'matches cover ' + pct(matched, zoom.total || 1) + ' of ' + (zoom === root ? 'the run' : shortName(zoom.name)) + ' (' + fmtNs(matched) + ')' : '';
		bc.textContent = '';
		anc.forEach(function (a, i) {
			var b = el('a', {href: 'javascript:void 0', 'data-depth': String(depthOf(a))}, i ? shortName(a.name) : a.name);
			b.addEventListener('click', function () { zoom = a; draw(); });
			if (i) add(bc, el('span', null, i === 1 && skipped ? ' \u203a \u2026 ' + skipped + ' levels \u2026 \u203a ' : ' \u203a '));
			add(bc, b);
		});
	}
	deeper.addEventListener('click', function () { if (bottom) { zoom = bottom; draw(); } });
	function hit(ev) {
		var r = cv.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
		for (var i = rects.length - 1; i >= 0; i--) { var q = rects[i]; if (x >= q[0] && x < q[0] + q[2] && y >= q[1] && y < q[1] + RH) return q[3]; }
		return null;
	}
	cv.addEventListener('click', function (ev) { var n = hit(ev); if (n) { zoom = n; draw(); } });
	cv.addEventListener('mousemove', function (ev) {
		var n = hit(ev);
		if (!n) { tip.style.display = 'none'; return; }
		tip.textContent = n.name + ' \u2014 total ' + fmtNs(n.total) + ' (' + pct(n.total, root.total) + '), self ' + fmtNs(n.self) + (n.calls ? ', ' + n.calls + ' calls' : '');
		tip.style.display = 'block'; tip.style.left = (ev.offsetX + 12) + 'px'; tip.style.top = (ev.offsetY + 12) + 'px';
	});
	cv.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
	sel.addEventListener('change', function () { root = flameTree(run, +sel.value); zoom = root; draw(); });
	search.addEventListener('input', draw);
	window.addEventListener('resize', debounce(draw, 100));
	draw();
}

/* ---- timeline ---- */
function niceStep(span, n) {
	var raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}
/* @ns with as many decimals as a tick @step needs to tell it from its neighbours: 1.47708 s
 * for a tick every 10 us at 1.47708 s (fmtNs would say 1.48 s). */
function fmtTick(ns, step) {
	var u = ns >= 1e9 ? [1e9, ' s'] : ns >= 1e6 ? [1e6, ' ms'] : ns >= 1e3 ? [1e3, ' us'] : [1, ' ns'];
	var dec = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / u[0]) - 1e-9)));
	return (ns / u[0]).toFixed(dec) + u[1];
}
/* The depth a lane needs for its answer @d: its deepest call or busy span, 0 when it has none in
 * the window (a finished or idle thread collapses to its title). */
function visibleDepth(d) {
	var m = 0;
	d.calls.forEach(function (c) { if (c[2] + 1 > m) m = c[2] + 1; });
	d.busy.forEach(function (b) { if (b[2] + 1 > m) m = b[2] + 1; });
	return m;
}
function timeline(sec, run, my) {
	var T1 = run.duration_ns || 1;
	run.threads.forEach(function (t) { if (t.end_ns > T1) T1 = t.end_ns; });
	var view = {t0: 0, t1: T1}, RH = 16, AXIS = 22, LANEHEAD = 16;
	var lanes = run.threads.map(function (t, i) { return {i: i, t: t, data: null, depth: 1, pending: 0}; });
	var note = el('p', {'class': 'note', id: 'timeline-note'}, 'wheel: zoom, drag: pan, click a call for its details');
	var reset = el('button', {id: 'timeline-reset'}, 'whole run');
	var cv = el('canvas', {id: 'timeline', 'class': 'timeline', 'data-requests': '0'});
	var detail = el('div', {id: 'call-detail', 'class': 'detail'});
	add(sec, add(el('div', {'class': 'tools'}), reset, note), add(el('div', {'class': 'canvaswrap'}), cv), detail);
	var requests = 0, hits = [], W = 1000;
	/* The first timeline request of a run builds its index on the server: say so if it takes. */
	var slow = setTimeout(function () { if (!requests) note.textContent = 'first view of this run: the server is indexing its timeline (one pass over every event, about 10 s per 100 M calls)\u2026'; }, 1500);
	function layout() {
		var y = AXIS;
		lanes.forEach(function (l) { l.y = y; y += LANEHEAD + Math.min(l.depth, 64) * RH + (l.depth ? 6 : 2); });
		return y;
	}
	function x(t) { return (t - view.t0) / (view.t1 - view.t0) * W; }
	function draw() {
		W = cv.clientWidth || 1000;
		var H = layout(), dpr = window.devicePixelRatio || 1;
		cv.width = W * dpr; cv.height = H * dpr; cv.style.height = H + 'px';
		var g = cv.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.fillStyle = '#fff'; g.fillRect(0, 0, W, H);
		g.font = '11px system-ui, sans-serif'; g.textBaseline = 'middle';
		/* time axis */
		var span = view.t1 - view.t0, step = niceStep(span, Math.max(2, W / 120));
		g.strokeStyle = '#ddd'; g.fillStyle = '#555';
		/* Deep in a long run, ticks are labelled as offsets from the first one. */
		var first = Math.ceil(view.t0 / step) * step, rel = step < first / 500, lastText = '', prevEnd = -1;
		for (var tt = first; tt <= view.t1; tt += step) {
			var xx = Math.round(x(tt)) + 0.5;
			/* the first label exact to the step; deep in a long run the others as offsets */
			var text = tt === first || !rel ? fmtTick(tt, step) : '+' + fmtNs(tt - first), tw = g.measureText(text).width;
			g.beginPath(); g.moveTo(xx, 0); g.lineTo(xx, H); g.stroke();
			if (xx + 3 + tw <= W) { g.fillText(text, xx + 3, 10); prevEnd = xx + 3 + tw; }
			else if (xx - 3 - tw > prevEnd + 4) {
				/* the last label would run off the canvas: right-aligned before its tick */
				g.textAlign = 'right'; g.fillText(text, xx - 3, 10); g.textAlign = 'left';
			} else text = '';
			if (tt === first) { cv.setAttribute('data-axis-first', text); cv.setAttribute('data-axis-first-ns', String(tt)); cv.setAttribute('data-axis-step', String(step)); }
			if (text) lastText = text;
		}
		cv.setAttribute('data-axis-last', lastText);
		hits = [];
		var ncalls = 0, nlabels = 0, nbusy = 0, noff = 0;
		lanes.forEach(function (l) {
			g.fillStyle = '#333';
			g.fillText('thread ' + (l.t.name || '') + ' (pid ' + l.t.pid + ', tid ' + l.t.tid + ')' + (l.data ? (l.depth ? '' : ': no calls in view') : ' \u2026'), 4, l.y + LANEHEAD / 2);
			if (!l.data) return;
			var top = l.y + LANEHEAD, d = l.data;
			d.busy.forEach(function (b) {
				if (b[2] >= 64) return;
				var x0 = Math.max(x(b[0]), -1), x1 = Math.min(x(b[0] + b[1]), W + 1);
				if (x1 <= 0 || x0 >= W) return;
				var f = b[4] >= 0 ? run._fn[b[4]] : null;
				g.fillStyle = f ? colour(f.name) : '#bbb'; g.globalAlpha = 0.55;
				g.fillRect(x0, top + b[2] * RH, Math.max(x1 - x0, 1), RH - 1);
				g.globalAlpha = 1;
				hits.push([x0, top + b[2] * RH, Math.max(x1 - x0, 1), l, null, b]);
				nbusy++;
			});
			d.calls.forEach(function (c) {
				if (c[2] >= 64) return;
				var x0 = Math.max(x(c[0]), -1), x1 = Math.min(x(c[0] + c[1]), W + 1);
				if (x1 <= 0 || x0 >= W) return;
				var f = run._fn[c[3]], name = f ? f.name : '#' + c[3], y = top + c[2] * RH, w = Math.max(x1 - x0, 1);
				g.fillStyle = colour(name);
				g.fillRect(x0, y, w, RH - 1);
				var vis = Math.min(x1, W) - Math.max(x0, 0), label = vis > 20 ? fitLabel(g, shortName(name), vis - 6) : '';
				if (label) {
					g.save(); g.beginPath(); g.rect(Math.max(x0, 0), y, w, RH); g.clip();
					g.fillStyle = '#111'; g.fillText(label, Math.max(x0, 0) + 3, y + RH / 2);
					g.restore(); nlabels++;
				}
				hits.push([x0, y, w, l, c, null]);
				ncalls++;
			});
			/* --sched: where the thread was off the CPU, the calls fade and a bar under the
			 * lane's title says blocked (grey) or preempted (orange) */
			(d.offcpu || []).forEach(function (o) {
				var x0 = Math.max(x(o[0]), -1), x1 = Math.min(x(o[0] + o[1]), W + 1);
				if (x1 <= 0 || x0 >= W) return;
				g.fillStyle = '#fff'; g.globalAlpha = 0.6;
				g.fillRect(x0, top, Math.max(x1 - x0, 1), Math.min(l.depth, 64) * RH);
				g.globalAlpha = 1;
				g.fillStyle = o[3] ? '#ef6c00' : '#546e7a';
				g.fillRect(x0, top - 3, Math.max(x1 - x0, 1), 3);
				noff++;
			});
			g.fillStyle = '#d32f2f';
			d.marks.forEach(function (m) { var mx = x(m[0]); g.beginPath(); g.moveTo(mx - 4, l.y + 2); g.lineTo(mx + 4, l.y + 2); g.lineTo(mx, l.y + 10); g.fill(); });
		});
		cv.setAttribute('data-lane-depths', lanes.map(function (l) { return l.depth; }).join(','));
		cv.setAttribute('data-lane-drawn', lanes.map(function (l) { return l.data ? visibleDepth(l.data) : l.depth; }).join(','));
		cv.setAttribute('data-calls', String(ncalls));
		cv.setAttribute('data-busy', String(nbusy));
		cv.setAttribute('data-offcpu', String(noff));
		cv.setAttribute('data-labels', String(nlabels));
		cv.setAttribute('data-from', String(Math.round(view.t0)));
		cv.setAttribute('data-to', String(Math.round(view.t1)));
	}
	/* Asks every lane for the current view; an answer is drawn only if it is the latest asked. */
	function fetchAll() {
		var from = Math.max(0, Math.floor(view.t0)), to = Math.max(from + 1, Math.ceil(view.t1));
		var px = Math.min(10000, Math.max(1, Math.round(W)));
		return Promise.all(lanes.map(function (l) {
			var ticket = ++l.pending;
			return api('/api/runs/' + encodeURIComponent(run.run_id) + '/timeline', {thread: l.i, from: from, to: to, px: px}).then(function (d) {
				if (!isCurrent(my) || ticket !== l.pending) return;
				performance.mark('ctrace-timeline-data');
				l.data = d; l.depth = visibleDepth(d); /* sized to what this window holds */
				if (!requests++) { clearTimeout(slow); note.textContent = 'wheel: zoom, drag: pan, click a call for its details'; }
				cv.setAttribute('data-requests', String(requests));
				/* the window this answer is for: a test waits for it to be the one in view */
				cv.setAttribute('data-answer-from', String(from));
				cv.setAttribute('data-answer-to', String(to));
				draw();
				/* first paint with data: a lane of the timeline drawn (bench/serve.sh) */
				if (!window.ctraceFirstPaint) window.ctraceFirstPaint = performance.now();
			});
		}));
	}
	var refetch = debounce(fetchAll, 80);
	function clamp() {
		var span = Math.max(100, Math.min(view.t1 - view.t0, T1));
		if (view.t0 < 0) view.t0 = 0;
		view.t1 = view.t0 + span;
		if (view.t1 > T1) { view.t1 = T1; view.t0 = Math.max(0, T1 - span); }
	}
	cv.addEventListener('wheel', function (ev) {
		ev.preventDefault();
		var r = cv.getBoundingClientRect(), fx = (ev.clientX - r.left) / W, at = view.t0 + fx * (view.t1 - view.t0);
		var k = Math.exp(Math.max(-1, Math.min(1, ev.deltaY * 0.002)));
		view.t0 = at - (at - view.t0) * k; view.t1 = at + (view.t1 - at) * k;
		clamp(); draw(); refetch();
	}, {passive: false});
	var drag = null;
	cv.addEventListener('mousedown', function (ev) { drag = {x: ev.clientX, t0: view.t0, t1: view.t1, moved: false}; });
	window.addEventListener('mousemove', function (ev) {
		if (!drag) return;
		var dx = ev.clientX - drag.x;
		if (Math.abs(dx) > 2) drag.moved = true;
		var dt = dx / W * (drag.t1 - drag.t0);
		view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt;
		clamp(); draw();
	});
	window.addEventListener('mouseup', function (ev) {
		if (!drag) return;
		var moved = drag.moved;
		drag = null;
		if (moved) refetch(); else showDetail(ev);
	});
	function showDetail(ev) {
		var r = cv.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top, h = null;
		for (var i = hits.length - 1; i >= 0; i--) { var q = hits[i]; if (px >= q[0] - 1 && px <= q[0] + q[2] + 1 && py >= q[1] && py < q[1] + RH) { h = q; break; } }
		detail.textContent = '';
		if (!h) { detail.removeAttribute('data-name'); return; }
		if (h[5]) {
			var b = h[5], bf = b[4] >= 0 ? run._fn[b[4]] : null;
			detail.setAttribute('data-name', '');
			add(detail, el('b', null, b[3] + ' calls shorter than a pixel' + (bf ? ' (all ' + bf.name + ')' : '')), el('div', null, 'from ' + fmtNs(b[0]) + ' for ' + fmtNs(b[1]) + ' at depth ' + b[2] + '; zoom in to see them one by one'));
			return;
		}
		var c = h[4], f = run._fn[c[3]] || {name: '#' + c[3]};
		detail.setAttribute('data-name', f.name);
		add(detail, el('b', {id: 'detail-name'}, f.name),
			el('div', null, (f.file ? f.file + ':' + f.line : 'no source location') + (f.module ? ' \u00b7 ' + f.module : '')),
			el('div', {id: 'detail-times'}, 'start ' + fmtNs(c[0]) + ' \u00b7 duration ' + fmtNs(c[1]) + (c[5] ? '+ (continues past the view)' : '') + ' \u00b7 self ' + fmtNs(c[4]) + ' \u00b7 depth ' + c[2] + ' \u00b7 thread ' + h[3].t.tid));
		if (c[6]) add(detail, el('div', {id: 'detail-attrs'}, 'attributes: ' + Object.keys(c[6]).map(function (k) { return k + '=' + c[6][k]; }).join(', ')));
		var ms = h[3].data.marks.filter(function (m) { return m[0] >= c[0] && m[0] <= c[0] + c[1]; });
		if (ms.length) add(detail, el('div', null, 'marks: ' + ms.map(function (m) { var mf = run._fn[m[1]]; return (mf ? mf.name : '#' + m[1]) + ' at ' + fmtNs(m[0]); }).join(', ')));
		var zb = el('button', null, 'zoom to this call');
		zb.addEventListener('click', function () { var pad = c[1] * 0.05 + 50; view.t0 = c[0] - pad; view.t1 = c[0] + c[1] + pad; clamp(); draw(); refetch(); });
		add(detail, zb);
	}
	reset.addEventListener('click', function () { view.t0 = 0; view.t1 = T1; draw(); refetch(); });
	window.addEventListener('resize', debounce(function () { draw(); fetchAll(); }, 150));
	draw();
	return fetchAll();
}

/* ---- diff page ---- */
function diffPage(a, b, my) {
	add(crumbs, add(el('a', {href: '#/'}, 'runs')), el('span', null, ' / diff'));
	return api('/api/diff', {a: a, b: b}).then(function (d) {
		if (!isCurrent(my)) return;
		var side = add(el('div', {'class': 'sides', id: 'diff-sides'}));
		[['A', d.run_a], ['B', d.run_b]].forEach(function (p) {
			var r = p[1];
			add(side, add(el('div', {'class': 'side'}), el('h2', null, p[0] + ': ' + r.command),
				add(el('p', {'class': 'meta'}), add(el('a', {href: '#/run/' + encodeURIComponent(r.run_id)}, r.run_id))),
				el('p', {'class': 'meta'}, fmtTime(r.start_unix_ns) + ' \u00b7 ' + fmtNs(r.duration_ns) + ' \u00b7 ' + fmtCount(r.calls) + ' calls')));
		});
		add(app, el('h1', null, 'Diff'), side, el('p', {id: 'diff-summary'}, 'duration change ' + (d.duration_ns_change >= 0 ? '+' : '') + fmtNs(d.duration_ns_change) + '; largest self-time changes first'));
		var t = el('table', {id: 'diff', 'class': 'grid', 'data-rows': String(d.functions.length)});
		add(t, add(el('thead'), add(el('tr'), el('th', {'class': 'name'}, 'function'), el('th', null, 'status'), el('th', {'class': 'num'}, 'calls A'), el('th', {'class': 'num'}, 'calls B'),
			el('th', {'class': 'num'}, 'self A'), el('th', {'class': 'num'}, 'self B'), el('th', {'class': 'num'}, 'self change'), el('th', {'class': 'num'}, 'change %'),
			el('th', {'class': 'num'}, 'per call A'), el('th', {'class': 'num'}, 'per call B'), el('th', {'class': 'num'}, 'per call %'))));
		var tb = el('tbody');
		add(t, tb);
		var signed = function (x) { return x === null || x === undefined ? '' : (x >= 0 ? '+' : '') + x.toFixed(1) + '%'; };
		d.functions.forEach(function (f) {
			/* only a changed function is coloured: same calls and time per call is no change */
			var cls = f.status === 'same' ? 'same' : f.self_ns_change > 0 ? 'slower' : f.self_ns_change < 0 ? 'faster' : null;
			add(tb, add(el('tr', {'class': cls}),
				el('td', {'class': 'name', title: f.name, 'data-name': f.name}, shortName(f.name)), el('td', null, f.status),
				el('td', {'class': 'num'}, fmtInt(f.calls_a)), el('td', {'class': 'num'}, fmtInt(f.calls_b)),
				el('td', {'class': 'num'}, fmtNs(f.self_ns_a)), el('td', {'class': 'num'}, fmtNs(f.self_ns_b)),
				el('td', {'class': 'num'}, (f.self_ns_change >= 0 ? '+' : '') + fmtNs(f.self_ns_change)),
				el('td', {'class': 'num'}, signed(f.self_change_percent)),
				el('td', {'class': 'num'}, f.calls_a ? fmtNs(f.per_call_ns_a) : ''), el('td', {'class': 'num'}, f.calls_b ? fmtNs(f.per_call_ns_b) : ''),
				el('td', {'class': 'num'}, signed(f.per_call_change_percent))));
		});
		if (d.hint) add(app, el('p', {'class': 'note', id: 'diff-hint'}, 'hint: ' + d.hint));
		add(app, add(el('div', {'class': 'scroll'}), t));
	});
}

/* ---- trend page: one function across runs (GET /api/trend, docs/trend.md) ---- */
function svgEl(tag, attrs) {
	var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
	for (var k in attrs) e.setAttribute(k, attrs[k]);
	return e;
}
function trendPage(q, my) {
	var fn = q.get('function') || '', metric = q.get('metric') || 'self';
	add(crumbs, add(el('a', {href: '#/'}, 'runs')), el('span', null, ' / trend'));
	return api('/api/trend', {function: fn, metric: metric}).then(function (d) {
		if (!isCurrent(my)) return;
		var fmt = metric === 'calls' ? fmtCount : fmtNs, runs = d.runs || [];
		var sel = el('p', {'class': 'meta', id: 'trend-metrics'}, 'metric: ');
		['self', 'total', 'calls', 'p99'].forEach(function (m) {
			add(sel, m === metric ? el('b', null, m) : el('a', {href: '#/trend?function=' + encodeURIComponent(fn) + '&metric=' + m}, m), document.createTextNode(' '));
		});
		add(app, el('h1', null, shortName(fn)), el('p', {'class': 'meta', title: fn}, metric + ' of ' + fn + ' in ' + runs.length + ' run(s), oldest first; red: a jump beyond the series\' noise'), sel);
		if (!runs.length) { add(app, el('p', {id: 'trend-empty'}, 'no run has this function')); return; }
		var W = 900, H = 260, L = 70, B = 30, max = 0;
		runs.forEach(function (r) { if (r.value > max) max = r.value; });
		max = max || 1;
		var svg = svgEl('svg', {id: 'trend-chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, 'data-points': String(runs.length)});
		var x = function (i) { return L + (runs.length > 1 ? i * (W - L - 10) / (runs.length - 1) : (W - L) / 2); };
		var y = function (v) { return H - B - v / max * (H - B - 10); };
		svg.appendChild(svgEl('line', {x1: L, y1: H - B, x2: W - 5, y2: H - B, stroke: '#888'}));
		svg.appendChild(svgEl('line', {x1: L, y1: 5, x2: L, y2: H - B, stroke: '#888'}));
		[0, 0.5, 1].forEach(function (f) {
			var t = svgEl('text', {x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#555'});
			t.textContent = fmt(max * f);
			svg.appendChild(t);
		});
		svg.appendChild(svgEl('polyline', {fill: 'none', stroke: '#3b6ea5', 'stroke-width': 2,
			points: runs.map(function (r, i) { return x(i) + ',' + y(r.value); }).join(' ')}));
		runs.forEach(function (r, i) {
			var c = svgEl('circle', {cx: x(i), cy: y(r.value), r: r.jump ? 6 : 4, fill: r.jump ? '#c0392b' : '#3b6ea5', 'class': r.jump ? 'jump' : 'point', 'data-run': r.run_id});
			var tt = svgEl('title', {});
			tt.textContent = r.run_id + ': ' + fmt(r.value) + (r.jump ? ' (jump)' : '');
			c.appendChild(tt);
			c.addEventListener('click', function () { go('#/run/' + encodeURIComponent(r.run_id)); });
			svg.appendChild(c);
		});
		add(app, svg);
		var t = el('table', {id: 'trend', 'class': 'grid', 'data-rows': String(runs.length)}), tb = el('tbody');
		add(t, add(el('thead'), add(el('tr'), el('th', {'class': 'name'}, 'run'), el('th', null, 'start'), el('th', {'class': 'num'}, metric), el('th', {'class': 'num'}, 'change'), el('th', null, ''))), tb);
		runs.forEach(function (r) {
			var ch = r.change, tr = el('tr', {'class': r.jump ? 'slower' : null});
			var name = add(el('td', {'class': 'name'}), el('a', {href: '#/run/' + encodeURIComponent(r.run_id)}, r.run_id));
			add(tr, name, el('td', null, fmtTime(r.start_unix_ns)), el('td', {'class': 'num'}, fmt(r.value)),
				el('td', {'class': 'num'}, ch === null || ch === undefined ? '-' : (ch >= 0 ? '+' : '') + (100 * ch).toFixed(1) + '%'),
				el('td', null, r.jump ? 'jump' : ''));
			add(tb, tr);
		});
		add(app, add(el('div', {'class': 'scroll'}), t));
	});
}

window.addEventListener('hashchange', route);
route();
})();
