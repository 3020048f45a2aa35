"""The Python module `wenzi` against the repository's fixtures (run from any directory)."""

import json
import pathlib
import struct
import threading
import time
import unicodedata
import zlib

import numpy as np
import pytest

import wenzi

ROOT = pathlib.Path(__file__).resolve().parents[3]
IMAGES = ROOT / "fixtures" / "images"
PAGE = IMAGES / "page_008.png"


def ground_truth(name):
    with open(IMAGES / "gt.jsonl", encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            if item["image"] == name:
                return item["lines"]
    raise KeyError(name)


def squash(s):
    """The eval's normalization: NFKC, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", s).split())


def edits(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def assert_close_to_gt(lines, name, max_edits=1):
    want = ground_truth(name)
    assert len(lines) == len(want), lines
    for got, exp in zip(lines, want):
        assert edits(squash(got), squash(exp)) <= max_edits, (got, exp)


def png_to_array(path):
    """Decodes an 8-bit, non-interlaced PNG (gray, RGB or RGBA) to an HxWxC uint8 array, so the
    array path is checked against pixels that did not come from wenzi's own decoder."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (0, 2, 6)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    c = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * c)
    out = np.zeros((h, w * c), dtype=np.int32)
    prev = np.zeros(w * c, dtype=np.int32)
    for y in range(h):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = row
        elif f == 2:
            cur = (row + prev) & 255
        else:
            cur = row.tolist()
            up = prev.tolist()
            for x in range(len(cur)):
                a = cur[x - c] if x >= c else 0
                b, d = up[x], (up[x - c] if x >= c else 0)
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) >> 1
                else:
                    p = a + b - d
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else d)
                cur[x] = (cur[x] + pred) & 255
            cur = np.array(cur, dtype=np.int32)
        out[y] = cur
        prev = cur
    return out.astype(np.uint8).reshape(h, w, c)


def ppm(rgb):
    """Binary PPM (P6) bytes of an HxWx3 uint8 array: an encoded image wenzi reads as RGB."""
    h, w, _ = rgb.shape
    return b"P6 %d %d 255\n" % (w, h) + np.ascontiguousarray(rgb).tobytes()


def summary(page):
    return [(l.text, l.box, l.confidence, l.orientation) for l in page.lines]


@pytest.fixture(scope="module")
def engine():
    return wenzi.Engine()


@pytest.fixture(scope="module")
def page_bytes():
    return PAGE.read_bytes()


@pytest.fixture(scope="module")
def page_pixels():
    return png_to_array(PAGE)


def test_recognize_bytes_gives_the_page_lines(page_bytes):
    lines = wenzi.recognize(page_bytes)
    assert all(isinstance(l, str) for l in lines)
    assert_close_to_gt(lines, "page_008.png")
    assert lines[0] == "apt search search-string"
    assert lines[4] == "kill [-9] number"


def test_page_object(engine, page_bytes):
    page = engine.recognize(page_bytes)
    assert (page.width, page.height, page.rotation) == (861, 297, 0)
    assert page.texts() == [l.text for l in page.lines] == wenzi.recognize(page_bytes)
    assert len(page) == len(page.lines) == 6
    for line in page.lines:
        assert 0.5 <= line.confidence <= 1.0
        assert line.orientation == "upright"
        assert len(line.box) == 4 and all(len(p) == 2 for p in line.box)
        assert all(0 <= x <= page.width and 0 <= y <= page.height for x, y in line.box)
        x0, y0, x1, y1 = line.bounds
        assert x0 < x1 and y0 < y1
        assert line.words, line.text
        assert squash("".join(w.text for w in line.words)) == squash(line.text)
        for word in line.words:
            assert 0.0 <= word.confidence <= 1.0 and len(word.box) == 4
            assert "".join(c.text for c in word.chars) == word.text
    # Blocks partition the lines, in order.
    covered = [i for b in page.blocks for i in b.lines]
    assert covered == list(range(len(page.lines)))
    assert {b.kind for b in page.blocks} <= {"paragraph", "table", "vertical"}
    assert set(page.timings) == {"decode", "detect", "classify", "recognize", "total"}
    assert page.timings["total"] > 0
    assert page.lines[0] is page.lines[0]


def test_path_input(engine, page_bytes):
    want = summary(engine.recognize(page_bytes))
    assert summary(engine.recognize(str(PAGE))) == want
    assert summary(engine.recognize(PAGE)) == want  # os.PathLike
    assert summary(engine.recognize(bytearray(page_bytes))) == want
    assert wenzi.recognize(str(PAGE)) == [t for t, *_ in want]


