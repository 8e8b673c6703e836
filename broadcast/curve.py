"""The reach curve: groups reached and acknowledgements over time, as PNG or SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from matplotlib import font_manager
from matplotlib import pyplot as plt

_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
)


def _cjk_font() -> str | None:
    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in available), None)


def _labels(chinese: bool) -> dict[str, str]:
    if chinese:
        return {
            "x": "发送开始后的秒数",
            "y": "群数",
            "sent": "已送达",
            "acks": "已确认",
            "deadline": "时限",
            "bound": "理论下限",
        }
    # Without a CJK font the Chinese labels would render as boxes: fall back to English.
    return {
        "x": "seconds since start",
        "y": "groups",
        "sent": "reached",
        "acks": "acknowledged",
        "deadline": "deadline",
        "bound": "lower bound",
    }


def write_curve(
    path: Path,
    *,
    code: str,
    targeted: int,
    sent_s: list[float],
    ack_s: list[float],
    deadline_s: float | None = None,
    lower_bound_s: float | None = None,
) -> Path:
    """Cumulative sends and acknowledgements over time; the format follows the suffix."""
    if path.suffix.lower() not in {".png", ".svg"}:
        raise ValueError("the reach curve is written as .png or .svg")
    font = _cjk_font()
    labels = _labels(font is not None)
    with plt.rc_context({"font.family": [font] if font else ["DejaVu Sans"], "svg.hashsalt": code}):
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        try:
            if sent_s:
                ax.step(
                    sent_s,
                    range(1, len(sent_s) + 1),
                    where="post",
                    label=labels["sent"],
                    color="#c0392b",
                )
            if ack_s:
                ax.step(
                    ack_s,
                    range(1, len(ack_s) + 1),
                    where="post",
                    label=labels["acks"],
                    color="#2471a3",
                )
            ax.axhline(targeted, color="#999999", linewidth=0.8)
            if deadline_s is not None:
                ax.axvline(
                    deadline_s,
                    color="#555555",
                    linestyle="--",
                    linewidth=0.8,
                    label=labels["deadline"],
                )
            if lower_bound_s is not None:
                ax.axvline(
                    lower_bound_s,
                    color="#27ae60",
                    linestyle=":",
                    linewidth=0.8,
                    label=labels["bound"],
                )
            ax.set_xlabel(labels["x"])
            ax.set_ylabel(labels["y"])
            ax.set_title(code)
            ax.set_ylim(0, max(targeted, 1) * 1.05)
            ax.set_xlim(left=0)
            ax.legend(loc="lower right")
            ax.grid(alpha=0.3)
            fig.tight_layout()
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path)
        finally:
            plt.close(fig)
    return path
