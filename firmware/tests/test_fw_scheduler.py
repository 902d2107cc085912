"""Scan scheduler on the fake clock: periods, measured durations, overrun policy, GC slot,
watchdog feeding only when every task checked in, telemetry."""

from app.platform_faults import FAULT_TASK_ERROR, FAULT_TICK_OVERRUN, FAULTS
from app.scheduler import (
    PHASE_PUBLISH,
    SLOT_CONTROL,
    SLOT_FAST,
    SLOT_HOUSEKEEPING,
    Scheduler,
    control_frame,
)
from control.faults import FaultTable
from hal.fake import WatchdogExpired
from support import WorkTask, fake_platform


def _sched(p, **kw):
    return Scheduler(p, 10, 100, 1000, **kw)


def test_slot_periods():
    p = fake_platform()
    s = _sched(p)
    fast, ctl, hk = WorkTask(p), WorkTask(p), WorkTask(p)
    s.add(fast, SLOT_FAST)
    s.add(ctl, SLOT_CONTROL)
    s.add(hk, SLOT_HOUSEKEEPING)
    s.run(frames=300)
    assert len(fast.calls) == 300
    assert fast.calls[1] - fast.calls[0] == 10 and fast.calls[-1] == 2990
    assert len(ctl.calls) == 30
    for i in range(1, len(ctl.calls)):
        assert ctl.calls[i] - ctl.calls[i - 1] == 100
    assert len(hk.calls) == 3
    assert hk.calls[1] - hk.calls[0] == 1000
    assert hk.calls[0] % 100 != 0  # phased between control frames
    assert p.waits == 300


def test_measured_durations():
    p = fake_platform()
    s = _sched(p)
    t = WorkTask(p, 3000)
    s.add(t, SLOT_FAST)
    s.run(frames=5)
    t.work_us = 1000
    s.run(frames=5)
    st = s.slots[SLOT_FAST]
    assert st.last_us == 1000
    assert st.max_us == 3000
    assert st.mean_us() == 2000
    assert st.warnings == 0 and st.overruns == 0
    # The loop still keeps its 10 ms grid: work is inside the period.
    assert t.calls[-1] == 90


def test_warn_above_80_percent_without_overrun():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    t = WorkTask(p, 8500)
    s.add(t, SLOT_FAST)
    s.run(frames=10)
    st = s.slots[SLOT_FAST]
    assert st.warnings == 10 and st.overruns == 0
    assert not ft.is_active(FAULT_TICK_OVERRUN)


def test_three_consecutive_overruns_fault():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    t = WorkTask(p, 12000)
    s.add(t, SLOT_FAST)
    s.run(frames=2)
    assert s.slots[SLOT_FAST].overruns == 2
    assert not ft.is_active(FAULT_TICK_OVERRUN)
    s.run(frames=1)
    assert ft.is_active(FAULT_TICK_OVERRUN)


class _Preempted:
    """A task whose wall time is long but whose CPU time is short (a host took the CPU away), or,
    with cpu_us == work, a real overrun. The platform gets a CPU clock like the virtual board's."""

    def __init__(self, p, wall_us, cpu_us):
        self.p, self.wall_us, self.cpu_us = p, wall_us, cpu_us
        self.cpu = 0
        p.cpu_us = lambda: self.cpu

    def tick(self, now_ms):
        self.p.add_work_us(self.wall_us)
        self.cpu += self.cpu_us
        return True


def test_preempted_ticks_are_bounded_by_cpu_time_real_overruns_still_fault():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    s.add(_Preempted(p, 25000, 200), SLOT_FAST)  # 25 ms on the wall clock, 0.2 ms of CPU
    s.run(frames=5)
    st = s.slots[SLOT_FAST]
    assert st.overruns == 0 and not ft.is_active(FAULT_TICK_OVERRUN)
    assert st.max_us <= 25000  # the first one is bounded by everything since boot: still <= wall
    assert st.last_us == 200
    p2 = fake_platform()
    ft2 = FaultTable(FAULTS)
    s2 = _sched(p2, faults=ft2, overrun_fault_id=FAULT_TICK_OVERRUN)
    s2.add(_Preempted(p2, 25000, 25000), SLOT_FAST)  # the CPU really worked 25 ms
    s2.run(frames=1)
    assert ft2.is_active(FAULT_TICK_OVERRUN)


