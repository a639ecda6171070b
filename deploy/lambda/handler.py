"""Iris species Lambda: API Gateway -> this function -> SageMaker XGBoost endpoint.

The corrected version of the seed's function. It works behind either integration:

* non-proxy ("Lambda custom"): the event *is* the JSON body, ``{"data": "5.1,3.5,1.4,0.2"}``;
  the return value is the result dict and errors are raised (Lambda reports them as
  ``errorMessage`` / ``errorType``; the template maps them to 400 / 502).
* proxy (``AWS_PROXY``, REST payload 1.0 or HTTP API / function URL payload 2.0): the event
  carries ``body``, ``httpMethod`` or ``routeKey``, ``requestContext``...; the return value is
  ``{"statusCode", "headers", "body"}`` with a ``Server-Timing`` header that splits the latency
  into the Lambda hop and the SageMaker hop, plus ``init`` on the first (cold) invocation of an
  execution environment: the time this module took to load (imports and the boto3 client; the
  runtime's own start before it is not visible from here).

``data`` holds one CSV row or several separated by ``\\n``. The endpoint's answer is parsed in
every format the built-in XGBoost container has produced (see ``parse_predictions``).

Environment: ``ENDPOINT_NAME`` (required), ``CLASS_NAMES`` (default
``setosa,versicolor,virginica``), ``ACCEPT`` (default ``text/csv``).
"""

import time

_LOAD_STARTED = time.perf_counter()

import base64  # noqa: E402  (after the clock starts, so init covers every import)
import binascii  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import (  # noqa: E402
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

DEFAULT_CLASS_NAMES = "setosa,versicolor,virginica"

# API Gateway gives up on the integration after 29 s, so one slow attempt plus one retry must
# fit in that budget; a SageMaker endpoint itself may take up to 60 s, which would be pointless
# to wait for here. Standard retry mode retries throttling and 5xx, never ModelError.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"total_max_attempts": 2, "mode": "standard"},
    tcp_keepalive=True,
)

# Created once per execution environment so warm invocations reuse the connection pool.
# Lambda sets AWS_REGION (and AWS_DEFAULT_REGION, the only one older botocore reads).
_RUNTIME = boto3.client(
    "sagemaker-runtime",
    region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    config=_CLIENT_CONFIG,
)


# Milliseconds this module took to load; reported once, by the environment's first invocation.
_INIT_MS = (time.perf_counter() - _LOAD_STARTED) * 1000.0
_COLD = True


class BadRequest(ValueError):
    """The caller's input cannot be scored (proxy: 400)."""

    def __init__(self, detail):
        super().__init__(f"Bad request: {detail}")


class EndpointError(RuntimeError):
    """The endpoint failed or answered something unusable (proxy: 502)."""

    def __init__(self, detail):
        super().__init__(f"Endpoint error: {detail}")


def _one_line(text):
    """Collapse whitespace: API Gateway's selection patterns do not cross newlines."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _class_names():
    names = [n.strip() for n in os.environ.get("CLASS_NAMES", DEFAULT_CLASS_NAMES).split(",")]
    return [n for n in names if n]


def split_rows(data):
    """Split ``data`` into stripped CSV rows; trailing empty lines are ignored."""
    if not isinstance(data, str):
        raise BadRequest(
            'the JSON body needs "data": a string of CSV rows such as "5.1,3.5,1.4,0.2"'
        )
    lines = [line.strip() for line in data.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise BadRequest('"data" is empty: send at least one CSV row such as "5.1,3.5,1.4,0.2"')
    for number, line in enumerate(lines, start=1):
        if not line:
            raise BadRequest(f'row {number} of "data" is empty')
    return lines


def _floats(cells, where):
    try:
        return [float(cell) for cell in cells]
    except (TypeError, ValueError) as exc:
        raise EndpointError(f"unreadable endpoint output at {where}: {exc}") from None


def _prediction(values, where, class_names):
    """One row's output: several values are class probabilities, one value is a class index."""
    if len(values) == 1:
        # multi:softmax returns the class index as a float ("1.0"); no probabilities exist.
        value = values[0]
        if not math.isfinite(value) or value != int(value):
            raise EndpointError(f"{where}: expected a class index, got {value!r}")
        index = int(value)
        probabilities = []
    else:
        probabilities = values
        # First maximum wins, as numpy.argmax does.
        index = max(range(len(values)), key=values.__getitem__)
        if len(values) != len(class_names):
            raise EndpointError(
                f"{where}: the model returned {len(values)} class probabilities but "
                f"CLASS_NAMES lists {len(class_names)} classes"
            )
    if not 0 <= index < len(class_names):
        raise EndpointError(
            f"{where}: class index {index} is outside CLASS_NAMES ({len(class_names)} classes)"
        )
    return {"species": class_names[index], "class_index": index, "probabilities": probabilities}


