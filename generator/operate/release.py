"""Canary deploys: `make deploy` for a profile with a `release:` section.

1. `modal deploy <rendered file> --name <app>-canary --tag <tag>`: the same file, so the same
   Volumes (mounted read-only by the serving function) and the same Secrets.
2. Wait until the canary serves, measuring the time to its first token from zero replicas beside
   `plan`'s estimate, then run the gates (generator/operate/gates.py).
3. All passed: deploy the same file under the live name with its tag (the promote), stop the canary
   (`modal app stop`), smoke the live app; a failed smoke runs `modal app rollback` and says so.
   A gate failed: stop the canary, leave the live app untouched, exit 1 with the gate report.

Every step (its command, exit code, numbers, time) goes into the deploy record,
deploys/<profile>/history.json: a `canary` record for a rejected canary, a `deploy` record with
a `release` part for a promote, then a `rollback` record if the live smoke failed.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.capacity.costs import cold_start, replica_hour_usd
from generator.errors import UserError
from generator.operate import deploy as deploy_module
from generator.operate import dummy
from generator.operate import gates as gate_module
from generator.operate.diff import deploy_preview_lines
from generator.operate.report import emit_line
from generator.operate.smoke import (
    PROXY_TOKEN_ENV_VARS,
    REQUEST_TIMEOUT_S,
    normalize_base_url,
    resolve_api_key,
    resolve_proxy_headers,
    run_smoke,
)
from generator.pipeline import Loaded, load

CANARY_SUFFIX = "-canary"
MODAL_NAME_LIMIT = 64  # modal 1.6.4 modal/_utils/name_utils.py is_valid_object_name
# The endpoint's URL is asked of Modal's API for the deployed app, in a process of its own (the
# modal client caches one connection per process): never read from `modal deploy`'s output,
# where an image build's log or a profile value can print any URL first.
# modal 1.6.4: `Server.get_url` (_server.py: the service function's flash URLs) and
# `Function.get_web_url` (_functions.py: the web URL in the function's metadata).
_URL_LOOKUP = """
import json, sys, modal
app, server = sys.argv[1], sys.argv[2] == "server"
if server:
    url = modal.Server.from_name(app, "SGLangServer").get_url()
else:
    url = modal.Function.from_name(app, "serve").get_web_url()
print(json.dumps(url))
"""
URL_LOOKUP_TIMEOUT_S = 120
MAX_URL_CHARS = 2048
_LOOPBACK = ("127.0.0.1", "localhost", "::1")  # a stand-in endpoint (tests, local runs)


def modal_endpoint_url(app_name: str, is_server: bool) -> tuple[str | None, str]:
    """(URL, why not) of the deployed app's endpoint, as Modal's API reports it. Only an https
    URL (http to a loopback stand-in) with a host and no credentials in it is used."""
    command = [sys.executable, "-c", _URL_LOOKUP, app_name, "server" if is_server else "web"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=URL_LOOKUP_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return None, f"Modal did not say the endpoint URL within {URL_LOOKUP_TIMEOUT_S} s"
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"cannot ask Modal for the endpoint URL: {last[:200]}"
    try:
        url = json.loads(lines[-1])
    except ValueError:
        url = None
    return (url, "") if _plausible_url(url) else (None, "Modal reported no usable endpoint URL")


def _plausible_url(url: object) -> bool:
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS or not url.isprintable():
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username or parts.password or " " in url:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)


def canary_name(app_name: str) -> str:
    name = app_name + CANARY_SUFFIX
    if len(name) > MODAL_NAME_LIMIT:
        raise UserError(
            f"app.name {app_name!r}: the canary app {name!r} would be {len(name)} characters, "
            f"over Modal's {MODAL_NAME_LIMIT} (modal/_utils/name_utils.py); shorten app.name"
        )
    return name


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Steps:
    """The release's steps, printed as they happen and kept for the record."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def add(self, step: str, ok: bool, detail: str, **extra: Any) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail, "time": _now(), **extra})
        print(f"[release] {step}: {'ok' if ok else 'FAILED'}: {gate_module.printable(detail)}")


