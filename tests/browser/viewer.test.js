// SPDX-License-Identifier: MIT
// The viewer in real headless Chromium (playwright-core): the page served by `ctrace serve`
// and the static export, driven like a user (clicks, typing, mouse wheel, drag) and checked by
// DOM, canvas pixels, the network log and the console. Prints ok/FAIL lines; screenshots go to
// ARTIFACTS.
//
// usage: node viewer.test.js CHROMIUM URL OLDER_RUN NEWER_RUN STATIC_HTML ARTIFACTS [TOKEN_URL
//        [DEEP_HTML]]
'use strict';
const {chromium} = require('playwright-core');
const path = require('path');

const [chromePath, base, older, newer, staticFile, art, tokenBase, deepFile] = process.argv.slice(2);
let fails = 0;
const ok = (n) => console.log('ok   ' + n);
const bad = (n, why) => { console.log('FAIL ' + n + ': ' + why); fails++; };
const check = (n, cond, why) => (cond ? ok(n) : bad(n, why));

async function ready(page) {
	await page.waitForSelector('body[data-ctrace-ready="1"]', {timeout: 20000});
}
async function attr(page, sel, name) {
	return page.$eval(sel, (e, n) => e.getAttribute(n), name);
}
async function shot(page, name) {
	await page.screenshot({path: path.join(art, name + '.png'), fullPage: true});
}
/* Pixels of canvas @sel whose colour is within 12 of rgb @c. */
async function countColour(page, sel, c) {
	return page.$eval(sel, (cv, c) => {
		const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4)
			if (Math.abs(d[i] - c[0]) < 12 && Math.abs(d[i + 1] - c[1]) < 12 && Math.abs(d[i + 2] - c[2]) < 12) n++;
		return n;
	}, c);
}
async function nonWhite(page, sel) {
	return page.$eval(sel, (cv) => {
		const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) n++;
		return n;
	});
}
/* Waits until the timeline at @sel has drawn an answer counted after @req (its data-requests
 * then) for the very window it shows (data-from/data-to): the condition itself, not a delay, so
 * that a late answer on a busy machine or a wheel that arrives as several events (each its own
 * request) is waited for. */
async function waitAnswered(page, sel, req, ms) {
	try {
		await page.waitForFunction(([s, r]) => {
			const e = document.querySelector(s);
			if (!e || e.getAttribute('data-requests') === r || !e.hasAttribute('data-answer-from')) return false;
			return Math.abs(+e.getAttribute('data-answer-from') - +e.getAttribute('data-from')) <= 1 &&
				Math.abs(+e.getAttribute('data-answer-to') - +e.getAttribute('data-to')) <= 1;
		}, [sel, req], {timeout: ms || 30000});
		return true;
	} catch (e) { return false; }
}
/* Polls a condition of the test's own state (what the page's responses told it) until it holds
 * or @ms pass; true when it held. */
async function until(page, cond, ms) {
	for (const end = Date.now() + (ms || 30000); !cond();) {
		if (Date.now() > end) return false;
		await page.waitForTimeout(20);
	}
	return true;
}

function watch(page, origin, label) {
	const st = {errors: [], foreign: [], timeline: []};
	page.on('console', (m) => { if (m.type() === 'error') st.errors.push(m.text()); });
	page.on('pageerror', (e) => st.errors.push(String(e)));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith(origin) && !u.startsWith('data:')) st.foreign.push(u);
		if (u.includes('/timeline?')) st.timeline.push(u);
	});
	page.on('response', async (r) => {
		if (!r.url().includes('/timeline?')) return;
		try { const j = await r.json(); st.sources = (st.sources || []).concat(j.source); } catch (e) { /* ignore */ }
	});
	return st;
}

