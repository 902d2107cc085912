"""The harness: the protocol between a board's HAL and the host that serves its pins and clock.
One floor for both the virtual board (L1, socket to the VM) and HIL mode (L2, serial link)."""
