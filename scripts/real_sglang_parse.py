"""Ground truth for our offline flag checker: parse argv lists with SGLang's real parser.

Runs INSIDE a throwaway venv that has sglang (``scripts/sglang_manifest.py`` makes it;
``real_parse(version, argvs)`` there drives this file). Imports only stdlib + sglang.

stdin:  one request a line: a JSON list of argv lists, e.g. [["--model-path", "m", "--tp", "8"]]
stdout: one answer a line: a JSON list of verdicts, one per argv, same order:
        {"ok": bool, "error": str | null, "warnings": [str, ...]}

"error" is argparse's message (what it prints after "sglang serve: error: "), "warnings" the
log records the parser's deprecation actions emit (e.g. "'--enable-dp-attention' is
deprecated ..."). Only parses: ServerArgs is never constructed (its __post_init__ needs a GPU),
so checks that live in ServerArgs (cross-flag validation) are not covered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import sys
import warnings

PROG = "sglang serve"  # what sglang.srt.server_args.prepare_server_args uses
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(_ANSI.sub("", record.getMessage()))


def build_parser() -> argparse.ArgumentParser:
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog=PROG)
    ServerArgs.add_cli_args(parser)
    return parser


def parse_one(argv: list[str]) -> dict:
    parser = build_parser()
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser.parse_args(argv)
            except SystemExit as exc:
                code = exc.code
                if code in (0, None):  # e.g. --help / --version
                    return {"ok": True, "error": None, "warnings": handler.messages}
                text = err.getvalue().strip()
                prefix = f"{PROG}: error: "
                message = text.rsplit(prefix, 1)[-1] if prefix in text else text
                return {
                    "ok": False,
                    "error": message or f"exit {code}",
                    "warnings": handler.messages,
                }
        return {"ok": True, "error": None, "warnings": handler.messages}
    finally:
        root.removeHandler(handler)


def main() -> int:
    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        build_parser()  # import sglang once, outside the per-argv capture
    for line in sys.stdin:  # one request a line (sglang_manifest keeps this process for a session)
        argvs = json.loads(line)
        if not isinstance(argvs, list) or not all(isinstance(a, list) for a in argvs):
            print("a request must be a JSON list of argv lists", file=sys.stderr)
            return 2
        verdicts = [parse_one([str(x) for x in argv]) for argv in argvs]
        sys.stdout.write(json.dumps(verdicts) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