async function served(browser) {
	const page = await browser.newPage({viewport: {width: 1280, height: 900}});
	const origin = new URL(base).origin;
	const st = watch(page, origin, 'served');
	await page.goto(base + '#/');
	await ready(page);
	await shot(page, 'serve-runs');
	check('run list shows the two runs', await attr(page, '#runs', 'data-rows') === '2', await attr(page, '#runs', 'data-rows'));
	const ids = await page.$$eval('#runs tbody a', (as) => as.map((a) => a.textContent));
	check('run list is newest first', ids[0] === newer && ids[1] === older, JSON.stringify(ids));
	const cmds = await page.$$eval('#runs td.cmd', (t) => t.map((c) => [c.textContent, c.title, c.scrollWidth <= c.clientWidth + 1]));
	check('run list keeps the end of long commands, where they differ', cmds.length === 2 && cmds[0][0].endsWith(' 200000') && cmds[1][0].endsWith(' 1000') &&
		cmds[0][0].includes('\u2026') && cmds[0][1].length > cmds[0][0].length && cmds.every((c) => c[2]), JSON.stringify(cmds));
	await page.fill('#filters input[name=command]', '200000');
	await page.click('#filters button');
	await page.waitForFunction(() => document.querySelector('#runs') && document.querySelector('#runs').getAttribute('data-rows') === '1');
	ok('run list filter by command leaves one run');
	await page.goto(base + '#/');
	await ready(page);

	await page.click('#runs tbody a >> nth=0');
	await ready(page);
	await page.waitForSelector('#profile');
	await shot(page, 'serve-run');
	const names = await page.$$eval('#profile td.name', (t) => t.map((e) => e.getAttribute('data-name')));
	for (const f of ['main', 'slow_path(long)', 'leaf(long)', 'int sum_box<int>(Box<int> const*, int)', 'Box<int>::operator<(Box<int> const&) const'])
		check('profile lists ' + f, names.includes(f), names.join(' | '));
	const shortSum = await page.$eval('#profile td.name[data-name^="int sum_box"]', (e) => [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join(''));
	const hover = await page.$eval('#profile td.name[data-name^="int sum_box"]', (e) => e.title);
	check('C++ name shortened as ctrace-report does, full name on hover', shortSum === 'sum_box<...>' && hover.startsWith('int sum_box<int>(Box<int> const*, int)'), shortSum + ' / ' + hover);
	const fits = await page.evaluate(() => {
		const g = document.createElement('canvas').getContext('2d');
		g.font = '11px system-ui, sans-serif';
		const n = 'leveldb::Benchmark::RunBenchmark', w = (t) => g.measureText(t).width;
		return [w(n) + 1, w('Benchmark::RunBenchmark') + 1, w('RunBenchmark') + 1, w('RunBen\u2026') + 1, 8].map((px) => window.ctraceViewer.fitLabel(g, n, px));
	});
	check('narrow frames drop the namespace first, then cut the name', fits.join('|') === 'leveldb::Benchmark::RunBenchmark|Benchmark::RunBenchmark|RunBenchmark|RunBen\u2026|', fits.join('|'));
	const header = await page.textContent('#run-facts');
	check('header: duration, 2 threads, 1 process', /duration .* 2 threads .* 1 process /.test(header), header);
	await page.fill('#profile-filter', 'sum_box');
	check('profile filter box', await attr(page, '#profile', 'data-rows') === '1', await attr(page, '#profile', 'data-rows'));
	await page.fill('#profile-filter', '');
	await page.click('#profile th:has-text("calls")');
	const first = await page.$eval('#profile tbody tr td.name', (e) => e.getAttribute('data-name'));
	check('profile sorts by calls on a click', first === 'leaf(long)', first);
	const leafCount = await page.$eval('#profile tbody tr', (r) => r.cells[1].textContent);
	check('profile counts have thousands separators', /^\d{1,3}(,\d{3})+$/.test(leafCount), leafCount);
	const gap = await page.$eval('#profile .trend-link', (a) => {
		const name = a.parentElement.getBoundingClientRect(), link = a.getBoundingClientRect();
		return parseFloat(getComputedStyle(a).marginLeft) + ' ' + (link.left > name.left);
	});
	check('the trend link stands apart from the name', parseFloat(gap) > 4 && gap.endsWith('true'), gap);

	/* flame graph: click zooms, breadcrumb zooms out, search highlights */
	const fl = '#flame';
	check('flame graph drawn', +(await attr(page, fl, 'data-frames')) > 3 && (await nonWhite(page, fl)) > 1000, await attr(page, fl, 'data-frames'));
	check('flame starts at the root', await attr(page, fl, 'data-zoom') === 'all threads', await attr(page, fl, 'data-zoom'));
	const box = await page.$eval(fl, (e) => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width}; });
	await page.mouse.click(box.x + 3, box.y + 18 * 1 + 9); // the widest top-level frame, left edge
	const z = await attr(page, fl, 'data-zoom');
	check('clicking a frame zooms into it', z === 'main', z);
	const crumbs = await page.$$eval('#flame-crumbs a', (a) => a.map((x) => x.textContent));
	check('breadcrumb shows the path', crumbs.length === 2 && crumbs[1] === 'main', JSON.stringify(crumbs));
	await shot(page, 'serve-flame-zoom');
	await page.click('#flame-crumbs a >> nth=0');
	check('breadcrumb zooms out', await attr(page, fl, 'data-zoom') === 'all threads', await attr(page, fl, 'data-zoom'));
	const hot0 = await countColour(page, fl, [224, 64, 251]);
	await page.fill('#flame-search', 'slow_path');
	const hot1 = await countColour(page, fl, [224, 64, 251]);
	const info = await page.textContent('#flame-search-info');
	check('search highlights the matches', hot0 === 0 && hot1 > 200, hot0 + ' -> ' + hot1);
	check('search says what fraction of time they cover', /matches cover \d+(\.\d)?% of the run/.test(info), info);
	await shot(page, 'serve-flame-search');
	await page.fill('#flame-search', '');

	/* timeline: labelled calls, wheel zoom and drag pan ask for new data */
	const tl = '#timeline';
	await page.waitForFunction(() => +document.querySelector('#timeline').getAttribute('data-requests') >= 2);
	check('timeline drawn with labelled calls', +(await attr(page, tl, 'data-labels')) > 0 && +(await attr(page, tl, 'data-calls')) > 0, await attr(page, tl, 'data-labels'));
	const span0 = +(await attr(page, tl, 'data-to')) - +(await attr(page, tl, 'data-from'));
	const n0 = st.timeline.length;
	const tb = await page.$eval(tl, (e) => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; });
	await page.mouse.move(tb.x + tb.w * 0.5, tb.y + 60);
	const req0 = await attr(page, tl, 'data-requests');
	await page.mouse.wheel(0, -800);
	check('wheel zoom is answered for the window in view', await waitAnswered(page, tl, req0), await attr(page, tl, 'data-answer-from') + '..' + await attr(page, tl, 'data-answer-to'));
	const span1 = +(await attr(page, tl, 'data-to')) - +(await attr(page, tl, 'data-from'));
	check('wheel zoom narrows the view', span1 < span0 * 0.5, span0 + ' -> ' + span1);
	check('wheel zoom requests new data', st.timeline.length > n0, n0 + ' -> ' + st.timeline.length);
	const last = new URL(st.timeline[st.timeline.length - 1]);
	check('the request asks for the visible window', Math.abs(+last.searchParams.get('to') - +last.searchParams.get('from') - span1) <= 2, last.search);
	const from1 = +(await attr(page, tl, 'data-from')), n1 = st.timeline.length;
	const req1 = await attr(page, tl, 'data-requests');
	await page.mouse.move(tb.x + tb.w * 0.5, tb.y + 60);
	await page.mouse.down();
	await page.mouse.move(tb.x + tb.w * 0.3, tb.y + 60, {steps: 5});
	await page.mouse.up();
	await waitAnswered(page, tl, req1);
	const from2 = +(await attr(page, tl, 'data-from'));
	check('drag pan moves the view later', from2 > from1, from1 + ' -> ' + from2);
	check('drag pan requests new data', st.timeline.length > n1, n1 + ' -> ' + st.timeline.length);
	await shot(page, 'serve-timeline-zoom');
	const req2 = await attr(page, tl, 'data-requests');
	for (let i = 0; i < 12; i++) await page.mouse.wheel(0, -1000);
	await waitAnswered(page, tl, req2);
	await until(page, () => (st.sources || []).includes('events'));
	const span2 = +(await attr(page, tl, 'data-to')) - +(await attr(page, tl, 'data-from'));
	check('zoom goes down to single calls (a window under 2 us)', span2 < 2000, span2);
	check('deep zoom is answered from the decoded events', (st.sources || []).includes('events'), JSON.stringify(st.sources));
	check('deep zoom still draws labelled calls', +(await attr(page, tl, 'data-labels')) > 0, await attr(page, tl, 'data-labels'));
	const depths = await attr(page, tl, 'data-lane-depths'), drawn = await attr(page, tl, 'data-lane-drawn');
	check('deep zoom: each lane is as deep as the calls in view (an idle thread collapses)', depths === drawn && depths.split(',').includes('0'), depths + ' / ' + drawn);
	const ax = {text: await attr(page, tl, 'data-axis-first'), at: +(await attr(page, tl, 'data-axis-first-ns')), step: +(await attr(page, tl, 'data-axis-step'))};
	const unit = {' s': 1e9, ' ms': 1e6, ' us': 1e3, ' ns': 1};
	const m = /^([\d.]+)( s| ms| us| ns)$/.exec(ax.text);
	check('deep zoom: the first axis label is exact to the tick step', m && Math.abs(+m[1] * unit[m[2]] - ax.at) < ax.step / 2, JSON.stringify(ax));
	await shot(page, 'serve-timeline-deep');
	/* click a call: thread 0's depth-0 call (main) lies under the middle of the first lane */
	await page.mouse.click(tb.x + tb.w * 0.5, tb.y + 22 + 16 + 8);
	const dn = await attr(page, '#call-detail', 'data-name');
	const dt = await page.textContent('#call-detail');
	check('clicking a call shows its name, file:line, duration and self time', dn === 'main' && /viewer\.cc:\d+/.test(dt) && /duration .* self /.test(dt), dn + ' / ' + dt);

	/* diff: from the run list's check boxes */
	await page.goto(base + '#/');
	await ready(page);
	await page.check('#runs input[data-run="' + older + '"]');
	await page.check('#runs input[data-run="' + newer + '"]');
	await page.click('#diff-btn');
	await ready(page);
	await page.waitForSelector('#diff');
	await shot(page, 'serve-diff');
	const rows = await page.$$eval('#diff tbody tr', (t) => t.map((r) => [r.cells[0].getAttribute('data-name'), r.cells[1].textContent, r.cells[6].textContent]));
	check('diff page lists the functions', rows.length >= 5, rows.length);
	const leafRow = rows.findIndex((r) => r[0] === 'leaf(long)');
	const leafCalls = leafRow < 0 ? [] : await page.$$eval('#diff tbody tr', (t, i) => [t[i].cells[2].textContent, t[i].cells[3].textContent], leafRow);
	check('diff: the known change (leaf calls 13,800 -> 212,800) is among the first and got slower', leafRow >= 0 && leafRow < 3 && rows[leafRow][1] === 'changed' && rows[leafRow][2].startsWith('+') && leafCalls.join() === '13,800,212,800', JSON.stringify([leafRow, rows[leafRow], leafCalls]));
	const heads = await page.$$eval('#diff thead th', (h) => h.map((x) => x.textContent));
	check('diff has per-call columns', heads.includes('per call A') && heads.includes('per call B') && heads.includes('per call %'), heads.join('|'));
	const painted = await page.$$eval('#diff tbody tr', (t) => t.filter((r) => r.cells[1].textContent === 'same' && (r.classList.contains('slower') || r.classList.contains('faster'))).length);
	check('diff colours only the functions that changed', painted === 0, painted);
	const sides = await page.$$eval('#diff-sides .side h2', (h) => h.map((x) => x.textContent));
	check('diff shows both runs side by side', sides.length === 2 && sides[0].endsWith('1000') && sides[1].endsWith('200000'), JSON.stringify(sides));

	/* trend: from the profile's link of a function, a chart with one point per run */
	await page.goto(base + '#/trend?function=' + encodeURIComponent('leaf(long)') + '&metric=calls');
	await ready(page);
	await page.waitForSelector('#trend-chart');
	await shot(page, 'serve-trend');
	check('trend page: a point per run', await attr(page, '#trend-chart', 'data-points') === '2', await attr(page, '#trend-chart', 'data-points'));
	const tvals = await page.$$eval('#trend tbody tr', (t) => t.map((r) => r.cells[2].textContent));
	check('trend page: the calls of both runs, oldest first', tvals.join() === '13.8 k,212800' || tvals.join() === '13.8 k,212.8 k', JSON.stringify(tvals));
	const line = await page.$eval('#trend-chart polyline', (p) => p.getAttribute('points').trim().split(/\s+/).length);
	const dots = await page.$$eval('#trend-chart circle', (c) => c.length);
	check('trend page: the line and its points are drawn', line === 2 && dots === 2, line + ' / ' + dots);
	await page.goto(base + '#/run/' + newer);
	await ready(page);
	const links = await page.$$eval('#profile a.trend-link', (a) => a.map((x) => x.getAttribute('href')));
	check('profile rows link to their trend', links.some((h) => h.startsWith('#/trend?function=')), links.length);

	await page.goto(base + '#/run/nosuchrun');
	await ready(page);
	const e404 = await page.textContent('#error');
	check('an unknown run shows the API error', /CTRACE_E_NOT_FOUND/.test(e404), e404);
	st.errors = st.errors.filter((e) => !/404/.test(e)); // the failed fetch above is logged by Chromium
	check('served page: no console errors', st.errors.length === 0, st.errors.slice(0, 3).join(' | '));
	check('served page: no request outside the server', st.foreign.length === 0, st.foreign.slice(0, 3).join(' '));
	await page.close();
}

