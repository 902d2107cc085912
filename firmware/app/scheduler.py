"""Fixed-rate scan scheduler (PLC style): fast slot, control slot, housekeeping slot.

Periods in ms come from the config (defaults 10 / 100 / 1000). One frame runs every fast period:
fast tasks always (first in the frame), control tasks once every control_ms / fast_ms frames,
housekeeping tasks every housekeeping_ms / fast_ms frames at half a control period of phase. The
loop idles only in platform.wait_until_ms (the virtual board's lockstep exchange); it never polls
the clock.

Control phases: a control task is added with a phase, its frame inside the control period
(add(task, SLOT_CONTROL, phase); 0 by default). The control slot's work is spread over the frames
of its period so that no frame carries all of it (on a chip the whole slot took about 20 ms of a
10 ms frame: docs/chip-time.md); every control task still runs once per control period, and
tasks run in phase order, then in the order they were added, so data flows within a period as
in one frame. The housekeeping frame is skipped: phase k is the k-th frame of the period that is
not the housekeeping frame, and a control period too short for a phase runs it in its last
frame (control_ms = 2 x fast_ms: all phases in frame 0). The control slot's work for a period is
the sum over its phases, recorded once per period (at its last phase) against the control
period.

A task is any object with tick(now_ms); it checks in by returning True. The watchdog is fed only
when every registered task has checked in since the last feed, so one stuck or failing task starves
it. Each slot's work is measured with ticks_us (last, max, mean from an integer running sum that is
halved every 1024 samples so it never grows into a long int). Overrun policy (DOMAIN.md): a slot
above 80 % of its period counts a warning; above 100 % an overrun; 3 consecutive overruns or one
above 200 % raises the overrun fault. A run measured above 80 % is bounded by the platform's
CPU time where it has one (the virtual board: a host may preempt the VM; see _cpu_bound).
gc.collect() runs only in the housekeeping frame (measured), after the heap-free low-water
sample; telemetry goes to platform.report() once per housekeeping.
The fast frame allocates nothing in steady state; neither does a control phase's bookkeeping.
"""

import gc

from control.ticks import TICKS_MAX, ticks_add
from micropython import const

SLOT_FAST = const(0)
SLOT_CONTROL = const(1)
SLOT_HOUSEKEEPING = const(2)

# Control phases, in data-flow order (where app/compose.py, app/module.py and app/app.py place
# their control tasks; measured placement: docs/chip-time.md)
PHASE_REQUESTS = const(0)  # Modbus requests, leases, status; heartbeat; a fatal fault's log
PHASE_COOLING_READ = const(1)  # cooling's sensors, limit switches, tachs
PHASE_COOLING = const(2)  # cooling's commands, step (the battery's flow proof), registers
PHASE_POWER = const(3)  # the battery's, then the grid's commands, steps and registers
PHASE_PUBLISH = const(4)  # a fault reset's record, then the console service

_MAX_TASKS = const(30)
_MEAN_WINDOW = const(1024)
_OVERRUNS_TO_FAULT = const(3)


def control_frame(phase, control_div):
    """The frame of a control period of control_div frames that runs control phase `phase`: the
    phase-th frame that is not the housekeeping frame (control_div // 2), the period's last such
    frame when it has too few (only with control_ms = fast_ms does the control slot share the
    housekeeping frame). vboard/chip_time.py classes the frames with it."""
    if phase < 0:
        raise ValueError("phase < 0")
    hk = control_div // 2
    frame = phase + 1 if phase >= hk else phase
    if frame >= control_div:
        frame = control_div - 1
        if frame == hk and frame > 0:
            frame -= 1
    return frame


class SlotStats:
    """Timing of one slot, in µs of measured work per run."""

    def __init__(self, period_ms):
        self.period_ms = period_ms
        self.period_us = period_ms * 1000
        self.warn_us = period_ms * 800
        self.tasks = []
        self.bits = []
        self.phases = []  # the control slot's: each task's frame in the period (others: 0)
        self.runs = 0
        self.last_us = 0
        self.max_us = 0
        self._sum_us = 0
        self._n = 0
        self.warnings = 0
        self.overruns = 0
        self.consecutive = 0

    def mean_us(self):
        return self._sum_us // self._n if self._n else 0

    def record(self, work_us):
        """Account one run; returns True when the overrun policy trips."""
        self.runs = (self.runs + 1) & TICKS_MAX
        self.last_us = work_us
        if work_us > self.max_us:
            self.max_us = work_us
        self._sum_us += work_us
        self._n += 1
        if self._n >= _MEAN_WINDOW:
            self._sum_us >>= 1
            self._n >>= 1
        if work_us > self.period_us:
            self.overruns += 1
            self.consecutive += 1
            return self.consecutive >= _OVERRUNS_TO_FAULT or work_us > 2 * self.period_us
        self.consecutive = 0
        if work_us > self.warn_us:
            self.warnings += 1
        return False


