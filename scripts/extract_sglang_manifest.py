"""Extract a JSON manifest of SGLang's server arguments from the real parser.

Runs INSIDE a throwaway venv that has ``sglang`` installed (see
``scripts/sglang_manifest.py``, which creates that venv and calls this file).
Imports only the standard library and sglang.

    python extract_sglang_manifest.py [--output PATH]

The manifest is built from ``ServerArgs.add_cli_args(argparse.ArgumentParser())``,
the same parser ``sglang serve`` / ``python -m sglang.launch_server`` use. It never
constructs ``ServerArgs`` (that needs a GPU).

Per argument (one per argparse action, ``-h/--help`` skipped), sorted by first
option string:

    option_strings  every alias, parser order (e.g. ["--tensor-parallel-size", "--tp-size", "--tp"])
    dest            argparse destination
    action          store | store_true | store_false | store_const | append | append_const |
                    count | extend | boolean_optional | <custom Action class name>
    type            "bool_flag" when the flag takes no value (nargs == 0), else the type
                    callable's name: "str" (also when no type is given), "int", "float",
                    "json.loads", "human_readable_int", ... ("lambda" for lambdas)
    nargs           argparse nargs (null, "?", "*", "+", 0, N)
    choices         list in parser order, or null
    default         JSON value; repr() string for values JSON cannot hold; $HOME shown as "~"
    required        bool
    deprecated      bool: the action class is one of sglang's Deprecated*Action classes, or the
                    help text declares the flag deprecated ("[Deprecated] ...",
                    "Deprecated. Use ...", "--x is deprecated ...")
    replaced_by     the replacement flag a Deprecated*Action names (new_flag), else null
    error_when_used parser.error() message a DeprecatedAction raises when the flag is used,
                    else null
    help            first sentence of the help text, whitespace collapsed (the next sentence
                    is appended when the first is shorter than 40 characters); null if none

Top level: schema_version, sglang_version, prog, allow_abbrev, env_vars (sorted SGLANG_* names
declared by ``sglang.srt.environ.Envs``), deprecated_env_vars, args.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import sys
import warnings

SCHEMA_VERSION = 1
PROG = "sglang serve"  # what sglang.srt.server_args.prepare_server_args uses

_ACTION_KINDS = {
    "_StoreAction": "store",
    "_StoreTrueAction": "store_true",
    "_StoreFalseAction": "store_false",
    "_StoreConstAction": "store_const",
    "_AppendAction": "append",
    "_AppendConstAction": "append_const",
    "_CountAction": "count",
    "_ExtendAction": "extend",
    "BooleanOptionalAction": "boolean_optional",
    "_VersionAction": "version",
}

_HOME = os.path.expanduser("~")


def build_parser() -> argparse.ArgumentParser:
    """The real SGLang server parser (same construction as prepare_server_args)."""
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog=PROG)
    ServerArgs.add_cli_args(parser)
    return parser


def sglang_version() -> str:
    try:
        from importlib.metadata import version

        return version("sglang")
    except Exception:  # pragma: no cover - fall back to the module attribute
        import sglang

        return str(getattr(sglang, "__version__", "unknown"))


def _json_safe(value):
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and _HOME not in ("", "/") and value.startswith(_HOME):
            return "~" + value[len(_HOME) :]
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_safe(v) for k, v in value.items()}
    text = repr(value)
    # repr of functions / objects embeds a memory address: strip it for stability
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _type_name(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "bool_flag"
    t = action.type
    if t is None:
        return "str"
    if isinstance(t, type):
        return t.__name__
    name = getattr(t, "__name__", None)
    if name is None:
        return type(t).__name__
    if name == "<lambda>":
        return "lambda"
    module = getattr(t, "__module__", "") or ""
    if module and module != "builtins" and not module.startswith("sglang"):
        return f"{module}.{name}"
    return name


def _action_kind(action: argparse.Action) -> str:
    cls = type(action).__name__
    return _ACTION_KINDS.get(cls, cls)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[\"'`-])")


def _first_sentence(help_text) -> str | None:
    if not help_text or help_text == argparse.SUPPRESS:
        return None
    text = " ".join(str(help_text).split())
    parts = _SENTENCE_END.split(text)
    out = parts[0]
    if len(out) < 40 and len(parts) > 1:
        out = f"{out} {parts[1]}"
    return out.strip()


def _is_deprecated(action: argparse.Action) -> bool:
    if "Deprecated" in type(action).__name__:
        return True
    help_text = action.help if isinstance(action.help, str) else ""
    text = " ".join(help_text.split())
    if re.match(r"^\W*deprecated\b", text, re.IGNORECASE):
        return True
    for opt in action.option_strings:
        if re.search(re.escape(opt) + r"\s+(is|has been)\s+deprecated\b", text, re.IGNORECASE):
            return True
    if re.search(r"\bthis (flag|argument|option) is deprecated\b", text, re.IGNORECASE):
        return True
    return False


def describe_action(action: argparse.Action) -> dict:
    choices = action.choices
    if choices is not None:
        choices = [_json_safe(c) for c in list(choices)]
    nargs = action.nargs
    if nargs is not None and not isinstance(nargs, int | str):
        nargs = repr(nargs)
    replaced_by = getattr(action, "new_flag", None)
    error_when_used = getattr(action, "error_message", None)
    return {
        "option_strings": list(action.option_strings),
        "dest": action.dest,
        "action": _action_kind(action),
        "type": _type_name(action),
        "nargs": nargs,
        "choices": choices,
        "default": _json_safe(action.default),
        "required": bool(action.required),
        "deprecated": _is_deprecated(action),
        "replaced_by": replaced_by if isinstance(replaced_by, str) else None,
        "error_when_used": error_when_used if isinstance(error_when_used, str) else None,
        "help": _first_sentence(action.help),
    }


def env_var_names() -> tuple[list[str], list[str]]:
    """(SGLANG_* names declared in sglang.srt.environ.Envs, deprecated env var names)."""
    try:
        import sglang.srt.environ as environ
    except Exception:
        return [], []
    names: set[str] = set()
    deprecated: set[str] = set()
    envs_cls = getattr(environ, "Envs", None)
    field_cls = getattr(environ, "EnvField", None)
    if envs_cls is not None:
        for klass in reversed(envs_cls.__mro__):
            for name, value in vars(klass).items():
                if not name.startswith("SGLANG_"):
                    continue
                if field_cls is not None and not isinstance(value, field_cls):
                    continue
                names.add(name)
                alias = getattr(value, "deprecated_name", None)
                if isinstance(alias, str):
                    deprecated.add(alias)
    registry = getattr(environ, "_DEPRECATED_ENVS", None)
    if isinstance(registry, dict):
        deprecated.update(k for k in registry if isinstance(k, str))
    return sorted(names), sorted(deprecated)


def build_manifest() -> dict:
    parser = build_parser()
    args = [describe_action(a) for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    args.sort(key=lambda a: (a["option_strings"][0] if a["option_strings"] else "", a["dest"]))
    env_vars, deprecated_env_vars = env_var_names()
    return {
        "schema_version": SCHEMA_VERSION,
        "sglang_version": sglang_version(),
        "prog": PROG,
        "allow_abbrev": bool(parser.allow_abbrev),
        "env_vars": env_vars,
        "deprecated_env_vars": deprecated_env_vars,
        "args": args,
    }


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", help="write the manifest here instead of stdout")
    opts = ap.parse_args(argv)

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    # sglang may print while importing; keep stdout for the manifest only.
    with contextlib.redirect_stdout(io.StringIO()):
        manifest = build_manifest()
    text = dumps(manifest)
    if opts.output:
        with open(opts.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
