"""The reference Lambda against moto's SageMaker runtime mock (and botocore's Stubber where moto
cannot produce the answer, e.g. a ModelError)."""

import base64
import json
import re

import boto3
import pytest
from botocore.stub import Stubber
from support import dumps, proxy_event

import handler

ROW_SETOSA = "5.1,3.5,1.4,0.2"
ROW_VERSICOLOR = "6.6,3.0,4.4,1.4"
# AWS_WIRE.md section 5: the container's exact answer for those two rows.
TWO_ROWS_OUTPUT = (
    "0.9531188011169434,0.024485334753990173,0.022395867854356766\n"
    "0.02417280524969101,0.9513594508171082,0.024467801675200462\n"
)
SETOSA = {
    "species": "setosa",
    "class_index": 0,
    "probabilities": [0.9531188011169434, 0.024485334753990173, 0.022395867854356766],
}
VERSICOLOR = {
    "species": "versicolor",
    "class_index": 1,
    "probabilities": [0.02417280524969101, 0.9513594508171082, 0.024467801675200462],
}

SERVER_TIMING = re.compile(r"^lambda;dur=(\d+\.\d), sagemaker;dur=(\d+\.\d)$")


@pytest.fixture(autouse=True)
def warm(monkeypatch):
    """Every test runs in a warm environment unless it asks for a cold one."""
    monkeypatch.setattr(handler, "_COLD", False)


def test_cold_invocation_reports_init_once(endpoint, monkeypatch):
    monkeypatch.setattr(handler, "_COLD", True)
    endpoint.queue(TWO_ROWS_OUTPUT.split("\n")[0])
    first = handler.handler(proxy_event(json.dumps({"data": ROW_SETOSA})), None)
    metrics = parse_server_timing(first["headers"]["Server-Timing"])
    assert set(metrics) == {"lambda", "init", "sagemaker"}
    assert metrics["init"] == round(handler._INIT_MS, 1) and metrics["init"] > 0
    endpoint.queue(TWO_ROWS_OUTPUT.split("\n")[0])
    second = handler.handler(proxy_event(json.dumps({"data": ROW_SETOSA})), None)
    assert SERVER_TIMING.match(second["headers"]["Server-Timing"])


def test_single_row_matches_the_emulator_wire_format(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT.split("\n")[0] + "\n")
    result = handler.handler({"data": ROW_SETOSA}, None)
    assert result == {"predictions": [SETOSA]}
    assert dumps(result) == (
        b'{"predictions": [{"species": "setosa", "class_index": 0, "probabilities": '
        b"[0.9531188011169434, 0.024485334753990173, 0.022395867854356766]}]}"
    )


def test_rows_keep_their_order(endpoint):
    endpoint.queue(
        "0.1,0.1,0.8\n" + TWO_ROWS_OUTPUT,
    )
    data = "7.7,3.0,6.1,2.3\n" + ROW_SETOSA + "\n" + ROW_VERSICOLOR
    result = handler.handler({"data": data}, None)
    assert [p["species"] for p in result["predictions"]] == ["virginica", "setosa", "versicolor"]
    assert result["predictions"][1:] == [SETOSA, VERSICOLOR]


def test_trailing_newline_and_crlf_in_data(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT)
    result = handler.handler({"data": ROW_SETOSA + "\r\n" + ROW_VERSICOLOR + "\r\n"}, None)
    assert result == {"predictions": [SETOSA, VERSICOLOR]}


def test_softmax_output_gives_class_index_without_probabilities(endpoint):
    endpoint.queue("0.0\n2.0\n1.0\n")
    result = handler.handler({"data": "1,2,3,4\n5,6,7,8\n9,10,11,12"}, None)
    assert result == {
        "predictions": [
            {"species": "setosa", "class_index": 0, "probabilities": []},
            {"species": "virginica", "class_index": 2, "probabilities": []},
            {"species": "versicolor", "class_index": 1, "probabilities": []},
        ]
    }


def test_old_container_bracketed_output(endpoint):
    endpoint.queue(
        "[0.9531188011169434, 0.024485334753990173, 0.022395867854356766],"
        "[0.02417280524969101, 0.9513594508171082, 0.024467801675200462]"
    )
    result = handler.handler({"data": ROW_SETOSA + "\n" + ROW_VERSICOLOR}, None)
    assert result == {"predictions": [SETOSA, VERSICOLOR]}


