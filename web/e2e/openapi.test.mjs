// Checks web/openapi.json itself, and that a server's JSON answers match it.
// Runs against MAGPIE_URL when set (the real server), else against ./mock-server.mjs. No browser needed.
//
//   cd web/e2e && node --test openapi.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMockServer } from './mock-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const spec = JSON.parse(fs.readFileSync(path.join(here, '../openapi.json'), 'utf8'));

let base = process.env.MAGPIE_URL ? process.env.MAGPIE_URL.replace(/\/+$/, '') : null;
let mock = null;
before(async () => { if (!base) { mock = await startMockServer({ port: 0 }); base = mock.url; } });
after(async () => { if (mock) await mock.close(); });

function resolve(ref) {
  assert.ok(ref.startsWith('#/'), `only local refs: ${ref}`);
  let node = spec;
  for (const part of ref.slice(2).split('/')) {
    node = node[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    assert.ok(node !== undefined, `unresolved $ref ${ref}`);
  }
  return node;
}

/** A small JSON Schema (2020-12 subset) validator: enough for the keywords openapi.json uses. */
function validate(schema, value, at = '$', errors = []) {
  if (schema.$ref) return validate(resolve(schema.$ref), value, at, errors);
  const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      errors.push(`${at}: expected ${types.join('|')}, got ${t}`);
      return errors;
    }
  }
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s) => validate(s, value, at, []).length === 0).length;
    if (ok !== 1) errors.push(`${at}: matches ${ok} of oneOf`);
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if ('const' in schema && schema.const !== value) errors.push(`${at}: not ${schema.const}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: ${value} > ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) errors.push(`${at}: ${value} <= ${schema.exclusiveMinimum}`);
  }
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) errors.push(`${at}: not RFC 3339: ${value}`);
    if (schema.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) errors.push(`${at}: not a date: ${value}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.items) value.forEach((v, i) => validate(schema.items, v, `${at}[${i}]`, errors));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const k of schema.required || []) if (!(k in value)) errors.push(`${at}: missing ${k}`);
    const props = schema.properties || {};
    for (const [k, v] of Object.entries(value)) {
      if (props[k]) validate(props[k], v, `${at}.${k}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected property ${k}`);
    }
  }
  return errors;
}

function responseSchema(p, method, status) {
  let r = spec.paths[p][method].responses[String(status)];
  assert.ok(r, `${method.toUpperCase()} ${p} documents ${status}`);
  if (r.$ref) r = resolve(r.$ref);
  return r.content['application/json'].schema;
}

async function check(method, p, url, { status = 200, body, headers } = {}) {
  const res = await fetch(base + url, { method: method.toUpperCase(), body, headers: { Accept: 'application/json', ...(headers || {}) } });
  assert.equal(res.status, status, `${method.toUpperCase()} ${url}`);
  const json = await res.json();
  const errors = validate(responseSchema(p, method, status), json);
  assert.deepEqual(errors, [], `${method.toUpperCase()} ${url} matches the schema`);
  return json;
}

test('openapi.json is a well-formed OpenAPI 3.1 document with every route', () => {
  assert.equal(spec.openapi, '3.1.0');
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) { if (k === '$ref') resolve(v); else walk(v); }
  };
  walk(spec);
  for (const [p, m] of [['/api/search', 'get'], ['/api/search', 'post'], ['/api/search/image', 'post'], ['/api/images/{id}', 'get'],
    ['/api/images/{id}/similar', 'get'], ['/api/images/{id}/thumbnail', 'get'], ['/api/images/{id}/preview', 'get'],
    ['/api/images/{id}/original', 'get'], ['/api/facets', 'get'], ['/api/status', 'get'], ['/api/duplicates', 'get'],
    ['/api/openapi.json', 'get'], ['/metrics', 'get'], ['/healthz', 'get']]) {
    assert.ok(spec.paths[p] && spec.paths[p][m], `${m.toUpperCase()} ${p}`);
  }
  const P = spec.components.parameters;
  assert.equal(P.q.schema.maxLength, 2000);
  assert.equal(P.limit.schema.minimum, 1);
  assert.equal(P.limit.schema.maximum, 500);
  assert.equal(spec.components.schemas.ImageSearchForm.properties.image.maxLength, 20 * 1024 * 1024);
  assert.equal(spec.components.securitySchemes.bearerAuth.scheme, 'bearer');
  assert.equal(spec.components.securitySchemes.cookieAuth.in, 'cookie');
  assert.equal(spec.components.securitySchemes.cookieAuth.name, 'magpie_token');
  const ids = new Set();
  for (const item of Object.values(spec.paths)) for (const op of Object.values(item)) {
    assert.ok(!ids.has(op.operationId), `unique operationId ${op.operationId}`);
    ids.add(op.operationId);
  }
});

