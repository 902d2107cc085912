"""Serial bench: a real board running its firmware, on a serial port (USB or a UART bridge).
Console checks only; HIL mode (the plant served over the same link) is the hil bench.

Capabilities: console.
"""

from pathlib import Path

from ..bench import Bench, BenchError, BenchOptions
from ..capabilities import Console

USAGE = "serial:PORT"


class SerialBench(Bench):
    name = "serial"

    def __init__(self, port: str):
        if not Path(port).exists():
            raise BenchError(f"no serial port {port}: plug the board in or check `gridpod doctor`")
        self.console = Console(port)


def open_bench(address: str | None, options: BenchOptions) -> SerialBench:
    return SerialBench(address)
