"""`gridpod config validate|push|pull|diff [--port P ...] FILE`: the module configuration."""

from pathlib import Path

from ..device import config
from ._many import add_port_arguments, run_on_ports


def add_arguments(p) -> None:
    p.add_argument("action", choices=["validate", "push", "pull", "diff"])
    p.add_argument("file", help="config JSON (values object, or the device's document)")
    add_port_arguments(p)
    p.add_argument("--yes", action="store_true", help="push without asking")
    p.add_argument("--no-restart", action="store_true", help="push without restarting the app")


def run(args) -> int:
    path = Path(args.file)
    if args.action == "validate":
        values = config.validate_file(path)
        crc = config.firmware_config().config_crc(values)
        print(f"config: {path} valid ({len(values)} keys, crc32 {crc:08x})")
        return 0
    if args.action == "push":
        config.validate_file(path)  # all errors before any port is opened
        several = len(args.port) > 1 or args.all
        if several and not args.yes:
            print("config: pushing to several boards needs --yes (no prompt per board)")
            return 2

        def job(port, log):
            return config.push(port, path, yes=args.yes, log=log, restart=not args.no_restart)

        return run_on_ports(args, job)
    if args.action == "pull":

        def job(port, log):
            out = path if len(args.port) <= 1 and not args.all else _per_port(path, port)
            return config.pull(port, out, log=log)

        return run_on_ports(args, job)

    def diff_job(port, log):
        lines = config.diff_device(port, path, log=log)
        for line in lines:
            log("  " + line)
        return {"summary": f"{len(lines)} difference(s)" if lines else "same as the device"}

    return run_on_ports(args, diff_job)


def _per_port(path: Path, port: str) -> Path:
    return path.with_name(f"{path.stem}.{port.strip('/').replace('/', '_')}{path.suffix}")
