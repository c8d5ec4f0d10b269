// A throwaway stand-in for the Magpie HTTP API, for working on web/ui without the Rust build.
// It serves web/ui/ with the same CSP the real server sends, and canned but consistent JSON for the
// endpoints in web/openapi.json, over a generated library of 400 "photos" drawn as SVG.
//
//   node web/e2e/mock-server.mjs [--port 8787] [--token SECRET] [--delay 300]
//
// Also importable: `const srv = await startMockServer({ port: 0, token, delay }); srv.url; await srv.close();`

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const UI_DIR = path.resolve(here, '../ui');
const OPENAPI = path.resolve(here, '../openapi.json');

export const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'";
const MAX_UPLOAD = 20 * 1024 * 1024;
const CUTOFF = 0.2;

// ------------------------------------------------------------------ the fake library

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function hash(str) {
  let x = 2166136261;
  for (let i = 0; i < str.length; i++) { x ^= str.charCodeAt(i); x = Math.imul(x, 16777619); }
  return x >>> 0;
}
const unit = (str) => mulberry32(hash(str))();

const COLOURS = {
  red: ['#d7263d', '#7a0c1c'], orange: ['#f46036', '#8a2c0b'], yellow: ['#f6c026', '#8a6a06'],
  green: ['#3f9e4d', '#173d1d'], teal: ['#1b998b', '#0b3c36'], blue: ['#2e86de', '#0e2f55'],
  purple: ['#7b4fbf', '#2c1650'], pink: ['#f06eaa', '#7a1f4a'], brown: ['#8d5b3a', '#3a2414'],
  gray: ['#8a94a6', '#2f3542'], white: ['#e9eef5', '#9aa5b4'], black: ['#3b3f48', '#0c0d10'],
};
const NEAR = { red: ['orange', 'pink', 'brown'], orange: ['red', 'yellow'], yellow: ['orange'], green: ['teal'],
  teal: ['green', 'blue'], blue: ['teal', 'purple'], purple: ['blue', 'pink'], pink: ['red', 'purple'],
  brown: ['red', 'orange'], gray: ['white', 'black'], white: ['gray'], black: ['gray'] };
const SUBJECTS = ['sunset', 'mountain', 'beach', 'forest', 'city', 'dog', 'cat', 'car', 'flower', 'portrait', 'food', 'snow'];
const FOLDERS = ['Photos/2019/Lisbon', 'Photos/2020/Home', 'Photos/2021/Alps', 'Photos/2022/Kyoto',
  'Photos/2023/Family', 'Photos/2024/Garden', 'Phone/Camera', 'Phone/Screenshots', 'Scans/Old albums'];
const CAMERAS = [['Canon', 'EOS R6', 'RF24-105mm F4 L IS USM'], ['FUJIFILM', 'X-T4', 'XF35mmF1.4 R'],
  ['Apple', 'iPhone 13 Pro', 'iPhone 13 Pro back triple camera 5.7mm f/1.5'], ['SONY', 'ILCE-7M3', 'FE 24-70mm F2.8 GM'],
  ['Google', 'Pixel 7', null], null];

