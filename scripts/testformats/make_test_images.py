#!/usr/bin/env python3
"""Generates the format test corpus: HEIC, AVIF, JPEG XL, DNG (camera RAW), a RAW+JPEG pair, and
truncated and bit-flipped copies of each, plus reference decodes made by *other* decoders.

Why: Magpie decodes these formats itself (libheif, jxl-oxide, its own RAW preview extraction and a
demosaic). The parity tests compare its pixels with a reference decoder of the same file, and its
embeddings with the Python reference on the reference's pixels. Nothing is downloaded: every
picture is drawn here from numpy, deterministically.

    make_test_images.py --out DIR [--bench] [--check]

Layout of DIR (each `X` has `X.reference.png`, the reference decoder's upright RGB, when it is a
good file):
  heic/  plain, orient6 (EXIF orientation 6 *and* the container's irot, as iPhones write them),
         mirror (imir via orientation 2), exif (camera, lens, date), alpha, 10bit, collection
         (two images, the second primary)
  avif/  plain, orient6, alpha
  jxl/   lossy, lossless, alpha, 16bit, from_jpeg (lossless JPEG recompression)
  raw/   preview.dng (raw data + a full-size JPEG preview, EXIF orientation 6),
         nopreview.dng (raw data only: needs a demosaic), and pair/IMG_0001.{DNG,JPG}
  bad/   <format>_<name>.truncated.<ext> and .bitflip.<ext> of every file above, and a truncated
         JPEG
  MANIFEST.json  what each file is and what a decoder must make of it
With --bench, also bench/: a 12 MP HEIC, a 24 MP DNG with preview and one without (for
`bench/formats`).

Reference decoders: pillow-heif (libheif) for HEIC, Pillow's own AVIF plugin (libavif) for AVIF, djxl (libjxl, Debian's libjxl-tools) for
JPEG XL, rawpy (LibRaw) for the DNG preview (`extract_thumb`) and demosaic (`postprocess`), PIL for
JPEG. --check only verifies that the tools are there.
"""

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps

SEED = 1302


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        sys.exit(f"make_test_images.py: `{tool}` is missing; run scripts/setup (it installs Debian's libjxl-tools)")
    return path