def _capture(command: list[str]) -> tuple[int, str]:
    """Run a modal command, echoing its output and keeping it (the endpoint URL is in it)."""
    print(f"$ {shlex.join(command)}", flush=True)
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps long URLs at 80 columns when piped
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as exc:
        return 127, f"cannot run {command[0]}: {exc.strerror}"
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        print(gate_module.printable(line.rstrip("\n")), flush=True)
    return process.wait(), "".join(lines)


def _credentials(loaded: Loaded) -> tuple[str, dict[str, str] | None]:
    key = resolve_api_key()
    if not key:
        raise UserError(
            "the release gates call the canary: set API_KEY (or SGLANG_API_KEY) to the "
            "endpoint's key, then deploy again"
        )
    headers = resolve_proxy_headers()
    if loaded.deployment.serving.proxy_auth and headers is None:
        raise UserError(
            f"the profile requires Modal proxy auth (serving.proxy_auth): set "
            f"{' and '.join(PROXY_TOKEN_ENV_VARS)} so the gates can reach the canary"
        )
    return key, headers


def canary_cost(loaded: Loaded) -> tuple[float, str]:
    """What a canary costs beyond the deploy itself: the replicas it starts (min_containers, at
    least one) for one cold start each, priced per replica-hour from `plan`."""
    d = loaded.deployment
    replicas = max(1, d.autoscaling.min_containers)
    estimate = cold_start(d)
    seconds = estimate.seconds if estimate else None
    price = replica_hour_usd(d)
    if seconds is None:
        return 0.0, f"{replicas} replica(s) at ${price:,.2f}/replica-hour for the gates' duration"
    usd = replicas * price * seconds / 3600
    return usd, (
        f"~${usd:,.2f}: {replicas} replica(s) x {seconds:,.0f} s cold start (plan's estimate) at "
        f"${price:,.2f}/replica-hour, plus the gates' few minutes"
    )


def run_gates(
    loaded: Loaded,
    url: str,
    key: str,
    headers: dict[str, str] | None,
    deployed_at: float,
    *,
    dummy_weights: bool = False,
) -> list[gate_module.Gate]:
    """Cold start first (it waits for the canary to serve), then the profile's gates."""
    d = loaded.deployment
    r = d.release
    assert r is not None
    targets = gate_module.targets_of(r)
    model = d.model.served_model_name
    estimate = cold_start(d)
    results = [
        gate_module.cold_start_gate(
            url,
            key,
            model,
            started=deployed_at,
            estimate_s=round(estimate.seconds) if estimate else None,
            timeout_s=r.wait_timeout,
            targets=targets,
            err=sys.stderr,
            proxy_headers=headers,
        )
    ]
    if not results[0].passed and "measured_s" not in results[0].numbers:
        return results  # it never served: every other gate would fail the same way
    results += gate_module.endpoint_gates(
        url,
        key,
        model,
        targets,
        headers,
        smoke=r.smoke,
        dummy_weights=dummy_weights,
        request_s=REQUEST_TIMEOUT_S,
    )
    return results


def deploy(ref: str, *, dry_run: bool = False, dummy_weights: bool = False) -> int:
    """`make deploy`: through a canary and the gates when the profile has a `release` section
    (with canary on), else straight to the live app. With `dummy_weights`, a dry run of the
    serving path under its own name (generator/operate/dummy.py), never the live app."""
    if dummy_weights:
        return dummy_run(*dummy.prepare(ref), dry_run=dry_run)
    loaded = load(ref)
    if dry_run:  # what the deploy would change and every warning, then its commands
        for line in deploy_preview_lines(loaded):
            print(emit_line(line, "text"))
    loaded, app_file, rendered = deploy_module.prepare_loaded(loaded)
    settings = loaded.deployment.release
    if settings is None or not settings.canary:
        return deploy_module.deploy_prepared(loaded, app_file, rendered, dry_run=dry_run)
    return release(loaded, app_file, rendered, dry_run=dry_run)


