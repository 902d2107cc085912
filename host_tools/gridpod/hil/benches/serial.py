"""Serial bench: a real board (or a whole module, L4) running its firmware, on a serial port (USB
or a UART bridge), and its RS-485 port when one is wired (BenchOptions.modbus_port,
`gridpod fat --modbus-port`). No plant and no power control: what needs them is skipped (the FAT
then ends INCOMPLETE); HIL mode (the plant served over the same link) is the hil bench.

Capabilities: console; modbus when its port is given.
"""

from pathlib import Path

from ..bench import Bench, BenchError, BenchOptions
from ..capabilities import Console, ModbusPort

USAGE = "serial:PORT"


class SerialBench(Bench):
    name = "serial"

    def __init__(self, port: str, modbus_port: str | None = None):
        for p in (port, modbus_port):
            if p is not None and not Path(p).exists():
                raise BenchError(f"no serial port {p}: plug the board in or check `gridpod doctor`")
        self.console = Console(port)
        if modbus_port is not None:
            self.modbus = ModbusPort(modbus_port)


def open_bench(address: str | None, options: BenchOptions) -> SerialBench:
    return SerialBench(address, options.modbus_port)