def test_numpy_input_equals_bytes_input(engine, page_bytes, page_pixels):
    want = summary(engine.recognize(page_bytes))
    assert page_pixels.shape == (297, 861, 3)
    assert summary(engine.recognize(page_pixels)) == want
    # OpenCV order, and a negatively strided view.
    assert summary(engine.recognize(page_pixels[..., ::-1], bgr=True)) == want
    # A Fortran-ordered copy.
    assert summary(engine.recognize(np.asfortranarray(page_pixels))) == want


def test_numpy_channel_orders(engine, page_pixels):
    # The encoded PPM of the same RGB pixels is the reference.
    rgb = colored(page_pixels)
    want = summary(engine.recognize(ppm(rgb)))
    assert summary(engine.recognize(rgb)) == want
    assert summary(engine.recognize(np.ascontiguousarray(rgb[..., ::-1]), bgr=True)) == want
    # The swap is visible: reading BGR pixels as RGB gives other boxes.
    assert summary(engine.recognize(np.ascontiguousarray(rgb[..., ::-1]))) != want
    # Gray (HxW and HxWx1) equals the gray image replicated to RGB.
    gray = rgb[..., 1]
    want_gray = summary(engine.recognize(ppm(np.repeat(gray[..., None], 3, axis=2))))
    assert summary(engine.recognize(gray)) == want_gray
    assert summary(engine.recognize(gray[..., None])) == want_gray
    # RGBA: opaque equals RGB.
    alpha = np.full(gray.shape + (1,), 255, dtype=np.uint8)
    assert summary(engine.recognize(np.concatenate([rgb, alpha], axis=-1))) == want


def colored(page_pixels):
    """The page with three different channels, so that reading them swapped shows."""
    g = page_pixels[..., 0].astype(np.int32)
    return np.stack([g, g * 3 // 5 + 100, 255 - (255 - g) * 3 // 10], axis=-1).astype(np.uint8)


def test_pil_images(engine, page_bytes, page_pixels):
    from PIL import Image

    assert summary(engine.recognize(Image.open(PAGE))) == summary(engine.recognize(page_bytes))
    gray = Image.open(PAGE).convert("L")
    # Modes numpy cannot hand over as gray/RGB/RGBA go through PIL's convert first.
    assert summary(engine.recognize(gray.convert("LA"))) == summary(engine.recognize(gray))
    # PIL images are RGB, also for the RapidOCR drop-in (which takes arrays as BGR).
    rgb = colored(page_pixels)
    ocr = wenzi.RapidOCR(engine=engine)
    result, _ = ocr(Image.fromarray(rgb))
    assert [tuple(r) for r in result] == engine(rgb)


def test_rapidocr_shaped_call(engine, page_bytes):
    page = engine.recognize(page_bytes)
    rows = engine(page_bytes)
    assert isinstance(rows, list) and len(rows) == len(page.lines)
    for (box, text, score), line in zip(rows, page.lines):
        assert isinstance(box, list) and len(box) == 4
        assert all(isinstance(p, list) and len(p) == 2 for p in box)
        assert all(isinstance(v, float) for p in box for v in p)
        assert isinstance(text, str) and isinstance(score, float)
        assert (box, text, score) == (line.box, line.text, line.confidence)


def test_rapidocr_drop_in(engine, page_bytes, page_pixels):
    ocr = wenzi.RapidOCR(engine=engine)
    result, elapse = ocr(str(PAGE))
    assert isinstance(elapse, list) and len(elapse) == 3 and all(t >= 0 for t in elapse)
    rows = engine(page_bytes)
    assert [tuple(r) for r in result] == rows
    assert all(isinstance(r, list) and len(r) == 3 for r in result)
    # Like RapidOCR, a numpy array is OpenCV's BGR.
    bgr_result, _ = ocr(np.ascontiguousarray(page_pixels[..., ::-1]))
    assert bgr_result == result
    # Nothing found: (None, None), as RapidOCR answers.
    blank = np.full((120, 300, 3), 255, dtype=np.uint8)
    assert ocr(blank) == (None, None)
    assert engine(blank) == []
    assert wenzi.recognize(ppm(blank)) == []
    with pytest.raises(ValueError):
        ocr(page_bytes, use_det=False)
    with pytest.raises(TypeError):
        wenzi.RapidOCR(engine=engine, threads=2)
    # Keyword arguments build an Engine.
    assert wenzi.RapidOCR(detector="classic").engine is not None


def test_shared_engine_across_threads(engine, page_bytes, page_pixels):
    want = summary(engine.recognize(page_bytes))
    inputs = [page_bytes, str(PAGE), page_pixels]
    results, errors = {}, []

    def work(i):
        try:
            results[i] = [summary(engine.recognize(inputs[(i + k) % 3])) for k in range(3)]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 4
    assert all(r == want for rs in results.values() for r in rs)


def test_gil_is_released_while_recognizing(page_bytes):
    one = wenzi.Engine(threads=1)
    one.recognize(page_bytes)
    t0 = time.perf_counter()
    one.recognize(page_bytes)
    duration = time.perf_counter() - t0
    worker = threading.Thread(target=lambda: [one.recognize(page_bytes) for _ in range(3)])
    gaps, last = [], time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    worker.join()
    # Holding the GIL, the Rust call would stop this loop for about `duration` each time.
    assert max(gaps) < duration / 2, (max(gaps), duration)


def test_to_json_round_trips(engine, page_bytes):
    page = engine.recognize(page_bytes)
    d = json.loads(page.to_json())
    assert d == page.to_dict()
    assert json.loads(page.to_json(indent=2)) == d
    assert set(d) == {"width", "height", "rotation", "lines", "blocks", "timings"}
    assert (d["width"], d["height"]) == (page.width, page.height)
    assert [l["text"] for l in d["lines"]] == page.texts()
    for dl, line in zip(d["lines"], page.lines):
        assert set(dl) == {"text", "confidence", "box", "orientation", "words"}
        assert np.allclose(dl["box"], line.box, atol=1e-3)
        assert [w["text"] for w in dl["words"]] == [w.text for w in line.words]
    assert [b["lines"] for b in d["blocks"]] == [
        [b.lines.start, b.lines.stop] for b in page.blocks
    ]


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not an image at all",
        PAGE.read_bytes()[:2000],  # truncated PNG
        np.zeros((10, 10, 3), dtype=np.float32),
        np.zeros((10, 10, 2), dtype=np.uint8),
        np.zeros((0, 10, 3), dtype=np.uint8),
        np.zeros((2, 10, 10, 3), dtype=np.uint8),
    ],
    ids=["empty", "garbage", "truncated", "float", "two-channels", "zero-side", "4d"],
)
def test_bad_images_raise_value_error(engine, bad):
    with pytest.raises(ValueError) as err:
        engine.recognize(bad)
    assert isinstance(err.value, wenzi.WenziError)
    assert isinstance(err.value, wenzi.ImageError)
    with pytest.raises(ValueError):
        wenzi.recognize(bad)


