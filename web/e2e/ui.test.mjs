// Browser end-to-end test of the Magpie web UI.
//
//   cd web/e2e && npm ci && node --test
//
// Environment:
//   MAGPIE_URL          server to test (default: start ./mock-server.mjs in-process)
//   MAGPIE_TOKEN        token to open the page with (as #token=…), when the server requires one
//   MAGPIE_QUERY        text query to type (default "red")
//   MAGPIE_TEXT_QUERY   a word printed in exactly one image (default "zephyr", one of the mock's signs)
//   MAGPIE_DROP_IMAGE   image file to drop on the page (default: a generated PNG)
//   MAGPIE_FORMAT_FILES comma-separated names of HEIC/AVIF/JPEG XL/RAW files in the server's library
//                       (scripts/e2e: plain.heic,orient6.heic,plain.avif,lossy.jxl,preview.dng,nopreview.dng
//                       in Photos/2024/Formats/); each must be found by its name, served as JPEG and shown
//                       in the grid and the lightbox. Unset (and always with the mock): that test is skipped
//   MAGPIE_SCREENSHOTS  where screenshots go (default web/e2e/screenshots)
//   CHROMIUM            browser binary (default /usr/bin/chromium; Debian's package, no browser downloads)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startMockServer } from './mock-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUERY = process.env.MAGPIE_QUERY || 'red';
const TEXT_QUERY = process.env.MAGPIE_TEXT_QUERY || 'zephyr';
const SHOTS = path.resolve(process.env.MAGPIE_SCREENSHOTS || path.join(here, 'screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const usingMock = !process.env.MAGPIE_URL;
const TIMEOUT = 15_000;
const FORMAT_FILES = (process.env.MAGPIE_FORMAT_FILES || '').split(',').map((s) => s.trim()).filter(Boolean);

let base = process.env.MAGPIE_URL ? process.env.MAGPIE_URL.replace(/\/+$/, '') : null;
let mock = null;
const tmpDirs = [];
const contexts = [];

before(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  if (!base) { mock = await startMockServer({ port: 0 }); base = mock.url; }
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (mock) await mock.close();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A browser with a fresh profile. Collects page errors and CSP violations. */
async function openBrowser(opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'magpie-e2e-'));
  tmpDirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: ARGS,
    viewport: { width: 1280, height: 860 }, colorScheme: 'light', ...opts,
  });
  contexts.push(context);
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
  return { context, page, problems };
}

