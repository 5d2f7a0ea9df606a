"""OpenAI SDK client for the reasoner NIM: construction, model discovery and one-line error mapping."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import openai

from cosmosctl.errors import CosmosError
from cosmosctl.media import prepare_messages

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "CosmosError",
    "chat_completion",
    "make_client",
    "map_error",
    "normalize_base_url",
    "pick_model",
    "translate_errors",
]

# Long enough for a non-streamed answer about a video; the ALB's idle timeout must be at least this
# (a shorter ALB idle timeout ends such requests with 504: stream instead).
DEFAULT_TIMEOUT_S = 300.0
# The OpenAI SDK retries connection errors, 408, 409, 429 and 5xx with exponential backoff and
# jitter (0.5 s doubling, capped at 8 s, honouring Retry-After); we keep its mechanism.
DEFAULT_MAX_RETRIES = 3

_READY_HINT = (
    "The NIM may still be starting (image pull, weight download and compile take tens of minutes on "
    "first start): check GET /v1/health/ready and the stack's LogGroupName logs."
)


# Words in a 400 that mean the server refused per-request multimodal kwargs (vLLM >= 0.31 without
# --trust-request-mm-kwargs; https://github.com/vllm-project/vllm/releases/tag/v0.31.0).
_MM_KWARGS_WORDS = (
    "mm_processor_kwargs",
    "media_io_kwargs",
    "trust-request-mm-kwargs",
    "trust_request_mm_kwargs",
)
_MM_KWARGS_HINT = (
    "This server does not accept per-request video sampling (vLLM 0.31 and later refuse "
    "mm_processor_kwargs and media_io_kwargs unless started with --trust-request-mm-kwargs). "
    "Drop --server-side-sampling: by default cosmosctl samples the video itself (--fps, --max-frames)."
)

# Clients made by make_client() talk to our reasoner behind the stack's ALB; their errors get hints
# about the ALB, the key and the NIM. Any other OpenAI endpoint (the DIY assistant's general LLM)
# gets hints that do not blame our infrastructure.
_REASONER_CLIENTS: weakref.WeakSet[openai.OpenAI] = weakref.WeakSet()


def normalize_base_url(endpoint: str) -> str:
    """``https://host`` or ``https://host/v1/`` -> ``https://host/v1`` (what the OpenAI SDK wants)."""
    url = endpoint.strip().rstrip("/")
    try:
        parsed = urlparse(url)
        host = parsed.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        host = None
    if host is None or parsed.scheme not in ("http", "https"):
        raise CosmosError(
            f"Invalid endpoint URL: {endpoint!r}",
            "Use the stack's EndpointUrl, e.g. https://cosmos.example.com (with or without /v1).",
        )
    if url.endswith("/v1/chat/completions"):
        url = url[: -len("/chat/completions")]
    if not url.endswith("/v1"):
        url += "/v1"
    return url


