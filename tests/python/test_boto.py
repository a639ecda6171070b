"""The real AWS SDK against `iris-cli serve`.

Run from tests/emulator_http.rs (`boto3_and_botocore_talk_to_the_emulator`), which starts an
in-process emulator and passes its URLs and test keys in the environment.
"""

import json
import os
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

URL = os.environ["IRIS_URL"]
ENDPOINT_URL = os.environ["IRIS_ENDPOINT_URL"]
ENDPOINT_NAME = os.environ["IRIS_ENDPOINT_NAME"]
REGION = os.environ["AWS_REGION"]
KEYS = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
TEMP_KEYS = Credentials(
    os.environ["IRIS_TEMP_ACCESS_KEY_ID"],
    os.environ["IRIS_TEMP_SECRET_ACCESS_KEY"],
    os.environ["IRIS_TEMP_SESSION_TOKEN"],
)

ROW1 = "5.1,3.5,1.4,0.2"
ROW2 = "6.6,3.0,4.4,1.4"
PROBS1 = "0.9531188011169434,0.024485334753990173,0.022395867854356766"
PROBS2 = "0.02417280524969101,0.9513594508171082,0.024467801675200462"


def signed_request(body, creds=KEYS, service="execute-api"):
    req = AWSRequest(
        method="POST", url=URL, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(creds, service, REGION).add_auth(req)
    return req


def send(req, body=None):
    """Send a signed AWSRequest (optionally with another body); return status, headers, text."""
    prepared = req.prepare()
    data = prepared.body if body is None else body
    if isinstance(data, str):
        data = data.encode()
    http_req = urllib.request.Request(
        prepared.url, data=data, headers=dict(prepared.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(http_req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_sigv4auth_signed_request_is_accepted():
    status, headers, text = send(signed_request(json.dumps({"data": ROW1})))
    assert status == 200, text
    assert text == (
        '{"predictions": [{"species": "setosa", "class_index": 0, '
        '"probabilities": [' + PROBS1.replace(",", ", ") + "]}]}"
    )
    # The function's result is what json.dumps of the dict gives.
    result = json.loads(text)
    assert json.dumps(result) == text
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-RequestId"]
    assert "apigw;dur=" in headers["Server-Timing"]


def test_session_token_is_signed_and_accepted():
    req = signed_request(json.dumps({"data": ROW1 + "\n" + ROW2}), creds=TEMP_KEYS)
    assert "X-Amz-Security-Token" in req.headers
    status, _, text = send(req)
    assert status == 200, text
    assert [p["species"] for p in json.loads(text)["predictions"]] == ["setosa", "versicolor"]


def test_tampered_body_gets_exact_invalid_signature():
    signed_body = json.dumps({"data": ROW1})
    sent_body = json.dumps({"data": ROW2})
    req = signed_request(signed_body)
    status, headers, text = send(req, body=sent_body)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"

    # What the server should have computed: botocore's canonical request over the body sent.
    check = AWSRequest(method="POST", url=URL, data=sent_body, headers={})
    for name in ("Content-Type", "X-Amz-Date"):
        check.headers[name] = req.headers[name]
    auth = SigV4Auth(KEYS, "execute-api", REGION)
    auth._timestamp = req.headers["X-Amz-Date"]
    check.context["timestamp"] = req.headers["X-Amz-Date"]
    canonical = auth.canonical_request(check)
    string_to_sign = auth.string_to_sign(check, canonical)
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have been\n'"
        + canonical
        + "'\n\nThe String-to-Sign should have been\n'"
        + string_to_sign
        + "'\n"
    )
    assert text == json.dumps({"message": message}, separators=(",", ":"))


def sagemaker_client():
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=ENDPOINT_URL,
        region_name=REGION,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_invoke_endpoint_returns_csv():
    r = sagemaker_client().invoke_endpoint(
        EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1 + "\n" + ROW2
    )
    assert r["Body"].read().decode() == PROBS1 + "\n" + PROBS2 + "\n"
    assert r["ContentType"] == "text/csv; charset=utf-8"
    assert r["InvokedProductionVariant"] == "AllTraffic"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_invoke_endpoint_json_accept():
    r = sagemaker_client().invoke_endpoint(
        EndpointName=ENDPOINT_NAME, ContentType="text/csv", Accept="application/json", Body=ROW1
    )
    body = json.loads(r["Body"].read())
    assert body == {"predictions": [{"score": [float(p) for p in PROBS1.split(",")]}]}


def test_bad_payload_raises_model_error():
    with pytest.raises(ClientError) as info:
        sagemaker_client().invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body="5.1,3.5,1.4"
        )
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400
    assert "Feature size of csv inference data 3" in err["OriginalMessage"]
    assert err["Error"]["Message"].startswith("Received client error (400) from primary")
    assert err["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/" + ENDPOINT_NAME)


def test_unparseable_payload_is_model_error_415():
    with pytest.raises(ClientError) as info:
        sagemaker_client().invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body="a,b,c,d"
        )
    assert info.value.response["Error"]["Code"] == "ModelError"
    assert info.value.response["OriginalStatusCode"] == 415


def test_unknown_endpoint_is_validation_error():
    with pytest.raises(ClientError) as info:
        sagemaker_client().invoke_endpoint(
            EndpointName="no-such-endpoint", ContentType="text/csv", Body=ROW1
        )
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationError"
    assert err["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_wrong_secret_is_rejected_by_the_sdk_client():
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=ENDPOINT_URL,
        region_name=REGION,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key="not-the-secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# ------------------------------------------------------------ AWS's limits and other shapes

HTTP_API_URL = os.environ["IRIS_HTTP_API_URL"]
FUNCTION_URL = os.environ["IRIS_FUNCTION_URL"]
THROTTLED_ENDPOINT_URL = os.environ["IRIS_THROTTLED_ENDPOINT_URL"]
SERVERLESS_ENDPOINT_URL = os.environ["IRIS_SERVERLESS_ENDPOINT_URL"]


def sagemaker_client_at(url):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_target_model_on_single_model_endpoint_raises_validation_error():
    client = sagemaker_client()
    with pytest.raises(client.exceptions.ValidationError) as info:
        client.invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1, TargetModel="a.tar.gz"
        )
    assert info.value.response["Error"]["Message"] == (
        "Endpoint iris-xgb is not a multi-model endpoint and does not support target model header."
    )


def test_throttling_is_a_400_throttling_exception():
    """--sagemaker-concurrency 1 with a slow model: concurrent calls beyond one are throttled."""
    import concurrent.futures

    client = sagemaker_client_at(THROTTLED_ENDPOINT_URL)

    def call(_):
        try:
            client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1)
            return "ok"
        except ClientError as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(call, range(6)))
    errors = [o for o in outcomes if o != "ok"]
    assert "ok" in outcomes and errors, outcomes
    for e in errors:
        # Not a modelled error of sagemaker-runtime: the generic ClientError, code from the header.
        assert type(e) is ClientError
        assert e.response["Error"]["Code"] == "ThrottlingException"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "ThrottlingException" in str(e)