def scene(width: int, height: int, seed: int = SEED) -> np.ndarray:
    """A photo-like, asymmetric RGB picture: colour gradients, a red square top left, a blue disc
    lower right, fine stripes, mild noise. Asymmetric so that any wrong rotation or mirror shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    r = 60 + 150 * u
    g = 40 + 170 * v
    b = 90 + 80 * np.sin(6.0 * u + 3.0 * v)
    img = np.stack([r, g, b], axis=-1)
    s = min(width, height)
    img[int(0.08 * height): int(0.08 * height) + s // 4, int(0.06 * width): int(0.06 * width) + s // 4] = [220, 30, 30]
    cy, cx, rad = 0.72 * height, 0.78 * width, s / 7
    disc = (y - cy) ** 2 + (x - cx) ** 2 < rad ** 2
    img[disc] = [25, 40, 210]
    stripes = (np.floor(x / 3) % 2 == 0) & (v > 0.85) & (u < 0.5)
    img[stripes] *= 0.5
    img += rng.normal(0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def exif_bytes(orientation=None, camera=None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if camera:
        exif[0x010F] = "Magpie Optics"
        exif[0x0110] = "Test Camera X1"
        exif[0x0132] = "2024:05:06 07:08:09"
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = "2023:04:05 06:07:08"
        ifd[0xA434] = "Magpie 35mm F1.8"
    return exif.tobytes()


def save_png(array: np.ndarray, path: str) -> None:
    Image.fromarray(array).save(path)


class Corpus:
    def __init__(self, out: str):
        self.out = out
        self.manifest = []

    def path(self, *parts: str) -> str:
        p = os.path.join(self.out, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def add(self, rel: str, **facts) -> None:
        self.manifest.append({"file": rel, **facts})


def reference_pil(path: str, out_png: str) -> tuple:
    """PIL (with pillow-heif as its HEIF/AVIF plugin): decode, exif_transpose, RGB with
    transparency composited onto white (what CLIPImageProcessor's convert_rgb does)."""
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            image = image.convert("RGB")
        image.save(out_png)
        return image.size


def make_heif(corpus: Corpus, kind: str) -> None:
    import pillow_heif

    # HEIC through pillow-heif (libheif + x265); AVIF through Pillow's own plugin (libavif + aom).
    ext = "heic" if kind == "heic" else "avif"
    fmt = "HEIF" if kind == "heic" else "AVIF"
    base = scene(640, 480)

    def save(name: str, image: Image.Image, **options) -> str:
        rel = f"{kind}/{name}.{ext}"
        image.save(corpus.path(rel), format=fmt, quality=92, **options)
        return rel

    rel = save("plain", Image.fromarray(base))
    corpus.add(rel, format=kind, width=640, height=480)
    # Orientation 6 in EXIF: pillow-heif writes it as the container's irot *and* keeps it in EXIF,
    # as phones do. Displayed: rotated once (480×640).
    rel = save("orient6", Image.fromarray(base), exif=exif_bytes(orientation=6))
    corpus.add(rel, format=kind, width=480, height=640, note="EXIF orientation 6 and irot: rotate once")
    if kind == "heic":
        rel = save("mirror", Image.fromarray(base), exif=exif_bytes(orientation=2))
        corpus.add(rel, format=kind, width=640, height=480, note="imir")
        rel = save("exif", Image.fromarray(base), exif=exif_bytes(camera=True))
        corpus.add(rel, format=kind, width=640, height=480, make="Magpie Optics", model="Test Camera X1", lens="Magpie 35mm F1.8", taken="2023-04-05T06:07:08")
    alpha = np.dstack([base, np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))])
    rel = save("alpha", Image.fromarray(alpha, "RGBA"))
    corpus.add(rel, format=kind, width=640, height=480, alpha=True)
    # 10 bit: pillow-heif encodes 16-bit RGB input at 10 bits. (No 10-bit AVIF: Pillow's AVIF
    # plugin writes 8 bits only and Debian 12's heif-enc + aom aborts on 10-bit input.)
    if kind == "heic":
        deep = base.astype(np.uint16) * 257
        rel = f"{kind}/10bit.{ext}"
        heif = pillow_heif.from_bytes(mode="RGB;16", size=(640, 480), data=deep.tobytes())
        heif.save(corpus.path(rel), quality=92)
        corpus.add(rel, format=kind, width=640, height=480, bits=10)
    if kind == "heic":
        second = scene(320, 400, seed=SEED + 1)
        rel = f"{kind}/collection.{ext}"
        Image.fromarray(base).save(corpus.path(rel), format=fmt, quality=92, save_all=True, append_images=[Image.fromarray(second)], primary_index=1)
        corpus.add(rel, format=kind, width=320, height=400, note="two images, the second is primary")


def make_jxl(corpus: Corpus) -> None:
    cjxl, djxl = need("cjxl"), need("djxl")
    base = scene(640, 480, seed=SEED + 2)
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "in.png")
        save_png(base, png)
        alpha_png = os.path.join(tmp, "alpha.png")
        alpha = np.dstack([base, np.tile(np.linspace(255, 0, 480, dtype=np.uint8)[:, None], (1, 640))])
        Image.fromarray(alpha, "RGBA").save(alpha_png)
        deep_png = os.path.join(tmp, "deep.png")
        # 16-bit PNG via raw bytes (PIL writes mode I;16 only for grey).
        write_png16(deep_png, base.astype(np.uint16) * 257)
        jpeg = os.path.join(tmp, "in.jpg")
        Image.fromarray(base).save(jpeg, quality=90)
        jobs = [
            ("lossy", png, ["-d", "1.0"], {}),
            ("lossless", png, ["-d", "0"], {}),
            ("alpha", alpha_png, ["-d", "1.0"], {"alpha": True}),
            ("16bit", deep_png, ["-d", "0"], {"bits": 16}),
            ("from_jpeg", jpeg, ["--lossless_jpeg=1"], {"note": "lossless JPEG recompression"}),
        ]
        for name, source, options, facts in jobs:
            rel = f"jxl/{name}.jxl"
            subprocess.run([cjxl, source, corpus.path(rel), *options, "--quiet"], check=True, capture_output=True)
            corpus.add(rel, format="jxl", width=640, height=480, **facts)
    return djxl