def test_other_errors(engine, tmp_path):
    with pytest.raises(FileNotFoundError):
        engine.recognize(str(tmp_path / "missing.png"))
    with pytest.raises(TypeError):
        engine.recognize(42)
    with pytest.raises(ValueError):
        wenzi.Engine(models="v5")
    with pytest.raises(ValueError):
        wenzi.Engine(detector="tesseract")
    with pytest.raises(ValueError):
        wenzi.Engine(threads=0)
    with pytest.raises(wenzi.WenziError):
        wenzi.Engine(model_dir=str(tmp_path))  # no model files there
    small = wenzi.Engine(max_pixels=1000)
    with pytest.raises(wenzi.ImageError, match="too large"):
        small.recognize(PAGE.read_bytes())
    with pytest.raises(wenzi.ImageError, match="too large"):
        small.recognize(np.zeros((100, 100, 3), dtype=np.uint8))
    # The engine still works after errors.
    assert engine.recognize(str(PAGE)).texts()[0] == "apt search search-string"


def test_engine_options(page_bytes):
    classic = wenzi.Engine(detector="classic", threads=1, classify_orientation=False)
    assert "classic" in repr(classic)
    assert_close_to_gt(classic.recognize(page_bytes).texts(), "page_008.png", max_edits=2)
    strict = wenzi.Engine(min_confidence=0.999)
    assert len(strict.recognize(page_bytes).lines) < 6
    model_dir = wenzi.Engine(model_dir=str(ROOT / "models"), models="v4")
    assert model_dir.recognize(page_bytes).texts() == wenzi.recognize(page_bytes)


def test_module_surface():
    assert wenzi.__version__
    assert issubclass(wenzi.ImageError, wenzi.WenziError)
    assert issubclass(wenzi.ImageError, ValueError)
    assert issubclass(wenzi.WenziError, Exception)
    assert "recognize" in wenzi.__all__ and "Engine" in wenzi.__all__
