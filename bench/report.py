#!/usr/bin/env python3
"""Turns bench/out/*.json into the markdown table of BENCHMARKS.md (stdout).

    report.py bench/out > bench/out/results.md

Anything missing is shown as "not measured" with the step that makes it.
"""

import glob
import json
import os
import statistics
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "bench/out"
NOT = "not measured"


def load(name):
    path = os.path.join(OUT, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def dig(obj, *keys):
    for key in keys:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def num(value, digits=1, unit=""):
    if value is None:
        return NOT
    return f"{value:,.{digits}f}{unit}"


def verdict(ok):
    if ok is None:
        return NOT
    return "**met**" if ok else "**not met**"


rows = []


def row(what, value, target="", status=""):
    rows.append(f"| {what} | {value} | {target} | {status} |")


machine = load("machine.json") or {}
ceil = load("ceilings.json")
py1, py32, py32d = load("python-b1.json"), load("python-b32.json"), load("python-b32-draft.json")
index_runs = [load(os.path.basename(p)) for p in sorted(glob.glob(os.path.join(OUT, "magpie-index-[0-9].json")))]
index_walls = [load(os.path.basename(p)) for p in sorted(glob.glob(os.path.join(OUT, "magpie-index-[0-9].wall.json")))]
index_rates = [r.get("images_per_second") for r in index_runs if r and r.get("images_per_second")]
magpie_rate = statistics.median(index_rates) if index_rates else None
indexed = [r.get("added", r.get("indexed")) for r in index_runs if r]
walls = [w.get("wall_seconds") for w in index_walls if w]
wall_rate = None
if walls and indexed and indexed[0]:
    wall_rate = indexed[0] / statistics.median(walls)

print(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gib', '?')} GiB, GPU: {machine.get('gpu', '?')}; {machine.get('date', '')}\n")
print("| measurement | value | target | status |")
print("|---|---|---|---|")

row("**1. CPU indexing** (44 photos, ViT-B/32-shaped model)", "", "", "")
row("Magpie `magpie index` (median of runs, JSON `images_per_second`)", num(magpie_rate, 2, " img/s"))
row("Magpie `magpie index`, whole process wall clock (start-up included)", num(wall_rate, 2, " img/s"))
py1r, py32r, py32dr = (dig(p, "images_per_second") for p in (py1, py32, py32d))
row("Python (Immich-style), batch 1", num(py1r, 2, " img/s"))
row("Python (rclip-style), batch 32", num(py32r, 2, " img/s"))
row("Python, batch 32 + PIL draft (neither project does this)", num(py32dr, 2, " img/s"))
decode1 = dig(ceil, "decode_preprocess", "images_per_second_1_thread")
decoden = dig(ceil, "decode_preprocess", "images_per_second_all_threads")
idx_decode = dig(ceil, "indexer_decode_stage", "images_per_second_all_threads")
inf1 = dig(ceil, "inference_only", "batch_1", "images_per_second")
inf32 = dig(ceil, "inference_only", "batch_32", "images_per_second")
pipe = dig(ceil, "pipeline_ceiling", "indexer_decode_images_per_second")
row("Ceiling: decode + preprocess only, 1 thread", num(decode1, 1, " img/s"))
row(f"Ceiling: decode + preprocess only, {dig(ceil, 'threads') or '?'} threads", num(decoden, 1, " img/s"))
row("Ceiling: indexer decode stage (hash + decode for 1280 px preview + preprocess + thumbnails), all threads", num(idx_decode, 1, " img/s"))
row("Ceiling: inference only, batch 1", num(inf1, 2, " img/s"))
row("Ceiling: inference only, batch 32", num(inf32, 2, " img/s"))
row("Ceiling: pipeline on shared cores, 1/(1/decode stage + 1/inference)", num(pipe, 2, " img/s"))
best_py = max([r for r in (py1r, py32r) if r] or [0]) or None
ratio_py1 = magpie_rate / py1r if magpie_rate and py1r else None
ratio_py32 = magpie_rate / py32r if magpie_rate and py32r else None
row("Magpie / Python batch 1", num(ratio_py1, 2, "×"), "≥ 3×", verdict(None if ratio_py1 is None else ratio_py1 >= 3))
row("Magpie / Python batch 32", num(ratio_py32, 2, "×"), "≥ 3×", verdict(None if ratio_py32 is None else ratio_py32 >= 3))
ratio_inf = magpie_rate / inf32 if magpie_rate and inf32 else None
ratio_pipe = magpie_rate / pipe if magpie_rate and pipe else None
row("Magpie / inference-only ceiling", num(None if ratio_inf is None else 100 * ratio_inf, 0, " %"), "≥ 85 %", verdict(None if ratio_inf is None else ratio_inf >= 0.85))
row("Magpie / pipeline ceiling (shared cores; pessimistic bound, see BENCHMARKS.md)", num(None if ratio_pipe is None else 100 * ratio_pipe, 0, " %"), "", "")

row("**2. GPU indexing**", "not measured: no GPU lent", "GPU never the bottleneck", NOT)

q = None
for path in sorted(glob.glob(os.path.join(OUT, "query-[0-9]*.json")), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0])):
    q = load(os.path.basename(path))
