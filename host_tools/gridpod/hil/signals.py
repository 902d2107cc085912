"""Signal assertions on traces: tolerance bands over time windows.

    assert_within(trace, "t_supply_c", 30.0, tol=1.0, fraction=0.95, last_s=600)
    assert_below(trace, "t_supply_c", 45.0)
Windows are in simulated seconds; `last_s` counts back from the trace's last sample. Samples are
weighted by the time they hold (zero-order hold), so bursts of edge samples do not skew them.
"""

from .. import GridpodError


class SignalAssertionError(GridpodError, AssertionError):
    pass


def _window(trace, name, last_s=None, from_s=None, to_s=None):
    t = trace.t_s
    y = trace.column(name)
    if not t:
        raise SignalAssertionError(f"{name}: the trace is empty")
    end = t[-1] if to_s is None else to_s
    start = from_s if from_s is not None else (end - last_s if last_s is not None else t[0])
    pts = [(ti, yi) for ti, yi in zip(t, y, strict=True) if start <= ti <= end]
    if len(pts) < 2:
        raise SignalAssertionError(
            f"{name}: fewer than 2 samples in [{start:.1f}, {end:.1f}] s (trace {t[0]:.1f}..{t[-1]:.1f} s)"
        )
    return pts


def fraction_within(trace, name, low, high, **window) -> float:
    pts = _window(trace, name, **window)
    total = inside = 0.0
    for (t0, y0), (t1, _) in zip(pts, pts[1:], strict=False):
        dt = t1 - t0
        total += dt
        if low <= y0 <= high:
            inside += dt
    return inside / total if total else 0.0


def assert_within(trace, name, target, tol, fraction=1.0, **window) -> float:
    got = fraction_within(trace, name, target - tol, target + tol, **window)
    if got < fraction:
        pts = _window(trace, name, **window)
        worst = max(pts, key=lambda p: abs(p[1] - target))
        raise SignalAssertionError(
            f"{name} within {target} +- {tol} for {got:.1%} of the window, wanted >= {fraction:.0%} "
            f"(worst {worst[1]:.3g} at t = {worst[0]:.1f} s)"
        )
    return got


def assert_below(trace, name, limit, **window) -> float:
    pts = _window(trace, name, **window)
    worst = max(pts, key=lambda p: p[1])
    if worst[1] >= limit:
        raise SignalAssertionError(
            f"{name} reached {worst[1]:.3g} at t = {worst[0]:.1f} s (limit {limit})"
        )
    return worst[1]


def assert_above(trace, name, limit, **window) -> float:
    pts = _window(trace, name, **window)
    worst = min(pts, key=lambda p: p[1])
    if worst[1] <= limit:
        raise SignalAssertionError(
            f"{name} fell to {worst[1]:.3g} at t = {worst[0]:.1f} s (limit {limit})"
        )
    return worst[1]
