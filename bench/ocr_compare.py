#!/usr/bin/env python3
"""OCR benchmark, the Python half: runs RapidOCR (rapidocr_onnxruntime 1.4.4, the same PP-OCRv4
models as Magpie) and Tesseract (Debian's tesseract-ocr) over a set of images, and scores all three
engines — Magpie's readings come from `ocrbench` — against the ground truth of the generated set
(scripts/testocr), from one place so every engine is measured the same way.

  ocr_compare.py rapidocr  --truth T | IMAGE...  --out F [--rounds N]
  ocr_compare.py tesseract --truth T | IMAGE...  --out F [--rounds N]
  ocr_compare.py report --truth T --magpie F [--magpie-rapidocr F] --rapidocr F --tesseract F
                 [--photos-magpie F --photos-rapidocr F --photos-tesseract F] --out results.json

Each reader writes [{"file", "seconds": [per round], "lines": [{"box", "text", "score"}]}].
Timing: files are read into memory first; a round is decode + OCR of one image with the models
already loaded (Tesseract: one `tesseract` process per image, whose start-up — tens of ms — is
part of its cost as a command-line tool).

Scores, per kind of image (synthetic, screenshot):
- word recall / precision: the ground-truth words (of lines the page fully shows) against the
  words read, as multisets; a word is NFKC-normalised and stripped of leading and trailing
  punctuation, case kept. Read words that match a word the truth marks "don't care" (cut by the
  viewport edge, tiny or hidden) are left out of precision.
- CER: per ground-truth line, the lines read whose boxes mostly lie on it, joined left to right,
  edit distance over the truth's characters (whitespace runs as one space).
- Magpie against RapidOCR: share of RapidOCR's lines Magpie reads with the same text and a box
  overlapping with IoU >= 0.9 (the parity test's measure), for Magpie with RapidOCR's settings
  (`ocrbench --rapidocr-defaults`, engine "magpie-rapidocr") and with its own defaults.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def jobs_from(args) -> list[tuple[Path, str]]:
    jobs = [(Path(p), p) for p in args.images]
    if args.truth:
        truth = json.loads(Path(args.truth).read_text())
        jobs += [(Path(args.truth).parent / i["file"], i["file"]) for i in truth["images"]]
    return jobs


# ------------------------------------------------------------------------------------- readers

def run_rapidocr(args) -> list[dict]:
    spec = importlib.util.spec_from_file_location("reference_ocr", REPO_ROOT / "scripts/reference/ocr.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    engine = reference.make_engine(args.threads)
    files = [(path.read_bytes(), label) for path, label in jobs_from(args)]
    if files:
        engine(reference.load_bgr(io.BytesIO(files[0][0])))  # warm-up
    results = []
    for data, label in files:
        seconds, lines = [], []
        try:
            for _ in range(max(1, args.rounds)):
                start = time.perf_counter()
                result, _ = engine(reference.load_bgr(io.BytesIO(data)))
                seconds.append(time.perf_counter() - start)
                lines = [{"box": [[float(x), float(y)] for x, y in box], "text": text, "score": float(score)}
                         for box, text, score in (result or [])]
        except Exception as error:  # RapidOCR fails on some real photos; say which, and go on
            results.append({"file": label, "seconds": seconds, "lines": [], "error": f"{type(error).__name__}: {error}"})
            continue
        results.append({"file": label, "seconds": seconds, "lines": lines})
    return results


def tesseract_lines(tsv: str) -> list[dict]:
    """Tesseract's TSV words grouped into its own lines (block, paragraph, line)."""
    lines: dict[tuple, dict] = {}
    rows = tsv.splitlines()
    for row in rows[1:]:
        parts = row.split("\t")
        if len(parts) < 12 or parts[0] != "5" or not parts[11].strip():
            continue
        key = (parts[2], parts[3], parts[4])
        left, top, width, height = map(int, parts[6:10])
        line = lines.setdefault(key, {"words": [], "l": left, "t": top, "r": left + width, "b": top + height,
                                      "conf": []})
        line["words"].append(parts[11])
        line["l"], line["t"] = min(line["l"], left), min(line["t"], top)
        line["r"], line["b"] = max(line["r"], left + width), max(line["b"], top + height)
        line["conf"].append(float(parts[10]))
    out = []
    for line in lines.values():
        l, t, r, b = line["l"], line["t"], line["r"], line["b"]
        out.append({"box": [[l, t], [r, t], [r, b], [l, b]], "text": " ".join(line["words"]),
                    "score": statistics.mean(line["conf"]) / 100})
    return out


def run_tesseract(args) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, label in jobs_from(args):
            # Tesseract reads files; a copy in /tmp keeps the disk out of the timing like the others.
            local = Path(tmp) / ("image" + path.suffix)
            local.write_bytes(path.read_bytes())
            seconds, lines = [], []
            for _ in range(max(1, args.rounds)):
                start = time.perf_counter()
                done = subprocess.run(["tesseract", str(local), "stdout", "tsv"], capture_output=True, text=True)
                seconds.append(time.perf_counter() - start)
                lines = tesseract_lines(done.stdout) if done.returncode == 0 else []
            entry = {"file": label, "seconds": seconds, "lines": lines}
            if done.returncode != 0:
                entry["error"] = done.stderr.strip()[-300:]
            results.append(entry)
    return results


