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
from generator.operate.report import FORMATS, emit_line

PROFILE_HELP = "a profile name under profiles/ or a path to a YAML file"


def _print_warnings(loaded) -> None:
    for warning in loaded.warnings:
        print(emit_line(f"  - {warning}", "text"), file=sys.stderr)


def _print_lines(text: str) -> None:
    """Text holding profile-derived values (plan's table, --explain), one emitted line each."""
    lines = text.split("\n")
    sys.stdout.write("\n".join(emit_line(line, "text") for line in lines))


def _catalog_users(refs: list[str]) -> list[str]:
    """`refs` with each user model catalog file (<profiles>/models/*.yaml, which a hook passes
    when it changed) replaced by the profiles beside that folder, which it is read for."""
    from generator.profile.load import USER_CATALOG

    out: list[str] = []
    for ref in refs:
        path = Path(ref)
        if path.parent.name == USER_CATALOG and path.suffix in (".yaml", ".yml"):
            folder = path.parent.parent
            beside = sorted(str(p) for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")])
            out += [p for p in beside if p not in out]
        elif ref not in out:
            out.append(ref)
    return out


def cmd_validate(args) -> int:
    from generator.operate.report import report
    from generator.profile.load import with_dependents

    # By profile name (glm52 before glm52-throughput), as everywhere else.
    paths = sorted(PROFILES_DIR.glob("*.yaml"), key=lambda p: p.stem)
    refs = _catalog_users(args.profiles) or [str(p) for p in paths]
    if not refs:
        raise UsageError(f"no profiles in {PROFILES_DIR}")
    if args.dependents:
        refs = with_dependents(refs)
    return 0 if report(refs, args.format) else 1


def cmd_render(args) -> int:
    from generator.pipeline import load, render_to_file

    loaded = load(args.profile)
    _print_warnings(loaded)
    output = render_to_file(loaded, Path(args.output) if args.output else None)
    print(
        emit_line(
            f"rendered {loaded.profile.name} -> {Location(output)} and "
            f"{Location(output.with_name('preflight.py'))}",
            "text",
        )
    )
    return 0


def cmd_sglang_args(args) -> int:
    from generator.pipeline import load
    from generator.profile.checkpoint import known_model
    from generator.sglang.defaults import unrecorded
    from generator.sglang.flags import own_choices

    loaded = load(args.profile)
    gpu = args.gpu or loaded.deployment.gpu.type
    types = [s.deployment.gpu.type for s in loaded.flag_sets]
    gpu = next((t for t in types if t.lower() == gpu.lower()), gpu)  # b200 is B200
    flag_set = loaded.flag_set_for(gpu)
    if flag_set is None:
        types = ", ".join(s.deployment.gpu.type for s in loaded.flag_sets)
        raise UsageError(f"--gpu {gpu}: the profile runs on {types} only")
    if not args.explain:
        print(json.dumps(flag_set.argv))
        return 0
    d = flag_set.deployment
    version = d.sglang.version
    lines = [f"SGLang {version} on {d.gpu.modal_spec}: each flag beside SGLang's own choice"]
    model = known_model(d)
    why = unrecorded(version, model) if model is not None else None
    if why:
        lines.append(f"  {why}")
    for own in own_choices(d):
        lines += [
            f"  {' '.join(own.flag.argv)}",
            f"      {own.describe(version)}",
            f"      source: {own.source}",
        ]
    _print_lines("\n".join(lines) + "\n")
    return 0


def _modal_command(function_name: str):
    """deploy/setup/preflight/rollback: the steps that reach Modal, each with --dry-run."""

    # deploy goes through release.py: a canary and the release gates when the profile asks
    module = (
        "generator.operate.release" if function_name == "deploy" else "generator.operate.deploy"
    )

    def run(args) -> int:
        function = getattr(importlib.import_module(module), function_name)
        if function_name == "setup" and args.dummy_weights:  # the config files alone
            function = importlib.import_module("generator.operate.dummy").setup
            return function(args.profile, dry_run=args.dry_run)
        if getattr(args, "dummy_weights", False):
            return function(args.profile, dry_run=args.dry_run, dummy_weights=True)
        return function(args.profile, dry_run=args.dry_run)

    return run


def cmd_pin_revision(args) -> int:
    from generator.operate.pin import pin_revision

    return pin_revision(args.profile)


def cmd_init(args) -> int:
    from generator.operate.init import init

    return init(args.name, args.model, args.like, args.dir)


def cmd_pin_image(args) -> int:
    from generator.operate.image import pin_image

    return pin_image(args.profile)


def cmd_diff(args) -> int:
    from generator.operate.diff import diff

    return diff(args.profile, args.against)


def cmd_plan(args) -> int:
    from generator.operate.plan import run

    text, has_errors = run(args.profile, args.utilization, args.json)
    if args.json:
        sys.stdout.write(text)  # json.dumps escapes every control character
    else:
        _print_lines(text)
    return 1 if has_errors else 0


def cmd_migrate(args) -> int:
    from generator.operate.migrate import run

    return run(args.profile, args.to, args.format, args.write)


def _endpoint_command(module_name: str):
    """smoke/bench: the served model name defaults to the profile's, and the profile says whether
    Modal's proxy auth is in front (then a Proxy Auth Token must be in the environment)."""

    def run(args) -> int:
        from generator.pipeline import load

        loaded = load(args.profile)
        deployment = loaded.deployment
        args.model = args.model or deployment.model.served_model_name
        args.proxy_auth = deployment.serving.proxy_auth
        args.release = deployment.release  # gates: the profile's thresholds
        if deployment.gpu.fallback:  # say which GPU type served: a fallback is slower
            args.flag_sets = {s.modal_spec: s.argv for s in loaded.flag_sets}
        from generator.capacity.costs import cold_start, replica_hour_usd

        args.replica_hour_usd = replica_hour_usd(deployment)  # bench: $ per million tokens
        estimate = cold_start(deployment)
        args.cold_start_estimate_s = round(estimate.seconds) if estimate else None
        return importlib.import_module(module_name).main(args)

    return run


def _format_option(p: argparse.ArgumentParser) -> None:
    """--format for the commands that report findings (validate, migrate)."""
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), github (workflow commands: PR annotations) or json",
    )


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modal-sglang" if Path(sys.argv[0]).name == "modal-sglang" else "python -m generator",
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
    _format_option(p)
    p.add_argument(
        "--dependents",
        action="store_true",
        help="also validate the profiles in the same folders that extend the given ones",
    )
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser(
        "init", help="write a new profile for a model (and a catalog stub when it is unknown)"
    )
    p.add_argument("name", metavar="NAME", help="the new profile's name")
    p.add_argument("--model", required=True, metavar="ID", help="the Hugging Face model id")
    p.add_argument(
        "--like", required=True, metavar="PROFILE", help="the profile whose deployment it extends"
    )
    p.add_argument("--dir", help="the profiles folder to write into (default profiles/)")
    p.set_defaults(run=cmd_init)

    p = profile_command("render", "render a profile into a Modal app file", cmd_render)
    p.add_argument("-o", "--output", help="output path (default build/<profile>/modal_app.py)")
    p = profile_command(
        "sglang-args", "print the SGLang server arguments as a JSON list", cmd_sglang_args
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="show, per flag, what the pinned SGLang would choose by itself",
    )
    p.add_argument(
        "--gpu",
        metavar="TYPE",
        help="the flag set for this GPU type (gpu.type or a gpu.fallback type; default gpu.type)",
    )
    profile_command(
        "pin-revision", "pin model.revision to the commit it points at", cmd_pin_revision
    )
    profile_command(
        "pin-image", "pin the serve image to the digest its tag points at (registry)", cmd_pin_image
    )
    for name, help_text in [
        ("setup", "on Modal: download the weights, precompile DeepGEMM"),
        ("preflight", "check secrets, flags, weights and kernels on Modal (CPU)"),
        ("deploy", "validate, render and `modal deploy` a profile"),
        ("rollback", "roll the Modal app back to its previous version"),
    ]:
        p = profile_command(name, help_text, _modal_command(name))
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="print the modal command, run nothing"
            + (
                " (deploy: every warning and the diff against the deploy or HEAD first)"
                if name == "deploy"
                else ""
            ),
        )
        if name == "setup":
            p.add_argument(
                "--dummy-weights",
                action="store_true",
                help="only the config and tokenizer files a dummy-weights dry run reads (MBs)",
            )
        if name == "deploy":
            p.add_argument(
                "--dummy-weights",
                action="store_true",
                help="dry run of the serving path with SGLang's --load-format dummy, as "
                "<app>-dummy (never the live app); the gates run, the probe is expected to fail",
            )

    p = profile_command(
        "diff",
        "settings, plan and rendered-app diff against the committed profile (git HEAD), "
        "a git ref, the last deploy or another profile",
        cmd_diff,
    )
    p.add_argument(
        "--against",
        default="HEAD",
        metavar="REF|deployed|PROFILE",
        help="a git ref: the profile as committed there (default HEAD); `deployed`: the last "
        "deploy record; or another profile's name or path",
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
        default=0.3,  # operate/plan.py DEFAULT_UTILIZATION (not imported: start-up time)
        metavar="U",
        help="average replicas busy over a month, for the monthly cost (default 0.3)",
    )
    p = profile_command(
        "migrate",
        "what moving a profile to another SGLang version changes (--write: make the edits)",
        cmd_migrate,
    )
    p.add_argument("--to", required=True, metavar="VERSION", help="the target SGLang version")
    _format_option(p)
    p.add_argument(
        "--write",
        action="store_true",
        help="rewrite the profile in place (comments kept), validate and render it; "
        "nothing is written if the result is invalid",
    )
    for name, help_text in [
        ("smoke", "check a deployed endpoint: health, models, chat, stream, tools, JSON, auth"),
        ("gates", "the release gates (smoke, probe, latency SLO) against a live endpoint"),
        ("bench", "latency and throughput sweep over concurrency levels"),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--profile", default="prod", help="profile of the deployment (default prod)")
        if argv and argv[0] == name:  # their clients (openai, numpy) load only when used
            importlib.import_module(f"generator.operate.{name}").add_arguments(p)
        p.set_defaults(run=_endpoint_command(f"generator.operate.{name}"))
    return parser


# Modules of the `deploy` extra (pyproject.toml): the steps that reach Modal, the Hub or an endpoint.
DEPLOY_EXTRA_MODULES = {"modal", "huggingface_hub", "openai", "httpx", "matplotlib", "numpy"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
        return args.run(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in DEPLOY_EXTRA_MODULES:
            raise
        print(
            f"error: this command needs {exc.name}: pip install 'modal-sglang-generator[deploy]'",
            file=sys.stderr,
        )
        return 1
    except UserError as exc:
        if os.environ.get("GENERATOR_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)  # UserError's text is printable (errors.py)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and friends
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file or folder the user named that cannot be used
        if os.environ.get("GENERATOR_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(emit_line(f"error: {where}{exc.strerror or exc}", "text"), file=sys.stderr)
        return 1
