"""``fitq history JOB --plot FILE.png``: a job's History as one chart per metric, with its ``val_`` twin."""
from __future__ import annotations

from pathlib import Path


def metric_groups(history: dict[str, list]) -> dict[str, list[str]]:
    """Keys grouped by metric: ``{"loss": ["loss", "val_loss"], "mae": ["mae"], ...}`` in History's order."""
    groups: dict[str, list[str]] = {}
    for key in history:
        base = key[4:] if key.startswith("val_") and key[4:] in history else key
        groups.setdefault(base, []).append(key)
    return groups


def plot_history(history: dict, path: str | Path, title: str = "") -> Path:
    """Writes ``history`` (``{"epoch": [...], "history": {...}}``) as a PNG; needs matplotlib (``fitq[plot]``)."""
    try:
        import matplotlib  # noqa: PLC0415 - optional: only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install 'fitq[plot]'") from exc
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--plot writes PNG files: {path.name!r} does not end in .png")
    groups = metric_groups(history["history"])
    if not groups:
        raise ValueError("the job has no finished epoch to plot yet")
    epochs = [e + 1 for e in history["epoch"]]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.4), squeeze=False)
    for ax, (base, keys) in zip(axes[0], groups.items()):
        for key in keys:
            values = [float("nan") if v is None else v for v in history["history"][key]]
            ax.plot(epochs[:len(values)], values, marker="o", markersize=3, label=key,
                    linestyle="--" if key.startswith("val_") else "-")
        ax.set_title(base)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