# ------------------------------------------------------------------------------------- scoring

def normal_word(word: str) -> str:
    word = unicodedata.normalize("NFKC", word)
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[start:end]


def words_of(text: str) -> list[str]:
    return [w for w in (normal_word(t) for t in text.split()) if w]


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def bbox(corners) -> tuple[float, float, float, float]:
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return min(xs), min(ys), max(xs), max(ys)


def overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def score_image(truth_image: dict, lines: list[dict]) -> dict:
    truth_lines = [l for l in truth_image["lines"] if l["care"]]
    truth_words = Counter(w for l in truth_lines for w in words_of(l["text"]))
    ignore = {normal_word(w) for w in truth_image.get("ignore", [])}
    ignore |= {w for l in truth_image["lines"] if not l["care"] for w in words_of(l["text"])}
    read_words = Counter(w for l in lines for w in words_of(l["text"]))
    matched = truth_words & read_words
    unmatched_read = read_words - matched
    counted_read = sum(matched.values()) + sum(c for w, c in unmatched_read.items() if w not in ignore)
    # CER: each read line goes to the truth line it overlaps most (by its own area).
    assigned: dict[int, list[dict]] = {}
    truth_boxes = [bbox(l["box"]) for l in truth_lines]
    for line in lines:
        box = bbox(line["box"])
        area = max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))
        best = max(range(len(truth_boxes)), key=lambda i: overlap(box, truth_boxes[i]), default=None)
        if best is not None and overlap(box, truth_boxes[best]) / area >= 0.3:
            assigned.setdefault(best, []).append(line)
    errors = characters = 0
    for i, truth_line in enumerate(truth_lines):
        truth_text = " ".join(truth_line["text"].split())
        rotation = truth_image.get("rotation", 0)
        # Left to right along the line's own direction (pages turned by 90/180/270 degrees).
        key = {0: lambda l: bbox(l["box"])[0], 90: lambda l: bbox(l["box"])[1],
               180: lambda l: -bbox(l["box"])[2], 270: lambda l: -bbox(l["box"])[3]}[rotation]
        hypothesis = " ".join(" ".join(l["text"].split()) for l in sorted(assigned.get(i, []), key=key))
        errors += edit_distance(truth_text, hypothesis)
        characters += len(truth_text)
    return {"truth_words": sum(truth_words.values()), "read_words": counted_read,
            "matched_words": sum(matched.values()), "char_errors": errors, "chars": characters}