class _SlowVmPreemptedOnce(_Preempted):
    """A VM on a loaded host: every fast tick costs 250 us of CPU (25 ms per simulated second),
    and once, late in a housekeeping cycle, the host takes the CPU away for 25 ms of wall."""

    def __init__(self, p, preempt_at_call):
        super().__init__(p, 200, 250)
        self.calls = 0
        self.preempt_at_call = preempt_at_call

    def tick(self, now_ms):
        self.calls += 1
        self.wall_us = 25000 if self.calls == self.preempt_at_call else 200
        return super().tick(now_ms)


def test_a_preempted_tick_late_in_a_second_is_not_charged_the_seconds_cpu_time():
    """The 24 h soak's one overrun: the CPU bound of a preempted tick counted every frame since
    the last housekeeping (98 x 250 us > 20 ms, a TICK_OVERRUN trip). The reference now moves
    at every control frame, so the bound covers at most one control period of frames."""
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    s.add(_SlowVmPreemptedOnce(p, preempt_at_call=203), SLOT_FAST)  # 97 frames after a housekeeping
    s.run(frames=300)
    st = s.slots[SLOT_FAST]
    assert st.max_us < 10000 and st.overruns == 0 and s.overruns == 0, st.max_us
    assert not ft.is_active(FAULT_TICK_OVERRUN)


def test_non_consecutive_overruns_do_not_fault():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    t = WorkTask(p)
    s.add(t, SLOT_FAST)
    for _ in range(5):
        t.work_us = 12000
        s.run(frames=2)
        t.work_us = 1000
        s.run(frames=1)
    assert s.slots[SLOT_FAST].overruns == 10
    assert not ft.is_active(FAULT_TICK_OVERRUN)


def test_one_overrun_above_2x_faults_and_latches():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    t = WorkTask(p, 20001)
    s.add(t, SLOT_FAST)
    s.run(frames=1)
    assert ft.is_active(FAULT_TICK_OVERRUN)
    t.work_us = 100
    s.run(frames=10)
    assert ft.is_active(FAULT_TICK_OVERRUN)  # latched
    ft.reset_latched(p.ticks_ms())
    assert not ft.is_active(FAULT_TICK_OVERRUN)


def test_exactly_2x_is_overrun_but_not_fault():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    t = WorkTask(p, 20000)
    s.add(t, SLOT_FAST)
    s.run(frames=1)
    assert s.slots[SLOT_FAST].overruns == 1
    assert not ft.is_active(FAULT_TICK_OVERRUN)


def test_control_slot_overrun_measured_against_its_own_period():
    p = fake_platform()
    s = _sched(p)
    c = WorkTask(p, 90000)
    s.add(c, SLOT_CONTROL)
    s.run(frames=20)
    st = s.slots[SLOT_CONTROL]
    assert st.warnings == st.runs and st.overruns == 0
    assert s.missed_frames > 0  # 90 ms of work stalls the 10 ms grid: frames are dropped, counted


class _Order:
    """A control task that records (now_ms, name) into a shared list."""

    def __init__(self, seen, name, p=None, work_us=0):
        self.seen, self.name, self.p, self.work_us = seen, name, p, work_us

    def tick(self, now_ms):
        self.seen.append((now_ms, self.name))
        if self.work_us:
            self.p.add_work_us(self.work_us)
        return True


def test_each_control_task_runs_once_per_period_at_its_phase_in_data_flow_order():
    """Control phases (docs/chip-time.md): the control slot spread over the frames of its
    period; every task every 100 ms, at its frame, the phases in order within a period, the
    housekeeping frame (5) skipped: phase 5 runs in frame 6."""
    p = fake_platform()
    s = _sched(p)
    seen = []
    hk = WorkTask(p)
    s.add(hk, SLOT_HOUSEKEEPING)
    for name, phase in (("publish", 3), ("requests", 0), ("cooling", 1), ("late", 5)):
        s.add(_Order(seen, name), SLOT_CONTROL, phase)
    s.add(_Order(seen, "power"), SLOT_CONTROL, 2)
    s.add(_Order(seen, "flush"), SLOT_CONTROL)  # no phase: 0, after "requests" (added later)
    s.run(frames=300)
    frame_of = {"requests": 0, "flush": 0, "cooling": 1, "power": 2, "publish": 3, "late": 6}
    for name, frame in frame_of.items():
        calls = [t for t, n in seen if n == name]
        assert len(calls) == 30, (name, len(calls))
        assert calls[0] == 10 * frame, (name, calls[0])
        for i in range(1, len(calls)):
            assert calls[i] - calls[i - 1] == 100, (name, calls[i - 1], calls[i])
    order = [n for _, n in seen[:6]]
    assert order == ["requests", "flush", "cooling", "power", "publish", "late"], order
    assert all(t % 100 == 50 for t in hk.calls) and len(hk.calls) == 3
    assert not [t for t, _ in seen if t in hk.calls]  # never in the housekeeping frame
    assert s.slots[SLOT_CONTROL].runs == 30  # recorded once per period