class Scheduler:
    def __init__(
        self,
        platform,
        fast_ms=10,
        control_ms=100,
        housekeeping_ms=1000,
        faults=None,
        overrun_fault_id=-1,
        task_error_fault_id=-1,
        gc_collect=None,
        mem_free=None,
    ):
        if control_ms % fast_ms or housekeeping_ms % control_ms:
            raise ValueError("tick periods must be multiples: fast | control | housekeeping")
        self._p = platform
        self.fast_ms = fast_ms
        self._control_div = control_ms // fast_ms
        self._hk_div = housekeeping_ms // fast_ms
        self._hk_phase = self._control_div // 2
        # per frame of the control period: 1 where a control phase runs (frame 0 always: the
        # slot records a period even with no task, as it did in one frame)
        self._ctl_frames = bytearray(self._control_div)
        self._ctl_frames[0] = 1
        self._ctl_last = 0  # the period's last control frame: where its work is recorded
        self._ctl_work_us = 0  # the period's control work so far (sum over its phases)
        self._ctl_cpu_ref = 0  # CPU time at the period's start (bounds the sum, _cpu_bound)
        self.slots = (SlotStats(fast_ms), SlotStats(control_ms), SlotStats(housekeeping_ms))
        self._faults = faults
        self._overrun_fault = overrun_fault_id
        self._task_error_fault = task_error_fault_id
        self._gc_collect = gc_collect if gc_collect is not None else gc.collect
        if mem_free is None:
            mem_free = getattr(gc, "mem_free", None)  # CPython has none: heap stats stay -1
        self._mem_free = mem_free
        self._watchdog = None
        self._all_bits = 0
        self._checked_in = 0
        self._n_tasks = 0
        self._frame = 0
        self._tripped = False
        self._failed_this_frame = False
        self._overrun_reported = True  # a cause reported at the last frame (True: report once)
        self._task_error_reported = True
        self.ticks = 0
        self.overruns = 0
        self.task_errors = 0
        self.max_frame_us = 0
        self.max_late_ms = 0
        self.missed_frames = 0
        self.feeds = 0
        self.gc_runs = 0
        self.gc_last_us = 0
        self.gc_max_us = 0
        self.heap_free_low = -1
        self.stop_requested = False
        self._cpu_ref = 0  # CPU-time reference for _cpu_bound (0: bounds nothing until set)

    def add(self, task, slot, phase=0):
        """Register a task (object with tick(now_ms) -> True to check in) in a slot; a control
        task at its phase (control_frame: the frame of the control period it runs in)."""
        if self._n_tasks >= _MAX_TASKS:
            raise ValueError("too many tasks")
        if phase and slot != SLOT_CONTROL:
            raise ValueError("only control tasks have a phase")
        frame = control_frame(phase, self._control_div) if slot == SLOT_CONTROL else 0
        bit = 1 << self._n_tasks
        self._n_tasks += 1
        self._all_bits |= bit
        st = self.slots[slot]
        st.tasks.append(task)
        st.bits.append(bit)
        st.phases.append(frame)
        if slot == SLOT_CONTROL:
            self._ctl_frames[frame] = 1
            if frame > self._ctl_last:
                self._ctl_last = frame
        return bit

    def heap_free(self):
        """gc.mem_free() now, or -1 where the runtime has none (CPython)."""
        return self._mem_free() if self._mem_free is not None else -1

    def use_watchdog(self, watchdog):
        """Watchdog object with feed(); fed only when all tasks checked in since the last feed."""
        self._watchdog = watchdog

    def _run_slot(self, slot, now_ms):
        p = self._p
        t0 = p.ticks_us()
        tasks = slot.tasks
        for i in range(len(tasks)):
            try:
                if tasks[i].tick(now_ms):
                    self._checked_in |= slot.bits[i]
            except Exception as e:  # noqa: BLE001 - a task bug must not stop the loop
                self._task_failed(tasks[i], e, now_ms)
        self._record(slot, p.ticks_diff(p.ticks_us(), t0), self._cpu_ref)

    def _record(self, slot, wall_us, cpu_ref):
        """Record a slot's work (bounded by CPU time since cpu_ref when it looked slow); a
        tripped overrun policy says why on the console, the first three times."""
        work_us = wall_us
        if work_us > slot.warn_us:
            work_us = self._cpu_bound(work_us, cpu_ref)
        if slot.record(work_us):
            self._tripped = True
            if self.overruns < 3:  # why it tripped, on the console (rare path: may allocate)
                print(
                    "scheduler: overrun: %d ms slot took %d us (wall %d us), %d in a row"
                    % (slot.period_ms, work_us, wall_us, slot.consecutive)
                )

    def _run_control(self, frame, now_ms):
        """The control tasks of this frame of the period (a loop of its own: the fast slot's
        loop tests no phase). The period's work is summed and recorded at its last phase."""
        p = self._p
        slot = self.slots[SLOT_CONTROL]
        t0 = p.ticks_us()
        tasks = slot.tasks
        phases = slot.phases
        for i in range(len(tasks)):
            if phases[i] == frame:
                try:
                    if tasks[i].tick(now_ms):
                        self._checked_in |= slot.bits[i]
                except Exception as e:  # noqa: BLE001 - a task bug must not stop the loop
                    self._task_failed(tasks[i], e, now_ms)
        work_us = p.ticks_diff(p.ticks_us(), t0)
        if frame == 0:
            self._ctl_work_us = work_us
        else:
            self._ctl_work_us += work_us
        if frame == self._ctl_last:
            self._record(slot, self._ctl_work_us, self._ctl_cpu_ref)

    def _cpu_bound(self, wall_us, ref):
        """A slot that looked slow: where a host may preempt the scan loop (the virtual board),
        the CPU time used since the reference `ref` bounds its work. The bound is conservative
        (it includes every frame since the reference: _cpu_ref, refreshed at every control
        period's start and after housekeeping's collect; for the control slot's sum over its
        phases, _ctl_cpu_ref, the period's start), so a real overrun still counts; a VM
        descheduled by a loaded host does not. Refreshed only once per housekeeping, a slow
        VM's (250 us a frame) bound late in a second passed 20 ms: the 24 h soak's one
        TICK_OVERRUN trip."""
        c = self._p.cpu_us()
        if c is None:
            return wall_us
        used = c - ref
        self._cpu_ref = c
        return used if used < wall_us else wall_us

    def _task_failed(self, task, exc, now_ms):
        # Not checked in: the watchdog starves unless the task recovers. Rare path, may allocate.
        self._failed_this_frame = True
        self.task_errors += 1
        if self.task_errors <= 3:
            print("scheduler: task", task, "raised", repr(exc))
        if self._faults is not None and self._task_error_fault >= 0:
            self._task_error_reported = True
            self._faults.update(self._task_error_fault, True, now_ms)

    def frame(self, now_ms):
        """Run one fast frame (and the control/housekeeping slot when due) at now_ms."""
        p = self._p
        t0 = p.ticks_us()
        self._tripped = False
        self._failed_this_frame = False
        phase = self._frame % self._control_div
        if phase == 0:
            c = p.cpu_us()  # None on a board: nothing preempts its scan loop
            if c is not None:
                self._cpu_ref = c
                self._ctl_cpu_ref = c
        self._run_slot(self.slots[SLOT_FAST], now_ms)
        if self._ctl_frames[phase]:
            self._run_control(phase, now_ms)
        if self._frame == self._hk_phase:
            self._run_slot(self.slots[SLOT_HOUSEKEEPING], now_ms)
            self._housekeeping_extras()
        frame_us = p.ticks_diff(p.ticks_us(), t0)
        if frame_us > self.max_frame_us:
            self.max_frame_us = frame_us
        if self._tripped:
            self.overruns += 1
        # Quiet frames (no cause now nor at the last report) change nothing in the fault table:
        # only the reports with a cause and the first without one are made (chip time).
        if self._faults is not None and self._overrun_fault >= 0:
            if self._tripped or self._overrun_reported:
                self._overrun_reported = self._tripped
                self._faults.update(self._overrun_fault, self._tripped, now_ms)
        if self._faults is not None and self._task_error_fault >= 0 and not self._failed_this_frame:
            # a frame without a raising task: the cause is gone (the latch waits for a reset)
            if self._task_error_reported:
                self._task_error_reported = False
                self._faults.update(self._task_error_fault, False, now_ms)
        if self._checked_in == self._all_bits:
            self._checked_in = 0
            if self._watchdog is not None:
                self._watchdog.feed()
                self.feeds += 1
        self._frame += 1
        if self._frame >= self._hk_div:
            self._frame = 0
        self.ticks = (self.ticks + 1) & TICKS_MAX

    def _housekeeping_extras(self):
        p = self._p
        if self._mem_free is not None:
            free = self._mem_free()
            if self.heap_free_low < 0 or free < self.heap_free_low:
                self.heap_free_low = free
        t0 = p.ticks_us()
        self._gc_collect()
        gc_us = p.ticks_diff(p.ticks_us(), t0)
        self.gc_runs += 1
        self.gc_last_us = gc_us
        if gc_us > self.gc_max_us:
            self.gc_max_us = gc_us
        p.report(self.ticks, self.max_frame_us, self.overruns, self.heap_free_low)
        c = p.cpu_us()
        if c is not None:
            self._cpu_ref = c

    def stop(self):
        self.stop_requested = True

    def run(self, frames=-1):
        """Run frames until stop() (or `frames` frames when >= 0). Idles only in wait_until_ms."""
        p = self._p
        self.stop_requested = False
        deadline_ms = p.ticks_ms()
        while frames != 0 and not self.stop_requested:
            now_ms = p.ticks_ms()
            late_ms = p.ticks_diff(now_ms, deadline_ms)
            if late_ms > self.max_late_ms:
                self.max_late_ms = late_ms
            self.frame(now_ms)
            if frames > 0:
                frames -= 1
            deadline_ms = ticks_add(deadline_ms, self.fast_ms)
            behind_ms = p.ticks_diff(p.ticks_ms(), deadline_ms)
            if behind_ms >= self.fast_ms:
                # Whole frames lost (e.g. a long flash write): resync instead of bursting to catch up.
                self.missed_frames += behind_ms // self.fast_ms
                deadline_ms = p.ticks_ms()
            p.wait_until_ms(deadline_ms)
