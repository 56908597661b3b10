"""`pillbox`: the one command-line entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .engine.model import Config
from .errors import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pillbox", description="Smart pill dispenser: dose prompts, abrupt-stop detection, alerts."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $PILLBOX_CONFIG, then /etc/pillbox/pillbox.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    run = sub.add_parser("run", parents=[common], help="the daemon: scheduler, GPIO, MQTT, web")
    run.add_argument("--mock-hardware", action="store_true", help="use virtual pins (no GPIO needed)")
    sub.add_parser("check", parents=[common], help="validate the configuration and print each plan")
    demo = sub.add_parser(
        "demo", help="the whole daemon on a virtual dispenser, the page on :8080 (--config: your own plan)"
    )
    demo.add_argument("--config", metavar="FILE", help="run this config's plan instead of the demo plan")
    demo.add_argument("--port", type=int, default=8080, help="the page's port (default 8080)")
    user = sub.add_parser("user", parents=[common], help="caregiver accounts: add, remove, passwd, list")
    user.add_argument("action", choices=["add", "remove", "passwd", "list"])
    user.add_argument("name", nargs="?")
    token = sub.add_parser("token", parents=[common], help="API tokens: create (printed once), list, revoke")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?")
    sub.add_parser("doctor", parents=[common], help="check config, GPIO, broker, clock, storage, database, service")
    report = sub.add_parser("report", parents=[common], help="adherence per medication and day, for the clinician")
    report.add_argument("--from", dest="first", required=True, metavar="D")
    report.add_argument("--to", dest="last", required=True, metavar="D")
    report.add_argument("--csv", action="store_true", help="CSV instead of a table")
    sim = sub.add_parser("simulate", parents=[common], help="run a scenario on a virtual clock")
    sim.add_argument("--scenario", required=True, metavar="S", help="scenario file (TOML)")
    sim.add_argument("--out", metavar="FILE", help="write the events here instead of standard output")
    return parser


def _load(args: argparse.Namespace) -> Config:
    from .config import find_config_path, load_config

    return load_config(find_config_path(args.config, os.environ))


def cmd_check(args: argparse.Namespace) -> int:
    from .check import format_check

    config = _load(args)
    sys.stdout.write(format_check(config))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario
    from .simulate import run_simulation

    config = _load(args)
    scenario = load_scenario(args.scenario, config.tz, config)
    out: TextIO
    if args.out:
        try:
            out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            print(f"pillbox: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        out = sys.stdout
    try:
        summary = run_simulation(config, scenario, out)
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    sys.stderr.write(summary.text(config))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .service import run

    config = _load(args)
    return run(config, mock=args.mock_hardware or config.hardware.pin_factory == "mock")


def cmd_demo(args: argparse.Namespace) -> int:
    from .admin import demo_command

    return demo_command(port=args.port, config_path=args.config)


def _needs_name(args: argparse.Namespace, parser_name: str) -> None:
    if args.action != "list" and not args.name:
        print(f"pillbox {parser_name} {args.action}: NAME is required", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def cmd_user(args: argparse.Namespace) -> int:
    from .admin import user_command

    _needs_name(args, "user")
    return user_command(_load(args), args.action, args.name)


def cmd_token(args: argparse.Namespace) -> int:
    from .admin import token_command

    _needs_name(args, "token")
    return token_command(_load(args), args.action, args.name)


def cmd_report(args: argparse.Namespace) -> int:
    from .admin import report_command

    return report_command(_load(args), args.first, args.last, args.csv)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor(args.config, os.environ)


COMMANDS = {
    "doctor": cmd_doctor,
    "run": cmd_run,
    "check": cmd_check,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
    "user": cmd_user,
    "token": cmd_token,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