def write_png16(path: str, rgb16: np.ndarray) -> None:
    import zlib

    height, width, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def bayer(rgb: np.ndarray) -> np.ndarray:
    """An RGGB mosaic of a linear-light version of `rgb`, 16 bits, as a sensor would record it."""
    linear = (rgb.astype(np.float32) / 255.0) ** 2.2
    mosaic = np.empty(rgb.shape[:2], dtype=np.float32)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]
    return np.clip(mosaic * 4000 + 64, 0, 4095).astype(np.uint16)


def write_dng(path: str, rgb: np.ndarray, orientation: int, preview_jpeg=None) -> None:
    """A minimal DNG 1.4, written here (no tool adds a preview to a DNG that has none): IFD0 holds
    the camera tags and, when given, a JPEG preview (NewSubfileType 1, as cameras and Adobe's
    converter write it); its SubIFD holds the 12-bit RGGB raw data, uncompressed; an EXIF IFD holds
    the date and lens. LibRaw (rawpy) reads it, which the reference decodes rely on."""
    height, width, _ = rgb.shape
    raw = bayer(rgb)
    SHORT, LONG, RATIONAL, SRATIONAL, ASCII, BYTE = 3, 4, 5, 10, 2, 1
    # Camera = sRGB primaries (XYZ→camera is the XYZ→sRGB matrix), so colours stay plausible.
    xyz_to_srgb = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
    camera = [
        (271, ASCII, "Magpie Optics"),
        (272, ASCII, "Test Camera R1"),
        (274, SHORT, [orientation]),
        (50706, BYTE, [1, 4, 0, 0]),
        (50707, BYTE, [1, 2, 0, 0]),
        (50708, ASCII, "Magpie Optics Test Camera R1"),
        (50721, SRATIONAL, [(int(round(v * 10000)), 10000) for v in xyz_to_srgb]),
        (50728, RATIONAL, [(1, 1), (1, 1), (1, 1)]),
        (50778, SHORT, [21]),
    ]
    raw_ifd = [
        (254, LONG, [0]),
        (256, LONG, [width]),
        (257, LONG, [height]),
        (258, SHORT, [16]),
        (259, SHORT, [1]),
        (262, SHORT, [32803]),
        (273, LONG, "RAWDATA"),
        (277, SHORT, [1]),
        (278, LONG, [height]),
        (279, LONG, [raw.nbytes]),
        (284, SHORT, [1]),
        (33421, SHORT, [2, 2]),
        (33422, BYTE, [0, 1, 1, 2]),
        (50714, LONG, [64]),
        (50717, LONG, [4095]),
    ]
    exif_ifd = [(36867, ASCII, "2022:03:04 05:06:07"), (42036, ASCII, "Magpie 50mm F2")]
    blobs = {"RAWDATA": raw.astype("<u2").tobytes()}
    if preview_jpeg is not None:
        jpeg = open(preview_jpeg, "rb").read()
        with Image.open(preview_jpeg) as p:
            pw, ph = p.size
        blobs["PREVIEW"] = jpeg
        ifd0 = [
            (254, LONG, [1]),
            (256, LONG, [pw]),
            (257, LONG, [ph]),
            (258, SHORT, [8, 8, 8]),
            (259, SHORT, [7]),
            (262, SHORT, [6]),
            (273, LONG, "PREVIEW"),
            (277, SHORT, [3]),
            (278, LONG, [ph]),
            (279, LONG, [len(jpeg)]),
            (284, SHORT, [1]),
            (50971, ASCII, "2022-03-04T05:06:07"),
            (50970, LONG, [1]),
        ] + camera
        ifds = {"IFD0": ifd0 + [(330, LONG, "SUBIFD"), (34665, LONG, "EXIF")], "SUBIFD": raw_ifd, "EXIF": exif_ifd}
    else:
        # No preview: the raw data is IFD0 itself.
        ifds = {"IFD0": raw_ifd + camera + [(34665, LONG, "EXIF")], "EXIF": exif_ifd}
    write_tiff(path, ifds, blobs)