def release(loaded: Loaded, app_file: Path, rendered: str, *, dry_run: bool = False) -> int:
    d = loaded.deployment
    assert d.release is not None
    tag = deploy_module.deploy_tag(loaded)
    canary = canary_name(d.app_name)
    modal = deploy_module._modal()
    canary_deploy = [modal, "deploy", str(app_file), "--name", canary, "--tag", tag]
    promote = deploy_module.deploy_command(loaded, app_file)
    stop = [modal, "app", "stop", canary, "--yes"]
    cost_usd, cost_text = canary_cost(loaded)
    print(f"release gates on: canary {canary}, then {d.app_name}; canary cost {cost_text}")
    if dry_run:
        for command in (canary_deploy, stop, promote):
            print(shlex.join(command))
        return 0
    deploy_module._require_credentials()
    key, headers = _credentials(loaded)

    steps = _Steps()
    record = deploy_module.make_record(loaded, rendered)
    record["release"] = {"canary_app": canary, "steps": steps.steps, "gates": []}
    record["release"]["canary_cost_estimate_usd"] = round(cost_usd, 2)
    canary_up = False

    def stop_canary() -> None:
        nonlocal canary_up
        code, out = _capture(stop)
        steps.add("stop_canary", code == 0, f"modal app stop exit {code}", command=stop[1:])
        canary_up = code != 0

    def write(rec: dict[str, Any], with_file: bool) -> Path:
        return deploy_module.write_record(rec, rendered if with_file else None)

    try:
        code, out = _capture(canary_deploy)
        canary_up = code == 0
        url, why = modal_endpoint_url(canary, d.serving.is_server) if code == 0 else (None, "")
        deployed_at = time.monotonic()
        steps.add(
            "canary_deploy",
            url is not None,
            f"exit {code}" + (f", endpoint {url}" if url else f", {why}" if why else ""),
            command=canary_deploy[1:],
        )
        if url is None:
            if canary_up:
                stop_canary()
            record["action"] = "canary"
            record["release"]["outcome"] = "canary deploy failed"
            write(record, False)
            raise UserError(f"the canary deploy of {canary} failed; the live app is untouched")
        results = run_gates(loaded, normalize_base_url(url), key, headers, deployed_at)
        record["release"]["gates"] = [g.as_dict() for g in results]
        passed = all(g.passed for g in results)
        failed = [g.name for g in results if not g.passed]
        steps.add("gates", passed, f"{len(results) - len(failed)}/{len(results)} passed")
        gate_module.print_gates(results, sys.stdout)
        if not passed:
            stop_canary()
            record["action"] = "canary"
            record["release"]["outcome"] = f"rejected: {', '.join(failed)} failed"
            path = write(record, False)
            print(
                f"release: REJECTED ({', '.join(failed)} failed); {d.app_name} is untouched; "
                f"record written to {path}"
            )
            return 1

        code, out = _capture(promote)
        steps.add("promote", code == 0, f"exit {code}", command=promote[1:])
        stop_canary()
        if code != 0:
            record["action"] = "canary"
            record["release"]["outcome"] = "promote failed"
            write(record, False)
            raise UserError(f"modal deploy of {d.app_name} failed with exit code {code}")
        record["release"]["outcome"] = "promoted"
        smoke_rc = None
        if d.release.smoke_after_promote:
            live_url, why = modal_endpoint_url(d.app_name, d.serving.is_server)
            if live_url is None:
                steps.add("smoke_live", False, why)
                smoke_rc = 1
            else:
                smoke_rc = run_smoke(
                    live_url,
                    key,
                    d.model.served_model_name,
                    timeout_s=d.release.wait_timeout,
                    proxy_headers=headers,
                )
                steps.add("smoke_live", smoke_rc == 0, f"smoke exit {smoke_rc} on {live_url}")
        if not smoke_rc:
            path = write(record, True)
            print(f"release: PROMOTED {tag} to {d.app_name}; record written to {path} (commit it)")
            return 0
        return _roll_back(loaded, record, steps, write)
    except BaseException:
        if canary_up:  # never leave a canary running (and billed) behind an error or Ctrl-C
            stop_canary()
        raise


