"""Fault injection by catalogue name (DOMAIN.md "Fault catalogue"), with parameters and a time.

    inj = plant.faults
    h = inj.inject("pump_seized", pump=1)                 # now
    inj.schedule("leak", at_s=120, zone=2, lpm=3.0)       # at a simulated time
    inj.schedule("ntc_open", at_s=60, clear_at_s=90, role="T_SUPPLY2")
    inj.clear(h); inj.clear_all()

Faults combine (each sets its own piece of plant state; clearing restores that piece only).
Domains: "plant" faults change the physics or the sensors; "link" faults change the RS-485 link
(applied by the bench to the bytes it carries, see LinkFaults); "bench" faults need the bench
(power, flash, firmware): the injector calls the hook the bench registered for that name, or
raises FaultNotSupported on a bench without it.
"""

import random

from .errors import PlantError


class FaultError(PlantError):
    pass


class FaultNotSupported(FaultError):
    pass


def _pump(plant, pump=1):
    if pump not in (1, 2):
        raise FaultError(f"pump must be 1 or 2, not {pump!r}")
    return plant.coolant.pumps[pump - 1]


def _zone(plant, zone=1):
    if zone not in (1, 2):
        raise FaultError(f"zone must be 1 or 2, not {zone!r}")
    return zone - 1


def _valve(plant, valve="ZONE1"):
    table = {
        "ZONE1": plant.coolant.zones[0],
        "ZONE2": plant.coolant.zones[1],
        "MIX": plant.coolant.mix,
    }
    if valve not in table:
        raise FaultError(f"valve must be one of {', '.join(table)}, not {valve!r}")
    return table[valve]


def _contactor(plant, contactor="K_POS"):
    table = {c.name: c for c in plant.power.contactors}
    if contactor not in table:
        raise FaultError(f"contactor must be one of {', '.join(table)}, not {contactor!r}")
    return table[contactor]


def _sensor(plant, role, mode, **extra):
    if role not in plant.sensors.analog_roles:
        raise FaultError(f"{role!r} is not an analog sensor role")
    plant.sensors.faults[role] = (mode, extra)


def _sensor_clear(plant, role, **_):
    plant.sensors.faults.pop(role, None)


def _attr(get_obj, attr, value_key=None, default=True, normal=False):
    """apply/clear pair that sets obj.attr to a parameter (or a default) and back to normal."""

    def apply(plant, **p):
        value = p.pop(value_key, default) if value_key else default
        setattr(get_obj(plant, **p), attr, value)

    def clear(plant, **p):
        if value_key:
            p.pop(value_key, None)
        setattr(get_obj(plant, **p), attr, normal)

    return apply, clear


def _plant_obj(name):
    return lambda plant, **_: getattr(plant, name)


_coolant = _plant_obj("coolant")
_power = _plant_obj("power")
_link = _plant_obj("link")


def _pumps_both(plant, **_):
    for p in plant.coolant.pumps:
        p.seized = True


def _pumps_both_clear(plant, **_):
    for p in plant.coolant.pumps:
        p.seized = False


def _leak(plant, zone=1, lpm=2.0):
    plant.coolant.leak_lpm[_zone(plant, zone)] = lpm
    plant.leak_sensed[_zone(plant, zone)] = True


def _leak_clear(plant, zone=1, **_):
    plant.coolant.leak_lpm[_zone(plant, zone)] = 0.0
    plant.leak_sensed[_zone(plant, zone)] = False


def _leak_cable(plant, zone=1):
    plant.leak_cable_ok[_zone(plant, zone)] = False


def _leak_cable_clear(plant, zone=1):
    plant.leak_cable_ok[_zone(plant, zone)] = True


def _both_ls(plant, zone=1):
    plant.both_limit_switches[_zone(plant, zone)] = True


def _both_ls_clear(plant, zone=1):
    plant.both_limit_switches[_zone(plant, zone)] = False