function buildLibrary(n = 400) {
  const rnd = mulberry32(42);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const colourNames = Object.keys(COLOURS);
  const images = [];
  for (let i = 0; i < n; i++) {
    const colour = pick(colourNames);
    const subject = pick(SUBJECTS);
    const folder = pick(FOLDERS);
    const cam = folder.startsWith('Scans') ? null : pick(CAMERAS);
    const land = rnd() < 0.6;
    const sq = rnd() < 0.1;
    const [w, hgt] = sq ? [3000, 3000] : land ? [4032, 3024] : [3024, 4032];
    const t = Date.UTC(2019, 0, 1) + Math.floor(rnd() * 6 * 365 * 86400e3);
    const taken = folder.startsWith('Scans') || rnd() < 0.05 ? null : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
    const ext = cam && cam[0] === 'Apple' && rnd() < 0.4 ? 'heic' : cam && rnd() < 0.1 ? 'png' : 'jpg';
    const prefix = { Canon: 'IMG_', FUJIFILM: 'DSCF', Apple: 'IMG_', SONY: 'DSC0', Google: 'PXL_2023' };
    const base = cam ? `${prefix[cam[0]]}${String(4000 + i)}` : `scan-${String(i).padStart(3, '0')}`;
    const tags = [subject, colour];
    if (['sunset', 'mountain', 'beach', 'forest', 'snow', 'flower'].includes(subject)) tags.push('outdoor');
    if (['portrait', 'dog', 'cat'].includes(subject)) tags.push(subject === 'portrait' ? 'people' : 'animal');
    images.push({
      id: i + 1, name: `${base}.${ext}`, folder, path: `/home/ana/${folder}/${base}.${ext}`,
      colour, subject, width: w, height: hgt, taken_at: taken, size: 1_500_000 + Math.floor(rnd() * 6e6),
      format: ext === 'heic' ? 'heif' : ext === 'png' ? 'png' : 'jpeg', cam, tags,
      gps: rnd() < 0.4 ? { lat: +(38 + rnd() * 10).toFixed(6), lon: +(-9 + rnd() * 30).toFixed(6) } : null,
    });
  }
  // A hostile file name that must show up as text, never as markup.
  Object.assign(images[6], {
    name: '<b>bold</b> & <img src=x onerror="window.__xss=1">.jpg', colour: 'red', subject: 'flower',
    folder: 'Photos/Weird & <Names>', path: '/home/ana/Photos/Weird & <Names>/<b>bold</b> & <img src=x onerror="window.__xss=1">.jpg',
  });
  images[6].tags = ['flower', 'red', 'outdoor'];
  addText(images);
  return images;
}

// ------------------------------------------------------------------ text in the images (OCR)

const OCR_MODEL = 'pp-ocrv4';
/** A line of text: its box is `w` × `h` pixels (of the full-size image) at (x, y), turned `deg` degrees about its centre. */
function textLine(text, confidence, x, y, w, h, deg = 0) {
  const cx = x + w / 2; const cy = y + h / 2;
  const a = (deg * Math.PI) / 180;
  const at = ([px, py]) => {
    const dx = px - cx; const dy = py - cy;
    return [Math.round((cx + dx * Math.cos(a) - dy * Math.sin(a)) * 10) / 10, Math.round((cy + dx * Math.sin(a) + dy * Math.cos(a)) * 10) / 10];
  };
  return { text, confidence, corners: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]].map(at), box: { x, y, w, h, deg } };
}

/**
 * A few photos with signs in them (the word "zephyr" is in exactly one), one whose text looks like
 * HTML (it must be shown as text), one OCR failed on; every third other photo has been read and
 * holds no text, the rest have not been read yet (`text` null).
 */
function addText(images) {
  const read = (i, lines, extra = {}) => {
    images[i].text = { lines, model: OCR_MODEL, read_at: '2024-06-01T12:00:00Z', dropped_regions: 0, error: null, ...extra };
  };
  images.forEach((im, i) => { im.text = i % 3 === 0 ? { lines: [], model: OCR_MODEL, read_at: '2024-06-01T12:00:00Z', dropped_regions: 0, error: null } : null; });
  Object.assign(images[11], { width: 4032, height: 3024, colour: 'gray', subject: 'city' });
  images[11].tags = ['city', 'gray'];
  read(11, [
    textLine('ZEPHYR QUARTZ MARKET', 0.97, 620, 980, 2790, 300),
    textLine('OPEN DAILY 8-20', 0.91, 1310, 1390, 1410, 170),
  ]);
  Object.assign(images[23], { width: 3024, height: 4032, colour: 'white', subject: 'city' });
  images[23].tags = ['city', 'white'];
  read(23, [
    textLine('Rua Augusta 24', 0.88, 520, 1480, 1980, 260, -8),
    textLine('CAFÉ · PASTELARIA', 0.79, 610, 1900, 1800, 180, -8),
  ], { dropped_regions: 2 });
  Object.assign(images[37], { width: 4032, height: 3024, colour: 'black', subject: 'food' });
  images[37].tags = ['food', 'black'];
  read(37, [
    textLine('<img src=x onerror="window.__xss=2"> MENU', 0.83, 500, 900, 3000, 260),
    textLine('soup of the day', 0.42, 1100, 1300, 1800, 180),
  ]);
  read(52, [], { error: 'the image is too small to read text in' });
}

