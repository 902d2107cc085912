"""Plant stub: the smallest plant that closes the loop, for a board run without a plant model
(the plant model is gridpod.plant).

It remembers every output the firmware drives, logs the edges of digital outputs with their
simulated time, and answers inputs with healthy constants: level switch made, interlock loop
closed, no leak, mid-scale ADC counts, no pulses.
"""

HEALTHY_HIGH_INPUTS = ("LEVEL_OK", "INTERLOCK_LOOP")
ADC_MID_SCALE = 32768


class PlantStub:
    def __init__(self):
        self.outputs: dict[str, int] = {}
        self.edges: dict[str, list[tuple[int, int]]] = {}
        self.inputs: dict[str, int] = {}
        self.now_ms = 0

    def register(self, role: str, kind: str) -> int:
        """A firmware channel appeared; return its initial input value."""
        if kind == "in":
            value = 1 if role in HEALTHY_HIGH_INPUTS else 0
        elif kind == "adc":
            value = ADC_MID_SCALE
        else:
            value = 0
        self.inputs.setdefault(role, value)
        return self.inputs[role]

    def apply_outputs(self, now_ms: int, changes: dict[str, int]) -> None:
        for role, value in changes.items():
            if self.outputs.get(role) != value:
                self.edges.setdefault(role, []).append((now_ms, value))
            self.outputs[role] = value

    def advance(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def read_inputs(self) -> dict[str, int]:
        return self.inputs

    def next_event_ms(self):
        """Simulated time of the next input change the plant already knows about (None: none)."""
        return None

    def set_input(self, role: str, value: int) -> None:
        self.inputs[role] = value