def write_tiff(path: str, ifds: dict, blobs: dict) -> None:
    """Little-endian TIFF: IFDs in the given order (the first is IFD0), each tag's value inline when
    it fits in 4 bytes, else after the IFDs; a value naming another IFD or a blob becomes its
    offset."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 10: 8}
    names = list(ifds)
    offsets = {}
    position = 8
    for name in names:
        offsets[name] = position
        position += 2 + 12 * len(ifds[name]) + 4
    values = bytearray()
    data_start = position

    def encode(kind, value) -> bytes:
        if kind == 2:
            return value.encode() + b"\0"
        if kind in (5, 10):
            code = "<II" if kind == 5 else "<ii"
            return b"".join(struct.pack(code, n, d) for n, d in value)
        code = {1: "<B", 3: "<H", 4: "<I"}[kind]
        return b"".join(struct.pack(code, v) for v in value)

    blob_at = {}
    out = bytearray(b"II*\0" + struct.pack("<I", offsets[names[0]]))
    # First pass to size the value area.
    pending = []
    for name in names:
        entries = sorted(ifds[name], key=lambda e: e[0])
        ifd = bytearray(struct.pack("<H", len(entries)))
        for tag, kind, value in entries:
            if isinstance(value, str) and (value in ifds or value in blobs):
                raw = None
                count = 1
            else:
                raw = encode(kind, value)
                count = len(raw) // sizes[kind]
            ifd += struct.pack("<HHI", tag, kind, count)
            if raw is None:
                pending.append((len(out) + len(ifd), value))
                ifd += b"\0\0\0\0"
            elif len(raw) <= 4:
                ifd += raw.ljust(4, b"\0")
            else:
                pending.append((len(out) + len(ifd), ("VALUE", data_start + len(values))))
                ifd += b"\0\0\0\0"
                values += raw + (b"\0" if len(raw) % 2 else b"")
        ifd += struct.pack("<I", 0)
        out += ifd
    out += values
    for name, blob in blobs.items():
        blob_at[name] = len(out)
        out += blob + (b"\0" if len(blob) % 2 else b"")
    for where, target in pending:
        if isinstance(target, tuple):
            offset = target[1]
        elif target in offsets:
            offset = offsets[target]
        else:
            offset = blob_at[target]
        out[where: where + 4] = struct.pack("<I", offset)
    with open(path, "wb") as f:
        f.write(bytes(out))


def make_raw(corpus: Corpus, width: int = 640, height: int = 480, folder: str = "raw") -> None:
    base = scene(width, height, seed=SEED + 3)
    with tempfile.TemporaryDirectory() as tmp:
        preview = os.path.join(tmp, "preview.jpg")
        Image.fromarray(base).save(preview, quality=92)
        rel = f"{folder}/preview.dng"
        write_dng(corpus.path(rel), base, 6, preview)
        corpus.add(rel, format="raw", width=height, height=width, make="Magpie Optics", model="Test Camera R1", lens="Magpie 50mm F2", taken="2022-03-04T05:06:07", orientation=6, path="preview")
        rel = f"{folder}/nopreview.dng"
        write_dng(corpus.path(rel), base, 1, None)
        corpus.add(rel, format="raw", width=width, height=height, make="Magpie Optics", model="Test Camera R1", path="demosaic")
    if folder != "raw":
        return
    pair = scene(480, 360, seed=SEED + 4)
    with tempfile.TemporaryDirectory() as tmp:
        preview = os.path.join(tmp, "p.jpg")
        Image.fromarray(pair).save(preview, quality=92)
        write_dng(corpus.path("raw/pair/IMG_0001.DNG"), pair, 1, preview)
    Image.fromarray(pair).save(corpus.path("raw/pair/IMG_0001.JPG"), quality=92, exif=exif_bytes(camera=True))
    corpus.add("raw/pair/IMG_0001.JPG", format="jpeg", width=480, height=360, raw_original="IMG_0001.DNG")


def reference_raw(path: str, out_png: str, how: str) -> tuple:
    import rawpy

    with rawpy.imread(path) as raw:
        if how == "preview":
            thumb = raw.extract_thumb()
            assert thumb.format == rawpy.ThumbFormat.JPEG, thumb.format
            image = Image.open(io.BytesIO(thumb.data)).convert("RGB")
            flip = raw.sizes.flip  # LibRaw: 0 none, 3 180°, 5 90° CCW, 6 90° CW
            image = {0: image, 3: image.transpose(Image.ROTATE_180), 5: image.transpose(Image.ROTATE_90), 6: image.transpose(Image.ROTATE_270)}[flip]
        else:
            rgb = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=8)
            image = Image.fromarray(rgb)
    image.save(out_png)
    return image.size


def reference_jxl(djxl: str, path: str, out_png: str) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        decoded = os.path.join(tmp, "out.png")
        subprocess.run([djxl, path, decoded, "--quiet"], check=True, capture_output=True)
        return reference_pil(decoded, out_png)


def damage(corpus: Corpus) -> None:
    """A truncated (60 %) and a bit-flipped copy of every good file; a truncated JPEG too."""
    rng = np.random.default_rng(SEED + 9)
    good = [entry for entry in corpus.manifest if "file" in entry]
    for entry in good:
        rel = entry["file"]
        data = open(os.path.join(corpus.out, rel), "rb").read()
        folder, name = os.path.split(rel)
        stem, ext = os.path.splitext(name)
        label = f"{folder.replace('/', '_')}_{stem}"
        truncated = f"bad/{label}.truncated{ext}"
        with open(corpus.path(truncated), "wb") as f:
            f.write(data[: int(len(data) * 0.6)])
        flipped = bytearray(data)
        start = min(len(data) - 1, 512)
        for position in rng.integers(start, len(data), size=24):
            flipped[position] ^= 1 << int(rng.integers(0, 8))
        with open(corpus.path(f"bad/{label}.bitflip{ext}"), "wb") as f:
            f.write(bytes(flipped))
    jpeg = io.BytesIO()
    Image.fromarray(scene(640, 480, seed=SEED + 5)).save(jpeg, format="JPEG", quality=90)
    with open(corpus.path("bad/jpeg_truncated.jpg"), "wb") as f:
        f.write(jpeg.getvalue()[: int(len(jpeg.getvalue()) * 0.6)])


def make_bench(corpus: Corpus) -> None:
    """Real-size files for bench/formats: 12 MP HEIC (4032×3024, an iPhone's size) and 24 MP DNG
    (6000×4000) with and without an embedded full-size preview."""
    big = scene(4032, 3024, seed=SEED + 6)
    Image.fromarray(big).save(corpus.path("bench/12mp.heic"), format="HEIF", quality=85)
    make_raw(corpus, 6000, 4000, folder="bench")


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate Magpie's format test corpus.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--bench", action="store_true", help="also the real-size benchmark files")
    parser.add_argument("--check", action="store_true", help="only check that the tools are there")
    args = parser.parse_args()
    for tool in ("cjxl", "djxl"):
        need(tool)
    import pillow_heif  # noqa: F401
    import rawpy  # noqa: F401

    if args.check:
        return 0
    import pillow_heif

    pillow_heif.register_heif_opener()
    stamp = os.path.join(args.out, "MANIFEST.json")
    version = open(__file__, "rb").read()
    import hashlib

    digest = hashlib.sha256(version + (b"bench" if args.bench else b"")).hexdigest()
    if os.path.exists(stamp):
        try:
            if json.load(open(stamp)).get("generator") == digest:
                return 0
        except (OSError, ValueError):
            pass
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    corpus = Corpus(args.out)
    make_heif(corpus, "heic")
    make_heif(corpus, "avif")
    djxl = make_jxl(corpus)
    make_raw(corpus)
    for entry in corpus.manifest:
        source = os.path.join(args.out, entry["file"])
        reference = source + ".reference.png"
        if entry["format"] in ("heic", "avif", "jpeg"):
            size = reference_pil(source, reference)
        elif entry["format"] == "jxl":
            size = reference_jxl(djxl, source, reference)
        else:
            size = reference_raw(source, reference, entry["path"])
        entry["reference"] = entry["file"] + ".reference.png"
        entry["reference_size"] = list(size)
    damage(corpus)
    if args.bench:
        make_bench(corpus)
    with open(stamp, "w") as f:
        json.dump({"generator": digest, "files": corpus.manifest}, f, indent=1)
    print(f"make_test_images.py: {len(corpus.manifest)} good files (+ damaged copies) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
