"""Helpers shared by the handler tests and the emulator parity test."""

import json
import urllib.request

MOTO_RESULTS_URL = "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results"


class FakeEndpoint:
    """Queues what moto's mocked InvokeEndpoint returns, through moto's documented API.

    moto answers each distinct request (body + Accept + SageMaker headers) with the next queued
    result and then keeps answering that request with the same result.
    """

    def queue(self, body, content_type="text/csv; charset=utf-8"):
        import requests  # moto intercepts requests-library calls to its moto-api host

        payload = {
            "results": [
                {
                    "Body": body,
                    "ContentType": content_type,
                    "InvokedProductionVariant": "AllTraffic",
                    "CustomAttributes": "",
                }
            ]
        }
        response = requests.post(MOTO_RESULTS_URL, json=payload, timeout=10)
        assert response.status_code == 201, response.text


def proxy_event(body, headers=None, base64=False):
    """An API Gateway REST (v1) proxy event as AWS sends it, trimmed to what matters."""
    return {
        "resource": "/irispredict",
        "path": "/irispredict",
        "httpMethod": "POST",
        "headers": headers or {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/irispredict",
            "httpMethod": "POST",
            "stage": "species",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"accessKey": "AKIDEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/u"},
        },
        "body": body,
        "isBase64Encoded": base64,
    }


def http_post(url, body, headers, timeout=10):
    """POST with urllib (never intercepted by moto); returns (status, headers, body bytes)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def dumps(value):
    return json.dumps(value).encode()