test('server answers match the schemas', async () => {
  const status = await check('get', '/api/status', '/api/status');
  const facets = await check('get', '/api/facets', '/api/facets');
  const q = process.env.MAGPIE_QUERY || 'red';
  const page = await check('get', '/api/search', `/api/search?q=${encodeURIComponent(q)}&limit=5`);
  assert.ok(page.hits.length <= 5);
  assert.equal(page.limit, 5);
  await check('get', '/api/search', `/api/search?q=${encodeURIComponent(q)}&sort=date&limit=3&offset=2&raw=true`);
  await check('post', '/api/search', '/api/search', {
    body: JSON.stringify({ query: q, limit: 3, filters: { tags: [], extensions: [] } }), headers: { 'Content-Type': 'application/json' },
  });
  if (facets.cameras.length) {
    await check('get', '/api/search', `/api/search?q=${encodeURIComponent(q)}&camera=${encodeURIComponent(facets.cameras[0].name)}`);
  }
  if (page.hits.length) {
    const id = page.hits[0].id;
    const info = await check('get', '/api/images/{id}', `/api/images/${id}`);
    assert.equal(info.id, id);
    const sim = await check('get', '/api/images/{id}/similar', `/api/images/${id}/similar?limit=4`);
    assert.ok(!sim.hits.some((h) => h.id === id), 'an image is not similar to itself');
    const thumb = await fetch(base + info.thumbnail_url);
    assert.equal(thumb.status, 200);
    assert.match(thumb.headers.get('content-type'), /^image\//);
  }
  await check('get', '/api/duplicates', '/api/duplicates?threshold=0.95');
  assert.ok(status.images >= 0);
});

// Text read in the images (OCR): the mock has signs; scripts/e2e indexes the real server with --ocr
// and a picture that says "ZEPHYR QUARTZ MARKET".
test('text in images: hits, image details and the text filters match the schemas', async () => {
  const word = (process.env.MAGPIE_TEXT_QUERY || 'zephyr').toLowerCase();
  const json = { 'Content-Type': 'application/json' };
  const found = await check('get', '/api/search', `/api/search?q=${encodeURIComponent(word)}&limit=10`);
  assert.ok(found.hits.length > 0, `hits for "${word}"`);
  const hit = found.hits[0];
  assert.ok(hit.matched.includes('text'), `the first hit matched by text: ${JSON.stringify(hit.matched)}`);
  assert.ok(hit.text_matches && hit.text_matches.length > 0, 'with the matching lines');
  for (const line of hit.text_matches) {
    assert.ok(line.text.toLowerCase().includes(word), `matching line holds the word: ${line.text}`);
    for (const [x, y] of line.corners) {
      assert.ok(x >= -1 && y >= -1 && x <= hit.width + 1 && y <= hit.height + 1, `corner ${x},${y} inside ${hit.width}×${hit.height}`);
    }
  }
  for (const h of found.hits) {
    assert.deepEqual([...h.matched].sort((a, b) => ['meaning', 'name', 'text'].indexOf(a) - ['meaning', 'name', 'text'].indexOf(b)), h.matched,
      'matched is in the documented order');
    if (!h.matched.includes('text')) assert.equal(h.text_matches, undefined, 'text_matches only with a text match');
  }
  assert.equal(found.hits.filter((h) => h.matched.includes('text')).length, 1, `"${word}" is printed in one image`);

  const info = await check('get', '/api/images/{id}', `/api/images/${hit.id}`);
  assert.ok(info.text && info.text.lines.some((l) => l.text.toLowerCase().includes(word)), 'its details hold the text');
  assert.equal(info.text.error, null);

  // the filters, by query string and by JSON body
  const only = await check('get', '/api/search', `/api/search?q=${encodeURIComponent(word)}&text=${encodeURIComponent(word)}&has_text=true`);
  assert.deepEqual(only.hits.map((h) => h.id), [hit.id], 'text= keeps only the image showing the word');
  const posted = await check('post', '/api/search', '/api/search', {
    body: JSON.stringify({ query: word, limit: 5, filters: { text: word, has_text: true } }), headers: json,
  });
  assert.deepEqual(posted.hits.map((h) => h.id), [hit.id]);
  const withText = await check('get', '/api/search', '/api/search?has_text=true&limit=500');
  assert.ok(withText.hits.some((h) => h.id === hit.id), 'has_text=true lists it');
  assert.ok(withText.hits.every((h) => h.matched.length === 0), 'browsing: nothing matched');
  for (const h of withText.hits.slice(0, 5)) {
    const i = await check('get', '/api/images/{id}', `/api/images/${h.id}`);
    assert.ok(i.text && i.text.lines.length > 0, `image ${h.id} has text`);
  }
  const withoutText = await check('get', '/api/search', '/api/search?has_text=false&limit=500');
  assert.ok(!withoutText.hits.some((h) => h.id === hit.id), 'has_text=false leaves it out');
  assert.equal(withText.total + withoutText.total, (await check('get', '/api/status', '/api/status')).images, 'has_text splits the library');
  if (withoutText.hits.length) await check('get', '/api/images/{id}', `/api/images/${withoutText.hits[0].id}`);
  const none = await check('get', '/api/search', `/api/search?text=${encodeURIComponent(`${word} zzqxvnothere`)}`);
  assert.equal(none.total, 0, 'every word of text= must be printed');

  await check('get', '/api/search', '/api/search?has_text=maybe', { status: 400 });
  await check('get', '/api/search', `/api/search?text=${'a'.repeat(201)}`, { status: 400 });
  await check('post', '/api/search', '/api/search', { status: 400, body: JSON.stringify({ query: word, filters: { has_text: 'yes' } }), headers: json });
});

test('limits and errors follow the contract', async () => {
  await check('get', '/api/search', `/api/search?q=${'a'.repeat(2001)}`, { status: 400 });
  await check('get', '/api/search', '/api/search?q=x&limit=0', { status: 400 });
  await check('get', '/api/search', '/api/search?q=x&limit=501', { status: 400 });
  await check('get', '/api/search', '/api/search?q=x&mode=psychic', { status: 400 });
  await check('get', '/api/images/{id}', '/api/images/999999999', { status: 404 });
  const health = await fetch(`${base}/healthz`);
  assert.equal(await health.text(), 'ok');
  const doc = await fetch(`${base}/api/openapi.json`);
  assert.equal(doc.status, 200);
  assert.equal((await doc.json()).openapi, '3.1.0');
});
