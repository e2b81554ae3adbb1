"""Draw the registrar's CloudWatch dashboard (docs/dashboard.png) from its widget definitions.

The layout, titles, metrics, statistics and alarms come from the synthesized template's
DashboardBody; the data are made up (a day of a small cluster), so the picture shows what an
operator sees, not a measurement. Run with scripts/render-dashboard.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

import app as registrar_app
from registrar.core.contract import OUTCOME_METRICS

mpl.use("Agg")
REPO = Path(__file__).resolve().parents[1]

GRID_WIDTH = 24
ROW_INCHES = 0.55
COLUMN_INCHES = 0.62
POINTS = 288  # a day of 5-minute periods
# Made-up levels per metric label (an outcome's label is its result: the contract's
# OUTCOME_METRICS): a mostly quiet cluster with a burst of new volumes.
LEVELS = {
    **dict.fromkeys(OUTCOME_METRICS, 1.0),
    "registered": 1.2, "unchanged": 3.0, "invalid": 0.15, "conflict": 0.05, "failed": 0.05,
    "ignored": 6.0, "released": 0.1, "reconciled": 0.6, "p50": 420.0, "p99": 1900.0,
    "invocations": 10.0, "errors": 0.05, "throttles": 0.2, "messages": 0.0,
}  # fmt: skip


def dashboard_body() -> dict[str, Any]:
    """The DashboardBody of the synthesized stack (references shown by name)."""
    outdir = tempfile.mkdtemp(prefix="dashboard-")
    application = cdk.App(
        context={"aws:cdk:bundling-stacks": [], "clusterName": "demo"}, outdir=outdir
    )
    stack = registrar_app.build(application)
    template = application.synth().get_stack_by_name(stack.stack_name).template
    [dashboard] = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else _reference(p) for p in parts)
    return dict(json.loads(text))


def _reference(value: dict[str, Any]) -> str:
    if "Ref" in value:
        return "us-east-1" if value["Ref"] == "AWS::Region" else str(value["Ref"])
    return ".".join(value["Fn::GetAtt"])


def series(label: str, rng: np.random.Generator) -> np.ndarray:
    level = LEVELS.get(label, 1.0)
    hours = np.arange(POINTS) / 12
    daytime = 0.6 + 0.8 * np.exp(-(((hours - 14) / 3.5) ** 2))
    values = rng.poisson(level * daytime) if level < 50 else rng.gamma(8, level * daytime / 8)
    if label == "registered":
        values[150:160] += rng.poisson(6, 10)  # a batch of volumes tagged at once
    if label == "messages":
        values[200:230] = 1  # one event in the DLQ, noticed and redriven
    return np.asarray(values, dtype=float)


def metric_label(metric: list[Any]) -> str:
    options = metric[-1] if isinstance(metric[-1], dict) else {}
    return str(options.get("label") or metric[1])


def draw_graph(ax: Axes, properties: dict[str, Any], rng: np.random.Generator) -> None:
    hours = np.arange(POINTS) / 12
    labels = [metric_label(m) for m in properties.get("metrics", [])]
    data = [series(label, rng) for label in labels]
    if properties.get("stacked"):
        ax.stackplot(hours, *data, labels=labels, alpha=0.85)
    else:
        for label, values in zip(labels, data, strict=True):
            ax.plot(hours, values, label=label, linewidth=1.2)
    ax.set_xlim(0, 24)
    ax.set_ylim(bottom=0)
    ax.set_xticks([0, 6, 12, 18, 24], ["00:00", "06:00", "12:00", "18:00", "24:00"])
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", ncols=min(len(labels), 5), frameon=False)
    ax.grid(alpha=0.3)


def alarm_name(arn: str) -> str:
    """The alarm's construct id from its ARN reference (FailureHandling<Id><hash>.Arn)."""
    logical_id = arn.rsplit(":", maxsplit=1)[-1].split(".", maxsplit=1)[0].strip("<>")
    return re.sub(r"^FailureHandling|[0-9A-F]{8}$", "", logical_id)


def draw_alarms(ax: Axes, properties: dict[str, Any]) -> None:
    names = [alarm_name(arn) for arn in properties.get("alarms", [])]
    ax.set_axis_off()
    for index, name in enumerate(names):
        x = 0.02 + index * (0.96 / max(len(names), 1))
        ax.add_patch(Rectangle((x, 0.15), 0.3, 0.6, color="#2e7d32", transform=ax.transAxes))
        ax.text(x + 0.15, 0.45, f"OK  {name}", ha="center", va="center", color="white",
                fontsize=8, transform=ax.transAxes)  # fmt: skip


def render(body: dict[str, Any], output: Path) -> None:
    widgets = body["widgets"]
    rows = max(w["y"] + w["height"] for w in widgets)
    figure = plt.figure(figsize=(GRID_WIDTH * COLUMN_INCHES, rows * ROW_INCHES + 0.6))
    figure.suptitle("ebs-pv-registrar (made-up data)", fontsize=11, x=0.01, ha="left")
    rng = np.random.default_rng(13)
    top = 1 - 0.6 / (rows * ROW_INCHES + 0.6)
    for widget in widgets:
        left = widget["x"] / GRID_WIDTH
        width = widget["width"] / GRID_WIDTH
        bottom = top * (1 - (widget["y"] + widget["height"]) / rows)
        height = top * widget["height"] / rows
        ax = figure.add_axes((left + 0.035, bottom + 0.05, width - 0.05, height - 0.09))
        properties = widget["properties"]
        ax.set_title(properties.get("title", ""), fontsize=9, loc="left")
        if widget["type"] == "alarm":
            draw_alarms(ax, properties)
        else:
            draw_graph(ax, properties, rng)
    figure.savefig(output, dpi=80)
    plt.close(figure)


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "dashboard.png"
    render(dashboard_body(), output)
    print(output)


if __name__ == "__main__":
    main()
