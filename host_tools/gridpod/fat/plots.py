"""PNG plots of FAT traces for the certificate (matplotlib, Agg backend), as data: URIs.

Key signals, one panel each: IT load and grid import (kW), coolant supply/return (degC), flow
(L/min), pack/link voltage (V) when the contactors moved.
"""

import base64
import io
from pathlib import Path

PANELS = (
    (("it_kw", "grid_import_kw"), "kW"),
    (("t_supply_c", "t_return_c"), "degC"),
    (("flow_lpm",), "L/min"),
    (("v_pack_v", "v_link_v"), "V"),
)
LINE_COLOUR = "#1f77b4"  # first line of every panel (the render test looks for it)


def plot_trace_png(csv_path: Path, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..hil.traces import Trace

    trace = Trace.load_csv(csv_path)
    t_min = [t / 60 for t in trace.t_s]
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 7), sharex=True)
    for ax, (names, unit) in zip(axes, PANELS, strict=True):
        for i, name in enumerate(names):
            if name in trace.columns:
                ax.plot(
                    t_min, trace.column(name), label=name, color=LINE_COLOUR if i == 0 else None
                )
        ax.set_ylabel(unit)
        ax.legend(loc="upper right", fontsize=7)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("simulated time (min)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