def make_client(
    base_url: str,
    api_key: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for the NIM behind ``base_url`` (``/v1`` is added when missing)."""
    if timeout <= 0:
        raise CosmosError(f"--timeout must be positive, got {timeout}.")
    if max_retries < 0:
        raise CosmosError(f"--max-retries must be 0 or more, got {max_retries}.")
    client = openai.OpenAI(
        base_url=normalize_base_url(base_url),
        # The SDK refuses an empty key; a NIM run without the ALB in front needs none.
        api_key=api_key or "none",
        timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
        max_retries=max_retries,
    )
    _REASONER_CLIENTS.add(client)
    return client


def is_reasoner_client(client: object) -> bool:
    """Whether ``client`` was made by :func:`make_client` (our reasoner endpoint)."""
    try:
        return client in _REASONER_CLIENTS
    except TypeError:  # an unhashable stand-in
        return False


def _server_message(exc: openai.APIStatusError) -> str:
    body: Any = exc.body
    message: Any = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        message = message or body.get("message") or body.get("detail")
    if message is None:
        try:
            message = exc.response.text
        except Exception:
            message = None
    text = " ".join(str(message or "").split())
    return text[:300] + ("..." if len(text) > 300 else "")


def map_error(
    exc: BaseException, base_url: str | None = None, *, reasoner: bool = True, sent_mm_kwargs: bool = False
) -> CosmosError:
    """Translate an OpenAI SDK exception into a one-line CosmosError with a hint.

    ``reasoner=False`` for endpoints that are not our stack's (e.g. the DIY assistant's general LLM):
    the hints then name that endpoint's own settings, not the ALB, its key or the NIM.
    ``sent_mm_kwargs``: the request carried per-request multimodal kwargs, so a 400/422 is read as
    the server refusing them (vLLM >= 0.31's default) even when its message does not name them.
    """
    where = f" at {base_url}" if base_url else ""
    if isinstance(exc, CosmosError):
        return exc
    if not reasoner:
        return _map_other_error(exc, where)
    if isinstance(exc, openai.APITimeoutError):
        return CosmosError(
            f"The endpoint{where} did not answer in time.",
            "Raise --timeout, ask for fewer --max-tokens, or stream the answer (--stream). " + _READY_HINT,
        )
    if isinstance(exc, openai.APIConnectionError):
        return CosmosError(
            f"Could not connect to the endpoint{where}.",
            "Check the URL (cosmosctl endpoint), that the stack finished deploying, and that the ALB's "
            "security group allows your IP.",
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _server_message(exc)
        said = f": {detail}" if detail else "."
        if status == 401:
            return CosmosError(
                f"The endpoint rejected the API key (401){said}",
                'Load the key with eval "$(cosmosctl endpoint --env)" or pass --api-key.',
            )
        if status == 403:
            return CosmosError(
                f"Forbidden (403){said}",
                "The load balancer only forwards /v1 API paths with a valid 'Authorization: Bearer <key>': "
                'check the key (eval "$(cosmosctl endpoint --env)").',
            )
        if status == 404:
            return CosmosError(
                f"Not found (404){said}",
                "Check --model against GET /v1/models and that the endpoint URL has no extra path.",
            )
        if status == 413:
            return CosmosError(
                f"Request too large for the endpoint (413){said}", "Send smaller or fewer images/videos."
            )
        if status in (400, 422) and (sent_mm_kwargs or any(w in detail.lower() for w in _MM_KWARGS_WORDS)):
            return CosmosError(
                f"The NIM rejected the request's video sampling ({status}){said}", _MM_KWARGS_HINT
            )
        if status in (400, 422):
            return CosmosError(
                f"The NIM rejected the request ({status}){said}",
                "Check the number and type of images/videos (NIM_MAX_IMAGES_PER_PROMPT, "
                "NIM_MAX_VIDEOS_PER_PROMPT) and --max-tokens against NIM_MAX_MODEL_LEN.",
            )
        if status == 429:
            return CosmosError(f"The endpoint is busy (429){said}", "Retry later or lower --concurrency.")
        if status == 504:
            return CosmosError(
                f"Gateway timeout (504){said}",
                "The load balancer's idle timeout ended a long answer: use --stream or ask for fewer "
                "--max-tokens. " + _READY_HINT,
            )
        if status in (502, 503):
            return CosmosError(f"The endpoint is not ready ({status}){said}", _READY_HINT)
        if status >= 500:
            return CosmosError(
                f"The NIM failed with a server error ({status}){said}",
                "See the container logs in the stack's LogGroupName output.",
            )
        return CosmosError(f"The endpoint answered HTTP {status}{said}")
    if isinstance(exc, openai.OpenAIError):
        return CosmosError(f"OpenAI client error: {exc}")
    return CosmosError(f"Unexpected error: {type(exc).__name__}: {exc}")


def _map_other_error(exc: BaseException, where: str) -> CosmosError:
    """One-line errors for an OpenAI-compatible endpoint that is not our reasoner."""
    if isinstance(exc, openai.APITimeoutError):
        return CosmosError(
            f"The endpoint{where} did not answer in time.", "Raise --timeout or ask for a shorter answer."
        )
    if isinstance(exc, openai.APIConnectionError):
        return CosmosError(
            f"Could not connect to the endpoint{where}.",
            "Check that URL (scheme, host, port, path) and that this machine can reach it "
            "(network, proxy, VPN).",
        )
    if isinstance(exc, openai.APIStatusError):
        detail = _server_message(exc)
        said = f": {detail}" if detail else "."
        hints = {
            401: "Check the API key this endpoint expects.",
            403: "The key lacks access to this endpoint or model.",
            404: "Check the model id and the base URL's path (many providers serve under /v1).",
            429: "Rate limited: retry later.",
        }
        return CosmosError(
            f"The endpoint{where} answered HTTP {exc.status_code}{said}", hints.get(exc.status_code)
        )
    if isinstance(exc, openai.OpenAIError):
        return CosmosError(f"OpenAI client error{where}: {exc}")
    return CosmosError(f"Unexpected error: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def translate_errors(
    base_url: str | None = None, *, reasoner: bool = True, sent_mm_kwargs: bool = False
) -> Iterator[None]:
    """Re-raise OpenAI SDK errors inside the block as CosmosError one-liners."""
    try:
        yield
    except openai.OpenAIError as exc:
        raise map_error(exc, base_url, reasoner=reasoner, sent_mm_kwargs=sent_mm_kwargs) from exc


def _origin(client: openai.OpenAI) -> str:
    return str(client.base_url).rstrip("/")


def pick_model(client: openai.OpenAI, model: str | None) -> str:
    """``model`` when given, else the served model from ``GET /v1/models`` (a reasoner first)."""
    if model:
        return model
    reasoner = is_reasoner_client(client)
    with translate_errors(_origin(client), reasoner=reasoner):
        ids = [m.id for m in client.models.list()]
    if not ids:
        raise CosmosError(
            "The endpoint serves no models (GET /v1/models is empty).",
            _READY_HINT if reasoner else "Pass the model id (e.g. --llm-model).",
        )
    reasoners = [i for i in ids if "reasoner" in i.lower()]
    return (reasoners or ids)[0]


def _stream_with_translation(stream: Any, base_url: str, reasoner: bool, sent_mm: bool) -> Iterator[Any]:
    with translate_errors(base_url, reasoner=reasoner, sent_mm_kwargs=sent_mm), contextlib.closing(stream):
        yield from stream


def chat_completion(
    client: openai.OpenAI,
    model: str,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int = 1024,
    stream: bool = False,
    temperature: float | None = None,
    include_usage: bool = True,
    extra_body: dict[str, Any] | None = None,
) -> Any:
    """POST /v1/chat/completions with media markers hoisted (see ``media.prepare_messages``).

    Returns a ``ChatCompletion``, or with ``stream=True`` an iterator of ``ChatCompletionChunk``
    (with a final usage chunk when ``include_usage``). Errors surface as CosmosError.
    """
    clean, extra = prepare_messages(messages)
    body = {**extra, **(extra_body or {})}
    kwargs: dict[str, Any] = {"model": model, "messages": clean, "max_tokens": max_tokens}
    if temperature is not None:
        kwargs["temperature"] = temperature
    if body:
        kwargs["extra_body"] = body
    base = _origin(client)
    reasoner = is_reasoner_client(client)
    sent_mm = any(k in body for k in ("mm_processor_kwargs", "media_io_kwargs"))
    with translate_errors(base, reasoner=reasoner, sent_mm_kwargs=sent_mm):
        if not stream:
            return client.chat.completions.create(**kwargs)
        if include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        response = client.chat.completions.create(stream=True, **kwargs)
    return _stream_with_translation(response, base, reasoner, sent_mm)
