"""Invariant monitors of the process side: cooling, grid, PCS and the alarm (pump_dry_run,
leak_isolation, zone_over_isolation, grid_limit, pcs_enable, pump_over_pressure, healthy_relay). A mixin of MonitoredPlant (hil/monitors.py, where
every invariant is described); it runs at every plant step.
"""

from ..plant import transfer as tf
from ..plant.sensors import BATTERY_ABOVE_SUPPLY_K
from .monitor_bounds import (
    ALARM_AT_ONCE,
    BATTERY_TEMP_RANGE_C,
    BATTERY_TEMP_TOLERANCE_K,
    DRY_RUN_GRACE_MS,
    GRID_GRACE_MS,
    GRID_TOLERANCE_KW,
    HEALTHY_GRACE_MS,
    HEALTHY_RELAY,
    LAMP,
    LEAK_CLOSE_MS,
    OVER_PRESSURE_MS,
    PCS_DISCHARGE_KW,
    PCS_GRACE_MS,
    PRESSURE_TOLERANCE_BAR,
    PUMP_TURNING_FRAC,
    SOC_FLOOR,
    SOC_TOLERANCE,
    SUPPLY_PRESSURE_MAX_BAR,
)


class ProcessInvariants:
    """Uses MonitoredPlant's plant, _on, _violate, _out and the *_since state its __init__ sets."""

    def _check_process(self, now_ms):
        p = self.plant
        level_ok, leak1, leak2 = p.watched_inputs()
        leaks = (None, leak1, leak2)  # by zone
        level_open = not level_ok
        if not level_open:
            self._level_open_since = None
        elif self._level_open_since is None:
            self._level_open_since = now_ms
        if self._on("pump_dry_run") and level_open:
            turning = [
                k
                for k in (1, 2)
                if tf.pwm_demand_frac(p.outputs.get(f"PUMP{k}_PWM")) > PUMP_TURNING_FRAC
                and p.coolant.pumps[k - 1].speed_frac > PUMP_TURNING_FRAC
            ]
            if turning and now_ms - self._level_open_since > DRY_RUN_GRACE_MS:
                self._violate(
                    "pump_dry_run",
                    now_ms,
                    f"pump {turning} commanded to run "
                    f"{now_ms - self._level_open_since} ms after the "
                    "level switch opened (dry run)",
                )
        if self._on("leak_isolation"):
            for k in (1, 2):
                if leaks[k]:
                    since = self._leak_since.setdefault(k, now_ms)
                    if now_ms - since > LEAK_CLOSE_MS and not p.outputs.get(f"ZONE{k}_VALVE", 0):
                        self._violate(
                            "leak_isolation",
                            now_ms,
                            f"zone {k} valve still open {now_ms - since} ms after its leak input "
                            f"(limit {LEAK_CLOSE_MS} ms)",
                        )
                else:
                    self._leak_since.pop(k, None)
        if self._on("zone_over_isolation"):
            self._check_over_isolation(now_ms, leaks)
        if self._on("healthy_relay"):
            self._check_healthy_relay(now_ms, leaks)
        if self._on("grid_limit"):
            over = p.grid_import_kw > p.grid_limit_kw + GRID_TOLERANCE_KW
            if over and p.power.battery_can_discharge():
                if self._grid_over_since is None:
                    self._grid_over_since = now_ms
                elif now_ms - self._grid_over_since > GRID_GRACE_MS:
                    self._violate(
                        "grid_limit",
                        now_ms,
                        f"grid import {p.grid_import_kw:.1f} kW above the {p.grid_limit_kw:.1f} kW "
                        f"limit for {now_ms - self._grid_over_since} ms while the battery could "
                        f"discharge (PCS at {p.power.pcs_kw:.1f} kW)",
                    )
            else:
                self._grid_over_since = None
        if self._on("pcs_enable"):
            self._check_pcs(now_ms)
        if self._on("pump_over_pressure"):
            self._check_over_pressure(now_ms)

    def _check_over_isolation(self, now_ms, leaks):
        for k in (1, 2):
            if leaks[k]:
                self._zone_wet.add(k)  # latched in the firmware until an operator reset
            if not self._out(f"ZONE{k}_VALVE") or k in self._zone_wet:
                self._isolated_since.pop(k, None)
                continue
            since = self._isolated_since.setdefault(k, now_ms)
            if now_ms - since > LEAK_CLOSE_MS:
                self._violate(
                    "zone_over_isolation",
                    now_ms,
                    f"zone {k} valve commanded closed for {now_ms - since} ms with no leak on "
                    "its rope since the last reset: a healthy zone lost its cooling",
                )

    def _check_pcs(self, now_ms):
        p = self.plant
        why = None
        if self._out("PCS_ENABLE"):
            power = p.power
            discharge = tf.pcs_duty_kw(p.outputs.get("PCS_PWM")) > PCS_DISCHARGE_KW
            t_batt = p.coolant.t_supply_c + BATTERY_ABOVE_SUPPLY_K
            lo, hi = BATTERY_TEMP_RANGE_C
            if not power.mains_closed():
                why = "the battery's main contacts are open"
            elif discharge and power.soc < SOC_FLOOR - SOC_TOLERANCE:
                why = f"discharging with the SOC at {power.soc:.1%} (floor {SOC_FLOOR:.0%})"
            elif discharge and not (
                lo - BATTERY_TEMP_TOLERANCE_K <= t_batt <= hi + BATTERY_TEMP_TOLERANCE_K
            ):
                why = f"discharging with the battery at {t_batt:.1f} degC (range {lo}-{hi})"
        if why is None:
            self._pcs_bad_since = None
            return
        if self._pcs_bad_since is None:
            self._pcs_bad_since = now_ms
        elif now_ms - self._pcs_bad_since > PCS_GRACE_MS:
            self._violate(
                "pcs_enable",
                now_ms,
                f"PCS_ENABLE on for {now_ms - self._pcs_bad_since} ms while {why} "
                f"(grace {PCS_GRACE_MS} ms)",
            )

    def _check_over_pressure(self, now_ms):
        p = self.plant
        bar = p.coolant.supply_pressure_bar
        turning = []
        if bar > SUPPLY_PRESSURE_MAX_BAR + PRESSURE_TOLERANCE_BAR:
            for k in (1, 2):
                duty = p.outputs.get(f"PUMP{k}_PWM")  # None: never driven by the firmware
                if duty is not None and tf.pwm_demand_frac(duty) > PUMP_TURNING_FRAC:
                    turning.append(k)
        if not turning:
            self._over_p_since = None
            return
        if self._over_p_since is None:
            self._over_p_since = now_ms
        elif now_ms - self._over_p_since > OVER_PRESSURE_MS:
            self._violate(
                "pump_over_pressure",
                now_ms,
                f"pump {turning} commanded to run for {now_ms - self._over_p_since} ms with the "
                f"supply at {bar:.2f} bar (> {SUPPLY_PRESSURE_MAX_BAR:.1f} bar; "
                f"limit {OVER_PRESSURE_MS} ms)",
            )

    def _check_healthy_relay(self, now_ms, leaks):
        p = self.plant
        causes = self._alarm_causes
        active = set(getattr(p.faults, "active", ()))
        if any(p.outputs.get(r, 0) for r in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")):
            for name in (active & ALARM_AT_ONCE) - self._faults_before:
                causes[name] = now_ms  # began while a coil was on: the firmware trips on it
        self._faults_before = active
        for k in (1, 2):
            if leaks[k]:
                causes.setdefault(f"leak zone {k}", now_ms)
            else:
                causes.pop(f"leak zone {k}", None)
        if self._out(LAMP):
            causes.setdefault("a fatal fault (FAULT_LAMP)", now_ms)
        else:
            causes.pop("a fatal fault (FAULT_LAMP)", None)
        for name in [
            n for n in causes if n[0].isalpha() and n in ALARM_AT_ONCE and n not in active
        ]:
            del causes[name]
        if p.outputs.get(HEALTHY_RELAY) != 1 or not causes:
            return
        name = min(causes, key=causes.get)
        if now_ms - causes[name] > HEALTHY_GRACE_MS:
            self._violate(
                "healthy_relay",
                now_ms,
                f"healthy relay energised (healthy) {now_ms - causes[name]} ms after {name} "
                f"began (limit {HEALTHY_GRACE_MS} ms): the alarm is silent",
            )
