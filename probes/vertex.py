"""Vertex AI (now "Gemini Enterprise Agent Platform"): Imagen ``:predict`` and Gemini image
models' ``:generateContent`` (probes/_content.py). Gemini 3 models are served on the ``global``
location only (host ``https://aiplatform.googleapis.com``): set ``location: global`` there.

``POST {base}/{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:predict`` with an
OAuth bearer token, or in express mode ``{base}/v1beta1/publishers/google/models/{m}:predict``
with an API key in ``x-goog-api-key``. The free control call is publishers.models.get,
``GET {base}/{v}/publishers/google/models/{m}``. The base URL chooses the host (regional,
global or multi-region); ``location`` only names the region in the path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import google.auth
import google.auth.exceptions
import google.auth.transport
import google.oauth2.credentials
import httpx
from google.auth.credentials import Credentials, TokenState
from google.oauth2 import service_account
from pydantic import BaseModel, ConfigDict, Field

from monitor import secrets
from monitor.interfaces import GatewayNames, GatewayOption, ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._google import GoogleImagesProbe, Method
from probes._listings import google_models

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


class VertexOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the Google Cloud project; unset: the project the credentials belong to
    project: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9:.-]*$")
    location: str = Field(default="us-central1", pattern=r"^[a-z0-9-]+$")
    #: unset: v1, or v1beta1 in express mode (the only version documented for it)
    api_version: Literal["v1", "v1beta1"] | None = None
    #: oauth: google-auth credentials (the credential variable names a key file, else
    #: application default credentials); api_key: express mode; token_env: the credential
    #: variable holds a bearer token (the simulator, short tests)
    auth: Literal["oauth", "api_key", "token_env"] = "oauth"
    method: Method = "auto"


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _LoopRequest(google.auth.transport.Request):
    """google-auth's transport, sending through the probe's httpx client on the event loop.

    google-auth refreshes synchronously, so the refresh runs in a worker thread and hands
    each HTTP call back to the loop: the token request uses the client monitor.http built,
    and the loop keeps timing other probes meanwhile.
    """

    def __init__(self, client: httpx.AsyncClient, timeout: float) -> None:
        self._client, self._timeout = client, max(0.001, timeout)
        self._loop = asyncio.get_running_loop()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> _Response:
        call = self._client.request(
            method, url, content=body, headers=headers, timeout=self._timeout
        )
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return _Response(future.result(timeout=self._timeout + 1))
        except (httpx.HTTPError, concurrent.futures.TimeoutError) as exc:
            future.cancel()
            failure = google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(exc).__name__
            )
            raise failure from exc


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _load(path: str | None) -> tuple[Credentials, str | None]:
    """Credentials from a key file (its type checked first, as google-auth advises), or ADC."""
    try:
        if not path:
            credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM])
            return credentials, _text(project)
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            sa = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return sa, _text(info.get("project_id"))
        if kind == "authorized_user":
            user = google.oauth2.credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return user, _text(info.get("quota_project_id"))
        raise ProbeFailure(Outcome.AUTH_ERROR, f"unsupported Google credential type {kind!r}")
    except (OSError, ValueError, google.auth.exceptions.DefaultCredentialsError) as exc:
        raise ProbeFailure(Outcome.AUTH_ERROR, f"no usable Google credentials: {exc}") from None


def _refresh(credentials: Credentials, request: _LoopRequest) -> None:
    try:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    except google.auth.exceptions.TransportError as exc:
        if isinstance(exc.__cause__, httpx.HTTPError):
            raise exc.__cause__ from None  # the runner maps transport errors
        raise ProbeFailure(Outcome.TIMEOUT, "token request did not finish") from None
    except google.auth.exceptions.RefreshError as exc:
        outcome = Outcome.SERVER_ERROR if exc.retryable else Outcome.AUTH_ERROR
        raise ProbeFailure(outcome, f"token refresh failed: {exc}"[:500]) from None


class VertexProbe(GoogleImagesProbe):
    Options: ClassVar[type[BaseModel]] = VertexOptions
    # LiteLLM ``vertex_ai/`` authenticates with a service account (a file), not an API key,
    # and takes project and location (docs.litellm.ai/docs/providers/vertex); OpenRouter's
    # Google Vertex slug; Portkey ``vertex-ai``, whose config schema requires both region and
    # project id (Portkey-AI/gateway src/middlewares/requestValidator/schema/config.ts)
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="vertex_ai",
        litellm_credential="vertex_credentials",
        litellm_options=(
            GatewayOption(
                key="vertex_project", option="project", default="os.environ/VERTEXAI_PROJECT"
            ),
            GatewayOption(key="vertex_location", option="location", default="us-central1"),
        ),
        openrouter="google-vertex",
        portkey="vertex-ai",
        portkey_options=(
            GatewayOption(key="vertex_region", option="location", default="us-central1"),
            GatewayOption(
                key="vertex_project_id", option="project", default="${VERTEX_PROJECT_ID}"
            ),
        ),
    )
    fake: ClassVar[str] = "vertex"

    @staticmethod
    def preflight(options: BaseModel, secret: str | None) -> str | None:
        """Why the credentials cannot work, checked at start; None when they load.

        Without this, missing application default credentials surface only as
        ``auth_error`` probes: an account problem that would look like an outage.
        Loading reads the key file or ADC (gcloud's file, the metadata server on GCE);
        no token is requested.
        """
        if not isinstance(options, VertexOptions) or options.auth != "oauth":
            return None
        try:
            _load(secret)
        except ProbeFailure as exc:
            hint = (
                "the key file named by the credential variable"
                if secret
                else "application default credentials: run `gcloud auth application-default "
                "login`, or set the credential variable to a service-account key file"
            )
            first = (exc.message.splitlines() or ["no usable Google credentials"])[0]
            return f"{first[:200]} (check {hint})"
        return None

    def __init__(self) -> None:
        # one set of credentials per provider, shared by its offerings' probes
        self._credentials: Credentials | None = None
        self._project: str | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def _options(ctx: ProbeContext) -> VertexOptions:
        assert isinstance(ctx.options, VertexOptions)
        return ctx.options

    def _version(self, options: VertexOptions) -> str:
        return options.api_version or ("v1beta1" if options.auth == "api_key" else "v1")

    async def auth_headers(self, ctx: ProbeContext) -> dict[str, str]:
        options = self._options(ctx)
        if options.auth == "api_key":
            return {"x-goog-api-key": ctx.secret} if ctx.secret else {}
        if options.auth == "token_env":
            return {"Authorization": f"Bearer {ctx.secret}"} if ctx.secret else {}
        credentials = await self._fresh_credentials(ctx)
        headers = {"Authorization": f"Bearer {credentials.token}"}
        if credentials.quota_project_id:
            headers["x-goog-user-project"] = credentials.quota_project_id
        return headers

    async def _fresh_credentials(self, ctx: ProbeContext) -> Credentials:
        async with self._lock:  # offerings probed together refresh once
            if self._credentials is None:
                loaded = await asyncio.to_thread(_load, ctx.secret)
                self._credentials, self._project = loaded
            credentials = self._credentials
            # STALE means within google-auth's refresh margin (3m45s): refresh before expiry
            if credentials.token_state != TokenState.FRESH:
                request = _LoopRequest(ctx.client, ctx.time_left())
                await asyncio.to_thread(_refresh, credentials, request)
                secrets.register(credentials.token)
        return credentials

    def model_url(self, ctx: ProbeContext) -> str:
        options = self._options(ctx)
        model = f"publishers/google/models/{ctx.provider_model}"
        if options.auth == "api_key":  # express mode: no project in the path
            return f"{ctx.base_url}/{self._version(options)}/{model}"
        project = options.project or self._project
        if not project:
            raise ProbeFailure(Outcome.BAD_REQUEST, "no Google Cloud project: set options.project")
        location = f"projects/{project}/locations/{options.location}"
        return f"{ctx.base_url}/{self._version(options)}/{location}/{model}"

    def metadata_url(self, ctx: ProbeContext) -> str:
        version = self._version(self._options(ctx))
        return f"{ctx.base_url}/{version}/publishers/google/models/{ctx.provider_model}"

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """Vertex AI's publisher models (``publishers.models.list``, v1beta1); which of them
        a region serves is UNCONFIRMED, so a model missing here is "unlisted", not gone."""
        url = f"{ctx.base_url}/v1beta1/publishers/google/models"
        return await google_models(ctx, url, await self.auth_headers(ctx), "publisherModels")