/** Words of `s`, lower case (letters and digits of any script). */
const wordsOf = (s) => s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
/** `word` is in `line` whole, or inside a run-together word (as the server matches). */
const lineHas = (line, word) => wordsOf(line).some((w) => w.includes(word));
const linesWith = (im, words) => (im.text ? im.text.lines.filter((l) => words.some((w) => lineHas(l.text, w))) : []);
const hasText = (im) => Boolean(im.text && im.text.lines.length);
const publicLine = ({ text, confidence, corners }) => ({ text, confidence, corners });

const LIB = buildLibrary();
const BY_ID = new Map(LIB.map((im) => [String(im.id), im]));

const cameraName = (im) => (im.cam ? `${im.cam[0]} ${im.cam[1]}` : null);
const urls = (im) => ({
  thumbnail_url: `/api/images/${im.id}/thumbnail`, preview_url: `/api/images/${im.id}/preview`, original_url: `/api/images/${im.id}/original`,
});

function hitOf(im, score, matched = [], textMatches = []) {
  const u = urls(im);
  const hit = { id: im.id, score: Math.round(score * 10000) / 10000, path: im.path, name: im.name, folder: im.folder,
    taken_at: im.taken_at, width: im.width, height: im.height, camera: cameraName(im),
    thumbnail_url: u.thumbnail_url, preview_url: u.preview_url, matched };
  if (matched.includes('text') && textMatches.length) hit.text_matches = textMatches.map(publicLine);
  return hit;
}

function infoOf(im) {
  return { id: im.id, path: im.path, name: im.name, folder: im.folder, size: im.size, width: im.width, height: im.height,
    format: im.format, taken_at: im.taken_at,
    mtime: (im.taken_at || '2024-05-01T10:00:00Z'),
    camera_make: im.cam ? im.cam[0] : null, camera_model: im.cam ? im.cam[1] : null, lens: im.cam ? im.cam[2] : null,
    gps: im.gps, orientation: 1, tags: im.tags, ...urls(im),
    text: im.text ? { ...im.text, lines: im.text.lines.map(publicLine) } : null };
}

function textScore(im, words) {
  let s = 0.1 + 0.08 * unit(`${im.id}|${words.join(' ')}`);
  for (const w of words) {
    if (im.colour === w) s += 0.17;
    else if ((NEAR[w] || []).includes(im.colour)) s += 0.11;
    if (im.subject === w || im.tags.includes(w)) s += 0.15;
    if (im.name.toLowerCase().includes(w) || im.folder.toLowerCase().includes(w)) s += 0.12;
  }
  return Math.min(s, 0.99);
}

function likeScore(im, ref) {
  if (im.id === ref.id) return 1;
  let s = 0.12 + 0.1 * unit(`${im.id}~${ref.id}`);
  if (im.colour === ref.colour) s += 0.2;
  else if ((NEAR[ref.colour] || []).includes(im.colour)) s += 0.08;
  if (im.subject === ref.subject) s += 0.16;
  if (im.folder === ref.folder) s += 0.04;
  return Math.min(s, 0.98);
}

class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function intParam(v, def, min, max, name) {
  if (v === null || v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, 'bad_request', `${name} must be an integer from ${min} to ${max}`);
  return n;
}
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Parse the options shared by GET /api/search and POST /api/search/image. */
function optionsFromQuery(sp) {
  const q = sp.get('q') || '';
  if (q.length > 2000) throw new HttpError(400, 'query_too_long', 'q is longer than 2,000 characters');
  const mode = sp.get('mode') || 'hybrid';
  if (!['hybrid', 'vector', 'keyword'].includes(mode)) throw new HttpError(400, 'bad_request', 'mode must be hybrid, vector or keyword');
  const sort = sp.get('sort') || 'relevance';
  if (!['relevance', 'date'].includes(sort)) throw new HttpError(400, 'bad_request', 'sort must be relevance or date');
  for (const k of ['after', 'before']) {
    if (sp.get(k) && !DATE_RE.test(sp.get(k))) throw new HttpError(400, 'bad_request', `${k} must be YYYY-MM-DD`);
  }
  const minScore = sp.get('min_score');
  const text = sp.get('text');
  if (text && [...text].length > 200) throw new HttpError(400, 'bad_request', 'text is longer than 200 characters');
  let hasTextFilter = null;
  if (sp.has('has_text')) {
    const v = sp.get('has_text').trim();
    if (['true', '1', ''].includes(v)) hasTextFilter = true;
    else if (['false', '0'].includes(v)) hasTextFilter = false;
    else throw new HttpError(400, 'bad_request', 'has_text must be true or false');
  }
  return {
    q, mode, sort,
    limit: intParam(sp.get('limit'), 50, 1, 500, 'limit'),
    offset: intParam(sp.get('offset'), 0, 0, 1e9, 'offset'),
    like: sp.getAll('like').filter(Boolean),
    minScore: minScore === null ? null : Number(minScore),
    raw: sp.get('raw') === 'true',
    filters: {
      folder_prefix: sp.get('folder') || null, taken_after: sp.get('after') || null, taken_before: sp.get('before') || null,
      camera: sp.get('camera') || null, extensions: sp.getAll('ext'), tags: sp.getAll('tag'),
      text: text && text.trim() ? text : null, has_text: hasTextFilter,
    },
  };
}

