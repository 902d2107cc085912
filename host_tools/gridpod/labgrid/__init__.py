"""Gridpod benches on labgrid: many benches on many hosts, reserved through labgrid's coordinator.

  env.yaml               labgrid environment of a Gridpod place (the client's side, --lg-env)
  exporter-vboard.yaml   exporter file of a virtual module (NetworkSerialPort through ser2net)
  exporter-bench.yaml    exporter file of a real bench (USBSerialPort, a PDU, the plant host)
  ser2net-vboard.yaml    ser2net for a virtual module's two ptys
  drivers.py             labgrid driver (GridpodPortDriver) and strategy (GridpodStrategy)
  bench.py               the `labgrid` bench the bench tests see (hil/plugin.py opens it)
  places.py              `gridpod fat --labgrid PLACE ...`: acquire, FAT, release
  vbench.py              exporter host of a virtual module (vboard, ser2net, power, exporter)
  power.py, forward.py   its virtual power switch, and ser2net's job in Python where it is missing
  bridge.py              a local pty for a remote serial port (what the tools open)

labgrid itself (`pip install labgrid`) is imported only by drivers.py and where a labgrid bench
is used, so gridpod without labgrid works as before.
"""