def _roll_back(loaded: Loaded, record: dict[str, Any], steps: _Steps, write) -> int:
    """The live smoke failed after a promote: `modal app rollback` to the version before it."""
    d = loaded.deployment
    before = deploy_module.live_records(deploy_module.read_history(loaded.profile.name, d.app_name))
    command = deploy_module.rollback_command(d.app_name)
    code, _ = _capture(command)
    steps.add("rollback", code == 0, f"modal app rollback exit {code}", command=command[1:])
    record["release"]["outcome"] = "promoted, live smoke failed, " + (
        "rolled back" if code == 0 else "ROLLBACK FAILED"
    )
    write(record, True)
    target = before[-1] if before else None
    rollback = {
        **(target or {"sglang_version": "unknown", "settings": {}}),
        "action": "rollback",
        "profile": loaded.profile.name,
        "app_name": d.app_name,
        "tag": target["tag"] if target else "(the Modal version before the promote)",
        "rolled_back_from": record["tag"],
        "reason": "smoke of the live app failed after the promote",
        "ok": code == 0,
        "time": _now(),
        "deployed_by": getpass.getuser(),
    }
    rollback.pop("release", None)
    if code == 0:
        path = write(rollback, False)
        print(
            f"release: the live smoke FAILED after the promote; rolled {d.app_name} back to "
            f"{rollback['tag']}; record written to {path}"
        )
    else:
        print(
            f"release: the live smoke FAILED and `modal app rollback {d.app_name}` failed too "
            f"(exit {code}): {d.app_name} serves {record['tag']}; roll back by hand"
        )
    return 1


def dummy_run(loaded: Loaded, app_file: Path, rendered: str, *, dry_run: bool = False) -> int:
    """Deploy the dummy-weights variant under its own name, run the gates, stop it. Passes when
    every gate but the probe passes; the probe is expected to fail on random weights."""
    d = loaded.deployment
    deploy_command = deploy_module.deploy_command(loaded, app_file)
    stop = [deploy_module._modal(), "app", "stop", d.app_name, "--yes"]
    print(f"dummy weights (--load-format dummy): {d.app_name} is a dry run, never the live app")
    if dry_run:
        for command in (deploy_command, stop):
            print(shlex.join(command))
        return 0
    deploy_module._require_credentials()
    key, headers = _credentials(loaded)
    steps = _Steps()
    record = deploy_module.make_record(loaded, rendered)
    record["action"] = "dummy-run"
    record["dummy_weights"] = True
    record["release"] = {"steps": steps.steps, "gates": []}
    up = False
    try:
        code, out = _capture(deploy_command)
        up = code == 0
        url, why = modal_endpoint_url(d.app_name, d.serving.is_server) if up else (None, "")
        deployed_at = time.monotonic()
        steps.add("dummy_deploy", url is not None, f"exit {code}, endpoint {url or why}")
        results = (
            run_gates(
                loaded, normalize_base_url(url), key, headers, deployed_at, dummy_weights=True
            )
            if url
            else []
        )
    finally:
        if up:
            code, _ = _capture(stop)
            steps.add("stop_dummy", code == 0, f"modal app stop exit {code}", command=stop[1:])
    record["release"]["gates"] = [g.as_dict() for g in results]
    gate_module.print_gates(results, sys.stdout)
    serving = [g for g in results if g.name != "probe"]
    passed = bool(url) and all(g.passed for g in serving)
    probe_gate = next((g for g in results if g.name == "probe"), None)
    record["release"]["outcome"] = "serving path works" if passed else "serving path failed"
    path = deploy_module.write_record(record, rendered)
    note = ""
    if probe_gate is not None:
        note = (
            "; the probe passed on random weights: unexpected, check that --load-format dummy "
            "took effect"
            if probe_gate.passed
            else "; the probe failed, as expected on random weights"
        )
    verdict = "PASS" if passed else "FAIL"
    print(f"dummy run: {verdict} ({len(serving)} serving gates){note}; record written to {path}")
    return 0 if passed else 1
