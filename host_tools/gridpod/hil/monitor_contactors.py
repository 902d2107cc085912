"""Invariant monitors of the battery contactors (contactor_precharge, contactor_after_trip,
close_without_flow, fatal_coil_off, failure_to_trip, opening_order, break_current). A mixin of
MonitoredPlant (hil/monitors.py, where every invariant is described): the edge checks run on every
output change, the deadlines at every plant step.
"""

from .monitor_bounds import (
    BREAK_RATING_A,
    BREAK_WAIT_MS,
    BREAKING_COILS,
    COILS,
    FAST_TICK_MS,
    FLOW_PROVE_MS,
    FLOW_PROVEN_LPM,
    I_TOLERANCE,
    LAMP,
    OPEN_MS,
    POLE_GAP_MS,
    PRECHARGE_FAULTS,
    PRECHARGE_RETRY_MS,
    PRECHARGE_TRIES,
    PRESSURE_TOLERANCE_BAR,
    SUPPLY_PRESSURE_MAX_BAR,
    TRIP_DETECT_MS,
    TRIPPING_FAULTS,
    VISIBLE_BEFORE_CLOSE,
)


def _trip_fault_applies(plant, fault) -> bool:
    """The injected fault is in effect for the battery (failure_to_trip)."""
    if fault.name == "contactor_dropout":  # K_PRE is open while closed: its drop-out is nothing
        return fault.params.get("contactor", "K_POS") in ("K_NEG", "K_POS")
    if fault.name == "over_pressure":  # a small offset may stay below the limit: no trip due
        return plant.coolant.supply_pressure_bar > SUPPLY_PRESSURE_MAX_BAR + PRESSURE_TOLERANCE_BAR
    return True


