#!/usr/bin/env python3
"""Generates the OCR test images and their ground truth.

Two kinds of image, both with the text they show written down:

  synthetic/    text rendered with Pillow in several Debian fonts (DejaVu, Liberation, FreeFont),
                sizes, colours, on plain, gradient and photo backgrounds (COCO photos from
                ../shared when present, a generated texture otherwise), the whole page turned by
                0/90/180/270 degrees. The ground truth is the text drawn and its box.
  screenshots/  real HTML documents of this machine rendered by headless Chromium (the Rust
                documentation that rustup installs, else Debian's HTML pages under
                /usr/share/doc). The ground truth is the text the page itself shows inside the
                viewport, read from its layout in the same browser session as the screenshot
                (see chromium.py).

Output (`--out`, default .magpie/testdata/ocr/<set>):
  truth.json    {"set", "generator", "images": [{"file", "kind", "width", "height", "rotation",
                "background", "lines": [{"text", "box": [[x, y] × 4], "care"}], "ignore": [words]}]}
                `care` is false for lines the evaluation neither asks for nor punishes (text cut by
                the viewport edge, tiny or hidden text); `ignore` lists their words.

Sets: `ci` (24 synthetic images, 4 screenshots: what the parity test runs on a 2-core CI machine in
seconds) and `full` (160 + 24, for the benchmarks). Deterministic: a fixed seed per image, and the
same fonts and documents give the same files. A set is regenerated only when its stamp (generator
version, set, fonts, documents, backgrounds) changes or with --force.

Usage: make_ocr_testdata.py [--set ci|full] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import VISIBLE_WORDS_JS, Chromium  # noqa: E402

GENERATOR_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / ".magpie" / "testdata" / "ocr"

# Debian packages: fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf (scripts/testocr/make
# installs the missing ones).
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf",
]

SETS = {
    "ci": {"synthetic": 24, "screens": 4},
    "full": {"synthetic": 160, "screens": 24},
}

WORDS = """
apple river mountain window garden coffee market station bridge harbour library museum theatre
ticket receipt invoice total change cash card price sale open closed exit entrance parking street
avenue road north south east west left right stop slow school hospital pharmacy bakery butcher
kitchen bedroom office meeting project deadline budget report summary error warning failed success
server client network update install download upload settings profile account password welcome
hello goodbye thanks please coffee lemon orange banana cherry grape melon pepper salt sugar flour
butter cheese bread honey winter summer spring autumn monday tuesday friday sunday january march
april july october december morning evening tonight weekend holiday travel airport platform
departure arrival gate seat coach carriage ferry island castle forest valley canyon desert ocean
planet rocket comet zephyr sparrow falcon eagle heron otter badger beaver rabbit turtle dragon
violin guitar piano trumpet drum jazz blues concert festival gallery studio camera photo picture
letter parcel stamp post office bank branch credit debit balance amount number order delivery
""".split()

NUMBERS = ["42.50", "19.99", "2024-06-11", "12:45", "No. 1138", "$7.20", "100%", "3.14159", "A-17", "555-0199"]

PLAIN_COLOURS = [(255, 255, 255), (246, 242, 230), (30, 30, 34), (12, 40, 90), (250, 230, 80), (200, 40, 40),
                 (220, 235, 250), (60, 120, 60)]


def luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def shared_dir() -> Path | None:
    path = Path(os.environ.get("MAGPIE_SHARED", REPO_ROOT.parent / "shared"))
    return path if path.is_dir() else None


def background_photos() -> list[Path]:
    shared = shared_dir()
    if shared is None:
        return []
    coco = shared / "data" / "coco-mini"
    return sorted(coco.glob("*/*.jpg"))


def check_fonts() -> None:
    missing = [f for f in FONTS if not Path(f).is_file()]
    if missing:
        sys.exit(
            "make_ocr_testdata: missing fonts " + ", ".join(missing)
            + " (run scripts/testocr/make, which installs fonts-liberation and fonts-freefont-ttf)"
        )


# --------------------------------------------------------------------------------------------------
# Synthetic images
# --------------------------------------------------------------------------------------------------

def make_background(rng: random.Random, kind: str, size, photos) -> Image.Image:
    width, height = size
    if kind == "plain":
        return Image.new("RGB", size, rng.choice(PLAIN_COLOURS))
    if kind == "gradient":
        a = [rng.randrange(256) for _ in range(3)]
        b = [rng.randrange(256) for _ in range(3)]
        strip = Image.new("RGB", (256, 1))
        for x in range(256):
            t = x / 255
            strip.putpixel((x, 0), tuple(int(a[c] * (1 - t) + b[c] * t) for c in range(3)))
        image = strip.resize((width, height), Image.BILINEAR)
        return image.rotate(rng.choice([0, 90]), expand=False) if width == height else image
    # A photo: a COCO image scaled to cover the canvas, else a blurred random texture.
    if photos:
        photo = Image.open(rng.choice(photos)).convert("RGB")
        scale = max(width / photo.width, height / photo.height)
        photo = photo.resize((max(width, round(photo.width * scale)), max(height, round(photo.height * scale))),
                             Image.BICUBIC)
        left = rng.randrange(photo.width - width + 1)
        top = rng.randrange(photo.height - height + 1)
        return photo.crop((left, top, left + width, top + height))
    noise = Image.effect_noise((width // 8 + 1, height // 8 + 1), 40).convert("RGB")
    return noise.resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(3))


def line_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.15:
        return f"{rng.choice(WORDS).capitalize()} {rng.choice(NUMBERS)}"
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 5))]
    if kind < 0.35:
        return " ".join(words).upper()
    if kind < 0.7:
        words[0] = words[0].capitalize()
    return " ".join(words)


def text_colour(rng: random.Random, under_luminance: float):
    if under_luminance > 140:
        return tuple(rng.randrange(0, 90) for _ in range(3))
    return tuple(rng.randrange(190, 256) for _ in range(3))


def rotate_point(x: float, y: float, width: int, height: int, rotation: int):
    """Where (x, y) of a width×height page lands after turning the page `rotation` degrees
    clockwise."""
    if rotation == 0:
        return x, y
    if rotation == 90:
        return height - y, x
    if rotation == 180:
        return width - x, height - y
    if rotation == 270:
        return y, width - x
    raise ValueError(rotation)


def make_synthetic(index: int, photos, out_dir: Path) -> dict:
    rng = random.Random(1000 + index)
    width, height = rng.choice([(800, 600), (1024, 768), (960, 540), (640, 480), (1200, 800), (720, 720)])
    background = ["plain", "gradient", "photo"][index % 3]
    rotation = [0, 0, 0, 90, 0, 180, 0, 270][index % 8]
    image = make_background(rng, background, (width, height), photos)
    draw = ImageDraw.Draw(image)
    lines = []
    y = rng.randint(12, 60)
    for _ in range(rng.randint(2, 6)):
        font_path = rng.choice(FONTS)
        size = rng.choice([18, 22, 26, 30, 36, 44, 56, 72])
        font = ImageFont.truetype(font_path, size)
        text = line_text(rng)
        while True:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            if right - left <= width - 40 or " " not in text:
                break
            text = text.rsplit(" ", 1)[0]
        if right - left > width - 40:
            continue
        if y + (bottom - top) + 10 > height:
            break
        x = rng.randint(20, max(20, width - 20 - (right - left)))
        box = (x + left, y + top, x + right, y + bottom)
        region = image.crop(box).resize((1, 1), Image.BILINEAR).getpixel((0, 0))
        colour = text_colour(rng, luminance(region))
        stroke = 0
        stroke_fill = None
        if background == "photo" and rng.random() < 0.5:
            stroke = max(1, size // 18)
            stroke_fill = (0, 0, 0) if luminance(colour) > 128 else (255, 255, 255)
        draw.text((x, y), text, font=font, fill=colour, stroke_width=stroke, stroke_fill=stroke_fill)
        l, t, r, b = draw.textbbox((x, y), text, font=font, stroke_width=stroke)
        lines.append({"text": text, "box": [[l, t], [r, t], [r, b], [l, b]], "care": True,
                      "font": Path(font_path).stem, "size": size})
        y = b + rng.randint(int(size * 0.4), int(size * 1.5))
    if rotation:
        image = image.transpose({90: Image.ROTATE_270, 180: Image.ROTATE_180, 270: Image.ROTATE_90}[rotation])
        for line in lines:
            line["box"] = [list(rotate_point(px, py, width, height, rotation)) for px, py in line["box"]]
    name = f"synthetic/{index:03d}-{background}-r{rotation}." + ("jpg" if background == "photo" else "png")
    path = out_dir / name
    if background == "photo":
        image.save(path, quality=90)
    else:
        image.save(path)
    return {"file": name, "kind": "synthetic", "width": image.width, "height": image.height,
            "rotation": rotation, "background": background, "lines": lines, "ignore": []}


# --------------------------------------------------------------------------------------------------
# Screenshots
# --------------------------------------------------------------------------------------------------

RUST_PAGES = [
    ("std/vec/struct.Vec.html", 0),
    ("book/ch04-01-what-is-ownership.html", 0),
    ("std/index.html", 0),
    ("reference/introduction.html", 0),
    ("book/ch04-01-what-is-ownership.html", 800),
    ("std/collections/struct.HashMap.html", 0),
    ("std/string/struct.String.html", 700),
    ("book/ch03-02-data-types.html", 0),
    ("book/ch08-02-strings.html", 900),
    ("rust-by-example/hello.html", 0),
    ("std/option/enum.Option.html", 0),
    ("std/result/index.html", 0),
    ("cargo/index.html", 0),
    ("reference/types/numeric.html", 0),
    ("std/fs/index.html", 0),
    ("book/ch10-02-traits.html", 1200),
    ("std/iter/trait.Iterator.html", 1500),
    ("nomicon/ownership.html", 0),
    ("edition-guide/introduction.html", 0),
    ("std/primitive.str.html", 0),
    ("book/ch01-02-hello-world.html", 0),
    ("std/sync/struct.Mutex.html", 0),
    ("reference/expressions.html", 0),
    ("book/ch15-01-box.html", 600),
]


def rust_docs() -> Path | None:
    """The Rust documentation of the active toolchain (`rustup component add rust-docs`)."""
    sysroot = os.popen("rustc --print sysroot 2>/dev/null").read().strip()
    candidates = [Path(sysroot) / "share/doc/rust/html"] if sysroot else []
    candidates += sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html"))
    for candidate in candidates:
        if (candidate / "std/index.html").is_file():
            return candidate
    return None


def screen_pages(count: int) -> tuple[list[tuple[str, int]], str]:
    docs = rust_docs()
    if docs is not None:
        pages = [(str(docs / page), scroll) for page, scroll in RUST_PAGES if (docs / page).is_file()]
        if len(pages) >= count:
            return pages[:count], f"rust-docs:{docs}"
    # No rust-docs: any HTML of Debian's documentation (every Debian system has some).
    pages = sorted(str(p) for p in Path("/usr/share/doc").rglob("*.html") if p.stat().st_size > 4000)
    rng = random.Random(7)
    rng.shuffle(pages)
    if not pages:
        sys.exit("make_ocr_testdata: no HTML documents found (neither rust-docs nor /usr/share/doc/**/*.html)")
    return [(p, 0) for p in pages[:count]], "debian-doc"


def group_lines(words: list[dict]) -> list[dict]:
    """Words → visual lines: vertically overlapping, horizontally close; pieces of one token split
    over elements (`std` `::` `vec`, touching) are joined without a space."""
    lines: list[dict] = []
    for word in sorted(words, key=lambda w: (round(w["box"][1]), w["box"][0])):
        l, t, r, b = word["box"]
        h = b - t
        best = None
        for line in lines:
            lt, lb = line["top"], line["bottom"]
            overlap = min(b, lb) - max(t, lt)
            gap = l - line["right"]
            if overlap >= 0.5 * min(h, lb - lt) and -0.2 * h <= gap <= 1.2 * max(h, lb - lt):
                best = line
                break
        if best is None:
            lines.append({"words": [word], "top": t, "bottom": b, "left": l, "right": r})
        else:
            best["words"].append(word)
            best["top"], best["bottom"] = min(best["top"], t), max(best["bottom"], b)
            best["left"], best["right"] = min(best["left"], l), max(best["right"], r)
    result = []
    for line in lines:
        tokens: list[dict] = []
        for word in sorted(line["words"], key=lambda w: w["box"][0]):
            if tokens:
                last = tokens[-1]
                h = word["box"][3] - word["box"][1]
                if word["node"] != last["node"] and word["box"][0] - last["box"][2] < 0.1 * h:
                    last["text"] += word["text"]
                    last["box"][2] = word["box"][2]
                    last["full"] = last["full"] and word["full"]
                    last["node"] = word["node"]
                    continue
            tokens.append(dict(word, box=list(word["box"])))
        care = all(t["full"] for t in tokens)
        l, t, r, b = line["left"], line["top"], line["right"], line["bottom"]
        result.append({
            "text": " ".join(t["text"] for t in tokens),
            "box": [[l, t], [r, t], [r, b], [l, b]],
            "care": care,
            "ignore_words": [t["text"] for t in tokens if not t["full"]],
        })
    return result


def make_screens(count: int, out_dir: Path) -> tuple[list[dict], str]:
    pages, source = screen_pages(count)
    images = []
    width, height = 1280, 800
    with Chromium(width, height) as browser:
        for index, (page, scroll) in enumerate(pages):
            browser.open(Path(page).as_uri(), scroll)
            words = browser.evaluate(VISIBLE_WORDS_JS)
            stem = Path(page).stem.replace(".", "-")
            name = f"screenshots/{index:02d}-{stem}-{scroll}.png"
            raw = out_dir / (name + ".raw")
            browser.screenshot(raw)
            Image.open(raw).convert("RGB").save(out_dir / name)
            raw.unlink()
            lines = group_lines(words)
            ignore = [w for line in lines for w in line.pop("ignore_words")]
            for line in lines:
                if not line["care"]:
                    ignore.extend(line["text"].split())
            images.append({"file": name, "kind": "screenshot", "width": width, "height": height,
                           "rotation": 0, "background": "page", "source": page, "scroll": scroll,
                           "lines": lines, "ignore": sorted(set(ignore))})
    return images, source


# --------------------------------------------------------------------------------------------------

def stamp_for(set_name: str, photos, pages_source: str) -> str:
    digest = hashlib.sha256()
    for font in FONTS:
        digest.update(font.encode())
        digest.update(str(Path(font).stat().st_size).encode())
    for photo in photos:
        digest.update(photo.name.encode())
    return json.dumps({"generator": GENERATOR_VERSION, "set": set_name, "inputs": digest.hexdigest(),
                       "pages": pages_source})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="ci")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    check_fonts()
    out = args.out or DEFAULT_OUT / args.set
    sizes = SETS[args.set]
    photos = background_photos()
    docs = rust_docs()
    stamp = stamp_for(args.set, photos, f"rust-docs:{docs}" if docs else "debian-doc")
    stamp_file = out / ".generated.json"
    if not args.force and stamp_file.is_file() and stamp_file.read_text() == stamp:
        print(f"make_ocr_testdata: {out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ocr-", dir=out.parent))
    try:
        (work / "synthetic").mkdir()
        (work / "screenshots").mkdir()
        images = [make_synthetic(i, photos, work) for i in range(sizes["synthetic"])]
        screens, source = make_screens(sizes["screens"], work)
        images += screens
        truth = {"set": args.set, "generator": GENERATOR_VERSION, "screens_from": source,
                 "backgrounds": "coco-mini" if photos else "generated texture", "images": images}
        (work / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False))
        (work / ".generated.json").write_text(stamp)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    lines = sum(len(i["lines"]) for i in images)
    print(f"make_ocr_testdata: {len(images)} images ({len(screens)} screenshots from {source}), "
          f"{lines} lines in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