function runSearch(opt, example) {
  const t0 = process.hrtime.bigint();
  const words = opt.q.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  const refs = opt.like.map((id) => {
    const im = BY_ID.get(String(id));
    if (!im) throw new HttpError(404, 'not_found', `no image with id ${id}`);
    return im;
  });
  if (example) refs.push(example);
  const ranked = words.length > 0 || refs.length > 0;
  const f = opt.filters;
  let list = LIB.filter((im) => {
    if (f.folder_prefix && !im.folder.startsWith(f.folder_prefix.replace(/^\/+/, '')) && !im.path.startsWith(f.folder_prefix)) return false;
    if (f.taken_after && (!im.taken_at || im.taken_at.slice(0, 10) < f.taken_after)) return false;
    if (f.taken_before && (!im.taken_at || im.taken_at.slice(0, 10) > f.taken_before)) return false;
    if (f.camera && !(cameraName(im) || '').toLowerCase().includes(f.camera.toLowerCase())) return false;
    if (f.extensions && f.extensions.length && !f.extensions.map((e) => e.toLowerCase().replace(/^\./, '')).includes(im.name.split('.').pop().toLowerCase())) return false;
    if (f.tags && f.tags.length && !f.tags.every((t) => im.tags.includes(t))) return false;
    if (f.text && !wordsOf(f.text).every((w) => im.text && im.text.lines.some((l) => lineHas(l.text, w)))) return false;
    if (f.has_text !== null && f.has_text !== undefined && f.has_text !== hasText(im)) return false;
    if (f.orientation) {
      const o = im.width === im.height ? 'square' : im.width > im.height ? 'landscape' : 'portrait';
      if (o !== f.orientation) return false;
    }
    return true;
  }).map((im) => {
    if (!ranked) return { im, score: 0, matched: [], lines: [] };
    let s = 0; let n = 0;
    const matched = [];
    // Like the server: the vector ranking covers every image, the keyword ranking the ones whose
    // name/folder/camera holds a query word, the image-text ranking the ones whose OCR text does.
    if (opt.mode !== 'keyword') matched.push('meaning');
    const named = words.some((w) => im.name.toLowerCase().includes(w) || im.folder.toLowerCase().includes(w) ||
      (cameraName(im) || '').toLowerCase().includes(w));
    if (named && opt.mode !== 'vector') matched.push('name');
    const lines = opt.mode === 'vector' ? [] : linesWith(im, words);
    if (lines.length) matched.push('text');
    if (words.length && opt.mode !== 'keyword') { s += textScore(im, words); n++; }
    if (words.length && opt.mode === 'keyword') { s += words.some((w) => im.tags.includes(w) || im.name.toLowerCase().includes(w)) ? 0.5 : 0; n++; }
    for (const r of refs) { s += likeScore(im, r); n++; }
    let score = n ? s / n : 0;
    // An image whose text holds every query word ranks above the rest (the server's text bonus).
    if (lines.length) score += words.every((w) => im.text.lines.some((l) => lineHas(l.text, w))) ? 0.5 : 0.15;
    return { im, score, matched, lines };
  });
  if (refs.length) { const skip = new Set(refs.map((r) => r.id)); list = list.filter((x) => !skip.has(x.im.id)); }
  const cutoff = ranked && !opt.raw ? (opt.minScore ?? CUTOFF) : null;
  if (cutoff !== null) list = list.filter((x) => x.score >= cutoff);
  if (opt.sort === 'date' || !ranked) list.sort((a, b) => (b.im.taken_at || '').localeCompare(a.im.taken_at || '') || a.im.id - b.im.id);
  else list.sort((a, b) => b.score - a.score || a.im.id - b.im.id);
  const page = list.slice(opt.offset, opt.offset + opt.limit);
  return {
    hits: page.map((x) => hitOf(x.im, x.score, x.matched, x.lines)), total: list.length, offset: opt.offset, limit: opt.limit,
    took_ms: Number(process.hrtime.bigint() - t0) / 1e6 + 3 + 6 * unit(opt.q), cutoff_score: cutoff,
  };
}