async function staticPage(browser) {
	const page = await browser.newPage({viewport: {width: 1280, height: 900}});
	const url = 'file://' + staticFile;
	const st = watch(page, 'file://', 'static');
	await page.goto(url);
	await ready(page);
	await shot(page, 'static-run');
	const names = await page.$$eval('#profile td.name', (t) => t.map((e) => e.getAttribute('data-name')));
	check('static: profile lists main and slow_path(long)', names.includes('main') && names.includes('slow_path(long)'), names.join(' | '));
	check('static: flame graph drawn', +(await attr(page, '#flame', 'data-frames')) > 3, await attr(page, '#flame', 'data-frames'));
	const tl = '#timeline';
	await page.waitForFunction(() => +document.querySelector('#timeline').getAttribute('data-requests') >= 2);
	const from = +(await attr(page, tl, 'data-from')), to = +(await attr(page, tl, 'data-to'));
	const dur = await page.evaluate(() => JSON.parse(document.getElementById('ctrace-data').textContent).run.duration_ns);
	check('static: the timeline shows the whole run', from === 0 && to >= dur, from + '..' + to + ' of ' + dur);
	const calls0 = +(await attr(page, tl, 'data-calls'));
	check('static: whole-run timeline draws labelled calls', calls0 > 0 && +(await attr(page, tl, 'data-labels')) > 0, calls0);
	const tb = await page.$eval(tl, (e) => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width}; });
	await page.mouse.move(tb.x + tb.w * 0.4, tb.y + 60);
	const req = await attr(page, tl, 'data-requests');
	await page.mouse.wheel(0, -800);
	await waitAnswered(page, tl, req);
	const span = +(await attr(page, tl, 'data-to')) - +(await attr(page, tl, 'data-from'));
	check('static: wheel zoom narrows the view and redraws', span < (to - from) * 0.5 && +(await attr(page, tl, 'data-calls')) > 0, span);
	await shot(page, 'static-zoom');
	check('static: no console errors', st.errors.length === 0, st.errors.slice(0, 3).join(' | '));
	check('static: no network request', st.foreign.length === 0, st.foreign.slice(0, 3).join(' '));
	await page.close();
}