images = dig(q, "images")
label = f"{images:,}" if images else "?"
row(f"**3. Query latency** (in-process `LibrarySearch::search`, {label} images, text encoding included)", "", "", "")
for key, what in (("distinct_all", "distinct queries, all"), ("distinct_short_ensemble", "distinct, ≤ 4 words (8-prompt ensemble)"), ("distinct_long_single", "distinct, longer (one encoding)"), ("cached_repeats", "repeated queries (embedding cached)")):
    p50, p99 = dig(q, key, "p50_ms"), dig(q, key, "p99_ms")
    ok = None if p50 is None or images is None or images < 1_000_000 else (p50 <= 15 and p99 <= 40)
    row(f"{what}: p50 / p99", f"{num(p50, 1)} / {num(p99, 1)} ms", "p50 ≤ 15 ms, p99 ≤ 40 ms at 1 M", verdict(ok) if ok is not None else f"not measured at 1 M ({'over' if p50 and (p50 > 15 or (p99 or 0) > 40) else 'within'} target at {label})")
text = load("text.json")
if text:
    row("text encoding, ≤ 4 words (8-prompt batch): padding trimmed / full 77 tokens, p50 / p99",
        f"{num(dig(text, 'trimmed_short', 'p50_ms'), 1)} / {num(dig(text, 'trimmed_short', 'p99_ms'), 1)} ms vs {num(dig(text, 'full_short', 'p50_ms'), 1)} / {num(dig(text, 'full_short', 'p99_ms'), 1)} ms ({num(dig(text, 'speedup_p50_short'), 1)}× at p50)")
    row("text encoding, longer query (one text): padding trimmed / full 77 tokens, p50 / p99",
        f"{num(dig(text, 'trimmed_long', 'p50_ms'), 1)} / {num(dig(text, 'trimmed_long', 'p99_ms'), 1)} ms vs {num(dig(text, 'full_long', 'p50_ms'), 1)} / {num(dig(text, 'full_long', 'p99_ms'), 1)} ms ({num(dig(text, 'speedup_p50_long'), 1)}× at p50); largest difference between the embeddings {dig(text, 'worst_abs_difference')}")
small = None
for path in glob.glob(os.path.join(OUT, "query-[0-9]*.json")):
    d = load(os.path.basename(path))
    if d and d.get("images") and images and d["images"] < images:
        small = d
if small:
    row(f"same, {small['images']:,} images: distinct / repeated p50 / p99", f"{num(dig(small, 'distinct_all', 'p50_ms'), 1)} / {num(dig(small, 'distinct_all', 'p99_ms'), 1)} ms; {num(dig(small, 'cached_repeats', 'p50_ms'), 1)} / {num(dig(small, 'cached_repeats', 'p99_ms'), 1)} ms")
http = None
for path in glob.glob(os.path.join(OUT, "http-*[0-9].json")):
    http = load(os.path.basename(path))
for key, what in (("distinct", "HTTP GET /api/search, distinct"), ("cached_repeats", "HTTP GET /api/search, repeated")):
    row(f"{what}: p50 / p99", f"{num(dig(http, key, 'p50_ms'), 1)} / {num(dig(http, key, 'p99_ms'), 1)} ms" if http else NOT + " (`magpie serve` not available)")
for quant in ("f16", "i8"):
    rec = None
    for path in glob.glob(os.path.join(OUT, f"recall-{quant}-*.json")):
        rec = load(os.path.basename(path))
    r = dig(rec, "recall_at_k_mean")
    n = dig(rec, "images")
    row(f"ANN recall@10 vs exact, {quant}, {n or '?'} random unit vectors, 100 random queries", num(r, 3), "≥ 0.98", verdict(None if r is None else r >= 0.98))
    if rec:
        row(f"bare HNSW search {quant}: k=10 p50/p99; k=500 (searcher's pool) p50/p99",
            f"{num(dig(rec, 'vector_search_k', 'p50_ms'), 2)} / {num(dig(rec, 'vector_search_k', 'p99_ms'), 2)} ms; {num(dig(rec, 'vector_search_k500', 'p50_ms'), 2)} / {num(dig(rec, 'vector_search_k500', 'p99_ms'), 2)} ms")

for path in sorted(glob.glob(os.path.join(OUT, "recall-clustered*.json"))):
    rec = load(os.path.basename(path))
    r = dig(rec, "recall_at_k_mean")
    row(f"ANN recall@10, f16, {dig(rec, 'images') or '?'} clustered vectors ({dig(rec, 'data_clusters')} clusters, spread {dig(rec, 'data_spread')}), 100 in-cluster queries", num(r, 3), "≥ 0.98", verdict(None if r is None else r >= 0.98))
