"""The module under test as a FAT engineer drives it: Modbus with the operator PIN, the bench's
power and, on a bench with a plant, the plant's faults and its edge log for exact timings.

    unit = Unit(bench, production_values, pin)
    unit.fresh()                     # healthy, nothing latched, coolant flow proven
    t = unit.close_battery()         # operator close over Modbus, waits for CLOSED
    f = unit.inject("leak", zone=1)  # a catalogue fault; f.at_ms is its exact onset
    off = unit.first("K_POS_COIL", 0, after_ms=f.at_ms)

Commands go over Modbus as a SCADA master sends them (the PIN written to access_pin first).
Waiting is simulated time with a plant (its clock runs freely), wall time otherwise. An operator
action the invariant monitors must know of (a reset, a deliberate close) is told to them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .. import GridpodError
from ..hil.bench import BenchError
from .states import States

RESETS_PER_WINDOW = 3  # app/modbus_points.py: 3 resets per 10 min, then locked until a reboot
RESET_WINDOW_S = 600.0
POLL_S = 0.05
APP_ANSWER_S = 10.0  # a power-cycled application's first service answer, at most (wall)
MODBUS_TIMEOUT_S = 0.5  # wall pause between two polls on a bench without a simulated clock


class UnitError(GridpodError, AssertionError):
    """The unit did not do what a step waited for: a firmware verdict (the test fails)."""


class Unit:
    def __init__(self, bench, values: dict[str, Any], pin: str, log: Callable = print):
        self.bench = bench
        self.values = values
        self.pin = pin
        self.log = log
        self.states = States()
        self._mb = None
        self._resets: list[float] = []  # when this boot's Modbus resets ran (unit time, s)
        self._short_boots = 0  # boots cut before good_boot_ms, in a row (the boot-loop guard's)
        self.push_result: dict | None = None  # `gridpod config push` of the production config
        self.identity: dict | None = None  # read_unit_identity() after the push

    # ----- capabilities --------------------------------------------------------------------
    @property
    def plant(self):
        return self.bench.plant

    @property
    def modbus(self):
        """The open Modbus client (the product's); None on a bench without RS-485."""
        if self._mb is None and self.bench.modbus is not None:
            from ..modbus.client import GridpodModbus

            try:
                # A refused request is answered with 5 bytes, and minimalmodbus waits out its
                # timeout for the full answer: 0.5 s keeps that short (the longest answer, 125
                # registers at 19200 baud, takes 0.13 s).
                self._mb = GridpodModbus(self.bench.modbus.port, timeout_s=MODBUS_TIMEOUT_S)
            except GridpodError as e:
                raise BenchError(f"Modbus port {self.bench.modbus.port}: {e}") from e
        return self._mb

    def close(self) -> None:
        if self._mb is not None:
            self._mb, mb = None, self._mb
            mb.close()

    # ----- time ----------------------------------------------------------------------------
    def now_s(self) -> float:
        """The unit's time: simulated seconds with a plant, wall seconds without."""
        return self.bench.sim_s if self.plant is not None else time.monotonic()

    def now_ms(self) -> int:
        return round(self.now_s() * 1000)

    def wait(self, seconds: float) -> None:
        if self.plant is not None:
            self.bench.run_for(seconds)
        else:
            time.sleep(seconds)

    def wait_until(self, what: str, check: Callable[[], Any], timeout_s: float) -> Any:
        """Poll check() until it returns something true; UnitError after timeout_s (unit time)."""
        deadline = self.now_s() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if self.now_s() > deadline:
                raise UnitError(f"{what}: not within {timeout_s:g} s")
            if self.plant is not None:
                self.bench.run_for(0.05)
            else:
                time.sleep(POLL_S)

    # ----- Modbus --------------------------------------------------------------------------
    def read(self, name: str):
        return self.modbus.read(name)

    def read_many(self, names) -> dict:
        return self.modbus.read_many(list(names))

    def unlock(self) -> None:
        self.modbus.unlock(self.pin)
        if self.modbus.read("access_unlocked") != 1:
            raise UnitError("the operator PIN did not unlock the operator level")

    def write(self, name: str, value) -> None:
        """A write at the operator level: unlocks first when needed (the unlock expires, a
        reboot forgets it) and tries once more after a refusal that a lost unlock explains."""
        from ..modbus.client import DeviceRefusedError

        if self.modbus.read("access_unlocked") != 1:
            self.unlock()
        try:
            self.modbus.write(name, value)
        except DeviceRefusedError:
            if self.modbus.read("access_unlocked") == 1:
                raise
            self.unlock()
            self.modbus.write(name, value)

    def pulse(self, coil: str) -> None:
        """A command coil as a master asks for it: 0 then 1 (the unit acts on the rising edge
        only, so a master rewriting its coil image is not a new request)."""
        self.write(coil, 0)
        self.write(coil, 1)

    def latched(self) -> int:
        """Latched fault bits (both words); 0 when nothing is latched."""
        v = self.read_many(["faults_latched", "faults_latched_hi"])
        return (v["faults_latched"] or 0) | (v["faults_latched_hi"] or 0) << 30

    def active(self) -> int:
        v = self.read_many(["faults_active", "faults_active_hi"])
        return (v["faults_active"] or 0) | (v["faults_active_hi"] or 0) << 30

    def fault_active(self, fault_id: int) -> bool:
        return bool(self.active() >> fault_id & 1)

    # ----- operator actions --------------------------------------------------------------------
    def boot_age_s(self) -> float:
        """How long the running boot has lived (the bench's power-on time, else uptime_s)."""
        harness = self.bench.harness
        if harness is not None and self.plant is not None and harness.boot is not None:
            return (self.bench.sim_s * 1000 - harness.boot.boot_sim_ms) / 1000
        from ..modbus.client import ModbusError

        try:
            return float(self.read("uptime_s") or 0)
        except ModbusError:  # the application is stopped (a console session): count it short
            return 0.0

    def power_cycle(self) -> None:
        """Cut and restore the supply, wait for the boot banner (the bench's power).

        The boot-loop guard counts boots shorter than good_boot_ms in a row and enters safe mode
        at bad_boot_limit: a FAT must not look like a boot loop, so after a few short boots the
        unit is left to run until its boot counts as good before the power is cut again."""
        if self.bench.strategy is None:
            raise BenchError(f"bench '{self.bench.name}' cannot power-cycle the unit")
        good_s = self.values["good_boot_ms"] / 1000
        age = self.boot_age_s()
        if age >= good_s:
            self._short_boots = 0
        elif self._short_boots >= self.values["bad_boot_limit"] // 2:
            self.wait(good_s - age + 1.5)  # the housekeeping slot clears the count
            self._short_boots = 0
        else:
            self._short_boots += 1
        self.bench.strategy.reset()
        self._resets.clear()
        if self.plant is not None:
            self.plant.operator_reset()  # a new firmware instance: its trips are forgotten

    def restart_app(self) -> None:
        """Give the application back after a step stopped it on the console (the raw REPL): the
        bench's power cycle when it has one (a clean boot), else a soft reset over the console.
        Nothing happens while it answers on its service channel (a read there stops nothing)."""
        from ..device.session import Device

        with Device(self.bench.console.port, log=self.log) as dev:
            if dev.probe() is not None:
                return
            if self.bench.strategy is None:
                dev.restart_app()
                return
        self.power_cycle()
        self.wait_app_answers()

    def wait_app_answers(self, timeout_s: float = APP_ANSWER_S) -> None:
        """After a power cycle: wait until the application answers on its service channel (the
        banner comes first; on a loaded host its first answer can take longer than one probe).
        The step that follows judges whether it answers; this only does not judge too early."""
        from ..device.session import Device

        deadline = time.monotonic() + timeout_s
        with Device(self.bench.console.port, log=lambda _line: None, read_only=True) as dev:
            while dev.probe() is None and time.monotonic() < deadline:
                time.sleep(POLL_S)

    def fault_reset(self) -> None:
        """The operator's fault reset over Modbus. Three per 10 min are allowed (a fourth locks
        resets until a reboot, a local action): past that budget the unit is power-cycled."""
        now = self.now_s()
        if self._reset_budget_used():
            self.log("fault reset budget used up: power-cycling the unit instead")
            self.power_cycle()
            return
        self.pulse("fault_reset")
        self._resets.append(now)
        if self.plant is not None:
            self.plant.operator_reset()

    def ready(self, timeout_s: float = 30.0) -> dict:
        """Wait until the module is healthy: cooling OK, the battery permit given (coolant flow
        proven, loop closed, no fault) and nothing latched."""
        s = self.states
        last: dict = {}

        def check():
            v = self.read_many(
                ["cooling_state", "interlock_status", "run_mode", "flow_lpm", "fault_actions"]
            )
            v["latched"] = self.latched()
            last.update(v)
            status = v["interlock_status"]
            ok = v["cooling_state"] == s.COOLING_OK and status & s.PERMIT and not status & s.ALARM
            ok = ok and not v["fault_actions"] & s.ACTION_ALARM  # the healthy relay energised
            return v if ok and v["run_mode"] == 0 and not v["latched"] else None

        try:
            return self.wait_until(
                "module ready (cooling ok, battery permit, no alarm)", check, timeout_s
            )
        except UnitError as e:
            raise UnitError(f"{e}: {self.describe()}") from None

    def fresh(self) -> None:
        """A healthy module: battery open, cooling OK, nothing latched, normal run mode. A trip
        left by an earlier step is cleared the operator's way (its cause removed, then a reset
        over Modbus, at most 3 in 10 min); what a reset does not clear is power-cycled."""
        if self.plant is not None:
            self.bench.plant_call(self._tidy_plant)
        if self._healthy():
            self.ready()
            return
        v = self.read_many(["contactor_state", "run_mode"])
        if v["contactor_state"] == self.states.OPEN and v["run_mode"] == 0 and not self.latched():
            try:  # nothing to reset (cooling still starting after a boot): a reset would be wasted
                self.ready()
                return
            except UnitError:
                pass
        if v["contactor_state"] in (self.states.OPEN, self.states.FAULT) and v["run_mode"] == 0:
            self.wait(0.3)  # causes gone (a leak rope dry, a loop closed) before the reset
            if not self._reset_budget_used():
                self.fault_reset()
                try:
                    self.ready(timeout_s=10.0)
                    return
                except UnitError:
                    pass
        self._cycle_or_reset(v)
        self.ready()

    def _healthy(self) -> bool:
        s = self.states
        v = self.read_many(
            ["contactor_state", "run_mode", "cooling_state", "interlock_status", "fault_actions"]
        )
        return (
            v["contactor_state"] == s.OPEN
            and v["run_mode"] == 0
            and v["cooling_state"] == s.COOLING_OK
            and not v["interlock_status"] & s.ALARM
            and not v["fault_actions"] & s.ACTION_ALARM
            and not self.latched()
        )

    def _cycle_or_reset(self, v) -> None:
        if self.bench.strategy is not None:
            self.power_cycle()
            return
        if v["contactor_state"] != self.states.OPEN:
            self.open_battery()
        self.fault_reset()

    def _reset_budget_used(self) -> bool:
        now = self.now_s()
        return len([t for t in self._resets if now - t < RESET_WINDOW_S]) >= RESETS_PER_WINDOW

    def close_battery(self, timeout_s: float = 15.0) -> int:
        """The operator's close request over Modbus; returns the unit time (ms) it was sent.
        Waits until the contactor state is CLOSED."""
        if self.plant is not None:
            self.plant.operator_reset()  # a deliberate close by the operator
        t_ms = self.now_ms()
        self.pulse("contactor_close_request")
        try:
            self.wait_until(
                "contactors CLOSED after the close request",
                lambda: self.read("contactor_state") == self.states.CLOSED,
                timeout_s,
            )
        except UnitError as e:
            raise UnitError(f"{e}: {self.describe()}") from None
        return t_ms

    def describe(self) -> str:
        """The unit's state words, for a failure message."""
        from ..modbus.faults import active_names
        from ..modbus.states import word

        names = ["contactor_state", "interlock_status", "status_flags", "run_mode", "fault_actions"]
        v = self.read_many(
            names + ["faults_active", "faults_active_hi", "faults_latched", "faults_latched_hi"]
        )
        states = {n: word(n, v[n]) for n in names}
        active = active_names(v["faults_active"] or 0, v["faults_active_hi"] or 0)
        latched = active_names(v["faults_latched"] or 0, v["faults_latched_hi"] or 0)
        return f"{states}, faults active {active}, latched {latched}"

    def open_battery(self, timeout_s: float = 5.0) -> int:
        t_ms = self.now_ms()
        self.pulse("contactor_open_request")
        self.wait_until(
            "contactors OPEN after the open request",
            lambda: self.read("contactor_state") == self.states.OPEN,
            timeout_s,
        )
        return t_ms

    def events(self) -> tuple[list[dict], int]:
        """(the unit's event log, this boot's number): its own record of when a fault was raised,
        read out by the running application on its service channel (the raw REPL, then a
        restart, only when none answers)."""
        from ..device.eventlog import read_events
        from ..device.session import Device

        boot = self.read("boot_count")
        with Device(self.bench.console.port, log=self.log, read_only=True) as dev:
            live = dev.probe() is not None
            data = dev.read_file("/events.bin") or b""
        if not live:
            self.restart_app()
        return read_events(data), boot

    # ----- plant (benches with one) --------------------------------------------------------
    def _tidy_plant(self) -> None:
        """Every injected fault cleared and every forced input released (in the plant's thread)."""
        plant = self.plant.plant
        plant.faults.clear_all()
        plant.input_events.clear()
        for role in list(plant.overrides):
            plant.clear_input(role)

    def inject(self, name: str, clear_after_s: float | None = None, **params):
        """A catalogue fault from now on; the plant's Injected (at_ms: its exact onset)."""
        if hasattr(self.bench, "inject"):
            return self.bench.inject(name, clear_after_s, **params)
        return self.plant.faults.inject(name, **params)

    def clear(self, fault) -> None:
        if hasattr(self.bench, "clear"):
            self.bench.clear(fault)
        else:
            self.plant.faults.clear(fault)

    def force_input(self, role: str, value: int | None) -> int:
        """Force an input of the board (None: back to the plant's); returns the simulated ms
        from which the board sees it."""
        if hasattr(self.bench, "force_input"):
            return self.bench.force_input(role, value)
        plant = self.plant.plant
        return plant.schedule_input(role, value, plant.now_ms)

    def edges(self, role: str, after_ms: int = 0) -> list[tuple[int, int]]:
        return [(t, v) for t, v in list(self.plant.edges.get(role, [])) if t >= after_ms]

    def first(self, role: str, value: int, after_ms: int = 0) -> int | None:
        """Simulated ms of the first edge of role to value at or after after_ms."""
        for t, v in self.edges(role, after_ms):
            if v == value:
                return t
        return None

    def level_at(self, role: str, t_ms: int) -> int:
        level = 0
        for t, v in list(self.plant.edges.get(role, [])):
            if t > t_ms:
                break
            level = v
        return level