def test_serverless_cold_start_raises_model_not_ready():
    import threading

    client = sagemaker_client_at(SERVERLESS_ENDPOINT_URL)
    first = {}

    def cold():
        first["r"] = client.invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1
        )

    t = threading.Thread(target=cold)
    t.start()
    import time

    time.sleep(0.3)
    with pytest.raises(client.exceptions.ModelNotReadyException) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    t.join(10)
    assert first["r"]["Body"].read().decode() == PROBS1 + "\n"


def post_signed(url, body, service, sent_body=None):
    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(KEYS, service, REGION).add_auth(req)
    return send(req, body=sent_body)


def test_http_api_with_botocore_signature():
    body = json.dumps({"data": ROW1})
    status, headers, text = post_signed(HTTP_API_URL, body, "execute-api")
    assert status == 200, text
    assert json.loads(text)["predictions"][0]["species"] == "setosa"
    assert headers["apigw-requestid"].endswith("=")
    status, _, text = post_signed(HTTP_API_URL, body, "execute-api", json.dumps({"data": ROW2}))
    assert status == 403
    assert json.loads(text)["message"].startswith("The request signature we calculated")
    status, _, text = send(AWSRequest(method="POST", url=HTTP_API_URL, data=body, headers={}))
    assert (status, text) == (403, '{"message":"Forbidden"}')


def test_function_url_with_botocore_signature():
    body = json.dumps({"data": ROW2})
    status, headers, text = post_signed(FUNCTION_URL, body, "lambda")
    assert status == 200, text
    assert json.loads(text)["predictions"][0]["species"] == "versicolor"
    status, headers, text = post_signed(FUNCTION_URL, body, "lambda", json.dumps({"data": ROW1}))
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    status, headers, text = send(AWSRequest(method="POST", url=FUNCTION_URL, data=body, headers={}))
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(text)["Message"].startswith("Forbidden. For troubleshooting Function URL")


def test_get_metric_data_with_percentiles():
    import datetime

    client = sagemaker_client()
    for _ in range(5):
        client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=ROW1)
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=ENDPOINT_URL,
        region_name=REGION,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key,
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    dims = [
        {"Name": "EndpointName", "Value": ENDPOINT_NAME},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]

    def q(id_, name, stat):
        return {
            "Id": id_,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": dims},
                "Period": 3600,
                "Stat": stat,
            },
        }

    out = cw.get_metric_data(
        MetricDataQueries=[
            q("n", "Invocations", "SampleCount"),
            q("p50", "ModelLatency", "p50"),
            q("p99", "ModelLatency", "p99"),
            q("mx", "ModelLatency", "Maximum"),
        ],
        StartTime=now - datetime.timedelta(hours=2),
        EndTime=now + datetime.timedelta(hours=1),
    )
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    assert all(r["StatusCode"] == "Complete" for r in res.values())
    assert sum(res["n"]["Values"]) >= 5
    assert isinstance(res["n"]["Timestamps"][0], datetime.datetime)
    p50, p99, mx = (max(res[k]["Values"]) for k in ("p50", "p99", "mx"))
    assert 0 < p50 <= p99 <= mx
    with pytest.raises(ClientError) as info:
        cw.get_metric_data(
            MetricDataQueries=[q("bad", "ModelLatency", "p101")],
            StartTime=now - datetime.timedelta(hours=1),
            EndTime=now,
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
