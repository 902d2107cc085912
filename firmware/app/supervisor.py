"""Supervision without the application (DOMAIN.md safety rules; safety review M8): what keeps the
cooling hardware safe while no cooling control owns it, in maintenance mode and in a safe boot.

Built from the board's roles alone (no config, no fault table, no register map), so it also runs
where the application must not (a safe boot, a half-switched firmware set):
  pumps   every PUMPk_PWM is held at the stop duty. The pump PWM is inverted (drivers/pump.py):
          duty 0 and a floating or broken wire mean full speed, PWM_FULL means stop; so "pumps
          stop" is an active output, never a released pin.
  leaks   zone k with both ZONEk_VALVE and LEAK_ZONEk (plus LEAK_ZONEk_SUP when the board has
          it: a broken cable is not a leak, drivers/leak_rope.py) has its isolation valve closed
          (coil energised = closed) in the fast tick its rope first reads wet, latched until the
          next boot: a leak wants a person, never an automatic re-open.
Stopped pumps need no sensor to be right, so no level or pressure interlock is needed, and the
module's alarm is on meanwhile: the healthy relay (app/outputs.py) is de-energised in every
non-normal mode, maintenance and safe boot included.

Where it runs: a fast-slot task of the App in maintenance mode (app/compose.py: the rejected
config's defaults compose no cooling), and SafeBoot below, the small loop app/startup.py runs
instead of the application. A valid config with cooling_enabled 0 (the factory default) leaves
the pumps to their wiring's fail-safe (full speed) on purpose: that module's cooling is not
this controller's. The fast tick allocates nothing.
"""

from control.ticks import ticks_add
from drivers.leak_rope import LEAK_WET, LeakRope
from drivers.transfer import PWM_FULL
from micropython import const

PUMP_PWM_FREQ_HZ = const(1000)  # as app/subsystems/cooling.py
PWM_STOP = PWM_FULL  # inverted PWM: full duty = stop
SAFE_BOOT_TICK_MS = const(10)


class Supervisor:
    def __init__(self, platform, pins):
        self.pumps = []  # kept: their PWM runs at the stop duty from here on, nothing rewrites it
        k = 1
        while "PUMP%d_PWM" % k in pins:
            self.pumps.append(platform.pwm("PUMP%d_PWM" % k, PUMP_PWM_FREQ_HZ, PWM_STOP))
            k += 1
        self.valves = []
        self.ropes = []
        k = 1
        while "ZONE%d_VALVE" % k in pins and "LEAK_ZONE%d" % k in pins:
            sup = "LEAK_ZONE%d_SUP" % k
            self.valves.append(platform.digital_out("ZONE%d_VALVE" % k, 0))
            rope_in = platform.digital_in("LEAK_ZONE%d" % k)
            self.ropes.append(LeakRope(rope_in, platform.adc(sup) if sup in pins else None))
            k += 1
        self.isolated = 0  # bit k-1: zone k closed on a wet rope (latched until the next boot)

    def tick(self, now_ms):
        for i in range(len(self.ropes)):
            if self.ropes[i].state() == LEAK_WET:
                self.isolated |= 1 << i
            if self.isolated & (1 << i):
                self.valves[i].value(1)  # energised = closed
        return True


class SafeBoot:
    """A safe boot (app/startup.py builds it instead of the App): coils held open and the healthy
    relay at alarm (app/outputs.py SafeOutputs; state.safe_boot is set), the Supervisor above.
    Built: the outputs are safe at once. run(): a tick every SAFE_BOOT_TICK_MS until Ctrl-C (or
    `frames` frames), which leaves to the REPL with the outputs as they were: pumps stopped,
    coils open, relay de-energised, isolated zones closed. No watchdog: the REPL must stay
    reachable."""

    def __init__(self, platform, board):
        from app.outputs import SafeOutputs

        self.platform = platform
        self.outputs = SafeOutputs(platform, board)
        self.supervisor = Supervisor(platform, board["pins"])

    def run(self, frames=-1):
        p = self.platform
        outputs = self.outputs
        supervisor = self.supervisor
        deadline_ms = p.ticks_ms()
        try:
            while frames != 0:
                now_ms = p.ticks_ms()
                outputs.tick(now_ms)
                supervisor.tick(now_ms)
                if frames > 0:
                    frames -= 1
                deadline_ms = ticks_add(deadline_ms, SAFE_BOOT_TICK_MS)
                p.wait_until_ms(deadline_ms)
        except KeyboardInterrupt:
            print("gridpod: safe-boot supervision stopped (Ctrl-C); pumps stopped, coils open")
        finally:
            outputs.leave()