/* The static page of a 30,000-deep recursion (main, then rec 30,001 times): the flame graph
 * draws a bounded number of levels, and "deeper" zooms on down a level chain at a time. */
async function deepPage(browser) {
	const page = await browser.newPage({viewport: {width: 1280, height: 900}});
	const st = watch(page, 'file://', 'deep');
	await page.goto('file://' + deepFile);
	await ready(page);
	const fl = '#flame';
	await page.waitForSelector(fl + '[data-frames]', {timeout: 20000});
	const frames = +(await attr(page, fl, 'data-frames'));
	check('deep: the flame graph draws the root and 64 levels below it', frames === 65, frames);
	check('deep: a "deeper" link is shown', await page.isVisible('#flame-deeper'), 'hidden');
	await page.click('#flame-deeper');
	check('deep: "deeper" zooms 64 levels down', await attr(page, fl, 'data-zoom-depth') === '64' && await attr(page, fl, 'data-zoom') === 'rec', await attr(page, fl, 'data-zoom-depth'));
	await page.click('#flame-deeper');
	const d2 = await attr(page, fl, 'data-zoom-depth');
	const crumbs = await page.$$eval('#flame-crumbs a', (a) => a.map((x) => x.getAttribute('data-depth')));
	const gap = await page.textContent('#flame-crumbs');
	check('deep: and again; the crumbs keep the root and the last 8 levels, 120 skipped', d2 === '128' && crumbs.length === 9 && crumbs[0] === '0' && crumbs[8] === '128' && /\u2026 120 levels \u2026/.test(gap), d2 + ' ' + JSON.stringify(crumbs) + ' ' + gap);
	check('deep: those 9 frames and 64 levels below drawn', +(await attr(page, fl, 'data-frames')) === 9 + 64, await attr(page, fl, 'data-frames'));
	await page.click('#flame-crumbs a >> nth=0');
	check('deep: the root crumb zooms back out', await attr(page, fl, 'data-zoom-depth') === '0', await attr(page, fl, 'data-zoom-depth'));
	await shot(page, 'deep-flame');
	check('deep: no console errors', st.errors.length === 0, st.errors.slice(0, 3).join(' | '));
	await page.close();
}