/** Screenshot once visible thumbnails have loaded and faded in. */
async function shot(page, name) {
  await page.waitForFunction(() => [...document.querySelectorAll('#grid .tile:not(.skeleton)')]
    .filter((t) => t.getBoundingClientRect().top < innerHeight).every((t) => t.classList.contains('loaded')), null, { timeout: 5000 }).catch(() => {});
  await page.waitForTimeout(350);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

/** GET a server path from Node, with the bearer token when the server needs one. */
function apiGet(p) {
  const tok = process.env.MAGPIE_TOKEN;
  return fetch(base + p, { headers: tok ? { Authorization: `Bearer ${tok}` } : {} });
}

function pageUrl(extra = '') {
  const tok = process.env.MAGPIE_TOKEN;
  return `${base}/${extra}${tok ? `#token=${encodeURIComponent(tok)}` : ''}`;
}

/** Wait until the results area settled into one of the given states. */
async function settled(page, states = ['ready']) {
  await page.waitForFunction((s) => s.includes(document.getElementById('results').dataset.state), states);
  return page.evaluate(() => ({
    state: document.getElementById('results').dataset.state,
    total: Number(document.getElementById('results').dataset.total || 0),
    count: document.querySelectorAll('#grid .tile:not(.skeleton)').length,
    url: location.href,
    q: document.getElementById('q').value,
  }));
}

/** A small valid PNG (solid colour with a stripe), so no binary fixture needs committing. */
function makePng(w = 64, h = 64) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const stripe = y > h * 0.6;
      raw[o] = stripe ? 40 : 215; raw[o + 1] = stripe ? 90 : 38; raw[o + 2] = stripe ? 40 : 61;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function dropImage() {
  const p = process.env.MAGPIE_DROP_IMAGE;
  if (p) {
    const ext = path.extname(p).toLowerCase().slice(1);
    const type = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif' }[ext] || 'application/octet-stream';
    return { name: path.basename(p), type, data: fs.readFileSync(p) };
  }
  return { name: 'example-red.png', type: 'image/png', data: makePng() };
}

test('desktop: search, scroll, drop, lightbox, filter, back', async () => {
  const { page, problems } = await openBrowser();

  // 1. load
  await page.goto(pageUrl());
  await page.waitForSelector('#q');
  await settled(page, ['idle']);
  assert.equal(await page.isVisible('#empty'), true, 'empty state shown before any search');
  assert.ok(!page.url().includes('token='), 'token is stripped from the visible URL');
  await shot(page, '01-load');

  // 2. type a query → results appear
  await page.click('#q');
  await page.keyboard.type(QUERY, { delay: 40 });
  await page.waitForFunction((q) => new URL(location.href).searchParams.get('q') === q, QUERY);
  const first = await settled(page);
  assert.ok(first.count > 0, `results for "${QUERY}"`);
  assert.equal(await page.isVisible('#empty'), false);
  await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded').length >= 6);
  await shot(page, '02-query');

  // 3. scroll → more hits when there are more
  if (first.total > first.count) {
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction((n) => document.querySelectorAll('#grid .tile:not(.skeleton)').length > n, first.count);
    const more = await settled(page);
    assert.ok(more.count > first.count, 'infinite scroll loaded another page');
    assert.ok(more.count <= more.total);
  } else {
    console.log(`# only ${first.total} hits for "${QUERY}": nothing to scroll`);
  }
  await shot(page, '03-scrolled');

  // 4. drop an image on the page → results by example
  const img = dropImage();
  await page.evaluate(() => window.scrollTo(0, 0));
  const uploaded = page.waitForResponse((r) => r.url().includes('/api/search/image') && r.request().method() === 'POST');
  await page.evaluate(({ b64, name, type }) => {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type }));
    const target = document.querySelector('main');
    for (const t of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(t, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, { b64: img.data.toString('base64'), name: img.name, type: img.type });
  assert.equal((await uploaded).status(), 200, 'image search accepted');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('image') === '1');
  const byExample = await settled(page);
  assert.ok(byExample.count > 0, 'results for the dropped image');
  assert.equal(await page.isVisible('#example-chip'), true, 'example chip shown');
  assert.equal(await page.isHidden('#drop-overlay'), true, 'drop overlay hidden again');
  await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded').length >= 4);
  await shot(page, '04-dropped');

  // 5. lightbox: click the first result, the path is shown, arrows move, Esc closes
  const firstPath = await page.getAttribute('#grid .tile:first-child', 'data-path');
  await page.click('#grid .tile:first-child .tile-link');
  await page.waitForSelector('#lightbox[open]');
  await page.waitForFunction((p) => document.getElementById('lb-path').textContent === p, firstPath);
  assert.ok(firstPath.length > 0, 'path text shown');
  await page.waitForFunction(() => document.querySelectorAll('#lb-details dt').length >= 3);
  await page.waitForFunction(() => document.getElementById('lb-image').classList.contains('loaded'));
  await shot(page, '05-lightbox');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => document.getElementById('lb-counter').textContent.startsWith('2 '));
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => document.getElementById('lb-counter').textContent.startsWith('1 '));
  await page.keyboard.press('Escape');
  await page.waitForSelector('#lightbox', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.matches('#grid .tile:first-child .tile-link')), true,
    'focus returns to the tile');
  await shot(page, '06-lightbox-closed');

  // 6. Back returns from the example search to the text query
  await page.goBack();
  await page.waitForFunction(() => !new URL(location.href).searchParams.has('image'));
  const back1 = await settled(page);
  assert.equal(back1.q, QUERY, 'query restored in the search box');
  assert.equal(new URL(back1.url).searchParams.get('q'), QUERY);
  assert.equal(await page.isHidden('#example-chip'), true);

  // 7. filter by camera → results update and the URL carries the filter
  const cameras = await page.$$eval('#f-camera option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(cameras.length > 0, 'camera facet has options');
  const camera = cameras[0];
  const filtered = page.waitForResponse((r) => r.url().includes('/api/search?') && new URL(r.url()).searchParams.get('camera') === camera);
  await page.selectOption('#f-camera', camera);
  assert.equal((await filtered).status(), 200);
  await page.waitForFunction((c) => new URL(location.href).searchParams.get('camera') === c, camera);
  const withFilter = await settled(page, ['ready', 'empty']);
  assert.equal(new URL(withFilter.url).searchParams.get('q'), QUERY, 'query kept with the filter');
  if (usingMock) {
    const cams = await page.$$eval('#grid .tile-link', (ls) => ls.map((l) => l.getAttribute('aria-label')));
    assert.ok(cams.every((label) => label.includes(camera)), 'every hit is from the chosen camera');
  }
  assert.equal(await page.textContent('#filters-count'), '1');
  await shot(page, '07-filtered');

  // 8. Back restores the previous (unfiltered) query
  await page.goBack();
  await page.waitForFunction(() => !new URL(location.href).searchParams.has('camera'));
  const back2 = await settled(page);
  assert.equal(back2.q, QUERY);
  assert.equal(await page.inputValue('#f-camera'), '');
  assert.equal(back2.total, first.total, 'same result count as before the filter');
  await shot(page, '08-back');

  // No markup from file names was interpreted, no CSP violation, no script error.
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.$('#grid b, #lightbox b'), null);
  assert.deepEqual(problems, []);
});

