"""Draws versions.png: one fact's versions over the span of the log's record, and an instant.

Run with the bench extra installed: .venv/bin/python docs/img/versions.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

VERSIONS = [
    (0.0, 2.0, "reported:\n“MIA-1”"),
    (2.0, 5.0, "corrected:\n“MAI-1”"),
    (5.0, 8.0, "confirmed\nat Build"),
]


def main() -> None:
    figure, axes = plt.subplots(figsize=(8, 2.2))
    for start, end, label in VERSIONS:
        axes.barh(0, end - start, left=start, height=0.5, color="#dce6f2", edgecolor="#38577a")
        axes.text((start + end) / 2, 0, label, ha="center", va="center", fontsize=9)
    axes.annotate("", xy=(8.6, 0), xytext=(8.0, 0), arrowprops={"arrowstyle": "->", "color": "#38577a"})
    axes.axvline(4.3, color="#b03a2e", linestyle="--")
    axes.text(4.35, 0.42, "as_of = T: recorded_from ≤ T < recorded_until", color="#b03a2e", fontsize=9)
    axes.set_yticks([])
    axes.set_xticks([0, 2, 5, 8], ["fact recorded", "correction recorded", "confirmation recorded", ""])
    axes.set_xlim(-0.2, 8.8)
    axes.set_ylim(-0.5, 0.7)
    axes.set_xlabel("recorded_at (the log's record)")
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    figure.savefig(Path(__file__).with_name("versions.png"), dpi=120)


if __name__ == "__main__":
    main()