def test_old_container_softmax_on_one_line(endpoint):
    endpoint.queue("2.0,0.0")
    result = handler.handler({"data": "1,2,3,4\n5,6,7,8"}, None)
    assert [p["class_index"] for p in result["predictions"]] == [2, 0]
    assert [p["species"] for p in result["predictions"]] == ["virginica", "setosa"]


def test_json_output(endpoint, monkeypatch):
    monkeypatch.setenv("ACCEPT", "application/json")
    endpoint.queue(
        json.dumps(
            {
                "predictions": [
                    {"score": SETOSA["probabilities"]},
                    {"score": VERSICOLOR["probabilities"]},
                ]
            }
        ),
        "application/json",
    )
    result = handler.handler({"data": ROW_SETOSA + "\n" + ROW_VERSICOLOR}, None)
    assert result == {"predictions": [SETOSA, VERSICOLOR]}


def test_json_softmax_output(endpoint):
    endpoint.queue('{"predictions": [{"score": 1.0}]}', "application/json")
    result = handler.handler({"data": ROW_VERSICOLOR}, None)
    assert result == {
        "predictions": [{"species": "versicolor", "class_index": 1, "probabilities": []}]
    }


def test_argmax_takes_the_first_maximum(endpoint):
    endpoint.queue("0.25,0.5,0.5\n")
    result = handler.handler({"data": ROW_SETOSA}, None)
    assert result["predictions"][0]["class_index"] == 1


def test_class_names_come_from_the_environment(endpoint, monkeypatch):
    monkeypatch.setenv("CLASS_NAMES", "a, b ,c")
    endpoint.queue("0.1,0.2,0.7\n")
    result = handler.handler({"data": ROW_SETOSA}, None)
    assert result["predictions"][0]["species"] == "c"


def test_proxy_and_non_proxy_give_the_same_body(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT)
    data = ROW_SETOSA + "\n" + ROW_VERSICOLOR
    plain = handler.handler({"data": data}, None)
    proxied = handler.handler(proxy_event(json.dumps({"data": data})), None)
    assert proxied["statusCode"] == 200
    assert proxied["headers"]["Content-Type"] == "application/json"
    assert proxied["body"].encode() == dumps(plain)
    assert set(proxied) == {"statusCode", "headers", "body"}


def parse_server_timing(value):
    """Parse a Server-Timing header (W3C: metrics separated by ',', parameters by ';')."""
    metrics = {}
    for metric in value.split(","):
        name, *params = [part.strip() for part in metric.split(";")]
        fields = dict(param.split("=", 1) for param in params)
        metrics[name] = float(fields["dur"])
    return metrics


def test_server_timing_in_proxy_mode(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT)
    response = handler.handler(
        proxy_event(json.dumps({"data": ROW_SETOSA + "\n" + ROW_VERSICOLOR})), None
    )
    header = response["headers"]["Server-Timing"]
    assert SERVER_TIMING.match(header), header
    metrics = parse_server_timing(header)
    assert set(metrics) == {"lambda", "sagemaker"}
    # The Lambda span contains the SageMaker call.
    assert metrics["lambda"] >= metrics["sagemaker"] >= 0.0


def test_proxy_base64_body(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT.split("\n")[0])
    body = base64.b64encode(json.dumps({"data": ROW_SETOSA}).encode()).decode()
    response = handler.handler(proxy_event(body, base64=True), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"predictions": [SETOSA]}


def test_proxy_csv_body(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT)
    event = proxy_event(
        ROW_SETOSA + "\n" + ROW_VERSICOLOR + "\n", headers={"content-type": "text/csv"}
    )
    response = handler.handler(event, None)
    assert json.loads(response["body"]) == {"predictions": [SETOSA, VERSICOLOR]}


def test_http_api_v2_event_is_proxy(endpoint):
    endpoint.queue(TWO_ROWS_OUTPUT.split("\n")[0])
    event = {
        "version": "2.0",
        "routeKey": "POST /irispredict",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST"}},
        "body": json.dumps({"data": ROW_SETOSA}),
        "isBase64Encoded": False,
    }
    response = handler.handler(event, None)
    assert response["statusCode"] == 200