test('keyboard: / focuses search, arrows move in the grid, Enter opens, Esc closes', async () => {
  const { page, problems } = await openBrowser();
  await page.goto(pageUrl(`?q=${encodeURIComponent(QUERY)}`));
  await settled(page);
  await page.click('body', { position: { x: 5, y: 300 } });
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), '0');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), '1');
  const cols = await page.evaluate(() => getComputedStyle(document.getElementById('grid')).gridTemplateColumns.split(' ').length);
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), String(1 + cols));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#lightbox[open]');
  const expect = await page.getAttribute(`#grid .tile:nth-child(${2 + cols})`, 'data-path');
  assert.equal(await page.textContent('#lb-path'), expect);
  await page.keyboard.press('Escape');
  await page.waitForSelector('#lightbox', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), String(1 + cols));
  // "Similar" from the keyboard (s) on the focused tile
  await page.keyboard.press('s');
  await page.waitForFunction(() => new URL(location.href).searchParams.has('like'));
  await settled(page);
  assert.equal(await page.isVisible('#example-chip'), true);
  assert.deepEqual(problems, []);
});

test('phone width: layout, filters panel, lightbox, file input', async () => {
  const { page, problems } = await openBrowser({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark',
  });
  await page.goto(pageUrl(`?q=${encodeURIComponent(QUERY)}`));
  const r = await settled(page);
  assert.ok(r.count > 0);
  assert.equal(await page.inputValue('#q'), QUERY, 'shared URL fills the search box');
  await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded').length >= 6);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling');
  assert.equal(await page.isHidden('#filters'), true, 'filters collapsed on a phone');
  await shot(page, '10-phone-results');

  await page.tap('#filters-toggle');
  await page.waitForSelector('#filters', { state: 'visible' });
  await shot(page, '11-phone-filters');
  await page.tap('#filters-toggle');
  await page.waitForSelector('#filters', { state: 'hidden' });

  await page.tap('#grid .tile:first-child .tile-link');
  await page.waitForSelector('#lightbox[open]');
  await page.waitForFunction(() => document.getElementById('lb-image').classList.contains('loaded'));
  await page.waitForFunction(() => document.querySelectorAll('#lb-details dt').length >= 3);
  await shot(page, '12-phone-lightbox');
  await page.tap('#lb-close');
  await page.waitForSelector('#lightbox', { state: 'hidden' });

  // the visible "search by image" button is a file input, usable without drag and drop
  const img = dropImage();
  await page.setInputFiles('#file-input', { name: img.name, mimeType: img.type, buffer: img.data });
  await page.waitForFunction(() => new URL(location.href).searchParams.get('image') === '1');
  await settled(page);
  await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded').length >= 4);
  await shot(page, '13-phone-by-image');
  assert.deepEqual(problems, []);
});

