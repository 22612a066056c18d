"""Makes the example datasets in ``examples/data/`` (synthetic, learnable, a few MB in all).

    python examples/make_datasets.py

- ``news.npz``: the seeds' news model data: ``headlines`` (1000, 20) int32 word ids < 1000,
  ``additional`` (1000, 5) float32, ``labels`` (1000, 1) float32 (1 when word 7 is in the headline).
- ``digits.npz``: ``x`` (1000, 784) float32, ``y`` (1000, 10) one-hot: 10 noisy prototypes.
- ``shapes.zip``: an image folder, 5 classes of 32x32 PNGs (one colour per class, random boxes).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "data"


def news(rng: np.random.Generator) -> dict[str, np.ndarray]:
    headlines = rng.integers(0, 1000, size=(1000, 20)).astype("int32")
    labels = (headlines == 7).any(axis=1) | (rng.random(1000) < 0.3)
    headlines[labels & (rng.random(1000) < 0.7), 0] = 7
    additional = rng.normal(size=(1000, 5)).astype("float32")
    additional[:, 0] += labels
    return {"headlines": headlines, "additional": additional, "labels": labels.astype("float32")[:, None]}


def digits(rng: np.random.Generator) -> dict[str, np.ndarray]:
    prototypes = rng.random((10, 784)).astype("float32")
    y = rng.integers(0, 10, size=1000)
    x = np.clip(prototypes[y] + 0.3 * rng.normal(size=(1000, 784)), 0, 1).astype("float32")
    return {"x": x, "y": np.eye(10, dtype="float32")[y]}


def shapes(rng: np.random.Generator, per_class: int = 40) -> bytes:
    colours = [(220, 40, 40), (40, 180, 40), (40, 40, 220), (220, 200, 40), (160, 40, 200)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for cls, colour in enumerate(colours):
            for i in range(per_class):
                img = Image.new("RGB", (32, 32), (255, 255, 255))
                x0, y0 = rng.integers(0, 16, size=2)
                ImageDraw.Draw(img).rectangle([int(x0), int(y0), int(x0) + 14, int(y0) + 14], fill=colour)
                png = io.BytesIO()
                img.save(png, format="PNG")
                archive.writestr(f"shapes/class_{cls}/{i:03d}.png", png.getvalue())
    return buf.getvalue()


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(2)
    np.savez(OUT / "news.npz", **news(rng))
    np.savez(OUT / "digits.npz", **digits(rng))
    (OUT / "shapes.zip").write_bytes(shapes(rng))
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parent.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
