"""Run a rendered app's container code in this process, the way Modal's container runtime does.

    python tests/container_runner.py APP_FILE {server,web_server,setup}

Modal's servers do not exist here. This imports the rendered app with the real `modal`, replaces
Volume.reload/commit (they need Modal's volume service) with calls that print what they did,
and then does what modal 1.6.4's container entrypoint does (`_container_entrypoint.call_server`,
`_runtime/user_code_imports.py`):
- server: construct the user class, run its @modal.enter() methods, wait for SIGTERM, run its
  @modal.exit() methods;
- web_server: call the function body once, then wait for SIGTERM (web Functions have no exit hook);
- setup: call warm_compile_caches once.
SGLang is whatever `python -m sglang...` finds: tests/fake_sglang_pkg on PYTHONPATH.

A clustered app's container learns its rank and its peers' addresses from Modal's control plane
at start (`modal._cluster._initialize_clustered_function`, TaskClusterHello). Here
FAKE_CLUSTER_RANK and FAKE_CLUSTER_IPS (comma-separated) stand in for that answer and are set
where modal 1.6.4 keeps it, `modal._cluster.current_cluster_context`.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import threading


def load(path: str):
    spec = importlib.util.spec_from_file_location("rendered_app", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rendered_app"] = module
    spec.loader.exec_module(module)
    return module


def stub_volumes(module) -> None:
    for name in ("weights_volume", "cache_volume"):
        volume = getattr(module, name)
        volume.reload = lambda name=name: print(f"runner: {name}.reload()", flush=True)
        volume.commit = lambda name=name: print(f"runner: {name}.commit()", flush=True)


def wait_for_sigterm() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("runner: ready", flush=True)
    while not stop.wait(0.1):
        pass
    print("runner: SIGTERM", flush=True)


def join_cluster() -> None:
    import os

    import modal._cluster

    if "FAKE_CLUSTER_RANK" in os.environ:
        modal._cluster.current_cluster_context = modal._cluster.ClusterContext(
            rank=int(os.environ["FAKE_CLUSTER_RANK"]),
            cluster_id="cu-local",
            container_ips=os.environ["FAKE_CLUSTER_IPS"].split(","),
            container_ipv4_ips=[],
            fabric_ids=[],
        )


def main(path: str, kind: str) -> int:
    from modal._partial_function import _find_callables_for_obj, _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer

    join_cluster()
    module = load(path)
    stub_volumes(module)
    if kind == "server":
        user_cls = synchronizer._translate_in(module.SGLangServer)._get_user_cls()
        instance = user_cls()
        enter = _find_callables_for_obj(instance, _PartialFunctionFlags.ENTER_POST_SNAPSHOT)
        for method in enter.values():
            method()
        wait_for_sigterm()
        for method in _find_callables_for_obj(instance, _PartialFunctionFlags.EXIT).values():
            method()
    elif kind == "web_server":
        synchronizer._translate_in(module.serve)._raw_f()
        wait_for_sigterm()
    else:
        synchronizer._translate_in(module.warm_compile_caches)._raw_f()
    print("runner: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