def _reservoir_low(plant, volume_l=15.0):
    plant.coolant.volume_l = volume_l
    plant.coolant.makeup_enabled = False


def _reservoir_low_clear(plant, **_):
    from .coolant import VOLUME_NOMINAL_L

    plant.coolant.volume_l = VOLUME_NOMINAL_L
    plant.coolant.makeup_enabled = True


def _mix_fb(plant, offset_pct=20.0):
    plant.sensors.mix_fb_offset_pct = offset_pct


def _mix_fb_clear(plant, **_):
    plant.sensors.mix_fb_offset_pct = 0.0


def _precharge_too_fast(plant, link_v=None):
    plant.power.external_link_v = link_v if link_v is not None else plant.power.v_pack_v


def _bench_fault(name):
    def apply(plant, **p):
        hook = plant.bench_hooks.get(name)
        if hook is None:
            raise FaultNotSupported(f"fault {name!r} needs a bench hook (power, flash or firmware)")
        hook(True, **p)

    def clear(plant, **p):
        hook = plant.bench_hooks.get(name)
        if hook is not None:
            hook(False, **p)

    return apply, clear


# name: (domain, DOMAIN.md catalogue entry, apply, clear)
CATALOGUE = {
    # sensors
    "ntc_open": ("plant", "NTC open", lambda pl, role: _sensor(pl, role, "open"), _sensor_clear),
    "ntc_short": ("plant", "NTC short", lambda pl, role: _sensor(pl, role, "short"), _sensor_clear),
    "sensor_stuck": ("plant", "stuck value", lambda pl, role: _sensor(pl, role, "stuck"), _sensor_clear),
    "sensor_drift": ("plant", "redundant sensors disagree",
                     lambda pl, role, offset=1.5: _sensor(pl, role, "offset", offset=offset), _sensor_clear),
    "transmitter_out_of_band": ("plant", "4-20 mA out of band",
                                lambda pl, role, i_ma=2.0: _sensor(pl, role, "ma", i_ma=i_ma), _sensor_clear),
    "stale_sample": ("plant", "stale sample", lambda pl, role: _sensor(pl, role, "stuck"), _sensor_clear),
    # pumps
    "pump_seized": ("plant", "pump seized", *_attr(_pump, "seized")),
    "tach_wire_broken": ("plant", "tach wire broken", *_attr(lambda pl, pump=1: pl.sensors.tach(pump), "broken")),
    "pwm_wire_broken": ("plant", "PWM wire broken", *_attr(_pump, "pwm_wire_broken")),
    "air_lock": ("plant", "air lock / cavitation", *_attr(_pump, "head_factor", "head_factor", 0.4, 1.0)),
    "both_pumps_failed": ("plant", "both pumps failed", _pumps_both, _pumps_both_clear),
    "pump_no_flow": ("plant", "rotation fails to prove flow", *_attr(_pump, "head_factor", "head_factor", 0.0, 1.0)),
    "pump_overspeed": ("plant", "overspeed / power above curve", *_attr(_pump, "overspeed", "factor", 1.25, 1.0)),
    # hydraulics
    "low_flow": ("plant", "low flow / DP", *_attr(_coolant, "piping_factor", "factor", 6.0, 1.0)),
    "filter_clogged": ("plant", "filter clogged", *_attr(_coolant, "filter_clog", "factor", 20.0, 1.0)),
    "reservoir_low": ("plant", "reservoir low", _reservoir_low, _reservoir_low_clear),
    "system_pressure_loss": ("plant", "low system pressure with repeated make-ups",
                             *_attr(_coolant, "hidden_leak_lpm", "lpm", 1.0, 0.0)),
    "over_pressure": ("plant", "over-pressure", *_attr(_coolant, "pressure_offset_bar", "bar", 5.0, 0.0)),
    "leak": ("plant", "leak in a zone", _leak, _leak_clear),
    "leak_cable_broken": ("plant", "leak cable broken", _leak_cable, _leak_cable_clear),
    "condensation_risk": ("plant", "condensation risk", *_attr(_coolant, "dew_point_c", "dew_point_c", 28.0, 14.0)),
    "coolant_over_temperature": ("plant", "coolant over-temperature",
                                 *_attr(_coolant, "facility_water_c", "facility_water_c", 45.0, 18.0)),
    # valves
    "valve_stuck": ("plant", "on/off valve stuck", *_attr(_valve, "stuck")),
    "valve_both_limit_switches": ("plant", "both limit switches active", _both_ls, _both_ls_clear),
    "mix_feedback_off": ("plant", "modulating feedback off", _mix_fb, _mix_fb_clear),
    "valve_command_lost": ("plant", "command signal lost", *_attr(_valve, "command_lost")),
    # contactors and bus
    "precharge_resistor_open": ("plant", "precharge timeout", *_attr(_power, "precharge_r_open")),
    "precharge_too_fast": ("plant", "precharge too fast", _precharge_too_fast,
                           _attr(_power, "external_link_v", "link_v", None, None)[1]),
    "precharge_current_not_decaying": ("plant", "precharge current not decaying",
                                       *_attr(_power, "link_load_ohm", "load_ohm", 200.0, None)),
    "contactor_fails_to_close": ("plant", "main fails to close", *_attr(_contactor, "fails_to_close")),
    "contactor_welded": ("plant", "main welded", *_attr(_contactor, "welded")),
    "aux_contact_disagree": ("plant", "aux contacts disagree", *_attr(_contactor, "aux_disagree")),
    "contactor_dropout": ("plant", "unexpected drop-out", *_attr(_contactor, "dropout")),
    "trip_above_break_current": ("plant", "trip above break current",
                                 *_attr(_power, "link_load_ohm", "load_ohm", 0.5, None)),
    "interlock_open": ("plant", "interlock loop open", *_attr(_power, "interlock_closed", None, False, True)),
    "coil_supply_lost": ("plant", "coil supply lost", *_attr(_power, "coil_supply_ok", None, False, True)),
    "insulation_fault": ("plant", "insulation fault", *_attr(_power, "insulation_kohm", "kohm", 50.0, 10_000.0)),
    # battery limits (DOMAIN.md "Battery limits are trips")
    "pack_over_voltage": ("plant", "pack over-voltage", *_attr(_power, "v_pack_offset_v", "volts", 100.0, 0.0)),
    "pack_over_current": ("plant", "pack over-current", *_attr(_power, "link_load_ohm", "load_ohm", 2.0, None)),
    "pack_over_temperature": ("plant", "pack over-temperature", *_attr(_power, "cell_heat_k", "kelvin", 30.0, 0.0)),
    # comms (RS-485 link)
    "master_silent": ("link", "master silent past the lease", *_attr(_link, "master_silent")),
    "modbus_noise": ("link", "noise, bad CRC", *_attr(_link, "bit_error_rate", "bit_error_rate", 1e-3, 0.0)),
    "split_frames": ("link", "split frames", *_attr(_link, "split_gap_ms", "gap_ms", 5.0, 0.0)),
    "malformed_request": ("link", "malformed or illegal requests", *_attr(_link, "malformed")),
    "two_masters": ("link", "two masters writing", *_attr(_link, "second_master")),
    # platform (bench hooks)
    "brown_out": ("bench", "coil supply lost / brown-out", *_bench_fault("brown_out")),
    "watchdog_reset": ("bench", "watchdog reset", *_bench_fault("watchdog_reset")),
    "tick_overrun": ("bench", "tick overrun", *_bench_fault("tick_overrun")),
    "corrupted_config": ("bench", "corrupted config", *_bench_fault("corrupted_config")),
    "power_loss_during_write": ("bench", "power loss during a config or log write",
                                *_bench_fault("power_loss_during_write")),
}  # fmt: skip


