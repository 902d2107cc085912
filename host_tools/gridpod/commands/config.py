"""`gridpod config init|validate|push|pull|diff [--port P ...] FILE`: the module configuration."""

from pathlib import Path

from ..device import config
from ..device.config_init import init
from ._many import add_port_arguments, run_on_ports

ACTIONS = ("init", "validate", "push", "pull", "diff")


def add_arguments(p) -> None:
    p.add_argument("action", choices=ACTIONS)
    p.add_argument(
        "file",
        nargs="?",
        help="config JSON (values object, or the device's document); init: the file to write",
    )
    p.add_argument("-o", "--output", help="init: the file to write (same as FILE)")
    p.add_argument("--board", help="init: fit the counts and watchdog to this board file")
    p.add_argument("--force", action="store_true", help="init: replace existing files")
    p.add_argument(
        "--names", action="store_true", help="pull: write tuning vectors by element name"
    )
    add_port_arguments(p, required_port=False)
    p.add_argument("--yes", action="store_true", help="push without asking")
    p.add_argument("--no-restart", action="store_true", help="push without restarting the app")


def _file_argument(args) -> Path:
    """The FILE of the action; ConfigError (before any port is opened) when it is missing or the
    options do not belong to the action."""
    if args.action != "init":
        given = [o for o, v in (("-o", args.output), ("--board", args.board)) if v]
        given += ["--force"] if args.force else []
        if given:
            raise config.ConfigError(f"{' '.join(given)}: only for `config init`")
    if args.action != "pull" and args.names:
        raise config.ConfigError("--names: only for `config pull` (init always writes names)")
    if args.file and args.output and args.file != args.output:
        raise config.ConfigError(f"FILE {args.file} and -o {args.output} differ: give one")
    name = args.file or args.output
    if not name:
        if args.action == "init":
            return Path("config.json")
        raise config.ConfigError(f"{args.action} needs a FILE (see `gridpod config --help`)")
    return Path(name)


def run(args) -> int:
    path = _file_argument(args)
    if args.action == "init":
        done = init(path, args.board, force=args.force)
        print(
            f"config: wrote {done['config']} ({done['keys']} keys, crc32 {done['crc']}, valid) "
            f"and its key reference {done['reference']}; edit it, then `gridpod config "
            f"validate {done['config']}`"
        )
        return 0
    if args.action == "validate":
        values = config.validate_file(path)
        crc = config.firmware_config().config_crc(values)
        print(f"config: {path} valid ({len(values)} keys, crc32 {crc:08x})")
        return 0
    if args.action == "push":
        config.validate_file(path)  # all errors before any port is opened
        several = len(args.port) > 1 or args.all
        if several and not args.yes:
            raise config.ConfigError("pushing to several boards needs --yes (no prompt per board)")

        def job(port, log):
            return config.push(port, path, yes=args.yes, log=log, restart=not args.no_restart)

        return run_on_ports(args, job)
    if args.action == "pull":

        def job(port, log):
            out = path if len(args.port) <= 1 and not args.all else _per_port(path, port)
            return config.pull(port, out, log=log, names=args.names)

        return run_on_ports(args, job)

    def diff_job(port, log):
        lines = config.diff_device(port, path, log=log)
        for line in lines:
            log("  " + line)
        return {"summary": f"{len(lines)} difference(s)" if lines else "same as the device"}

    return run_on_ports(args, diff_job)


def _per_port(path: Path, port: str) -> Path:
    return path.with_name(f"{path.stem}.{port.strip('/').replace('/', '_')}{path.suffix}")
