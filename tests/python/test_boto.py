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