class LinkFaults:
    """State of the RS-485 link faults; mangle() applies them to one frame the master sends."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.master_silent = False
        self.bit_error_rate = 0.0
        self.split_gap_ms = 0.0
        self.malformed = False
        self.second_master = False

    def mangle(self, frame: bytes) -> list[tuple[float, bytes]]:
        """Return (delay_ms before, bytes) pieces to send instead of frame ([] = say nothing)."""
        if self.master_silent:
            return []
        data = bytearray(frame)
        if self.malformed and len(data) > 2:
            data[1] = 0x2B  # an unsupported function code, CRC left as computed for the original
        if self.bit_error_rate:
            for i in range(len(data) * 8):
                if self.rng.random() < self.bit_error_rate:
                    data[i // 8] ^= 1 << (i % 8)
        if self.split_gap_ms and len(data) > 2:
            half = len(data) // 2
            return [(0.0, bytes(data[:half])), (self.split_gap_ms, bytes(data[half:]))]
        return [(0.0, bytes(data))]


class Injected:
    def __init__(self, name: str, params: dict, at_ms: int, clear_at_ms: int | None):
        self.name, self.params, self.at_ms, self.clear_at_ms = name, params, at_ms, clear_at_ms
        self.active = False

    def __repr__(self):
        return f"<fault {self.name} {self.params} at {self.at_ms} ms active={self.active}>"


class FaultInjector:
    def __init__(self, plant):
        self.plant = plant
        self.faults: list[Injected] = []
        self.log: list[tuple[int, str, str, dict]] = []  # (sim ms, "inject"/"clear", name, params)

    def inject(self, name: str, **params) -> Injected:
        return self.schedule(name, at_s=None, **params)

    def schedule(self, name: str, at_s: float | None, clear_at_s: float | None = None, **params):
        if name not in CATALOGUE:
            raise FaultError(f"unknown fault {name!r}: see gridpod.plant.faults.CATALOGUE")
        now = self.plant.now_ms
        at_ms = now if at_s is None else int(round(at_s * 1000))
        clear_ms = None if clear_at_s is None else int(round(clear_at_s * 1000))
        f = Injected(name, dict(params), max(at_ms, now), clear_ms)
        self.faults.append(f)
        if f.at_ms <= now:
            self._apply(f)
        return f

    def clear(self, fault: "Injected | str") -> None:
        targets = [f for f in self.faults if f is fault or f.name == fault]
        if not targets:
            raise FaultError(f"no injected fault {fault!r}")
        for f in targets:
            if f.active:
                self._remove(f)
            self.faults.remove(f)

    def clear_all(self) -> None:
        for f in list(self.faults):
            self.clear(f)

    @property
    def active(self) -> list[str]:
        return [f.name for f in self.faults if f.active]

    def next_event_ms(self) -> int | None:
        if not self.faults:  # the plant asks at every step
            return None
        times = [f.at_ms for f in self.faults if not f.active]
        times += [f.clear_at_ms for f in self.faults if f.active and f.clear_at_ms is not None]
        return min(times) if times else None

    def due(self, now_ms: int) -> None:
        if not self.faults:
            return
        for f in list(self.faults):
            if not f.active and f.at_ms <= now_ms:
                self._apply(f)
            if f.active and f.clear_at_ms is not None and f.clear_at_ms <= now_ms:
                self._remove(f)
                self.faults.remove(f)

    def _apply(self, f: Injected) -> None:
        CATALOGUE[f.name][2](self.plant, **f.params)
        f.active = True
        self.plant._inputs = None  # an injection between two steps: inputs read now see it
        self.log.append((self.plant.now_ms, "inject", f.name, f.params))

    def _remove(self, f: Injected) -> None:
        CATALOGUE[f.name][3](self.plant, **f.params)
        f.active = False
        self.plant._inputs = None
        self.log.append((self.plant.now_ms, "clear", f.name, f.params))