test('empty results and errors are explained', async () => {
  const { page, problems } = await openBrowser();
  // The real server always shows its best guesses for a text query (the relevance cutoff keeps at
  // least one hit), so against it a filter that matches nothing makes the result empty.
  await page.goto(pageUrl(usingMock ? '?q=zzqxv%20wibble' : '?q=zzqxv%20wibble&folder=zzqxv-no-such-folder'));
  await settled(page, ['empty']);
  assert.match(await page.textContent('#empty-title'), /No photos match/);
  await shot(page, '14-no-results');

  await page.goto(pageUrl(`?q=${'a'.repeat(2001)}`));
  await settled(page, ['error']);
  assert.equal(await page.isVisible('#error'), true);
  assert.ok((await page.textContent('#error-message')).length > 0);
  await shot(page, '15-error');
  assert.deepEqual(problems, []);
});

/**
 * Where the lightbox image is drawn (the box `object-fit: contain` gives it), and the on-screen
 * boxes of the text outlines over it.
 */
function overlayGeometry(page) {
  return page.evaluate(() => {
    const img = document.getElementById('lb-image');
    const r = img.getBoundingClientRect();
    const scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
    const w = img.naturalWidth * scale;
    const h = img.naturalHeight * scale;
    const shown = { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
    const overlay = document.getElementById('lb-overlay');
    const boxes = [...overlay.querySelectorAll('polygon')].map((p) => {
      const b = p.getBoundingClientRect();
      return { left: b.left, top: b.top, right: b.right, bottom: b.bottom, width: b.width, height: b.height };
    });
    return { shown, boxes, visible: getComputedStyle(overlay).display !== 'none' };
  });
}

/** The outlines sit inside the shown image, where the hit's `text_matches` corners say. */
function assertOutlines(geo, hit, what) {
  assert.ok(geo.visible, `${what}: overlay shown`);
  assert.ok(geo.boxes.length >= 1, `${what}: at least one outline`);
  assert.equal(geo.boxes.length, hit.text_matches.length, `${what}: one outline per matching line`);
  const s = geo.shown;
  const k = s.width / hit.width;
  geo.boxes.forEach((b, i) => {
    assert.ok(b.width > 3 && b.height > 2, `${what}: outline ${i} has a size (${JSON.stringify(b)})`);
    assert.ok(b.left >= s.left - 1 && b.top >= s.top - 1 && b.right <= s.left + s.width + 1 && b.bottom <= s.top + s.height + 1,
      `${what}: outline ${i} ${JSON.stringify(b)} inside the image ${JSON.stringify(s)}`);
    const xs = hit.text_matches[i].corners.map((c) => s.left + c[0] * k);
    const ys = hit.text_matches[i].corners.map((c) => s.top + c[1] * k);
    const tol = 2 + 0.01 * s.width;
    assert.ok(Math.abs(b.left - Math.min(...xs)) < tol && Math.abs(b.right - Math.max(...xs)) < tol &&
      Math.abs(b.top - Math.min(...ys)) < tol && Math.abs(b.bottom - Math.max(...ys)) < tol,
    `${what}: outline ${i} ${JSON.stringify(b)} where its corners are (x ${Math.min(...xs)}–${Math.max(...xs)}, y ${Math.min(...ys)}–${Math.max(...ys)})`);
  });
}

/** Open `?q=TEXT_QUERY`, return the first page's JSON as the UI got it. */
async function textSearch(page) {
  const answered = page.waitForResponse((r) => r.url().includes('/api/search?') &&
    new URL(r.url()).searchParams.get('q') === TEXT_QUERY && r.request().method() === 'GET');
  await page.goto(pageUrl(`?q=${encodeURIComponent(TEXT_QUERY)}`));
  const res = await answered;
  assert.equal(res.status(), 200);
  const json = await res.json();
  const r = await settled(page);
  assert.ok(r.count > 0, `results for "${TEXT_QUERY}"`);
  return json;
}

test('text in images: badge on the hit, its lines and outlines in the lightbox', async () => {
  const { page, problems } = await openBrowser();
  const word = TEXT_QUERY.toLowerCase();
  const found = await textSearch(page);
  const hit = found.hits[0];
  assert.ok(hit.matched.includes('text'), `the first hit for "${TEXT_QUERY}" matched by text: ${JSON.stringify(hit.matched)}`);
  assert.ok(hit.text_matches && hit.text_matches.length >= 1, 'it carries the matching lines');
  const first = '#grid .tile:first-child';
  assert.equal(await page.isVisible(`${first} .text-badge`), true, 'the first tile shows the text badge');
  assert.equal(await page.getAttribute(`${first} .text-badge`, 'title'), 'Matched by text in the image');
  assert.match(await page.getAttribute(`${first} .tile-link`, 'aria-label'), /matched by text in the image/);
  assert.equal(await page.$$eval('#grid .tile .text-badge', (b) => b.length), 1, `"${TEXT_QUERY}" is printed in one image only`);
  await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded').length >= 1);
  await shot(page, '17-text-search');

  // the lightbox lists the lines (the matching one marked) and outlines it on the image
  await page.click(`${first} .tile-link`);
  await page.waitForSelector('#lightbox[open]');
  await page.waitForSelector('#lb-text', { state: 'visible' });
  await page.waitForFunction((w) => document.getElementById('lb-text-lines').textContent.toLowerCase().includes(w), word);
  await page.waitForFunction(() => document.querySelectorAll('#lb-details dt').length >= 3); // details (and all lines) arrived
  const marked = await page.$$eval('#lb-text-lines .lb-line.matched mark', (ms) => ms.map((m) => m.textContent.toLowerCase()));
  assert.ok(marked.includes(word), `the query word is highlighted in the matching line: ${JSON.stringify(marked)}`);
  assert.match(await page.textContent('#lb-details'), /text in the image/, 'details say how it matched');
  await page.waitForFunction(() => document.getElementById('lb-image').classList.contains('loaded'));
  assertOutlines(await overlayGeometry(page), hit, 'desktop');
  await shot(page, '18-text-lightbox');

  // still right after the window changes shape
  await page.setViewportSize({ width: 900, height: 1000 });
  await page.waitForTimeout(200);
  assertOutlines(await overlayGeometry(page), hit, 'after a resize');
  await page.setViewportSize({ width: 1280, height: 860 });

  // the next photo has its own outlines (none unless it matched by text too)
  if (found.hits.length > 1) {
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => document.getElementById('lb-counter').textContent.startsWith('2 '));
    const next = found.hits[1];
    const n = await page.$$eval('#lb-overlay polygon', (ps) => ps.length);
    assert.equal(n, next.matched.includes('text') ? (next.text_matches || []).length : 0, 'outlines follow the shown photo');
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => document.getElementById('lb-counter').textContent.startsWith('1 '));
  }
  await page.keyboard.press('Escape');
  await page.waitForSelector('#lightbox', { state: 'hidden' });

  // the "Has text" filter keeps the photo and goes into the address
  const filtered = page.waitForResponse((r) => r.url().includes('/api/search?') && new URL(r.url()).searchParams.get('has_text') === 'true');
  await page.check('#f-has-text');
  assert.equal((await filtered).status(), 200);
  await page.waitForFunction(() => new URL(location.href).searchParams.get('has_text') === 'true');
  await settled(page);
  assert.equal(await page.getAttribute('#grid .tile:first-child', 'data-id'), String(hit.id), 'the photo with the word is still first');
  assert.equal(await page.textContent('#filters-count'), '1');
  await page.goBack();
  await page.waitForFunction(() => !new URL(location.href).searchParams.has('has_text'));
  await settled(page);
  assert.equal(await page.isChecked('#f-has-text'), false);

  if (usingMock) {
    // text read in an image is shown as text, never as markup
    await page.goto(pageUrl('?q=menu'));
    await settled(page);
    await page.click('#grid .tile:first-child .tile-link');
    await page.waitForSelector('#lb-text', { state: 'visible' });
    await page.waitForFunction(() => document.getElementById('lb-text-lines').textContent.includes('<img src=x'));
    assert.equal(await page.$('#lb-text img, #lb-text-lines b'), null);
    await page.keyboard.press('Escape');
  }
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(problems, []);

  // phone, dark: the same photo's text and outlines in the stacked lightbox
  const phone = await openBrowser({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark',
  });
  const onPhone = await textSearch(phone.page);
  await phone.page.tap('#grid .tile:first-child .tile-link');
  await phone.page.waitForSelector('#lightbox[open]');
  await phone.page.waitForSelector('#lb-text', { state: 'visible' });
  await phone.page.waitForFunction(() => document.getElementById('lb-image').classList.contains('loaded'));
  await phone.page.waitForFunction(() => document.querySelectorAll('#lb-details dt').length >= 3);
  assertOutlines(await overlayGeometry(phone.page), onPhone.hits[0], 'phone');
  assert.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling');
  await shot(phone.page, '19-phone-text-lightbox');
  assert.deepEqual(phone.problems, []);
});