def test_control_phases_never_share_the_housekeeping_frame():
    """For every control period the config allows: a phase's frame lies inside the period, in
    phase order, never in the housekeeping frame (half a period), except a one-frame period
    (control_ms = fast_ms) where there is no other frame; the scheduler runs them there."""
    for div in (1, 2, 3, 4, 5, 10, 20, 100):
        hk = div // 2
        last = 0
        for phase in range(12):
            frame = control_frame(phase, div)
            assert 0 <= frame < div, (div, phase, frame)
            assert frame != hk or div == 1, (div, phase, frame)
            assert frame >= last, (div, phase, frame)  # data-flow order kept
            last = frame
        assert control_frame(0, div) == 0
    for fast_ms, control_ms in ((10, 100), (50, 100), (25, 100), (10, 30), (10, 20)):
        p = fake_platform()
        s = Scheduler(p, fast_ms, control_ms, 10 * control_ms)
        seen = []
        hk = WorkTask(p)
        s.add(hk, SLOT_HOUSEKEEPING)
        for phase in range(PHASE_PUBLISH + 2):
            s.add(_Order(seen, phase), SLOT_CONTROL, phase)
        s.run(frames=30 * control_ms // fast_ms)
        for phase in range(PHASE_PUBLISH + 2):
            calls = [t for t, n in seen if n == phase]
            assert len(calls) == 30, (control_ms, fast_ms, phase, len(calls))
            assert calls[1] - calls[0] == control_ms
        assert not [t for t, _ in seen if t in hk.calls], (fast_ms, control_ms)


def test_control_slot_work_is_the_sum_over_its_phases():
    """Four phases of 30 ms each: no frame's control work is above the 100 ms period, the
    period's is (120 ms): an overrun a period, recorded once, and after three in a row the
    overrun fault, as one 120 ms control frame would raise it."""
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, overrun_fault_id=FAULT_TICK_OVERRUN)
    seen = []
    for phase in range(4):
        s.add(_Order(seen, phase, p, 30000), SLOT_CONTROL, phase)
    s.run(frames=4)  # period 1
    st = s.slots[SLOT_CONTROL]
    assert st.runs == 1 and st.last_us == 120000 and st.overruns == 1
    assert not ft.is_active(FAULT_TICK_OVERRUN)
    s.run(frames=20)  # periods 2 and 3 (frames 10-13, 20-23; the 30 ms frames are late, resync)
    assert st.runs == 3 and st.overruns == 3 and st.max_us == 120000
    assert ft.is_active(FAULT_TICK_OVERRUN)
    assert s.max_frame_us < 40000  # each frame carries one phase


def test_control_phases_under_80_percent_of_the_period_are_no_warning():
    """Twenty ms a phase (80 ms a period): no warning; 21 ms a phase (84 ms): a warning a
    period, the same thresholds as one frame's control slot."""
    for work_us, warnings in ((20000, 0), (21000, 3)):
        p = fake_platform()
        s = _sched(p)
        for phase in range(4):
            s.add(WorkTask(p, work_us), SLOT_CONTROL, phase)
        s.run(frames=30)
        st = s.slots[SLOT_CONTROL]
        assert st.runs == 3 and st.warnings == warnings and st.overruns == 0, (work_us, st.warnings)


def test_gc_runs_only_in_housekeeping_frames():
    p = fake_platform()
    gc_frames = []
    s = _sched(p, gc_collect=lambda: gc_frames.append(p.ticks_ms()))
    hk = WorkTask(p)
    s.add(WorkTask(p), SLOT_FAST)
    s.add(WorkTask(p), SLOT_CONTROL)
    s.add(hk, SLOT_HOUSEKEEPING)
    s.run(frames=500)
    assert gc_frames == hk.calls
    assert len(gc_frames) == 5 and s.gc_runs == 5


def test_gc_is_measured():
    p = fake_platform()
    s = _sched(p, gc_collect=lambda: p.add_work_us(700))
    s.add(WorkTask(p), SLOT_FAST)
    s.run(frames=100)
    assert s.gc_last_us == 700 and s.gc_max_us == 700