class ContactorInvariants:
    """Uses MonitoredPlant's plant, _on, _violate, _out and the contactor state its __init__ sets."""

    def _check_contactor_outputs(self, now_ms, changes):
        """contactor_after_trip, close_without_flow, contactor_precharge on an output change."""
        p = self.plant
        active = set(getattr(p.faults, "active", ())) & TRIPPING_FAULTS
        if self._out(LAMP):
            active.add("fault_lamp")
        closing = [r for r in COILS if changes.get(r) == 1]
        if self._on("contactor_after_trip"):
            self._check_reclose(now_ms, active, closing, changes)
        if (
            self._on("close_without_flow")
            and closing
            and not any(p.outputs.get(r, 0) for r in COILS if r not in closing)
        ):
            since = self._flow_since
            if since is None or now_ms - since < FLOW_PROVE_MS:
                flowing = 0 if since is None else now_ms - since
                self._violate(
                    "close_without_flow",
                    now_ms,
                    f"{', '.join(closing)} commanded on with coolant flow "
                    f"{p.coolant.flow_lpm:.1f} L/min, at >= {FLOW_PROVEN_LPM:.0f} L/min for "
                    f"{flowing} ms (needs {FLOW_PROVE_MS} ms: flow not proven)",
                )
        if self._on("contactor_precharge") and changes.get("K_POS_COIL") == 1:
            if not p.precharge_complete():
                v_pack, v_link = p.power.v_pack_v, p.power.v_link_v
                self._violate(
                    "contactor_precharge",
                    now_ms,
                    f"K_POS commanded closed with V_pack {v_pack:.1f} V, V_link {v_link:.1f} V "
                    f"(|diff| {abs(v_pack - v_link):.1f} V > {min(0.02 * v_pack, 5.0):.1f} V: "
                    "precharge incomplete)",
                )

    def _check_reclose(self, now_ms, active, closing, changes):
        p = self.plant
        any_on = any(p.outputs.get(r, 0) for r in COILS)
        if closing and self._tripped:
            retry = (
                self._trip_causes <= PRECHARGE_FAULTS
                and self._trips < PRECHARGE_TRIES
                and now_ms - self._last_trip_ms >= PRECHARGE_RETRY_MS
            )
            if retry:
                self._tripped = False  # a documented precharge retry
            else:
                self._violate(
                    "contactor_after_trip",
                    now_ms,
                    f"{', '.join(closing)} commanded on after a trip (faults seen: "
                    f"{', '.join(sorted(self._trip_causes)) or 'cleared'}) "
                    "without an operator reset",
                )
        if closing and active & VISIBLE_BEFORE_CLOSE:
            self._violate(
                "contactor_after_trip",
                now_ms,
                f"{', '.join(closing)} commanded on while "
                f"{', '.join(sorted(active & VISIBLE_BEFORE_CLOSE))} is active",
            )
        opening = any(changes.get(r) == 0 for r in COILS)
        if self._armed and opening and self._opening_ms is None:
            self._opening_ms = now_ms  # the trip's first pole: retries count from here
        if any_on:
            self._armed |= active
        elif self._armed:  # every coil off after a tripping fault was seen: that was a trip
            self._tripped = True
            self._trip_causes = set(self._armed)
            self._armed = set()
            self._trips += 1
            self._last_trip_ms = now_ms if self._opening_ms is None else self._opening_ms
            self._opening_ms = None

    def _check_transitions(self, now_ms, before, changes):
        """Edges of the coils and the lamp: fatal_coil_off, opening_order, break_current."""
        rose = {r for r, v in changes.items() if v and not before.get(r)}
        fell = {r for r, v in changes.items() if not v and before.get(r)}
        released = self._released & set(changes)
        self._released -= set(changes)
        lamp = self._out(LAMP)
        if fell & set(COILS) and not any(self._out(r) for r in COILS):
            self._all_off_ms = now_ms
        if LAMP in rose:
            self._lamp_since = now_ms
            self._lamp_hold = False
            if self._drop_pending is not None and now_ms - self._drop_pending <= FAST_TICK_MS:
                self._drop_pending = None  # the emergency drop's fatal fault: lamp a tick later
            off = self._all_off_ms
            if (
                off is not None
                and now_ms - off <= FAST_TICK_MS
                and self._on("contactor_after_trip")
            ):
                # a contactor fault drops every coil in its tick, the lamp follows a tick later:
                # that was a trip too (a re-close needs an operator reset)
                self._trip_causes = (
                    ({"fault_lamp"} | self._trip_causes) if self._tripped else {"fault_lamp"}
                )
                if not self._tripped:
                    self._trips += 1
                    self._last_trip_ms = off
                self._tripped = True
        elif LAMP in fell:
            self._lamp_since = None
        if lamp and self._on("fatal_coil_off"):
            on = sorted(rose & set(COILS))
            if on:
                self._violate(
                    "fatal_coil_off",
                    now_ms,
                    f"{', '.join(on)} commanded on while FAULT_LAMP shows a fatal fault "
                    f"(lit at {self._lamp_since} ms)",
                )
        if not fell & set(COILS):
            if "K_NEG_COIL" in rose:
                self._neg_on_ms = now_ms
            if rose & set(BREAKING_COILS):
                self._pos_off_ms = None
            return
        pos_before = any(before.get(r, self._out(r)) for r in BREAKING_COILS)
        pos_after = any(self._out(r) for r in BREAKING_COILS)
        reset = bool(released & fell)  # the MCU reset released them: hardware, not an opening
        if self._on("break_current") and not reset:
            self._check_break(now_ms, before, fell)
        if self._on("opening_order") and not reset:
            self._check_order(now_ms, fell, pos_before, pos_after, lamp)
        if pos_before and not pos_after:
            self._pos_off_ms = now_ms
        if "K_NEG_COIL" in rose:
            self._neg_on_ms = now_ms

    def _check_order(self, now_ms, fell, pos_before, pos_after, lamp):
        if self._out("K_PRE_COIL") and fell & {"K_NEG_COIL", "K_POS_COIL"}:
            self._violate(
                "opening_order",
                now_ms,
                f"{', '.join(sorted(fell))} removed while K_PRE stays on "
                "(DOMAIN.md: precharge first)",
            )
            return
        if "K_NEG_COIL" not in fell:
            return
        if pos_after:
            self._violate(
                "opening_order",
                now_ms,
                "K_NEG removed while the positive pole (K_POS / K_PRE) stays on "
                "(DOMAIN.md: opening in reverse, K_NEG last)",
            )
        elif pos_before:  # every coil at once: an emergency drop, needs the fatal fault
            if not lamp:
                self._drop_pending = now_ms
        else:
            off = self._pos_off_ms
            neg_on = self._neg_on_ms
            if off is not None and (neg_on is None or off >= neg_on):
                gap = now_ms - off
                if gap < POLE_GAP_MS:
                    self._violate(
                        "opening_order",
                        now_ms,
                        f"K_NEG removed {gap} ms after the positive pole "
                        f"(DOMAIN.md pole gap: >= {POLE_GAP_MS} ms)",
                    )

    def _check_break(self, now_ms, before, fell):
        """A main removed with both mains on before: the opening breaks the pack current."""
        if not fell & {"K_NEG_COIL", "K_POS_COIL"}:
            return
        if not (before.get("K_NEG_COIL", self._out("K_NEG_COIL"))) or not before.get(
            "K_POS_COIL", self._out("K_POS_COIL")
        ):
            return
        i_a = abs(self.plant.power.i_pack_a)
        if i_a <= BREAK_RATING_A * (1 + I_TOLERANCE):
            return
        limit = BREAK_WAIT_MS - FAST_TICK_MS
        above = 0 if self._near_rating_since is None else now_ms - self._near_rating_since
        why = None
        if above < limit:
            why = f"the current has been above the rating for {above} ms only"
        elif self._lamp_since is not None and now_ms - self._lamp_since < limit:
            why = f"the trip (FAULT_LAMP) was {now_ms - self._lamp_since} ms before"
        if why:
            self._violate(
                "break_current",
                now_ms,
                f"{', '.join(sorted(fell))} removed at {i_a:.0f} A, above the "
                f"{BREAK_RATING_A:.0f} A break rating, before the {BREAK_WAIT_MS} ms wait: {why}",
            )

    def _check_contactor_state(self, now_ms):
        """Deadlines (fatal_coil_off, failure_to_trip, an emergency drop's lamp) and the plant
        history the edge checks need: coolant flow, tripping faults seen while a coil was on,
        the current near the break rating, the battery connected."""
        p = self.plant
        if p.coolant.flow_lpm < FLOW_PROVEN_LPM:
            self._flow_since = None
        elif self._flow_since is None:
            self._flow_since = now_ms
        if any(p.outputs.get(r, 0) for r in COILS):
            self._armed |= set(getattr(p.faults, "active", ())) & TRIPPING_FAULTS
            if self._out(LAMP):
                self._armed.add("fault_lamp")
        i_a = abs(p.power.i_pack_a)
        near = i_a >= BREAK_RATING_A * (1 - I_TOLERANCE)
        if not near:
            self._near_rating_since = None
        elif self._near_rating_since is None:
            self._near_rating_since = now_ms
        on = [r for r in COILS if self._out(r)]
        if not on:
            self._connected_since = None
        elif (
            self._connected_since is None
            and self._out("K_NEG_COIL")
            and self._out("K_POS_COIL")
            and p.power.mains_closed()
        ):
            self._connected_since = now_ms
        if self._drop_pending is not None and now_ms - self._drop_pending > FAST_TICK_MS:
            at, self._drop_pending = self._drop_pending, None
            if self._on("opening_order"):
                self._violate(
                    "opening_order",
                    now_ms,
                    f"every coil removed at once at {at} ms with no fatal fault (FAULT_LAMP off): "
                    f"an ordinary opening goes K_POS, then K_NEG >= {POLE_GAP_MS} ms later",
                )
        if on and self._lamp_since is not None and self._on("fatal_coil_off"):
            self._check_fatal_deadlines(now_ms, on, near)
        if self._on("failure_to_trip"):
            self._check_failure_to_trip(now_ms, on, near)

    def _check_fatal_deadlines(self, now_ms, on, near):
        lit = self._lamp_since
        if near:
            self._lamp_hold = True
        breaking = [r for r in on if r in BREAKING_COILS]
        if breaking:
            allowed = FAST_TICK_MS + (BREAK_WAIT_MS if self._lamp_hold else 0)
            if now_ms - lit > allowed:
                self._violate(
                    "fatal_coil_off",
                    now_ms,
                    f"{', '.join(breaking)} still on {now_ms - lit} ms after FAULT_LAMP lit "
                    f"(a fatal fault; limit {allowed} ms"
                    f"{' with the break-current wait' if self._lamp_hold else ''})",
                )
        elif "K_NEG_COIL" in on:
            ref = lit if self._pos_off_ms is None else max(lit, self._pos_off_ms)
            if now_ms - ref > POLE_GAP_MS + FAST_TICK_MS:
                self._violate(
                    "fatal_coil_off",
                    now_ms,
                    f"K_NEG still on {now_ms - ref} ms after a fatal fault opened the positive "
                    f"pole (limit: the {POLE_GAP_MS} ms pole gap + {FAST_TICK_MS} ms)",
                )

    def _check_failure_to_trip(self, now_ms, on, near):
        starts = self._trip_start
        if not on:
            starts.clear()
            self._trip_above = False
            return
        faults = [
            f
            for f in getattr(self.plant.faults, "faults", ())
            if f.active and f.name in TRIP_DETECT_MS
        ]
        if not faults:
            starts.clear()
            return
        live = set()
        for f in faults:
            if not _trip_fault_applies(self.plant, f):
                continue
            key = id(f)
            live.add(key)
            if key not in starts:
                if self._connected_since is None:
                    continue  # not connected yet: a close into a fault is contactor_after_trip's
                if not starts:
                    self._trip_above = False
                starts[key] = max(f.at_ms, self._connected_since)
            if near:
                self._trip_above = True
            bound = TRIP_DETECT_MS[f.name] + OPEN_MS + (BREAK_WAIT_MS if self._trip_above else 0)
            late = now_ms - starts[key]
            if late > bound:
                self._violate(
                    "failure_to_trip",
                    now_ms,
                    f"{f.name} in effect for {late} ms with {', '.join(on)} still on "
                    f"(the firmware detects it within {TRIP_DETECT_MS[f.name]} ms and opens "
                    f"within {bound} ms)",
                )
        for key in list(starts):
            if key not in live:
                del starts[key]
