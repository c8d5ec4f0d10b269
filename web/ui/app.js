// Magpie web UI. Plain ES2020, no framework, no build step.
// Security rule for this file: data from the server (file names, paths, EXIF, tags) only ever reaches the
// DOM through textContent / setAttribute / createElement — never innerHTML.
'use strict';

(() => {
  const PAGE_SIZE = 50;
  const DEBOUNCE_MS = 220;
  const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
  const MAX_QUERY_CHARS = 2000;
  const TOKEN_KEY = 'magpie_token';
  const TOKEN_COOKIE = 'magpie_token';

  // ---------------------------------------------------------------- helpers

  const $ = (id) => document.getElementById(id);

  /** createElement with attributes and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const numberFmt = new Intl.NumberFormat();
  const dateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function fmtDate(s, withTime) {
    if (!s) return '';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return String(s);
    return (withTime ? dateTimeFmt : dateFmt).format(d);
  }

  function fmtBytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '';
    const units = ['B', 'KB', 'MB', 'GB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
  }

  function debounce(fn, ms) {
    let t = 0;
    const wrapped = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
    wrapped.cancel = () => clearTimeout(t);
    return wrapped;
  }

  let toastTimer = 0;
  function toast(msg) {
    const el = $('toast');
    el.textContent = msg;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 2200);
  }

  // ---------------------------------------------------------------- auth token

  function readToken() {
    try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  }

  function storeToken(tok) {
    try {
      if (tok) localStorage.setItem(TOKEN_KEY, tok); else localStorage.removeItem(TOKEN_KEY);
    } catch { /* private mode: the cookie still works for this session */ }
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    if (tok) {
      document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(tok)}; path=/; SameSite=Strict${secure}`;
    } else {
      document.cookie = `${TOKEN_COOKIE}=; path=/; SameSite=Strict; Max-Age=0${secure}`;
    }
  }

  /** Take `#token=…` or `?token=…` from the address, remember it, and remove it from the visible URL. */
  function captureTokenFromUrl() {
    const url = new URL(location.href);
    let tok = null;
    const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
    if (hash.has('token')) { tok = hash.get('token'); hash.delete('token'); }
    if (url.searchParams.has('token')) { tok = url.searchParams.get('token'); url.searchParams.delete('token'); }
    if (tok !== null) {
      storeToken(tok.trim());
      const rest = hash.toString();
      history.replaceState(history.state, '', url.pathname + url.search + (rest ? `#${rest}` : ''));
    } else {
      const saved = readToken();
      if (saved) storeToken(saved); // refresh the cookie so <img> requests carry it
    }
  }

  let tokenPromise = null;
  /** Show the token prompt; resolves once the user submitted a token. */
  function askForToken(rejected) {
    if (tokenPromise) return tokenPromise;
    const dlg = $('token-dialog');
    $('token-error').hidden = !rejected;
    $('token-input').value = '';
    tokenPromise = new Promise((resolve) => {
      const onSubmit = (ev) => {
        ev.preventDefault();
        const tok = $('token-input').value.trim();
        if (!tok) return;
        storeToken(tok);
        $('token-form').removeEventListener('submit', onSubmit);
        dlg.close();
        tokenPromise = null;
        resolve(tok);
      };
      $('token-form').addEventListener('submit', onSubmit);
    });
    if (!dlg.open) dlg.showModal();
    $('token-input').focus();
    return tokenPromise;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(code, message, status) { super(message); this.code = code; this.status = status; }
  }

  async function api(path, opts = {}, attempt = 0) {
    const headers = new Headers(opts.headers || {});
    headers.set('Accept', 'application/json');
    const tok = readToken();
    if (tok) headers.set('Authorization', `Bearer ${tok}`);
    let res;
    try {
      res = await fetch(path, { ...opts, headers, credentials: 'same-origin', cache: 'no-store' });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError('network', 'Cannot reach the Magpie server. Check that it is running and try again.', 0);
    }
    if (res.status === 401 && attempt < 3) {
      await askForToken(Boolean(tok));
      return api(path, opts, attempt + 1);
    }
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = res.statusText || 'Request failed';
      try {
        const body = await res.json();
        if (body && body.error) {
          code = body.error.code || code;
          message = body.error.message || message;
        }
      } catch { /* not JSON */ }
      if (res.status === 413) message = message || 'That image is too large (20 MB at most).';
      throw new ApiError(code, message, res.status);
    }
    return res.json();
  }

  // ---------------------------------------------------------------- state <-> URL

  /** @typedef {{q:string, like:string, image:boolean, mode:string, sort:string, folder:string,
   *   after:string, before:string, camera:string, tags:string[], hasText:boolean}} SearchState */

  const emptyState = () => ({
    q: '', like: '', image: false, mode: '', sort: 'relevance',
    folder: '', after: '', before: '', camera: '', tags: [], hasText: false,
  });

  /** @type {SearchState} */
  let state = emptyState();

  /** Example images dropped/pasted/chosen in this tab, by id (kept so Back can return to them). */
  const uploads = new Map();
  let uploadSeq = 0;
  let currentUploadId = 0;

  function stateFromUrl() {
    const p = new URLSearchParams(location.search);
    const s = emptyState();
    s.q = (p.get('q') || '');
    s.like = p.get('like') || '';
    s.image = p.get('image') === '1';
    s.mode = ['vector', 'keyword', 'hybrid'].includes(p.get('mode')) ? p.get('mode') : '';
    if (s.mode === 'hybrid') s.mode = '';
    s.sort = p.get('sort') === 'date' ? 'date' : 'relevance';
    s.folder = p.get('folder') || '';
    s.after = p.get('after') || '';
    s.before = p.get('before') || '';
    s.camera = p.get('camera') || '';
    s.tags = p.getAll('tag').filter(Boolean);
    s.hasText = p.get('has_text') === 'true';
    return s;
  }

  function urlFromState(s) {
    const p = new URLSearchParams();
    if (s.q) p.set('q', s.q);
    if (s.like) p.set('like', s.like);
    if (s.image) p.set('image', '1');
    if (s.mode) p.set('mode', s.mode);
    if (s.sort !== 'relevance') p.set('sort', s.sort);
    if (s.folder) p.set('folder', s.folder);
    if (s.after) p.set('after', s.after);
    if (s.before) p.set('before', s.before);
    if (s.camera) p.set('camera', s.camera);
    for (const t of s.tags) p.append('tag', t);
    if (s.hasText) p.set('has_text', 'true');
    const qs = p.toString();
    return location.pathname + (qs ? `?${qs}` : '');
  }

  const filterCount = (s) => [s.folder, s.after, s.before, s.camera, s.hasText].filter(Boolean).length + s.tags.length;
  const hasRanking = (s) => Boolean(s.q.trim() || s.like || s.image);
  const hasSearch = (s) => hasRanking(s) || filterCount(s) > 0;

  let typingEntry = false; // the current history entry was made by typing (later keystrokes replace it)

  /** Record `state` in the address bar and search. */
  function commit({ typing = false } = {}) {
    const url = urlFromState(state);
    const histState = { uploadId: state.image ? currentUploadId : 0 };
    const same = url === location.pathname + location.search;
    if (!same) {
      if (typing && typingEntry) history.replaceState(histState, '', url);
      else history.pushState(histState, '', url);
    } else {
      history.replaceState(histState, '', url);
    }
    typingEntry = typing;
    syncControls();
    search();
  }

  // ---------------------------------------------------------------- controls

  const els = {
    q: $('q'), form: $('search-form'), fileInput: $('file-input'),
    chip: $('example-chip'), chipThumb: $('example-thumb'), chipLabel: $('example-label'), chipClear: $('example-clear'),
    filters: $('filters'), filtersToggle: $('filters-toggle'), filtersCount: $('filters-count'),
    folder: $('f-folder'), folderList: $('folder-list'), after: $('f-after'), before: $('f-before'),
    camera: $('f-camera'), mode: $('f-mode'), tags: $('f-tags'), sort: $('sort'), hasText: $('f-has-text'),
    results: $('results'), grid: $('grid'), empty: $('empty'), emptyTitle: $('empty-title'), emptyText: $('empty-text'),
    suggestions: $('suggestions'), emptyAction: $('empty-action'), sentinel: $('sentinel'), end: $('end'),
    summary: $('results-summary'), error: $('error'), errorTitle: $('error-title'), errorMessage: $('error-message'),
    errorRetry: $('error-retry'), status: $('status-text'), progress: $('index-progress'), progressBar: $('index-progress-bar'),
    overlay: $('drop-overlay'),
  };

  let facets = { folders: [], cameras: [], tags: [], date_range: null };
  const likeInfo = new Map(); // id -> {name, thumbnail_url} for the "similar to" chip

  function syncControls() {
    if (document.activeElement !== els.q || els.q.value !== state.q) {
      if (els.q.value !== state.q) els.q.value = state.q;
    }
    els.folder.value = state.folder;
    els.after.value = state.after;
    els.before.value = state.before;
    ensureOption(els.camera, state.camera);
    els.camera.value = state.camera;
    els.mode.value = state.mode;
    els.hasText.checked = state.hasText;
    els.sort.value = state.sort;
    renderTagButtons();

    const n = filterCount(state);
    els.filtersCount.hidden = n === 0;
    els.filtersCount.textContent = String(n);
    $('filters-clear').disabled = n === 0 && !state.mode;

    // Example chip: an uploaded image or "similar to" an indexed one.
    if (state.image) {
      const up = uploads.get(currentUploadId);
      els.chip.hidden = false;
      els.chipThumb.src = up ? up.url : '';
      els.chipLabel.textContent = up ? up.file.name || 'Pasted image' : 'Example image';
      els.chip.title = up ? `Photos like ${up.file.name || 'the pasted image'}` : '';
      els.q.placeholder = 'Refine with words…';
    } else if (state.like) {
      const info = likeInfo.get(state.like);
      els.chip.hidden = false;
      els.chipThumb.src = info ? info.thumbnail_url : `/api/images/${encodeURIComponent(state.like)}/thumbnail`;
      els.chipLabel.textContent = `Like ${info ? info.name : 'this photo'}`;
      els.chip.title = info ? `Photos similar to ${info.name}` : '';
      els.q.placeholder = 'Refine with words…';
    } else {
      els.chip.hidden = true;
      els.chipThumb.removeAttribute('src');
      els.q.placeholder = 'Describe a photo…';
    }
    const title = state.q ? `${state.q} — Magpie` : (state.image || state.like) ? 'Similar photos — Magpie' : 'Magpie';
    document.title = title;
  }

  function ensureOption(select, value) {
    if (!value) return;
    for (const o of select.options) if (o.value === value) return;
    select.append(h('option', { value }, value));
  }

  function renderTagButtons() {
    const tags = facets.tags.slice(0, 16).map((t) => ({ tag: t.tag, count: t.count }));
    for (const t of state.tags) if (!tags.some((x) => x.tag === t)) tags.unshift({ tag: t, count: null });
    els.tags.replaceChildren();
    if (tags.length === 0) {
      els.tags.append(h('span', { class: 'tags-empty' }, 'No tags yet'));
      return;
    }
    for (const t of tags) {
      const on = state.tags.includes(t.tag);
      const b = h('button', { type: 'button', class: 'tag', 'aria-pressed': on ? 'true' : 'false', 'data-tag': t.tag }, t.tag);
      if (t.count !== null) b.append(h('span', { class: 'count' }, numberFmt.format(t.count)));
      els.tags.append(b);
    }
  }

  function renderFacets() {
    els.folderList.replaceChildren(...facets.folders.map((f) => h('option', { value: f.path }, `${f.path} (${numberFmt.format(f.count)})`)));
    const cams = [h('option', { value: '' }, 'Any camera')];
    for (const c of facets.cameras) cams.push(h('option', { value: c.name }, `${c.name} (${numberFmt.format(c.count)})`));
    els.camera.replaceChildren(...cams);
    const dr = facets.date_range;
    if (dr && dr.first) { els.after.min = dr.first.slice(0, 10); els.before.min = dr.first.slice(0, 10); }
    if (dr && dr.last) { els.after.max = dr.last.slice(0, 10); els.before.max = dr.last.slice(0, 10); }
    syncControls();
  }

  async function loadFacets() {
    try {
      const f = await api('/api/facets');
      facets = {
        folders: Array.isArray(f.folders) ? f.folders : [],
        cameras: Array.isArray(f.cameras) ? f.cameras : [],
        tags: Array.isArray(f.tags) ? f.tags : [],
        date_range: f.date_range || null,
      };
      renderFacets();
    } catch (err) {
      console.warn('facets unavailable', err);
    }
  }

  let statusTimer = 0;
  async function loadStatus() {
    clearTimeout(statusTimer);
    try {
      const s = await api('/api/status');
      const parts = [`${numberFmt.format(s.images || 0)} photos`];
      if (s.failures) parts.push(`${numberFmt.format(s.failures)} unreadable`);
      if (s.model && s.model.name) parts.push(`model ${s.model.name}`);
      const ix = s.indexing || {};
      if (ix.active) {
        const pct = ix.total ? Math.min(100, Math.round((ix.processed / ix.total) * 100)) : 0;
        parts.push(`indexing ${numberFmt.format(ix.processed || 0)} / ${numberFmt.format(ix.total || 0)}` +
          (ix.images_per_sec ? ` · ${ix.images_per_sec.toFixed(1)}/s` : ''));
        els.progress.hidden = false;
        els.progressBar.style.width = `${pct}%`; // CSSOM, allowed by the CSP
        statusTimer = setTimeout(loadStatus, 5000);
      } else {
        els.progress.hidden = true;
      }
      els.status.textContent = parts.join(' · ');
      libraryImages = s.images || 0;
      if (!hasSearch(state)) renderIdle();
    } catch (err) {
      if (err && err.status !== 401) els.status.textContent = 'Status unavailable';
    }
  }
  let libraryImages = null;

  // ---------------------------------------------------------------- search

  const results = { hits: [], total: 0, offset: 0, tookMs: 0, loading: false, exhausted: true, seq: 0 };
  let controller = null;
  let focusIndex = 0;

  function setResultsState(s) {
    els.results.dataset.state = s;
    els.results.setAttribute('aria-busy', s === 'loading' ? 'true' : 'false');
  }

  function buildRequest(offset) {
    const p = new URLSearchParams();
    const q = state.q.trim().slice(0, MAX_QUERY_CHARS + 1);
    if (state.mode) p.set('mode', state.mode);
    p.set('sort', state.sort);
    p.set('limit', String(PAGE_SIZE));
    p.set('offset', String(offset));
    if (state.folder) p.set('folder', state.folder);
    if (state.after) p.set('after', state.after);
    if (state.before) p.set('before', state.before);
    if (state.camera) p.set('camera', state.camera);
    for (const t of state.tags) p.append('tag', t);
    if (state.hasText) p.set('has_text', 'true');
    if (state.image) {
      const up = uploads.get(currentUploadId);
      if (!up) return null;
      const body = new FormData();
      body.append('image', up.file, up.file.name || 'image');
      if (q) body.append('q', q);
      return { url: `/api/search/image?${p}`, init: { method: 'POST', body } };
    }
    if (q) p.set('q', q);
    if (state.like) p.set('like', state.like);
    return { url: `/api/search?${p}`, init: {} };
  }

  /** Start a new search for the current state (first page). */
  async function search() {
    if (controller) controller.abort();
    controller = null;
    hideError();
    results.seq++;
    results.hits = [];
    results.total = 0;
    results.offset = 0;
    results.exhausted = true;
    results.loading = false;
    focusIndex = 0;
    els.end.hidden = true;

    if (!hasSearch(state)) { renderIdle(); return; }
    if (state.image && !uploads.get(currentUploadId)) {
      els.grid.replaceChildren();
      showEmpty('The example image is not kept in the address',
        'Images you drop or paste stay in this tab only. Drop it again to search by example.', null);
      setResultsState('empty');
      els.summary.textContent = '';
      return;
    }
    els.empty.hidden = true;
    renderSkeletons(true);
    await loadPage(0);
  }

  async function loadMore() {
    if (results.loading || results.exhausted) return;
    await loadPage(results.offset);
  }

  async function loadPage(offset) {
    const req = buildRequest(offset);
    if (!req) return;
    const seq = results.seq;
    controller = new AbortController();
    results.loading = true;
    setResultsState('loading');
    if (offset > 0) renderSkeletons(false);
    try {
      const res = await api(req.url, { ...req.init, signal: controller.signal });
      if (seq !== results.seq) return;
      const hits = Array.isArray(res.hits) ? res.hits : [];
      const first = offset === 0;
      if (first) els.grid.replaceChildren();
      removeSkeletons();
      const start = results.hits.length;
      results.hits.push(...hits);
      results.total = typeof res.total === 'number' ? res.total : results.hits.length;
      results.offset = offset + hits.length;
      results.tookMs = res.took_ms;
      results.exhausted = hits.length === 0 || results.offset >= results.total;
      appendTiles(hits, start);
      results.loading = false;
      if (results.hits.length === 0) {
        setResultsState('empty');
        showNoResults();
      } else {
        els.empty.hidden = true;
        setResultsState('ready');
      }
      updateSummary();
      els.results.dataset.total = String(results.total);
      els.results.dataset.count = String(results.hits.length);
      els.end.hidden = !(results.exhausted && results.hits.length > PAGE_SIZE / 2);
      els.end.textContent = `That’s everything — ${numberFmt.format(results.hits.length)} photos.`;
      // Keep filling while the sentinel is still on screen (tall screens, short pages).
      if (!results.exhausted) requestAnimationFrame(checkSentinel);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (seq !== results.seq) return;
      results.loading = false;
      removeSkeletons();
      if (offset === 0) els.grid.replaceChildren();
      setResultsState(results.hits.length ? 'ready' : 'error');
      showError(err, offset > 0);
    }
  }

  function updateSummary() {
    els.summary.replaceChildren();
    const n = results.total;
    const what = state.image || state.like ? 'similar photos' : n === 1 ? 'photo' : 'photos';
    els.summary.append(h('strong', null, numberFmt.format(n)), ` ${what}`);
    if (typeof results.tookMs === 'number') els.summary.append(` · ${results.tookMs < 10 ? results.tookMs.toFixed(1) : Math.round(results.tookMs)} ms`);
  }

  // ---------------------------------------------------------------- rendering

  function renderSkeletons(replace) {
    const count = replace ? Math.max(12, Math.min(PAGE_SIZE, gridColumns() * 4)) : gridColumns() * 2;
    const frag = document.createDocumentFragment();
    for (let i = 0; i < count; i++) frag.append(h('li', { class: 'tile skeleton', 'aria-hidden': 'true' }));
    if (replace) els.grid.replaceChildren(frag); else els.grid.append(frag);
  }

  function removeSkeletons() {
    for (const s of els.grid.querySelectorAll('.tile.skeleton')) s.remove();
  }

  const matchedByText = (hit) => Array.isArray(hit.matched) && hit.matched.includes('text');

  function tileLabel(hit) {
    const bits = [hit.name];
    if (hit.taken_at) bits.push(fmtDate(hit.taken_at));
    if (hit.camera) bits.push(hit.camera);
    if (matchedByText(hit)) bits.push('matched by text in the image');
    return bits.join(', ');
  }

  function appendTiles(hits, start) {
    const frag = document.createDocumentFragment();
    const showScore = hasRanking(state) && state.sort === 'relevance';
    hits.forEach((hit, k) => {
      const index = start + k;
      const img = h('img', {
        src: hit.thumbnail_url, alt: '', loading: 'lazy', decoding: 'async', draggable: 'true',
        width: 256, height: 256,
      });
      const link = h('a', {
        class: 'tile-link', href: hit.preview_url || hit.thumbnail_url, 'data-index': index,
        tabindex: index === focusIndex ? '0' : '-1', 'aria-label': tileLabel(hit), title: hit.path || hit.name,
      }, img,
      // Inside the link: hovering it shows its own title, clicking it opens the photo.
      matchedByText(hit) ? h('span', { class: 'text-badge', title: 'Matched by text in the image', 'aria-hidden': 'true' }, 'T') : null);
      const badge = showScore && typeof hit.score === 'number'
        ? h('span', { class: 'score', 'aria-hidden': 'true' }, hit.score.toFixed(2))
        : hit.taken_at ? h('span', { class: 'score', 'aria-hidden': 'true' }, fmtDate(hit.taken_at)) : null;
      const li = h('li', { class: 'tile', 'data-id': hit.id, 'data-path': hit.path || '' },
        link,
        badge,
        h('span', { class: 'name', 'aria-hidden': 'true' }, hit.name),
        h('button', { type: 'button', class: 'similar', 'data-index': index, 'aria-label': `Find photos similar to ${hit.name}`, title: 'Find similar photos (s)' },
          similarIcon(), h('span', { class: 'label', 'aria-hidden': 'true' }, 'Similar')));
      img.addEventListener('load', () => li.classList.add('loaded'), { once: true });
      img.addEventListener('error', () => li.classList.add('broken', 'loaded'), { once: true });
      frag.append(li);
    });
    els.grid.append(frag);
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  /** Two overlapping circles: "more like this". */
  function similarIcon() {
    const svg = document.createElementNS(SVG_NS, 'svg');
    for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: '16', height: '16', 'aria-hidden': 'true' })) svg.setAttribute(k, v);
    for (const cx of ['9', '15']) {
      const c = document.createElementNS(SVG_NS, 'circle');
      for (const [k, v] of Object.entries({ cx, cy: '12', r: '6', fill: 'none', stroke: 'currentColor', 'stroke-width': '2' })) c.setAttribute(k, v);
      svg.append(c);
    }
    return svg;
  }

  function renderIdle() {
    els.grid.replaceChildren();
    els.end.hidden = true;
    setResultsState('idle');
    els.results.dataset.total = '0';
    els.results.dataset.count = '0';
    els.summary.textContent = '';
    const title = libraryImages === 0 ? 'No photos indexed yet' : 'Find any photo by describing it';
    const text = libraryImages === 0
      ? 'Run “magpie index” on a folder of photos, then search here.'
      : `Type what you remember — “dog on a beach”, “red car at night” — or drop an image anywhere to find similar ones.${libraryImages ? ` ${numberFmt.format(libraryImages)} photos in this library.` : ''}`;
    const ideas = facets.tags.slice(0, 8).map((t) => t.tag);
    const examples = ideas.length ? ideas : ['sunset over the sea', 'dog', 'snowy mountains', 'birthday cake'];
    showEmpty(title, text, examples);
  }

  function showNoResults() {
    els.grid.replaceChildren();
    const n = filterCount(state);
    const what = state.q.trim() ? `“${state.q.trim()}”` : 'this search';
    showEmpty(`No photos match ${what}`,
      n ? 'Try removing a filter or describing the photo differently.' : 'Try describing the photo differently, or use fewer words.',
      null, n ? { label: 'Clear filters', run: clearFilters } : null);
  }

  function showEmpty(title, text, examples, action) {
    els.empty.hidden = false;
    els.emptyTitle.textContent = title;
    els.emptyText.textContent = text;
    els.suggestions.replaceChildren();
    if (examples) {
      for (const ex of examples) els.suggestions.append(h('button', { type: 'button', class: 'button', 'data-query': ex }, ex));
    }
    els.emptyAction.hidden = !action;
    if (action) {
      els.emptyAction.textContent = action.label;
      els.emptyAction.onclick = action.run; // property assignment, not an inline handler attribute
    }
  }

  function showError(err, partial) {
    const status = err && err.status;
    els.errorTitle.textContent = status === 400 ? 'That search could not be run.'
      : status === 413 ? 'That image is too large.'
        : status === 415 ? 'That file is not an image Magpie can read.'
          : partial ? 'Could not load more photos.' : 'Search failed.';
    els.errorMessage.textContent = (err && err.message) || 'Unknown error';
    els.error.hidden = false;
    if (!partial) {
      els.summary.textContent = '';
      els.empty.hidden = true;
    }
  }

  function hideError() { els.error.hidden = true; }

  // ---------------------------------------------------------------- infinite scroll

  function checkSentinel() {
    if (results.exhausted || results.loading) return;
    const r = els.sentinel.getBoundingClientRect();
    if (r.top < window.innerHeight + 800) loadMore();
  }

  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '800px 0px' });
  io.observe(els.sentinel);

  // ---------------------------------------------------------------- grid keyboard navigation

  function gridColumns() {
    const cols = getComputedStyle(els.grid).gridTemplateColumns.split(' ').filter(Boolean).length;
    return Math.max(1, cols || 1);
  }

  function tileLinks() { return els.grid.querySelectorAll('.tile-link'); }

  function focusTile(i) {
    const links = tileLinks();
    if (!links.length) return;
    i = Math.max(0, Math.min(i, links.length - 1));
    const prev = links[focusIndex];
    if (prev) prev.tabIndex = -1;
    focusIndex = i;
    links[i].tabIndex = 0;
    links[i].focus({ preventScroll: true });
    links[i].scrollIntoView({ block: 'nearest', behavior: 'auto' });
    if (i >= links.length - gridColumns() * 2) loadMore();
  }

  els.grid.addEventListener('keydown', (ev) => {
    const link = ev.target.closest('.tile-link');
    if (!link) return;
    const i = Number(link.dataset.index);
    const cols = gridColumns();
    let next = null;
    switch (ev.key) {
      case 'ArrowRight': next = i + 1; break;
      case 'ArrowLeft': next = i - 1; break;
      case 'ArrowDown': next = i + cols; break;
      case 'ArrowUp':
        if (i < cols) { ev.preventDefault(); els.q.focus(); return; }
        next = i - cols; break;
      case 'Home': next = 0; break;
      case 'End': next = results.hits.length - 1; break;
      case 'PageDown': next = i + cols * 4; break;
      case 'PageUp': next = i - cols * 4; break;
      case 's': case 'S':
        if (!ev.ctrlKey && !ev.metaKey && !ev.altKey) { ev.preventDefault(); findSimilar(results.hits[i]); }
        return;
      default: return;
    }
    ev.preventDefault();
    focusTile(next);
  });

  els.grid.addEventListener('focusin', (ev) => {
    const link = ev.target.closest('.tile-link');
    if (!link) return;
    const i = Number(link.dataset.index);
    if (i !== focusIndex) {
      const links = tileLinks();
      if (links[focusIndex]) links[focusIndex].tabIndex = -1;
      focusIndex = i;
      link.tabIndex = 0;
    }
  });

  els.grid.addEventListener('click', (ev) => {
    const sim = ev.target.closest('.similar');
    if (sim) {
      ev.preventDefault();
      findSimilar(results.hits[Number(sim.dataset.index)]);
      return;
    }
    const link = ev.target.closest('.tile-link');
    if (!link) return;
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return; // let the browser open a tab
    ev.preventDefault();
    openLightbox(Number(link.dataset.index));
  });

  // Dragging a result: carry its id so dropping it back on the page means "similar to this".
  els.grid.addEventListener('dragstart', (ev) => {
    const li = ev.target.closest && ev.target.closest('.tile');
    if (li && ev.dataTransfer) ev.dataTransfer.setData('application/x-magpie-id', li.dataset.id);
  });

  // ---------------------------------------------------------------- similar / example image

  function findSimilar(hit) {
    if (!hit) return;
    likeInfo.set(String(hit.id), { name: hit.name, thumbnail_url: hit.thumbnail_url });
    state = { ...state, like: String(hit.id), image: false, q: '', sort: 'relevance' };
    closeLightbox(false);
    commit();
    window.scrollTo({ top: 0 });
  }

  function searchByFile(file) {
    if (!file) return;
    const looksLikeImage = (file.type && file.type.startsWith('image/')) ||
      /\.(jpe?g|png|gif|webp|bmp|tiff?|heic|heif|avif)$/i.test(file.name || '');
    if (!looksLikeImage) { showError(new ApiError('unsupported', `“${file.name || 'That file'}” is not an image.`, 415), false); return; }
    if (file.size > MAX_UPLOAD_BYTES) {
      showError(new ApiError('too_large', `“${file.name}” is ${fmtBytes(file.size)}; images of up to 20 MB can be searched.`, 413), false);
      return;
    }
    const id = ++uploadSeq;
    uploads.set(id, { file, url: URL.createObjectURL(file) });
    // keep a handful so Back/Forward can return to recent example searches
    for (const old of uploads.keys()) {
      if (uploads.size <= 6) break;
      URL.revokeObjectURL(uploads.get(old).url);
      uploads.delete(old);
    }
    currentUploadId = id;
    state = { ...state, image: true, like: '', q: '', sort: 'relevance' };
    closeLightbox(false);
    commit();
    window.scrollTo({ top: 0 });
  }

  els.chipClear.addEventListener('click', () => {
    state = { ...state, image: false, like: '' };
    commit();
    els.q.focus();
  });

  els.fileInput.addEventListener('change', () => {
    const f = els.fileInput.files && els.fileInput.files[0];
    els.fileInput.value = '';
    searchByFile(f);
  });

  // Drag and drop anywhere on the page.
  let dragDepth = 0;
  const isFileDrag = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).some((t) => t === 'Files' || t === 'application/x-magpie-id');
  const isInternalDrag = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('application/x-magpie-id');
  document.addEventListener('dragenter', (ev) => {
    if (!isFileDrag(ev)) return;
    ev.preventDefault();
    dragDepth++;
    if (!isInternalDrag(ev) || dragDepth > 0) els.overlay.hidden = false;
  });
  document.addEventListener('dragover', (ev) => {
    if (!isFileDrag(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) els.overlay.hidden = true;
  });
  document.addEventListener('drop', (ev) => {
    dragDepth = 0;
    els.overlay.hidden = true;
    if (!ev.dataTransfer) return;
    ev.preventDefault();
    const id = ev.dataTransfer.getData('application/x-magpie-id');
    const file = Array.from(ev.dataTransfer.files || []).find((f) => !f.type || f.type.startsWith('image/')) ||
      (ev.dataTransfer.files && ev.dataTransfer.files[0]);
    if (file) { searchByFile(file); return; }
    if (id) {
      const hit = results.hits.find((x) => String(x.id) === id);
      if (hit) findSimilar(hit);
    }
  });
  document.addEventListener('dragend', () => { dragDepth = 0; els.overlay.hidden = true; });

  // Paste an image (Ctrl/Cmd+V) anywhere.
  document.addEventListener('paste', (ev) => {
    const items = ev.clipboardData ? Array.from(ev.clipboardData.items || []) : [];
    const item = items.find((it) => it.kind === 'file' && it.type.startsWith('image/'));
    if (!item) return; // plain text paste into the search box works as usual
    ev.preventDefault();
    const f = item.getAsFile();
    if (f) searchByFile(f.name ? f : new File([f], 'pasted-image.png', { type: f.type }));
  });

  // ---------------------------------------------------------------- search box & filters

  const typed = debounce(() => {
    const v = els.q.value.slice(0, MAX_QUERY_CHARS);
    if (v.trim() === state.q.trim()) { state.q = v; return; }
    state = { ...state, q: v };
    commit({ typing: true });
  }, DEBOUNCE_MS);

  els.q.addEventListener('input', typed);
  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    typed.cancel();
    const v = els.q.value.slice(0, MAX_QUERY_CHARS);
    const changed = v.trim() !== state.q.trim();
    state = { ...state, q: v };
    if (changed) commit({ typing: typingEntry }); // Enter ends the typing run
    typingEntry = false;
    if (!changed && hasSearch(state)) search();
  });
  els.q.addEventListener('blur', () => { typingEntry = false; });
  els.q.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && tileLinks().length) { ev.preventDefault(); focusTile(focusIndex); }
    else if (ev.key === 'Escape' && !els.q.value && (state.image || state.like)) { state = { ...state, image: false, like: '' }; commit(); }
  });

  function setFilter(patch) {
    state = { ...state, ...patch };
    typingEntry = false;
    commit();
  }

  els.folder.addEventListener('change', () => setFilter({ folder: els.folder.value.trim() }));
  els.after.addEventListener('change', () => setFilter({ after: els.after.value }));
  els.before.addEventListener('change', () => setFilter({ before: els.before.value }));
  els.camera.addEventListener('change', () => setFilter({ camera: els.camera.value }));
  els.mode.addEventListener('change', () => setFilter({ mode: els.mode.value }));
  els.hasText.addEventListener('change', () => setFilter({ hasText: els.hasText.checked }));
  els.sort.addEventListener('change', () => setFilter({ sort: els.sort.value }));
  els.filters.addEventListener('submit', (ev) => ev.preventDefault());
  els.tags.addEventListener('click', (ev) => {
    const b = ev.target.closest('.tag');
    if (!b) return;
    const t = b.dataset.tag;
    const tags = state.tags.includes(t) ? state.tags.filter((x) => x !== t) : [...state.tags, t];
    setFilter({ tags });
  });

  function clearFilters() {
    setFilter({ folder: '', after: '', before: '', camera: '', tags: [], mode: '', hasText: false });
  }
  els.filters.addEventListener('reset', (ev) => { ev.preventDefault(); clearFilters(); });

  els.filtersToggle.addEventListener('click', () => {
    const open = !els.filters.classList.contains('open');
    els.filters.classList.toggle('open', open);
    els.filtersToggle.setAttribute('aria-expanded', String(open));
  });

  els.suggestions.addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-query]');
    if (!b) return;
    state = { ...state, q: b.dataset.query };
    commit();
  });

  els.errorRetry.addEventListener('click', () => { hideError(); if (results.hits.length && !results.exhausted) loadMore(); else search(); });

  $('home-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    state = emptyState();
    commit();
    els.q.focus();
  });

  // A link with #token=… opened in a tab that already shows Magpie only changes the hash.
  window.addEventListener('hashchange', () => {
    if (!/(^#|&)token=/.test(location.hash)) return;
    captureTokenFromUrl();
    loadFacets();
    loadStatus();
    search();
  });

  window.addEventListener('popstate', (ev) => {
    state = stateFromUrl();
    const uid = ev.state && ev.state.uploadId;
    if (state.image && uid) currentUploadId = uid;
    typingEntry = false;
    closeLightbox(false);
    syncControls();
    search();
  });

  // ---------------------------------------------------------------- lightbox

  const lb = {
    dlg: $('lightbox'), stage: $('lb-stage'), img: $('lb-image'), placeholder: $('lb-placeholder'),
    prev: $('lb-prev'), next: $('lb-next'), counter: $('lb-counter'), name: $('lb-name'), path: $('lb-path'),
    details: $('lb-details'), tags: $('lb-tags'), similar: $('lb-similar'), original: $('lb-original'),
    copy: $('lb-copy'), close: $('lb-close'), overlay: $('lb-overlay'),
    text: $('lb-text'), textCount: $('lb-text-count'), textLines: $('lb-text-lines'), textNote: $('lb-text-note'),
  };
  let lbIndex = -1;
  const infoCache = new Map();

  function openLightbox(i) {
    if (!results.hits[i]) return;
    lbIndex = i;
    renderLightbox();
    if (!lb.dlg.open) lb.dlg.showModal();
    lb.close.focus({ preventScroll: true });
  }

  function closeLightbox(restoreFocus = true) {
    if (!lb.dlg.open) return;
    lb.dlg.close();
    if (restoreFocus) afterLightboxClosed();
  }

  function afterLightboxClosed() {
    if (lbIndex >= 0) focusTile(lbIndex);
  }

  function step(delta) {
    const n = lbIndex + delta;
    if (n < 0) return;
    if (n >= results.hits.length) {
      if (!results.exhausted) loadMore().then(() => { if (results.hits[n]) { lbIndex = n; renderLightbox(); } });
      return;
    }
    lbIndex = n;
    renderLightbox();
  }

  function detailRow(term, value) {
    if (value === undefined || value === null || value === '') return;
    lb.details.append(h('dt', null, term), h('dd', null, value));
  }

  function renderLightbox() {
    const hit = results.hits[lbIndex];
    if (!hit) return;
    lb.img.classList.remove('loaded');
    lb.placeholder.src = hit.thumbnail_url;
    lb.img.alt = hit.name;
    lb.img.onload = () => lb.img.classList.add('loaded');
    lb.img.src = hit.preview_url || hit.thumbnail_url;
    lb.prev.disabled = lbIndex <= 0;
    lb.next.disabled = lbIndex >= results.hits.length - 1 && results.exhausted;
    lb.counter.textContent = `${numberFmt.format(lbIndex + 1)} / ${numberFmt.format(results.total)}`;
    lb.name.textContent = hit.name;
    lb.path.textContent = hit.path;
    lb.original.href = `/api/images/${encodeURIComponent(hit.id)}/original`;
    renderOverlay(hit);
    renderDetails(hit, infoCache.get(hit.id));
    if (!infoCache.has(hit.id)) {
      const id = hit.id;
      api(`/api/images/${encodeURIComponent(id)}`).then((info) => {
        infoCache.set(id, info);
        if (results.hits[lbIndex] && results.hits[lbIndex].id === id) renderDetails(hit, info);
      }).catch((err) => {
        if (results.hits[lbIndex] && results.hits[lbIndex].id === id) {
          lb.details.append(h('dt', null, 'Details'), h('dd', null, `unavailable (${err.message})`));
        }
      });
    }
    // Warm the neighbours.
    for (const j of [lbIndex + 1, lbIndex - 1]) {
      const n = results.hits[j];
      if (n) { const im = new Image(); im.src = n.preview_url || n.thumbnail_url; }
    }
  }

  function renderDetails(hit, info) {
    lb.details.replaceChildren();
    lb.tags.replaceChildren();
    const d = info || {};
    if (d.original_url) lb.original.href = d.original_url;
    detailRow('Taken', fmtDate(d.taken_at || hit.taken_at, true));
    const w = d.width || hit.width;
    const ht = d.height || hit.height;
    if (w && ht) detailRow('Size', `${w} × ${ht} (${(w * ht / 1e6).toFixed(1)} MP)${d.size ? ` · ${fmtBytes(d.size)}` : ''}`);
    if (d.format) detailRow('Format', String(d.format).toUpperCase());
    const camera = [d.camera_make, d.camera_model].filter(Boolean).join(' ') || hit.camera;
    detailRow('Camera', camera);
    detailRow('Lens', d.lens);
    if (d.gps && typeof d.gps.lat === 'number' && typeof d.gps.lon === 'number') {
      detailRow('Location', `${d.gps.lat.toFixed(5)}, ${d.gps.lon.toFixed(5)}`);
    }
    detailRow('Folder', d.folder || hit.folder);
    if (d.mtime) detailRow('Modified', fmtDate(d.mtime, true));
    if (hasRanking(state) && typeof hit.score === 'number') detailRow('Score', hit.score.toFixed(3));
    if (Array.isArray(hit.matched) && hit.matched.length) {
      detailRow('Matched by', hit.matched.map((m) => MATCH_LABELS[m] || String(m)).join(' · '));
    }
    for (const t of d.tags || []) lb.tags.append(h('span', { class: 'tag' }, t));
    renderText(hit, info);
  }

  const MATCH_LABELS = { meaning: 'meaning', name: 'name', text: 'text in the image' };

  // ---------------------------------------------------------------- lightbox: text in the image (OCR)

  /** A line's four corners as numbers, or null when the server sent something else. */
  function cornersOf(line) {
    const c = line && line.corners;
    if (!Array.isArray(c) || c.length !== 4) return null;
    const pts = c.map((p) => (Array.isArray(p) && p.length === 2 ? [Number(p[0]), Number(p[1])] : null));
    return pts.every((p) => p && Number.isFinite(p[0]) && Number.isFinite(p[1])) ? pts : null;
  }

  const lineKey = (line) => `${line.text}\u0000${JSON.stringify(line.corners)}`;
  const textMatches = (hit) => (Array.isArray(hit.text_matches) ? hit.text_matches.filter((l) => l && typeof l.text === 'string') : []);

  /**
   * Outlines over the shown image of the lines that matched the query. The SVG covers the stage
   * like the <img> does, and its viewBox is the image's own pixel grid with the same "contain"
   * fit (xMidYMid meet = object-fit: contain), so the corners need no scaling in script and stay
   * right on every resize and rotation.
   */
  function renderOverlay(hit) {
    const svg = lb.overlay;
    svg.replaceChildren();
    const w = Number(hit.width);
    const ht = Number(hit.height);
    const boxes = textMatches(hit).map(cornersOf).filter(Boolean);
    if (!(w > 0 && ht > 0) || boxes.length === 0) { svg.classList.add('empty'); return; }
    svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    for (const pts of boxes) {
      const poly = document.createElementNS(SVG_NS, 'polygon');
      poly.setAttribute('points', pts.map(([x, y]) => `${x},${y}`).join(' '));
      poly.setAttribute('class', 'lb-box');
      poly.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(poly);
    }
    svg.classList.remove('empty');
  }

  /** Query words to highlight in the text lines, as one case-insensitive pattern (or null). */
  function queryPattern() {
    const words = state.q.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean).slice(0, 32);
    if (!words.length) return null;
    words.sort((a, b) => b.length - a.length);
    return new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'giu');
  }

  /** `text` as text nodes, with the parts matching `pattern` in <mark>. */
  function highlighted(text, pattern) {
    const frag = document.createDocumentFragment();
    if (!pattern) { frag.append(text); return frag; }
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      if (!m[0]) continue;
      if (m.index > last) frag.append(text.slice(last, m.index));
      frag.append(h('mark', null, m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) frag.append(text.slice(last));
    return frag;
  }

  /** The lightbox section listing the lines read in the image; matched lines first-class. */
  function renderText(hit, info) {
    const matches = textMatches(hit);
    const t = info && info.text && typeof info.text === 'object' ? info.text : null;
    // Before the details arrive, the hit's own matching lines are all there is to show.
    const lines = t ? (Array.isArray(t.lines) ? t.lines.filter((l) => l && typeof l.text === 'string') : []) : matches;
    const matchedKeys = new Set(matches.map(lineKey));
    const pattern = queryPattern();
    lb.textLines.replaceChildren();
    let nMatched = 0;
    for (const line of lines) {
      const matched = matchedKeys.has(lineKey(line));
      if (matched) nMatched++;
      const conf = typeof line.confidence === 'number' && Number.isFinite(line.confidence) ? line.confidence : null;
      const li = h('li', {
        class: ['lb-line', matched ? 'matched' : '', conf !== null && conf < 0.6 ? 'low' : ''].filter(Boolean).join(' '),
        title: conf !== null ? `Confidence ${Math.round(conf * 100)}%` : null,
      });
      li.append(matched ? highlighted(line.text, pattern) : line.text);
      lb.textLines.append(li);
    }
    const notes = [];
    if (t && t.error) notes.push(`The text could not be read: ${t.error}`);
    if (t && t.dropped_regions > 0) {
      notes.push(`${numberFmt.format(t.dropped_regions)} more text region${t.dropped_regions === 1 ? ' was' : 's were'} not read.`);
    }
    lb.textNote.textContent = notes.join(' ');
    lb.textNote.hidden = notes.length === 0;
    lb.textCount.textContent = lines.length
      ? `${numberFmt.format(lines.length)} line${lines.length === 1 ? '' : 's'}${nMatched ? ` · ${numberFmt.format(nMatched)} matched` : ''}`
      : '';
    lb.text.hidden = lines.length === 0 && notes.length === 0;
  }

  lb.prev.addEventListener('click', () => step(-1));
  lb.next.addEventListener('click', () => step(1));
  lb.close.addEventListener('click', () => closeLightbox());
  lb.similar.addEventListener('click', () => findSimilar(results.hits[lbIndex]));
  lb.copy.addEventListener('click', async () => {
    const p = lb.path.textContent;
    try { await navigator.clipboard.writeText(p); toast('Path copied'); } catch {
      const r = document.createRange(); r.selectNodeContents(lb.path);
      const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r);
      toast('Press Ctrl+C to copy');
    }
  });
  lb.dlg.addEventListener('close', () => afterLightboxClosed());
  lb.dlg.addEventListener('click', (ev) => { if (ev.target === lb.dlg) closeLightbox(); }); // backdrop
  lb.dlg.addEventListener('keydown', (ev) => {
    if (ev.target.closest && ev.target.closest('input, textarea, select')) return;
    if (ev.key === 'ArrowRight') { ev.preventDefault(); step(1); }
    else if (ev.key === 'ArrowLeft') { ev.preventDefault(); step(-1); }
    else if (ev.key === 's' || ev.key === 'S') { ev.preventDefault(); findSimilar(results.hits[lbIndex]); }
  });
  // Swipe on touch screens.
  let swipeX = null;
  lb.stage.addEventListener('pointerdown', (ev) => { if (ev.pointerType !== 'mouse') swipeX = ev.clientX; });
  lb.stage.addEventListener('pointerup', (ev) => {
    if (swipeX === null) return;
    const dx = ev.clientX - swipeX;
    swipeX = null;
    if (Math.abs(dx) > 50) step(dx < 0 ? 1 : -1);
  });

  // ---------------------------------------------------------------- global keys

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (ev.key === '/' && !typing && !lb.dlg.open && !$('token-dialog').open) {
      ev.preventDefault();
      els.q.focus();
      els.q.select();
    } else if (ev.key === 'Escape' && els.filters.classList.contains('open') && !lb.dlg.open) {
      els.filters.classList.remove('open');
      els.filtersToggle.setAttribute('aria-expanded', 'false');
    }
  });

  // ---------------------------------------------------------------- start

  captureTokenFromUrl();
  state = stateFromUrl();
  history.replaceState({ uploadId: 0 }, '', urlFromState(state) + location.hash);
  syncControls();
  renderTagButtons();
  search();
  loadFacets();
  loadStatus();
  if (!hasSearch(state)) els.q.focus();
})();
