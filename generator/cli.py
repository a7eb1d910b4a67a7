"""Command line: `python -m generator COMMAND ...`. Exit 0 ok, 1 invalid profile or failed check, 2 usage."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from generator import PROFILES_DIR
from generator.errors import Location, UsageError, UserError

PROFILE_HELP = "a profile name under profiles/ or a path to a YAML file"


def _print_warnings(loaded) -> None:
    for warning in loaded.warnings:
        print(f"  - {warning}", file=sys.stderr)


def cmd_validate(args) -> int:
    from generator.pipeline import load

    refs = args.profiles or sorted(str(p) for p in PROFILES_DIR.glob("*.yaml"))
    if not refs:
        raise UsageError(f"no profiles in {PROFILES_DIR}")
    failed = 0
    for ref in refs:
        try:
            loaded = load(ref)
        except UserError as exc:
            failed += 1
            print(exc, file=sys.stderr)
            continue
        warned = f" ({len(loaded.warnings)} warnings)" if loaded.warnings else ""
        print(f"ok: {loaded.profile.name}{warned}", flush=True)
        _print_warnings(loaded)
    return 1 if failed else 0


def cmd_render(args) -> int:
    from generator.pipeline import load, render_to_file

    loaded = load(args.profile)
    _print_warnings(loaded)
    output = render_to_file(loaded, Path(args.output) if args.output else None)
    print(
        f"rendered {loaded.profile.name} -> {Location(output)} and {Location(output.with_name('preflight.py'))}"
    )
    return 0


def cmd_sglang_args(args) -> int:
    from generator.flags import server_args
    from generator.pipeline import load

    loaded = load(args.profile)
    print(json.dumps(server_args(loaded.deployment)))
    return 0


def _modal_command(function_name: str):
    """deploy/setup/preflight/rollback: the steps that reach Modal, each with --dry-run."""

    def run(args) -> int:
        function = getattr(importlib.import_module("generator.deploy"), function_name)
        return function(args.profile, dry_run=args.dry_run)

    return run


def cmd_pin_revision(args) -> int:
    from generator.pin import pin_revision

    return pin_revision(args.profile)


def cmd_diff(args) -> int:
    from generator.diff import diff

    return diff(args.profile, args.against)


def cmd_plan(args) -> int:
    from generator.plan import run

    text, has_errors = run(args.profile, args.utilization, args.json)
    sys.stdout.write(text)
    return 1 if has_errors else 0


def _endpoint_command(module_name: str):
    """smoke/bench: the served model name defaults to the profile's, and the profile says whether
    Modal's proxy auth is in front (then a Proxy Auth Token must be in the environment)."""

    def run(args) -> int:
        from generator.pipeline import load

        deployment = load(args.profile).deployment
        args.model = args.model or deployment.model.served_model_name
        args.proxy_auth = deployment.serving.proxy_auth
        return importlib.import_module(module_name).main(args)

    return run


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Render YAML deployment profiles into Modal apps that serve models with SGLang.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def profile_command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
        p.set_defaults(run=run)
        return p

    p = sub.add_parser("validate", help="validate profiles (all under profiles/ by default)")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help=PROFILE_HELP)
    p.set_defaults(run=cmd_validate)

    p = profile_command("render", "render a profile into a Modal app file", cmd_render)
    p.add_argument("-o", "--output", help="output path (default build/<profile>/modal_app.py)")
    profile_command(
        "sglang-args", "print the SGLang server arguments as a JSON list", cmd_sglang_args
    )
    profile_command(
        "pin-revision", "pin model.revision to the commit it points at", cmd_pin_revision
    )
    for name, help_text in [
        ("setup", "on Modal: download the weights, precompile DeepGEMM"),
        ("preflight", "check secrets, flags, weights and kernels on Modal (CPU)"),
        ("deploy", "validate, render and `modal deploy` a profile"),
        ("rollback", "roll the Modal app back to its previous version"),
    ]:
        p = profile_command(name, help_text, _modal_command(name))
        p.add_argument(
            "--dry-run", action="store_true", help="print the modal command, run nothing"
        )

    p = profile_command(
        "diff", "settings and rendered-app diff against a profile or the deploy", cmd_diff
    )
    p.add_argument(
        "--against",
        default="deployed",
        metavar="PROFILE|deployed",
        help="another profile, or `deployed` for the last deploy record (default)",
    )

    p = profile_command(
        "plan",
        "capacity, decode floor, cost, cold start and rule findings, before deploying",
        cmd_plan,
    )
    p.add_argument("--json", action="store_true", help="the same figures as JSON")
    p.add_argument(
        "--utilization",
        type=float,
        default=0.3,
        metavar="U",
        help="average replicas busy over a month, for the monthly cost (default 0.3)",
    )
    for name, help_text in [
        ("smoke", "check a deployed endpoint: health, models, chat, stream, tools, auth"),
        ("bench", "latency and throughput sweep over concurrency levels"),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--profile", default="prod", help="profile of the deployment (default prod)")
        if argv and argv[0] == name:  # their clients (openai, numpy) load only when used
            importlib.import_module(f"generator.{name}").add_arguments(p)
        p.set_defaults(run=_endpoint_command(f"generator.{name}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        if os.environ.get("GENERATOR_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a file or folder the user named that cannot be used
        if os.environ.get("GENERATOR_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and friends
        sys.stderr.close()
        return 0