def parse_predictions(body, content_type, row_count, class_names):
    """Turn the XGBoost container's response into one prediction per input row.

    Accepted formats (AWS_WIRE.md section 5):
    * ``text/csv`` from containers 1.2-2 and later: one line per row, ``p0,p1,p2`` for
      multi:softprob or ``1.0`` for multi:softmax;
    * containers 1.0-1 / 1.2-1: ``[p0, p1, p2],[...]`` on one line, and multi:softmax as all
      class indexes comma-joined on one line (``0.0,1.0``);
    * ``application/json``: ``{"predictions": [{"score": [..]} | {"score": 1.0}, ...]}``.
    """
    text = body.strip()
    if not text:
        raise EndpointError("the endpoint returned an empty body")
    content_type = (content_type or "").split(";")[0].strip().lower()

    if text.startswith("{") or content_type == "application/json":
        try:
            document = json.loads(text)
            scores = [item["score"] for item in document["predictions"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(f"unreadable JSON from the endpoint: {exc}") from None
        rows = [score if isinstance(score, list) else [score] for score in scores]
        rows = [_floats(row, f"prediction {i + 1}") for i, row in enumerate(rows)]
    elif text.startswith("["):
        try:
            nested = json.loads(f"[{text}]")
        except ValueError as exc:
            raise EndpointError(f"unreadable endpoint output: {exc}") from None
        rows = [
            _floats(row if isinstance(row, list) else [row], f"prediction {i + 1}")
            for i, row in enumerate(nested)
        ]
    else:
        lines = [line.strip() for line in text.split("\n")]
        rows = [_floats(line.split(","), f"line {i + 1}") for i, line in enumerate(lines)]
        if len(rows) == 1 and row_count > 1 and len(rows[0]) == row_count:
            # Old containers wrote multi:softmax as one line of class indexes.
            rows = [[value] for value in rows[0]]

    if len(rows) != row_count:
        raise EndpointError(f"the endpoint returned {len(rows)} predictions for {row_count} rows")
    return [_prediction(row, f"prediction {i + 1}", class_names) for i, row in enumerate(rows)]


def _model_error_detail(err):
    """The container's own words from a ModelError (AWS_WIRE.md section 4)."""
    response = err.response
    original = response.get("OriginalMessage")
    status = response.get("OriginalStatusCode")
    if not original:
        original = response.get("Error", {}).get("Message", "")
    return status, _one_line(original)


def invoke(rows):
    """Call the endpoint; returns (body text, content type)."""
    endpoint = os.environ.get("ENDPOINT_NAME", "")
    if not endpoint:
        raise EndpointError("the function has no ENDPOINT_NAME environment variable")
    try:
        response = _RUNTIME.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="text/csv",
            Accept=os.environ.get("ACCEPT", "text/csv"),
            Body="\n".join(rows).encode("utf-8"),
        )
        body = response["Body"].read()
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ModelError":
            status, detail = _model_error_detail(err)
            if isinstance(status, int) and 400 <= status < 500:
                # The container rejected the input (wrong feature count, not CSV...).
                raise BadRequest(f"the model rejected the input: {detail}") from None
            raise EndpointError(f"the model failed ({status}): {detail}") from None
        message = _one_line(err.response.get("Error", {}).get("Message", err))
        if code in ("AccessDeniedException", "AccessDenied"):
            raise EndpointError(
                f"the function's role may not invoke endpoint {endpoint}: {message}"
            ) from None
        if code == "ValidationError" and "not found" in message:
            raise EndpointError(f"endpoint {endpoint} does not exist: {message}") from None
        raise EndpointError(f"{code or 'error'} from endpoint {endpoint}: {message}") from None
    except (ReadTimeoutError, ConnectTimeoutError):
        raise EndpointError(f"endpoint {endpoint} did not answer in time") from None
    except BotoCoreError as err:
        raise EndpointError(f"cannot reach endpoint {endpoint}: {_one_line(err)}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EndpointError("the endpoint returned non-UTF-8 output") from None
    return text, response.get("ContentType", "")


def predict(data, timings):
    """Score ``data``; ``timings["sagemaker"]`` receives the endpoint call's milliseconds."""
    rows = split_rows(data)
    class_names = _class_names()
    started = time.perf_counter()
    try:
        text, content_type = invoke(rows)
    finally:
        timings["sagemaker"] = (time.perf_counter() - started) * 1000.0
    return {"predictions": parse_predictions(text, content_type, len(rows), class_names)}


def is_proxy_event(event):
    """Proxy events (REST v1 or HTTP API v2) carry a requestContext and a method or route."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("requestContext"), dict)
        and ("httpMethod" in event or "routeKey" in event)
    )


def _proxy_data(event):
    body = event.get("body")
    if body is None:
        raise BadRequest('the request has no body; send {"data": "5.1,3.5,1.4,0.2"}')
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("the body is not valid base64-encoded UTF-8") from None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if (headers.get("content-type") or "").split(";")[0].strip().lower() == "text/csv":
        return body
    return _json_data(body)


def _json_data(body):
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict) or "data" not in document:
        raise BadRequest('the JSON body needs "data", e.g. {"data": "5.1,3.5,1.4,0.2"}')
    return document["data"]


def _server_timing(timings, started):
    total = (time.perf_counter() - started) * 1000.0
    parts = [f"lambda;dur={total:.1f}"]
    if "init" in timings:
        parts.append(f"init;dur={timings['init']:.1f}")
    if "sagemaker" in timings:
        parts.append(f"sagemaker;dur={timings['sagemaker']:.1f}")
    return ", ".join(parts)


def _proxy_response(status, document, timings, started):
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "Server-Timing": _server_timing(timings, started),
        },
        "body": json.dumps(document),
    }


def handler(event, context):
    global _COLD
    started = time.perf_counter()
    timings = {}
    if _COLD:
        _COLD = False
        timings["init"] = _INIT_MS
    if not is_proxy_event(event):
        if not isinstance(event, dict) or "data" not in event:
            raise BadRequest('the JSON body needs "data", e.g. {"data": "5.1,3.5,1.4,0.2"}')
        try:
            return predict(event["data"], timings)
        except (BadRequest, EndpointError) as exc:
            LOG.warning("%s: %s", type(exc).__name__, exc)
            raise
    try:
        result = predict(_proxy_data(event), timings)
    except BadRequest as exc:
        LOG.warning("BadRequest: %s", exc)
        return _proxy_response(400, {"message": str(exc)}, timings, started)
    except EndpointError as exc:
        LOG.warning("EndpointError: %s", exc)
        return _proxy_response(502, {"message": str(exc)}, timings, started)
    return _proxy_response(200, result, timings, started)