/* A server started with --token: the page opened with ?token= sends it on every API call. */
async function tokened(browser) {
	const page = await browser.newPage({viewport: {width: 1280, height: 900}});
	const st = watch(page, new URL(tokenBase).origin, 'token');
	const auth = [];
	page.on('request', (r) => { if (r.url().includes('/api/')) auth.push(r.headers()['authorization'] || ''); });
	const bare = await page.goto(tokenBase.replace(/\?token=.*/, ''));
	check('token server: the page without the token is 401', bare.status() === 401, bare.status());
	await page.goto(tokenBase + '#/');
	await ready(page);
	check('token server: the run list loads with ?token=', await attr(page, '#runs', 'data-rows') === '2', await attr(page, '#runs', 'data-rows'));
	check('token server: API calls carry Authorization: Bearer', auth.length > 0 && auth.every((a) => a === 'Bearer ' + new URL(tokenBase).searchParams.get('token')), JSON.stringify(auth));
	st.errors = st.errors.filter((e) => !/401/.test(e));
	check('token server: no console errors', st.errors.length === 0, st.errors.slice(0, 3).join(' | '));
	await page.close();
}

(async () => {
	let browser;
	try {
		browser = await chromium.launch({executablePath: chromePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']});
		await served(browser);
		await staticPage(browser);
		if (tokenBase) await tokened(browser);
		if (deepFile) await deepPage(browser);
	} catch (e) {
		bad('browser run', String(e && e.stack || e).split('\n').slice(0, 4).join(' / '));
	} finally {
		if (browser) await browser.close();
	}
	process.exit(fails ? 1 : 0);
})();