// scripts/e2e copies these from the format test corpus (scripts/testformats/make_test_images.py):
// displayed upright, two are portrait (EXIF orientation 6, and HEIF's irot), the others landscape.
const PORTRAIT_FILES = new Set(['orient6.heic', 'preview.dng']);
const LANDSCAPE_FILES = new Set(['plain.heic', 'plain.avif', 'lossy.jxl', 'nopreview.dng']);
const formatsSkip = usingMock ? 'the mock has no HEIC, AVIF, JPEG XL or RAW files (scripts/e2e runs this against the real server)'
  : FORMAT_FILES.length === 0 ? 'MAGPIE_FORMAT_FILES is not set (scripts/e2e sets it)' : false;

test('photo formats a browser cannot show: HEIC, AVIF, JPEG XL, RAW', { skip: formatsSkip }, async () => {
  const { page, problems } = await openBrowser();
  // One search per stem ("plain" names plain.heic and plain.avif): a second visit of the same
  // address with only a different #token would not reload the page.
  const byStem = new Map();
  for (const file of FORMAT_FILES) {
    const stem = file.replace(/\.[^.]+$/, '');
    byStem.set(stem, [...(byStem.get(stem) || []), file]);
  }
  const hits = [];
  for (const [stem, files] of byStem) {
    const res = await apiGet(`/api/search?q=${encodeURIComponent(stem)}&mode=keyword&limit=50`);
    assert.equal(res.status, 200, `keyword search for "${stem}"`);
    const found = await res.json();
    const mine = files.map((file) => {
      const hit = found.hits.find((h) => h.name === file);
      assert.ok(hit, `${file} is indexed and found by its name (hits for "${stem}": ${JSON.stringify(found.hits.map((h) => h.name))})`);
      return [file, hit];
    });
    // The server serves a JPEG rendition of each, small and large.
    for (const [file, hit] of mine) {
      for (const [what, url] of [['thumbnail', hit.thumbnail_url], ['preview', hit.preview_url]]) {
        const r = await apiGet(url);
        assert.equal(r.status, 200, `${file}: ${what} ${url} answers`);
        assert.match(r.headers.get('content-type') || '', /^image\/jpeg\b/, `${file}: the ${what} is a JPEG`);
        const body = Buffer.from(await r.arrayBuffer());
        assert.ok(body.length > 100 && body[0] === 0xff && body[1] === 0xd8, `${file}: the ${what} holds JPEG data`);
      }
    }

    // In the browser: the tile's thumbnail loads, and the lightbox shows the preview, upright.
    await page.goto(pageUrl(`?q=${encodeURIComponent(stem)}&mode=keyword`));
    await settled(page);
    for (const [file, hit] of mine) {
      const tile = `#grid .tile[data-id="${hit.id}"]`;
      await page.waitForSelector(`${tile}.loaded`); // set on the thumbnail's load or error
      const thumb = await page.$eval(tile, (t) => {
        const i = t.querySelector('img');
        return { broken: t.classList.contains('broken'), complete: i.complete, w: i.naturalWidth };
      });
      assert.ok(!thumb.broken && thumb.complete && thumb.w > 0, `${file}: the tile's thumbnail loaded (${JSON.stringify(thumb)})`);

      await page.click(`${tile} .tile-link`);
      await page.waitForSelector('#lightbox[open]');
      await page.waitForFunction((p) => document.getElementById('lb-path').textContent === p, hit.path);
      // complete is true after a load and after an error alike; naturalWidth tells them apart.
      await page.waitForFunction((u) => {
        const i = document.getElementById('lb-image');
        return i.src.endsWith(u) && i.complete;
      }, hit.preview_url);
      const shown = await page.$eval('#lb-image', (i) => ({ w: i.naturalWidth, h: i.naturalHeight }));
      assert.ok(shown.w > 0 && shown.h > 0, `${file}: the lightbox image loaded (${shown.w}×${shown.h})`);
      if (PORTRAIT_FILES.has(file)) assert.ok(shown.h > shown.w, `${file}: shown upright, portrait (${shown.w}×${shown.h})`);
      if (LANDSCAPE_FILES.has(file)) assert.ok(shown.w > shown.h, `${file}: shown landscape (${shown.w}×${shown.h})`);
      await page.keyboard.press('Escape');
      await page.waitForSelector('#lightbox', { state: 'hidden' });
      hits.push(hit);
    }
  }

  // The folder they are in, browsed: every one there with its thumbnail, as many as the server has.
  const folder = hits[0].folder;
  const listed = await apiGet(`/api/search?folder=${encodeURIComponent(folder)}&limit=500`);
  assert.equal(listed.status, 200);
  const expected = (await listed.json()).total;
  await page.goto(pageUrl(`?folder=${encodeURIComponent(folder)}`));
  const r = await settled(page);
  assert.equal(r.total, expected, `the UI lists what the server has in ${folder}`);
  const ids = await page.$$eval('#grid .tile', (ts) => ts.map((t) => t.dataset.id));
  for (const hit of hits.filter((h) => h.folder === folder)) assert.ok(ids.includes(String(hit.id)), `${hit.name} listed in ${folder}`);
  await page.waitForFunction(() => [...document.querySelectorAll('#grid .tile:not(.skeleton)')].every((t) => t.classList.contains('loaded')));
  assert.deepEqual(await page.$$eval('#grid .tile.broken', (ts) => ts.map((t) => t.dataset.path)), [], 'no broken thumbnail');
  await shot(page, '20-formats');
  assert.deepEqual(problems, []);
});