function facets() {
  const count = (key) => { const m = new Map(); for (const im of LIB) { const k = key(im); if (k) m.set(k, (m.get(k) || 0) + 1); } return m; };
  const folders = [...count((im) => im.folder)].map(([p, c]) => ({ path: p, count: c })).sort((a, b) => a.path.localeCompare(b.path));
  const cameras = [...count(cameraName)].map(([name, c]) => ({ name, count: c })).sort((a, b) => b.count - a.count);
  const tagMap = new Map();
  for (const im of LIB) for (const t of im.tags) tagMap.set(t, (tagMap.get(t) || 0) + 1);
  const tags = [...tagMap].map(([tag, c]) => ({ tag, count: c })).sort((a, b) => b.count - a.count);
  const dates = LIB.map((im) => im.taken_at).filter(Boolean).sort();
  return { folders, cameras, tags, date_range: { first: dates[0], last: dates[dates.length - 1] } };
}

// ------------------------------------------------------------------ pictures

function svgFor(im, long) {
  const [main, dark] = COLOURS[im.colour];
  const w = im.width >= im.height ? long : Math.round(long * im.width / im.height);
  const h = im.height >= im.width ? long : Math.round(long * im.height / im.width);
  const r = mulberry32(im.id * 7919);
  const sky = { snow: '#eef3fa', sunset: '#ffb26b', city: '#5b6b8c', forest: '#b9d9b0', beach: '#bfe6f5', portrait: '#f3dcc8',
    food: '#f7efe3', cat: '#d9d4ea', dog: '#cfe3f7', car: '#4a5568', flower: '#fde2ef', mountain: '#a9c7ec' }[im.subject] || '#9cc7f0';
  const hills = [];
  for (let k = 0; k < 3; k++) {
    const y0 = h * (0.5 + 0.14 * k);
    let d = `M0 ${h} L0 ${y0.toFixed(1)}`;
    for (let x = 0; x <= 6; x++) d += ` L${(w * x / 6).toFixed(1)} ${(y0 - h * 0.18 * r()).toFixed(1)}`;
    d += ` L${w} ${h} Z`;
    hills.push(`<path d="${d}" fill="${k === 2 ? dark : main}" opacity="${(0.55 + 0.2 * k).toFixed(2)}"/>`);
  }
  const sunX = (w * (0.2 + 0.6 * r())).toFixed(1);
  const sunY = (h * (0.18 + 0.15 * r())).toFixed(1);
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${sky}"/><stop offset="1" stop-color="${main}"/></linearGradient></defs>
<rect width="${w}" height="${h}" fill="url(#s)"/>
<circle cx="${sunX}" cy="${sunY}" r="${(Math.min(w, h) * 0.09).toFixed(1)}" fill="#fff6d5" opacity="0.9"/>
${hills.join('\n')}
${signs(im, w / im.width)}
</svg>`;
}

const xmlEscape = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The image's lines of text drawn as signs, so the boxes in `text` outline something visible. */
function signs(im, scale) {
  if (!im.text || !im.text.lines.length) return '';
  const out = [`<g transform="scale(${scale.toFixed(5)})" font-family="DejaVu Sans, Arial, sans-serif" font-weight="700">`];
  for (const { text, box: { x, y, w, h, deg } } of im.text.lines) {
    const pad = h * 0.18;
    out.push(`<g transform="rotate(${deg} ${x + w / 2} ${y + h / 2})">`,
      `<rect x="${x - pad}" y="${y - pad}" width="${w + 2 * pad}" height="${h + 2 * pad}" rx="${pad}" fill="#f4f1e8" opacity="0.92"/>`,
      `<text x="${x}" y="${y + h * 0.84}" font-size="${h * 0.95}" textLength="${w}" lengthAdjust="spacingAndGlyphs" fill="#1d2330">${xmlEscape(text)}</text>`,
      '</g>');
  }
  out.push('</g>');
  return out.join('\n');
}

// ------------------------------------------------------------------ multipart (just enough)

function parseMultipart(buf, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '');
  if (!m) throw new HttpError(400, 'bad_request', 'multipart boundary missing');
  const boundary = Buffer.from(`--${m[1] || m[2]}`);
  const parts = {};
  let pos = buf.indexOf(boundary);
  while (pos !== -1) {
    const start = pos + boundary.length;
    if (buf.slice(start, start + 2).toString() === '--') break;
    const headEnd = buf.indexOf('\r\n\r\n', start);
    if (headEnd === -1) break;
    const head = buf.slice(start, headEnd).toString('utf8');
    const next = buf.indexOf(boundary, headEnd + 4);
    if (next === -1) break;
    const body = buf.slice(headEnd + 4, next - 2);
    const name = /name="([^"]*)"/i.exec(head);
    const filename = /filename="([^"]*)"/i.exec(head);
    const type = /content-type:\s*([^\r\n]+)/i.exec(head);
    if (name) parts[name[1]] = { body, filename: filename ? filename[1] : null, type: type ? type[1].trim() : null };
    pos = next;
  }
  return parts;
}

// ------------------------------------------------------------------ server

const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

function securityHeaders(res) {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(body);
}
const sendError = (res, status, code, message) => sendJson(res, status, { error: { code, message } });

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = []; let size = 0; let over = false;
    req.on('data', (c) => { size += c.length; if (size > limit) over = true; else chunks.push(c); });
    req.on('end', () => (over ? reject(new HttpError(413, 'payload_too_large', 'upload is larger than 20 MB')) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function authorised(req, token) {
  if (!token) return true;
  const auth = req.headers.authorization || '';
  if (auth === `Bearer ${token}`) return true;
  const cookies = Object.fromEntries((req.headers.cookie || '').split(/;\s*/).filter(Boolean).map((c) => {
    const i = c.indexOf('='); return [c.slice(0, i), decodeURIComponent(c.slice(i + 1))];
  }));
  return cookies.magpie_token === token;
}

export function createHandler({ token = null, delay = 0, log = false } = {}) {
  return async function handle(req, res) {
    securityHeaders(res);
    const url = new URL(req.url, 'http://mock');
    const p = url.pathname;
    if (log) console.log(req.method, req.url);
    try {
      if ((req.method === 'GET' || req.method === 'HEAD') && STATIC[p]) {
        const [file, type] = STATIC[p];
        res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache' });
        res.end(fs.readFileSync(path.join(UI_DIR, file)));
        return;
      }
      if (p === '/healthz') { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('ok'); return; }
      if (p === '/api/openapi.json') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(fs.readFileSync(OPENAPI)); return; }
      if (!p.startsWith('/api/') && p !== '/metrics') { sendError(res, 404, 'not_found', `no route for ${p}`); return; }
      if (!authorised(req, token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="magpie"');
        sendError(res, 401, 'unauthorized', 'a valid token is required'); return;
      }
      if (delay && p.startsWith('/api/') && !/\/(thumbnail|preview|original)$/.test(p)) await new Promise((r) => setTimeout(r, delay));

      if (p === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
        res.end(`# TYPE magpie_images gauge\nmagpie_images ${LIB.length}\n`);
        return;
      }
      if (p === '/api/search' && req.method === 'GET') { sendJson(res, 200, runSearch(optionsFromQuery(url.searchParams))); return; }
      if (p === '/api/search' && req.method === 'POST') {
        let body;
        try { body = JSON.parse((await readBody(req, 1 << 20)).toString('utf8') || '{}'); } catch { throw new HttpError(400, 'bad_request', 'body is not valid JSON'); }
        const f = body.filters || {};
        if (f.has_text !== undefined && f.has_text !== null && typeof f.has_text !== 'boolean') throw new HttpError(400, 'bad_request', 'filters.has_text must be a boolean');
        if (f.text !== undefined && f.text !== null && typeof f.text !== 'string') throw new HttpError(400, 'bad_request', 'filters.text must be a string');
        const sp = new URLSearchParams();
        for (const [k, v] of [['q', body.query], ['mode', body.mode], ['sort', body.sort], ['limit', body.limit], ['offset', body.offset],
          ['min_score', body.min_score], ['raw', body.raw], ['folder', f.folder_prefix], ['after', f.taken_after], ['before', f.taken_before], ['camera', f.camera],
          ['text', f.text], ['has_text', f.has_text]]) {
          if (v !== undefined && v !== null) sp.set(k, String(v));
        }
        for (const id of body.like || []) sp.append('like', String(id));
        for (const t of f.tags || []) sp.append('tag', t);
        for (const e of f.extensions || []) sp.append('ext', e);
        const opt = optionsFromQuery(sp);
        if (f.orientation) opt.filters.orientation = f.orientation;
        sendJson(res, 200, runSearch(opt)); return;
      }
      if (p === '/api/search/image' && req.method === 'POST') {
        const len = Number(req.headers['content-length'] || 0);
        if (len > MAX_UPLOAD + 64 * 1024) throw new HttpError(413, 'payload_too_large', 'upload is larger than 20 MB');
        const buf = await readBody(req, MAX_UPLOAD + 64 * 1024);
        const parts = parseMultipart(buf, req.headers['content-type']);
        if (!parts.image || !parts.image.body.length) throw new HttpError(400, 'bad_request', 'multipart field "image" is required');
        if (parts.image.body.length > MAX_UPLOAD) throw new HttpError(413, 'payload_too_large', 'image is larger than 20 MB');
        const sp = new URLSearchParams(url.searchParams);
        if (parts.q) sp.set('q', parts.q.body.toString('utf8'));
        const opt = optionsFromQuery(sp);
        // Pretend the uploaded picture looks like one library image chosen from its bytes.
        const example = { ...LIB[hash(parts.image.body.toString('latin1')) % LIB.length], id: -1 };
        sendJson(res, 200, runSearch(opt, example)); return;
      }
      if (p === '/api/facets') { sendJson(res, 200, facets()); return; }
      if (p === '/api/status') {
        sendJson(res, 200, { images: LIB.length, failures: 2, model: { name: 'mock-clip-vit-b32', dim: 512 }, format_version: 1, generation: 7,
          indexing: { active: false, processed: 0, total: 0, images_per_sec: 0 } });
        return;
      }
      if (p === '/api/duplicates') {
        const th = Number(url.searchParams.get('threshold') || 0.95);
        if (!(th > 0 && th <= 1)) throw new HttpError(400, 'bad_request', 'threshold must be in (0, 1]');
        sendJson(res, 200, { groups: [{ ids: [3, 17], size: 2 }, { ids: [40, 41, 42], size: 3 }] }); return;
      }
      let m = /^\/api\/images\/([^/]+)(?:\/(similar|thumbnail|preview|original))?$/.exec(p);
      if (m) {
        const im = BY_ID.get(decodeURIComponent(m[1]));
        if (!im) throw new HttpError(404, 'not_found', `no image with id ${m[1]}`);
        const what = m[2];
        if (!what) { sendJson(res, 200, infoOf(im)); return; }
        if (what === 'similar') {
          const sp = new URLSearchParams(url.searchParams); sp.delete('like'); sp.append('like', String(im.id));
          sendJson(res, 200, runSearch(optionsFromQuery(sp))); return;
        }
        const long = what === 'thumbnail' ? 256 : what === 'preview' ? 1280 : 2048;
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'private, max-age=3600' });
        res.end(svgFor(im, long));
        return;
      }
      sendError(res, 404, 'not_found', `no route for ${req.method} ${p}`);
    } catch (err) {
      if (err instanceof HttpError) sendError(res, err.status, err.code, err.message);
      else { console.error(err); sendError(res, 500, 'internal', 'mock server error'); }
    }
  };
}

export async function startMockServer({ port = 0, host = '127.0.0.1', ...opts } = {}) {
  const server = http.createServer(createHandler(opts));
  await new Promise((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arg = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
  const srv = await startMockServer({
    port: Number(arg('port', process.env.PORT || 8787)), host: arg('host', '127.0.0.1'),
    token: arg('token', process.env.MOCK_TOKEN || null), delay: Number(arg('delay', 0)), log: args.includes('--log'),
  });
  console.log(`magpie mock server on ${srv.url}`);
}
