"""Run firmware test modules on the MicroPython unix port (no pytest there).

usage: micropython -X heapsize=110000 mpy_runner.py [-v] test_fw_faults [test_fw_config ...]
(-v prints each passing test with the free heap after it)
MICROPYPATH must hold .frozen, firmware/ and firmware/tests/. Every test_* function of each module
runs; each failure prints one line plus its traceback; the last line is exactly
"N passed, M failed"; the exit status is 1 when anything failed.
"""

import gc
import sys

VERBOSE = False


def run_module(name, counts):
    try:
        mod = __import__(name)
    except Exception as e:
        counts[1] += 1
        print("FAIL", name, "(import)")
        sys.print_exception(e)
        return
    names = [n for n in dir(mod) if n.startswith("test_")]
    names.sort()
    for n in names:
        fn = getattr(mod, n)
        if not callable(fn):
            continue
        gc.collect()
        try:
            fn()
            counts[0] += 1
            if VERBOSE:
                gc.collect()
                print("ok", n, "free", gc.mem_free())
        except Exception as e:
            counts[1] += 1
            print("FAIL", name + "." + n + ":", repr(e))
            sys.print_exception(e)
        except BaseException as e:  # noqa: BLE001 - e.g. a fake reset escaping a test
            counts[1] += 1
            print("FAIL", name + "." + n + ": uncaught", repr(e))
            sys.print_exception(e)


def main(argv):
    global VERBOSE
    counts = [0, 0]
    if argv and argv[0] == "-v":
        VERBOSE = True
        argv = argv[1:]
    for name in argv:
        if name.endswith(".py"):
            name = name[:-3]
        run_module(name.split("/")[-1], counts)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    sys.exit(1 if counts[1] or not counts[0] else 0)


main(sys.argv[1:])
