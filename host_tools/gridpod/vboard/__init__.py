"""The virtual board (L1): a MicroPython board on two serial ports with a simulated clock and
power. supervisor.VirtualBoard is the board; console.py, harness_socket.py, ports.py and vm.py are
its parts; runtime/vm_main.py runs inside the VM; flash.py is its littlefs flash image."""