def test_watchdog_fed_when_all_tasks_checked_in():
    p = fake_platform()
    s = _sched(p)
    s.use_watchdog(p.watchdog(2000))
    s.add(WorkTask(p, record=False), SLOT_FAST)
    s.add(WorkTask(p, record=False), SLOT_CONTROL)
    s.add(WorkTask(p, record=False), SLOT_HOUSEKEEPING)
    s.run(frames=1000)  # 10 s
    # One feed per housekeeping period: the slowest task gates it.
    assert p.wdt.feeds == 10
    assert not p.wdt.expired()


def test_task_that_stops_checking_in_starves_the_watchdog():
    p = fake_platform()
    s = _sched(p)
    s.use_watchdog(p.watchdog(1500))
    ctl = WorkTask(p)
    s.add(WorkTask(p), SLOT_FAST)
    s.add(ctl, SLOT_CONTROL)
    s.run(frames=300)
    feeds = p.wdt.feeds
    assert feeds == 30
    ctl.alive = False
    expired = False
    try:
        s.run(frames=300)
    except WatchdogExpired:
        expired = True
    assert expired
    assert p.wdt.feeds == feeds  # no feed once the control task stopped checking in
    assert p.reset_cause() == 3  # RESET_WATCHDOG


def test_raising_task_does_not_stop_loop_but_starves_watchdog():
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, task_error_fault_id=FAULT_TASK_ERROR)
    s.use_watchdog(p.watchdog(2000))
    p.watchdog_bites = False

    class Broken:
        def tick(self, now_ms):
            raise ValueError("bug")

    ok = WorkTask(p)
    s.add(ok, SLOT_FAST)
    s.add(Broken(), SLOT_FAST)
    s.run(frames=300)
    assert len(ok.calls) == 300
    assert s.task_errors == 300
    assert p.wdt.feeds == 0 and p.wdt.expired()
    assert ft.is_active(FAULT_TASK_ERROR)


def test_telemetry_reported_once_per_housekeeping():
    p = fake_platform()
    s = _sched(p, mem_free=lambda: 5000 - p.reports)
    s.add(WorkTask(p, 1234), SLOT_FAST)
    s.run(frames=300)
    assert p.reports == 3
    ticks, max_us, overruns, heap_free = p.last_report
    assert max_us == 1234 and overruns == 0
    assert heap_free == 4998  # low-water mark of the sampled free heap
    assert 0 < ticks < 300


def test_clock_wrap_keeps_period():
    p = fake_platform()
    p.set_time_ms(0x3FFFFFFF - 25)
    s = _sched(p)
    t = WorkTask(p)
    s.add(t, SLOT_FAST)
    s.run(frames=6)
    for i in range(1, 6):
        assert p.ticks_diff(t.calls[i], t.calls[i - 1]) == 10
    assert t.calls[-1] < 100  # wrapped


def test_stop_ends_run():
    p = fake_platform()
    s = _sched(p)

    class Stopper:
        n = 0

        def tick(self, now_ms):
            self.n += 1
            if self.n == 7:
                s.stop()
            return True

    st = Stopper()
    s.add(st, SLOT_FAST)
    s.run()
    assert st.n == 7


def test_periods_must_be_multiples():
    try:
        Scheduler(fake_platform(), 10, 95, 1000)
    except ValueError:
        return
    raise AssertionError("accepted 95 ms control period with a 10 ms fast tick")


def test_task_error_reports_its_cause_gone_so_a_reset_can_clear_it():
    """Safety review m2: TASK_ERROR was only ever reported present, so no reset could clear it."""
    p = fake_platform()
    ft = FaultTable(FAULTS)
    s = _sched(p, faults=ft, task_error_fault_id=FAULT_TASK_ERROR)

    class Once:
        def __init__(self):
            self.n = 0

        def tick(self, now_ms):
            self.n += 1
            if self.n == 3:
                raise ValueError("a one-off bug")
            return True

    s.add(Once(), SLOT_FAST)
    s.run(frames=2)
    assert not ft.is_active(FAULT_TASK_ERROR)
    s.run(frames=1)
    assert ft.is_active(FAULT_TASK_ERROR)  # fatal, latched
    s.run(frames=10)  # the task runs clean again: cause gone, still latched
    assert ft.is_active(FAULT_TASK_ERROR)
    assert ft.reset_latched(p.ticks_ms()) == 1 and not ft.is_active(FAULT_TASK_ERROR)