row("**4. Memory and disk**", "", "", "")
mem = dig(q, "memory", "after_cached")
if mem and images:
    base = dig(q, "memory", "before_open") or {}
    row(f"search process VmRSS / VmHWM after queries ({images:,} images)", f"{mem['vm_rss'] / 2**20:,.0f} / {mem['vm_hwm'] / 2**20:,.0f} MiB (anon {mem['rss_anon'] / 2**20:,.0f}, file-backed {mem['rss_file'] / 2**20:,.0f})")
    per = mem["vm_rss"] / images
    row("resident bytes per image (VmRSS / images, models included)", num(per, 0, " B"), "≤ 1.2 kB at 1 M", verdict(None if images < 1_000_000 else per <= 1200))
    hwm = mem["vm_hwm"] / images
    row("peak resident bytes per image (VmHWM / images)", num(hwm, 0, " B"), "≤ 1.2 kB at 1 M", verdict(None if images < 1_000_000 else hwm <= 1200))
    growth = mem["rss_file"] - (dig(q, "memory", "before_open", "rss_file") or 0)
    row("marginal resident per image: file-backed growth (mapped HNSW + tantivy pages) / images", num(growth / images, 0, " B"), "≤ 1.2 kB at 1 M", "not measured at 1 M")
else:
    row("search process resident memory", NOT, "≤ 1.2 kB/image at 1 M", NOT)
qi8 = None
for path in glob.glob(os.path.join(OUT, "query-i8-*.json")):
    qi8 = load(os.path.basename(path))
if qi8:
    m = qi8["memory"]["after_cached"]
    row(f"i8 library, {qi8['images']:,} images: VmRSS (anon / file-backed); cached p50 / p99", f"{m['vm_rss'] / 2**20:,.0f} MiB ({m['rss_anon'] / 2**20:,.0f} / {m['rss_file'] / 2**20:,.0f}); {num(dig(qi8, 'cached_repeats', 'p50_ms'), 1)} / {num(dig(qi8, 'cached_repeats', 'p99_ms'), 1)} ms")
hm = load(f"http-{images}.memory.json") if images else None
if hm:
    row(f"`magpie serve` VmRSS / VmHWM after the HTTP run ({images:,} images)", f"{hm['VmRSS'] / 2**20:,.0f} / {hm['VmHWM'] / 2**20:,.0f} MiB")
for quant in ("f16", "i8"):
    build = load(f"build-{quant}.json")
    for size in (dig(build, "sizes") or []):
        row(f"disk per image, {quant}, {size['images']:,} images (sled / tantivy / usearch)",
            f"{size['bytes_per_image_excluding_previous_vectors_file']:,.0f} B ({size['bytes_per_image_database']:,.0f} / {size['bytes_per_image_keywords']:,.0f} / {size['bytes_per_image_vectors']:,.0f}); with the kept previous HNSW file {size['bytes_per_image_total']:,.0f} B")
    if build:
        row(f"build time of the padded {quant} library", num(build.get("seconds"), 0, " s"))
    else:
        row(f"disk per image, {quant}", NOT)

commits = load("commits.json")
if commits:
    for run in commits.get("runs", []):
        label = "unpaced (a commit every 256 results)" if run["commit_pause_factor"] == 0 else f"paced (pause factor {run['commit_pause_factor']})"
        row(f"indexing 20,000 tiny photos into a {commits['base_images']:,}-image library, {label}", f"{run['seconds']:.1f} s, {run['commits']} commits, {run['images_per_second']:,.0f} img/s")
row("**5. Re-scan**", "", "", "")
first = load("rescan-first.json")
first_wall = dig(load("rescan-first.wall.json"), "wall_seconds")
if first:
    row("first index of the tiny files (colour model; setup, fsync disabled by bench/nosync.c)", f"{num(first_wall, 1, ' s')} wall, {first.get('added', first.get('indexed', '?'))} indexed")
rescans = [dig(load(f"rescan-{i}.wall.json"), "wall_seconds") for i in (1, 2, 3)]
rescans = [r for r in rescans if r]
med = statistics.median(rescans) if rescans else None
files = dig(load("rescan-1.json"), "unchanged")
row(f"re-scan of {files or '?'} unchanged files, whole `magpie index` process (median of {len(rescans)})", num(med, 2, " s"), "≤ 5 s", verdict(None if med is None else med <= 5))

st = load("rescan-strace.json")
if st:
    row("image files opened during a re-scan (strace)", str(st["png_opens_during_rescan"]), "0", verdict(st["png_opens_during_rescan"] == 0))
print("\n".join(rows))