// Runs against a secured mock server of its own in both modes, so it never skips: the real
// server's token flow is the second pass of scripts/e2e.
test('token: prompt on 401, #token= is remembered and stripped', async () => {
  const secured = await startMockServer({ port: 0, token: 's3cret-token' });
  try {
    const { page, context, problems } = await openBrowser();
    await page.goto(`${secured.url}/?q=${encodeURIComponent(QUERY)}`);
    await page.waitForSelector('#token-dialog[open]');
    await shot(page, '16-token-prompt');
    await page.fill('#token-input', 'wrong');
    await page.press('#token-input', 'Enter');
    await page.waitForSelector('#token-error', { state: 'visible' });
    await page.fill('#token-input', 's3cret-token');
    await page.press('#token-input', 'Enter');
    const r = await settled(page);
    assert.ok(r.count > 0);
    // thumbnails load through the cookie
    await page.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded:not(.broken)').length >= 3);

    // a fresh tab with #token= in the link
    await context.clearCookies();
    await page.evaluate(() => localStorage.clear());
    const tab = await context.newPage();
    tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await tab.goto(`${secured.url}/?q=${encodeURIComponent(QUERY)}#token=s3cret-token`);
    const r2 = await settled(tab);
    assert.ok(r2.count > 0);
    assert.ok(!tab.url().includes('token'), 'token stripped from the address bar');
    assert.equal(await tab.evaluate(() => localStorage.getItem('magpie_token')), 's3cret-token');
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === 'magpie_token' && c.sameSite === 'Strict'));
    assert.equal(await tab.isHidden('#token-dialog'), true);
    await tab.waitForFunction(() => document.querySelectorAll('#grid .tile.loaded:not(.broken)').length >= 3);
    assert.deepEqual(problems, []);
  } finally {
    await secured.close();
  }
});
