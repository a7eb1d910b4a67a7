"""A stand-in for Modal's control plane, for the real `modal` CLI (modal 1.6.4) to talk to.

Modal's servers cannot exist here. This serves Modal's own gRPC service definition
(modal_proto.api_grpc.ModalClientBase, from the installed client) on 127.0.0.1 and answers the
calls that `modal deploy`, `modal app stop` and `modal app rollback` make, keeping what a
control plane keeps for this purpose: each app's versions (deployment tags, newest last) and
whether it is deployed or stopped. Everything else is UNIMPLEMENTED, so a CLI that starts
calling something new fails loudly instead of passing by accident. Nothing is built or run: an
image "builds" at once and a Server's URL is whatever the test maps the app name to (a stand-in
SGLang), printed by the real CLI as Modal's would be and answered to `Server.from_name(...)
.get_url()` / `Function.from_name(...).get_web_url()` (FunctionGet).

    with FakeModalPlane(urls={"my-app": "http://127.0.0.1:..."}) as plane:
        env = {"MODAL_SERVER_URL": plane.url, "MODAL_TOKEN_ID": "ak-x", ...}
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import grpclib.server
from google.protobuf import empty_pb2
from grpclib import GRPCError, Status
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase


def _unary(respond: Callable[[Any], Any]):
    async def handler(self, stream) -> None:
        request = await stream.recv_message()
        with self.plane.lock:
            self.plane.calls.append((handler.rpc, request))
            response = respond(request)
        await stream.send_message(response)

    return handler


def _unimplemented(name: str):
    async def handler(self, stream) -> None:
        raise GRPCError(Status.UNIMPLEMENTED, f"fake control plane: {name} is not implemented")

    return handler


class FakeModalPlane:
    def __init__(self, urls: dict[str, str] | None = None) -> None:
        self.urls = dict(urls or {})
        self.apps: dict[str, dict[str, Any]] = {}  # name -> {"id", "versions", "state"}
        # (app name, function name) -> (function id, FunctionData, URL), as deployed
        self.functions: dict[tuple[str, str], tuple[str, Any, str]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._app_names: dict[str, str] = {}  # app id being deployed -> its name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: grpclib.server.Server | None = None
        self.url = ""

    # -- state ----------------------------------------------------------------------------------
    def deployed(self, name: str, versions: list[str]) -> None:
        """An app already live with these versions (set up by a test)."""
        self.apps[name] = {"id": self._id("ap"), "versions": list(versions), "state": "deployed"}

    def rpcs(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):022d}"

    def _by_id(self, app_id: str) -> tuple[str, dict[str, Any]]:
        for name, app in self.apps.items():
            if app["id"] == app_id:
                return name, app
        raise GRPCError(Status.NOT_FOUND, f"no app {app_id}")

    # -- the RPCs ---------------------------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[Any], Any]]:
        def app_create(r):
            app_id = self._id("ap")
            self._app_names[app_id] = r.description  # `modal deploy --name` sends the name here
            return api_pb2.AppCreateResponse(app_id=app_id, app_page_url="https://modal.com/apps")

        def app_layout(r):  # `modal deploy` to a deployed name builds on its layout
            name, _ = self._by_id(r.app_id)
            self._app_names[r.app_id] = name
            return api_pb2.AppGetLayoutResponse(app_layout=api_pb2.AppLayout())

        def function_metadata(r_name: str, r_type: int, app_id: str):
            return api_pb2.FunctionHandleMetadata(
                function_name=r_name, function_type=r_type, app_id=app_id
            )

        def function_create(r):
            if r.HasField("function_data"):
                data, fn = r.function_data, r.function_data.ranked_functions[0].function
            else:
                fn = r.function
                ranked = api_pb2.FunctionData.RankedFunction(rank=0, function=fn)
                data = api_pb2.FunctionData(ranked_functions=[ranked])
            response = api_pb2.FunctionCreateResponse(
                function_id=r.existing_function_id or self._id("fu"), function_data=data
            )
            response.function.CopyFrom(fn)
            response.handle_metadata.CopyFrom(
                function_metadata(fn.function_name, fn.function_type, r.app_id)
            )
            name = self._app_names.get(r.app_id, "")
            url = self.urls.get(name, f"https://ws--{name}-{fn.function_name.lower()}.modal.run")
            if fn.is_server:  # modal/_output/status.py prints flash_service_urls[0]
                response.function.flash_service_urls.append(url)
            self.functions[(name, fn.function_name)] = (response.function_id, data, url)
            return response

        def function_get(r):
            """`Function.from_name` / `Server.from_name`: the deployed function's metadata, with
            its URL where modal 1.6.4 reads it (_functions.py `_hydrate_metadata`)."""
            found = self.functions.get((r.app_name, r.object_tag))
            if found is None:
                raise GRPCError(Status.NOT_FOUND, f"no {r.object_tag} in {r.app_name}")
            function_id, data, url = found
            metadata = function_metadata(r.object_tag, 0, "")
            if data.ranked_functions[0].function.is_server:
                metadata._experimental_flash_urls.append(url)
            else:
                metadata.web_url = url
            return api_pb2.FunctionGetResponse(
                function_id=function_id, handle_metadata=metadata, function=data
            )

        def app_publish(r):
            name = r.name
            app = self.apps.setdefault(name, {"id": r.app_id, "versions": [], "state": "stopped"})
            app.update(id=r.app_id, state="deployed")
            app["versions"].append(r.deployment_tag)
            return api_pb2.AppPublishResponse(
                url=f"https://modal.com/apps/ws/main/deployed/{name}", deployed_at=time.time()
            )

        def app_by_name(r):
            response = api_pb2.AppGetByDeploymentNameResponse(environment_name="main")
            app = self.apps.get(r.name)
            if app and app["state"] == "deployed":
                response.app_id = app["id"]
                response.lifecycle.app_state = api_pb2.APP_STATE_DEPLOYED
            elif app:
                response.previous_app_id = app["id"]
                response.lifecycle.app_state = api_pb2.APP_STATE_STOPPED
            return response

        def app_stop(r):
            _, app = self._by_id(r.app_id)
            app["state"] = "stopped"
            return empty_pb2.Empty()

        def app_rollback(r):
            name, app = self._by_id(r.app_id)
            if len(app["versions"]) < 2:
                raise GRPCError(Status.FAILED_PRECONDITION, f"App '{name}' has no earlier version")
            index = -2 if r.version == -1 else r.version - 1
            app["versions"].append(app["versions"][index])
            return api_pb2.AppRollbackResponse(
                url=f"https://modal.com/apps/ws/main/deployed/{name}", deployed_at=time.time()
            )

        env = api_pb2.EnvironmentMetadata(
            name="main",
            settings=api_pb2.EnvironmentSettings(
                image_builder_version="2025.06", webhook_suffix="modal.run"
            ),
        )
        ok = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)
        return {
            "ClientHello": lambda r: api_pb2.ClientHelloResponse(),
            "EnvironmentGetOrCreate": lambda r: api_pb2.EnvironmentGetOrCreateResponse(
                environment_id=self._id("en"), metadata=env
            ),
            "AppCreate": app_create,
            "AppGetLayout": app_layout,
            "AppHeartbeat": lambda r: empty_pb2.Empty(),
            "AppClientDisconnect": lambda r: empty_pb2.Empty(),
            "VolumeGetOrCreate": lambda r: api_pb2.VolumeGetOrCreateResponse(
                volume_id=self._id("vo")
            ),
            "SecretGetOrCreate": lambda r: api_pb2.SecretGetOrCreateResponse(
                secret_id=self._id("st")
            ),
            "ImageGetOrCreate": lambda r: api_pb2.ImageGetOrCreateResponse(
                image_id=self._id("im"), result=ok
            ),
            "MountBatchedCheckExistence": lambda r: api_pb2.MountBatchedCheckExistenceResponse(),
            "MountPutFile": lambda r: api_pb2.MountPutFileResponse(exists=True),
            "MountGetOrCreate": lambda r: api_pb2.MountGetOrCreateResponse(mount_id=self._id("mo")),
            "FunctionPrecreate": lambda r: api_pb2.FunctionPrecreateResponse(
                function_id=self._id("fu"),
                handle_metadata=function_metadata(r.function_name, r.function_type, r.app_id),
            ),
            "FunctionCreate": function_create,
            "FunctionGet": function_get,
            "AppPublish": app_publish,
            "AppGetByDeploymentName": app_by_name,
            "AppStop": app_stop,
            "AppRollback": app_rollback,
        }

    def _servicer(self) -> ModalClientBase:
        namespace: dict[str, Any] = {
            name: _unimplemented(name) for name in ModalClientBase.__abstractmethods__
        }
        for name, respond in self._handlers().items():
            handler = _unary(respond)
            handler.rpc = name
            namespace[name] = handler
        servicer = type("FakeModalServicer", (ModalClientBase,), namespace)()
        servicer.plane = self
        return servicer

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> FakeModalPlane:
        started = threading.Event()
        ports: list[int] = []

        async def serve() -> None:
            self._server = grpclib.server.Server([self._servicer()])
            await self._server.start("127.0.0.1", 0)
            ports.append(self._server._server.sockets[0].getsockname()[1])
            started.set()
            await self._server.wait_closed()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake Modal control plane did not start")
        self.url = f"http://127.0.0.1:{ports[0]}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.close)
            self._thread.join(10)