# --- bad input --------------------------------------------------------------------------------

BAD_EVENTS = [
    ({}, '"data"'),
    ({"data": 5.1}, "string of CSV rows"),
    ({"data": ["5.1,3.5,1.4,0.2"]}, "string of CSV rows"),
    ({"data": ""}, '"data" is empty'),
    ({"data": " \n"}, '"data" is empty'),
    ({"data": "5.1,3.5,1.4,0.2\n\n6.6,3.0,4.4,1.4"}, "row 2"),
]


@pytest.mark.parametrize("event,fragment", BAD_EVENTS)
def test_bad_input_non_proxy_raises(endpoint, event, fragment):
    with pytest.raises(handler.BadRequest) as caught:
        handler.handler(event, None)
    assert str(caught.value).startswith("Bad request: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize("event,fragment", BAD_EVENTS)
def test_bad_input_proxy_is_400(endpoint, event, fragment):
    response = handler.handler(proxy_event(json.dumps(event)), None)
    assert response["statusCode"] == 400
    message = json.loads(response["body"])["message"]
    assert message.startswith("Bad request: ") and fragment in message
    # No SageMaker call happened, so only the Lambda span is reported.
    assert response["headers"]["Server-Timing"].startswith("lambda;dur=")
    assert "sagemaker" not in response["headers"]["Server-Timing"]


@pytest.mark.parametrize(
    "body,fragment",
    [(None, "no body"), ("5.1,3.5", "not JSON"), ("[1, 2]", '"data"')],
)
def test_unreadable_proxy_body_is_400(endpoint, body, fragment):
    response = handler.handler(proxy_event(body), None)
    assert response["statusCode"] == 400
    assert fragment in json.loads(response["body"])["message"]


# --- unusable endpoint output -----------------------------------------------------------------

BAD_OUTPUTS = [
    ("0.9,0.05,0.05\n", 2, "1 predictions for 2 rows"),
    ("not,a,number\n", 1, "unreadable endpoint output"),
    ("0.5,0.5\n", 1, "2 class probabilities but CLASS_NAMES lists 3"),
    ("7.0\n", 1, "class index 7"),
    ("1.5\n", 1, "expected a class index"),
    ("\n", 1, "empty body"),
    ('{"predictions": [{"label": 1}]}', 1, "unreadable JSON"),
    ("body", 1, "unreadable endpoint output"),  # moto's answer when nothing is queued
]


@pytest.mark.parametrize("output,rows,fragment", BAD_OUTPUTS)
def test_unusable_output_non_proxy_raises(endpoint, output, rows, fragment):
    endpoint.queue(output)
    with pytest.raises(handler.EndpointError) as caught:
        handler.handler({"data": "\n".join([ROW_SETOSA] * rows)}, None)
    assert str(caught.value).startswith("Endpoint error: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize("output,rows,fragment", BAD_OUTPUTS)
def test_unusable_output_proxy_is_502(endpoint, output, rows, fragment):
    endpoint.queue(output)
    data = "\n".join([ROW_SETOSA] * rows)
    response = handler.handler(proxy_event(json.dumps({"data": data})), None)
    assert response["statusCode"] == 502
    assert fragment in json.loads(response["body"])["message"]
    assert SERVER_TIMING.match(response["headers"]["Server-Timing"])


def test_missing_endpoint_name(endpoint, monkeypatch):
    monkeypatch.delenv("ENDPOINT_NAME")
    with pytest.raises(handler.EndpointError, match="ENDPOINT_NAME"):
        handler.handler({"data": ROW_SETOSA}, None)


# --- SageMaker errors (Stubber: moto never raises them) -----------------------------------------

FEATURE_SIZE = (
    "Unable to evaluate payload provided: Feature size of csv inference data 3 is not "
    "consistent with feature size of trained model 4."
)


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "iris-xgb")
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    monkeypatch.setattr(handler, "_RUNTIME", client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def model_error(original_status, original_message):
    return dict(
        service_error_code="ModelError",
        service_message=(
            f'Received client error ({original_status}) from primary with message '
            f'"{original_message}". See https://us-east-1.console.aws.amazon.com/cloudwatch/'
            "home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/iris-xgb in "
            "account 123456789012 for more information."
        ),
        http_status_code=424,
        modeled_fields={
            "OriginalStatusCode": original_status,
            "OriginalMessage": original_message,
            "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:"
            "/aws/sagemaker/Endpoints/iris-xgb",
        },
    )


def test_request_sent_to_the_endpoint(stubbed):
    from botocore.response import StreamingBody
    import io

    output = TWO_ROWS_OUTPUT.encode()
    stubbed.add_response(
        "invoke_endpoint",
        {
            "Body": StreamingBody(io.BytesIO(output), len(output)),
            "ContentType": "text/csv; charset=utf-8",
        },
        expected_params={
            "EndpointName": "iris-xgb",
            "ContentType": "text/csv",
            "Accept": "text/csv",
            "Body": (ROW_SETOSA + "\n" + ROW_VERSICOLOR).encode(),
        },
    )
    result = handler.handler({"data": f" {ROW_SETOSA} \n{ROW_VERSICOLOR}\n"}, None)
    assert result == {"predictions": [SETOSA, VERSICOLOR]}


def test_model_error_from_bad_features_is_a_bad_request(stubbed):
    stubbed.add_client_error("invoke_endpoint", **model_error(400, FEATURE_SIZE))
    with pytest.raises(handler.BadRequest) as caught:
        handler.handler({"data": "5.1,3.5,1.4"}, None)
    assert str(caught.value) == f"Bad request: the model rejected the input: {FEATURE_SIZE}"


def test_model_error_proxy_is_400_with_the_container_message(stubbed):
    stubbed.add_client_error("invoke_endpoint", **model_error(400, FEATURE_SIZE))
    response = handler.handler(proxy_event(json.dumps({"data": "5.1,3.5,1.4"})), None)
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {
        "message": f"Bad request: the model rejected the input: {FEATURE_SIZE}"
    }
    assert SERVER_TIMING.match(response["headers"]["Server-Timing"])


def test_unparseable_csv_model_error_is_one_line(stubbed):
    container = (
        "Loading csv data failed with Exception, please ensure data is in csv format:\n"
        " <class 'ValueError'>\n could not convert string to float: 'x'"
    )
    stubbed.add_client_error("invoke_endpoint", **model_error(415, container))
    with pytest.raises(handler.BadRequest) as caught:
        handler.handler({"data": "x,1,2,3"}, None)
    assert "\n" not in str(caught.value)
    assert "could not convert string to float" in str(caught.value)


def test_model_crash_is_an_endpoint_error(stubbed):
    stubbed.add_client_error("invoke_endpoint", **model_error(500, "Internal Server Error"))
    response = handler.handler(proxy_event(json.dumps({"data": ROW_SETOSA})), None)
    assert response["statusCode"] == 502
    assert json.loads(response["body"])["message"] == (
        "Endpoint error: the model failed (500): Internal Server Error"
    )


@pytest.mark.parametrize(
    "code,status,message,fragment",
    [
        (
            "ValidationError",
            400,
            "Endpoint iris-xgb of account 123456789012 not found.",
            "endpoint iris-xgb does not exist",
        ),
        (
            "AccessDeniedException",
            400,
            "User: arn:aws:sts::123456789012:assumed-role/r/f is not authorized",
            "role may not invoke endpoint iris-xgb",
        ),
        ("ModelNotReadyException", 429, "Model is not ready", "ModelNotReadyException"),
        ("ServiceUnavailable", 503, "Service Unavailable", "ServiceUnavailable"),
    ],
)
def test_service_errors_are_endpoint_errors(stubbed, code, status, message, fragment):
    stubbed.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )
    with pytest.raises(handler.EndpointError) as caught:
        handler.handler({"data": ROW_SETOSA}, None)
    assert fragment in str(caught.value)
    assert message in str(caught.value)


def test_module_client_is_built_once_with_bounded_timeouts():
    config = handler._RUNTIME.meta.config
    assert handler._RUNTIME.meta.service_model.service_name == "sagemaker-runtime"
    # One attempt plus one retry must fit in API Gateway's 29 s integration timeout.
    attempts = config.retries["total_max_attempts"]
    assert config.retries["mode"] == "standard"
    assert attempts * (config.connect_timeout + config.read_timeout) < 29
