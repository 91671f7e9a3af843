"""Gateway configs from routes: LiteLLM, OpenRouter and Portkey. Pure: dicts in, dicts out.

Each builder takes the routes (:class:`~monitor.routing.Route`) and the gateway-facing
facts of each offering (:class:`GatewayTarget`, from the config) and returns a plain dict
that :func:`render` prints as JSON or YAML. Secrets are never exported: credentials are
references the gateway resolves (LiteLLM ``os.environ/NAME``, Portkey virtual keys or
``${NAME}`` placeholders for envsubst). Excluded offerings (rank 0) are never routed to.

What was checked, per gateway:

- LiteLLM (BerriAI/litellm 1.106.2, installed as a dev dependency; docs.litellm.ai
  /docs/routing and /docs/proxy/configs): ``model_list`` entries are ``model_name`` +
  ``litellm_params`` + ``model_info``; ``litellm_params.order`` is read by
  ``litellm.utils.get_deployment_order`` and ``Router`` keeps only the lowest order, then
  falls back order by order (router.py, "ORDER FILTERING"); ``litellm_params.weight`` is
  read by ``router_strategy/simple_shuffle.py``; ``router_settings`` keys are ``Router``
  constructor arguments (``routing_strategy``, ``num_retries``, ``allowed_fails``,
  ``cooldown_time``, ``enable_pre_call_checks``, ``retry_policy``, ``allowed_fails_policy``).
  Model names are ``<prefix>/<provider_model>``, the prefix from the protocol's
  :class:`~monitor.interfaces.GatewayNames` (``litellm.get_llm_provider`` resolves each).
  tests/test_exports.py loads the output with LiteLLM's own ``Router``.
- OpenRouter (openrouter.ai/docs/features/provider-routing; the SDKs' ``MaxPrice``):
  ``provider`` has ``order`` (slugs), ``allow_fallbacks``, ``ignore`` and ``max_price``
  whose ``image`` is USD per image. A protocol without an OpenRouter slug is left out.
- Portkey (Portkey-AI/gateway src/middlewares/requestValidator/schema/config.ts, globals.ts;
  portkey.ai/docs/product/ai-gateway/fallbacks and load-balancing): ``strategy.mode`` is
  ``fallback`` or ``loadbalance`` with ``targets``, targets nest, ``weight`` is relative;
  ``custom_host`` for OpenAI-compatible resellers; ``override_params.model`` picks the model.

What each gateway calls a protocol is declared on the protocol's probe class
(``gateways``, a :class:`~monitor.interfaces.GatewayNames`); :func:`targets_from_config`
reads it through ``PROBES``, so a new protocol needs no edit here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from monitor.config import Config
from monitor.interfaces import GatewayNames, GatewayOption
from monitor.routing import PolicyName, Route, RouteEntry, Tier
from monitor.secrets import redact_url
from probes import PROBES


@dataclass(frozen=True, kw_only=True)
class GatewayTarget:
    """How a gateway reaches one offering (no secrets: only the variable's name)."""

    offering: str
    provider: str
    protocol: str
    provider_model: str
    base_url: str
    #: what the gateways call the offering's protocol
    gateways: GatewayNames
    credential_env: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def option_fields(self, wanted: Sequence[GatewayOption]) -> dict[str, Any]:
        """The gateway fields read from the provider's options (their defaults when unset)."""
        return {o.key: self.options.get(o.option) or o.default for o in wanted}


def targets_from_config(config: Config) -> dict[str, GatewayTarget]:
    """A :class:`GatewayTarget` per configured offering, with its protocol's gateway names."""
    out = {}
    for key, offering in config.offerings.items():
        provider = config.providers[config.provider_of(key)]
        out[key] = GatewayTarget(
            offering=key,
            provider=config.provider_of(key),
            protocol=provider.protocol,
            provider_model=offering.provider_model,
            # the config refuses credentials in URLs; this keeps any out of a published config
            base_url=redact_url(provider.base_url),
            gateways=PROBES[provider.protocol].gateways,
            credential_env=provider.credential_env,
            options=dict(provider.options),
        )
    return out


def _routable(route: Route, targets: Mapping[str, GatewayTarget]) -> list[RouteEntry]:
    return [e for e in route.ranked if e.offering in targets]


# -- LiteLLM --------------------------------------------------------------------------------

#: a generation is billed and slow: retry elsewhere, not on the deployment that failed;
#: a timed-out generation may still be billed, and content filtering is about the prompt
LITELLM_ROUTER_SETTINGS: dict[str, Any] = {
    "routing_strategy": "simple-shuffle",
    "num_retries": 1,
    "timeout": 120,
    "allowed_fails": 1,
    "cooldown_time": 60,
    "enable_pre_call_checks": True,
    "retry_policy": {
        "TimeoutErrorRetries": 0,
        "RateLimitErrorRetries": 0,
        "ContentPolicyViolationErrorRetries": 0,
        "BadRequestErrorRetries": 0,
        "AuthenticationErrorRetries": 0,
        "InternalServerErrorRetries": 1,
    },
    "allowed_fails_policy": {"ContentPolicyViolationErrorAllowedFails": 1000},
}


def _litellm_params(t: GatewayTarget) -> dict[str, Any] | None:
    names = t.gateways
    if names.litellm is None:
        return None
    params: dict[str, Any] = {"model": f"{names.litellm}/{t.provider_model}"}
    params.update(t.option_fields(names.litellm_options))
    if t.credential_env:
        params[names.litellm_credential] = f"os.environ/{t.credential_env}"
    if names.needs_base_url:
        params["api_base"] = t.base_url
    return params


def litellm_config(
    routes: Sequence[Route],
    targets: Mapping[str, GatewayTarget],
    *,
    router_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A LiteLLM proxy ``config.yaml`` body: ``model_list`` + ``router_settings``.

    ``order`` is the route's rank (1 first; LiteLLM falls back order by order). A balanced
    route's weighted offerings share ``order: 1`` with their ``weight``. Pass one route per
    model (one policy), or later routes of the same model are appended after it.
    """
    model_list: list[dict[str, Any]] = []
    for route in routes:
        balanced = route.policy == PolicyName.BALANCED
        order = 0
        for entry in _routable(route, targets):
            params = _litellm_params(targets[entry.offering])
            if params is None:
                continue
            weighted = balanced and entry.weight > 0
            order = 1 if weighted else order + 1
            params["order"] = order
            if weighted:
                params["weight"] = entry.weight
            model_list.append(
                {
                    "model_name": route.model,
                    "litellm_params": params,
                    "model_info": {"id": entry.offering, "mode": "image_generation"},
                }
            )
    settings = dict(LITELLM_ROUTER_SETTINGS if router_settings is None else router_settings)
    return {"model_list": model_list, "router_settings": settings}


# -- OpenRouter -----------------------------------------------------------------------------


def openrouter_provider(
    route: Route, targets: Mapping[str, GatewayTarget], *, max_price_usd: float | None = None
) -> dict[str, Any]:
    """The request's ``provider`` object for one model.

    ``order`` follows the route; excluded offerings go to ``ignore``; ``max_price.image`` is
    ``max_price_usd`` or else the highest listed price among the ordered offerings, so
    OpenRouter never picks something dearer than what provmon chose.
    """
    order: list[str] = []
    prices: list[float] = []
    ignore: list[str] = []
    for entry in route.entries:
        target = targets.get(entry.offering)
        slug = target.gateways.openrouter if target else None
        if slug is None:
            continue
        if entry.tier == Tier.EXCLUDED:
            ignore.append(slug)
        elif slug not in order:
            order.append(slug)
            if entry.price_usd is not None:
                prices.append(float(entry.price_usd))
    provider: dict[str, Any] = {"order": order, "allow_fallbacks": True}
    if ignore:
        provider["ignore"] = [s for s in dict.fromkeys(ignore) if s not in order]
    ceiling = max_price_usd if max_price_usd is not None else max(prices, default=None)
    if ceiling is not None:
        provider["max_price"] = {"image": ceiling}
    return provider


def openrouter_config(
    routes: Sequence[Route], targets: Mapping[str, GatewayTarget]
) -> dict[str, Any]:
    """``{model: {"provider": {...}}}``: merge the model's entry into the request body."""
    return {r.model: {"provider": openrouter_provider(r, targets)} for r in routes}


# -- Portkey --------------------------------------------------------------------------------

#: fall back on rate limits, timeouts and server errors, not on a bad request
PORTKEY_FALLBACK_CODES = [408, 429, 500, 502, 503, 504]

Credentials = Literal["virtual_key", "env"]


def _portkey_target(
    t: GatewayTarget, credentials: Credentials, virtual_keys: Mapping[str, str]
) -> dict[str, Any] | None:
    names = t.gateways
    if names.portkey is None:
        return None
    target: dict[str, Any] = {"provider": names.portkey}
    if credentials == "virtual_key":
        target["virtual_key"] = virtual_keys.get(t.provider, t.provider)
    elif t.credential_env:
        target["api_key"] = "${" + t.credential_env + "}"
    target["override_params"] = {"model": t.provider_model}
    target.update(t.option_fields(names.portkey_options))
    if names.needs_base_url:
        target["custom_host"] = t.base_url
    return target


def portkey_route_config(
    route: Route,
    targets: Mapping[str, GatewayTarget],
    *,
    credentials: Credentials = "virtual_key",
    virtual_keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One model's Portkey config: ``fallback`` over the ranked targets; a balanced route's
    weighted targets become a nested ``loadbalance`` group tried first."""
    keys = virtual_keys or {}
    weighted: list[dict[str, Any]] = []
    ordered: list[dict[str, Any]] = []
    for entry in _routable(route, targets):
        target = _portkey_target(targets[entry.offering], credentials, keys)
        if target is None:
            continue
        if route.policy == PolicyName.BALANCED and entry.weight > 0:
            weighted.append({**target, "weight": entry.weight})
        else:
            ordered.append(target)
    if len(weighted) > 1:
        ordered.insert(0, {"strategy": {"mode": "loadbalance"}, "targets": weighted})
    elif weighted:
        ordered.insert(0, {k: v for k, v in weighted[0].items() if k != "weight"})
    return {
        "strategy": {"mode": "fallback", "on_status_codes": list(PORTKEY_FALLBACK_CODES)},
        "targets": ordered,
    }


def portkey_config(
    routes: Sequence[Route],
    targets: Mapping[str, GatewayTarget],
    *,
    credentials: Credentials = "virtual_key",
    virtual_keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{model: config}``: send a model's config in the ``x-portkey-config`` header."""
    return {
        r.model: portkey_route_config(
            r, targets, credentials=credentials, virtual_keys=virtual_keys
        )
        for r in routes
    }


# -- output ---------------------------------------------------------------------------------


def routes_json(routes: Sequence[Route]) -> dict[str, Any]:
    """provmon's own view, as ``/api/routing`` and ``provmon route --format json`` print it."""
    return {"routes": [r.as_dict() for r in routes]}


Builder = Callable[[Sequence[Route], Mapping[str, GatewayTarget]], dict[str, Any]]

#: ``provmon route --format`` choices
FORMATS: dict[str, Builder] = {
    "json": lambda routes, _targets: routes_json(routes),
    "litellm": litellm_config,
    "openrouter": openrouter_config,
    "portkey": portkey_config,
}


def render(data: Mapping[str, Any], fmt: Literal["json", "yaml"] = "json") -> str:
    """Text for a file or stdout: JSON (2-space indent) or YAML (LiteLLM's config.yaml)."""
    if fmt == "yaml":
        return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