def quad_iou(a, b) -> float:
    def area(poly):
        return abs(sum(poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[(i + 1) % len(poly)][0] * poly[i][1]
                       for i in range(len(poly)))) / 2

    def oriented(poly):
        s = sum(poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[(i + 1) % len(poly)][0] * poly[i][1]
                for i in range(len(poly)))
        return poly if s >= 0 else poly[::-1]

    def clip(subject, clipper):
        output = subject
        for i in range(len(clipper)):
            a0, a1 = clipper[i], clipper[(i + 1) % len(clipper)]
            inside = lambda p: (a1[0] - a0[0]) * (p[1] - a0[1]) - (a1[1] - a0[1]) * (p[0] - a0[0]) >= 0

            def cut(p, q):
                d = (p[0] - q[0]) * (a0[1] - a1[1]) - (p[1] - q[1]) * (a0[0] - a1[0])
                if abs(d) < 1e-12:
                    return p
                t = ((p[0] - a0[0]) * (a0[1] - a1[1]) - (p[1] - a0[1]) * (a0[0] - a1[0])) / d
                return [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
            source, output = output, []
            for j in range(len(source)):
                cur, prev = source[j], source[j - 1]
                if inside(cur):
                    if not inside(prev):
                        output.append(cut(prev, cur))
                    output.append(cur)
                elif inside(prev):
                    output.append(cut(prev, cur))
            if not output:
                break
        return output
    a, b = oriented([list(p) for p in a]), oriented([list(p) for p in b])
    inter = area(clip(a, b)) if a and b else 0.0
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def parity(ours: list[dict], theirs: list[dict]) -> tuple[int, int]:
    same = 0
    for line in theirs:
        best = max(ours, key=lambda o: quad_iou(o["box"], line["box"]), default=None)
        if best and quad_iou(best["box"], line["box"]) >= 0.9 and " ".join(best["text"].split()) == " ".join(line["text"].split()):
            same += 1
    return same, len(theirs)


def speed(results: list[dict], files: set[str] | None = None) -> dict:
    chosen = [r for r in results if "error" not in r and (files is None or r["file"] in files)]
    per_image = [statistics.median(r["seconds"]) for r in chosen]
    total = sum(per_image)
    return {"images": len(chosen), "seconds": total, "images_per_s": len(chosen) / total if total else None,
            "mean_s": total / len(chosen) if chosen else None}


def report(args) -> dict:
    truth = json.loads(Path(args.truth).read_text())
    engines = {name: json.loads(Path(path).read_text())
               for name, path in (("magpie", args.magpie), ("magpie-rapidocr", args.magpie_rapidocr),
                                  ("rapidocr", args.rapidocr), ("tesseract", args.tesseract))
               if path}
    by_file = {name: {r["file"]: r for r in results} for name, results in engines.items()}
    kinds = sorted({i["kind"] for i in truth["images"]})
    out: dict = {"set": truth.get("set"), "kinds": {}}
    for kind in kinds:
        images = [i for i in truth["images"] if i["kind"] == kind]
        files = {i["file"] for i in images}
        entry = {"images": len(images)}
        for name in engines:
            totals = Counter()
            for image in images:
                result = by_file[name].get(image["file"], {})
                totals.update(score_image(image, result.get("lines", [])))
            entry[name] = {
                "word_recall": totals["matched_words"] / max(1, totals["truth_words"]),
                "word_precision": totals["matched_words"] / max(1, totals["read_words"]),
                "cer": totals["char_errors"] / max(1, totals["chars"]),
                "speed": speed(engines[name], files),
            }
        for name in ("magpie", "magpie-rapidocr"):
            if name not in engines or "rapidocr" not in engines:
                continue
            same = total = 0
            for image in images:
                s, t = parity(by_file[name].get(image["file"], {}).get("lines", []),
                              by_file["rapidocr"].get(image["file"], {}).get("lines", []))
                same, total = same + s, total + t
            entry[name]["parity_same_text_and_box"] = same / max(1, total)
            entry[name]["parity_lines"] = total
        out["kinds"][kind] = entry
    photos = {name: json.loads(Path(path).read_text())
              for name, path in (("magpie", args.photos_magpie), ("rapidocr", args.photos_rapidocr),
                                 ("tesseract", args.photos_tesseract)) if path}
    if photos:
        # Speed over the photos every engine could read, so the engines are timed on the same set.
        readable = [{r["file"] for r in results if "error" not in r} for results in photos.values()]
        common = set.intersection(*readable)
        entry = {name: {"speed": speed(results, common),
                        "errors": [f"{r['file']}: {r['error']}" for r in results if "error" in r]}
                 for name, results in photos.items()}
        entry["photos_read_by_all"] = len(common)
        if "magpie" in photos:
            text_free = [r for r in photos["magpie"] if "error" not in r and not r["lines"] and r["file"] in common]
            names = {r["file"] for r in text_free}
            entry["text_free_photos"] = len(text_free)
            for name, results in photos.items():
                entry[name]["text_free"] = speed(results, names)
            if text_free:
                entry["magpie"]["text_free"]["detector_mean_s"] = statistics.mean(r["detect_s"] for r in text_free)
        out["photos"] = entry
    return out


def markdown(result: dict) -> str:
    rows = ["| images | engine | word recall | word precision | CER | images/s | parity with RapidOCR |",
            "|---|---|---|---|---|---|---|"]
    for kind, entry in result["kinds"].items():
        for name in ("magpie", "magpie-rapidocr", "rapidocr", "tesseract"):
            if name not in entry:
                continue
            e = entry[name]
            ips = e["speed"]["images_per_s"]
            par = f"{100 * e['parity_same_text_and_box']:.1f} % of {e['parity_lines']} lines" \
                if "parity_same_text_and_box" in e else ""
            rows.append(f"| {kind} ({entry['images']}) | {name} | {e['word_recall']:.3f} | {e['word_precision']:.3f} "
                        f"| {e['cer']:.3f} | {ips:.2f} | {par} |" if ips else
                        f"| {kind} ({entry['images']}) | {name} | {e['word_recall']:.3f} | {e['word_precision']:.3f} "
                        f"| {e['cer']:.3f} | – | {par} |")
    if "photos" in result:
        p = result["photos"]
        rows += ["", "| photos | engine | images/s | text-free photos: s each | of which detector |", "|---|---|---|---|---|"]
        for name in ("magpie", "rapidocr", "tesseract"):
            if name in p:
                s = p[name]["speed"]
                tf = p[name].get("text_free", {})
                det = tf.get("detector_mean_s")
                rows.append(f"| {s['images']} | {name} | {s['images_per_s']:.2f} | "
                            f"{tf.get('mean_s') or float('nan'):.3f} ({p.get('text_free_photos', 0)} photos) | "
                            f"{'' if det is None else f'{det:.3f}'} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["rapidocr", "tesseract", "report"])
    parser.add_argument("images", nargs="*")
    parser.add_argument("--truth")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int)
    for name in ("magpie", "magpie-rapidocr", "rapidocr", "tesseract", "photos-magpie", "photos-rapidocr", "photos-tesseract"):
        parser.add_argument(f"--{name}")
    args = parser.parse_args()
    if args.command == "rapidocr":
        result = run_rapidocr(args)
    elif args.command == "tesseract":
        result = run_tesseract(args)
    else:
        result = report(args)
        Path(args.out).with_suffix(".md").write_text(markdown(result) + "\n")
        print(markdown(result))
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
