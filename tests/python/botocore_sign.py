"""Sign requests with botocore's SigV4Auth at a fixed time; read cases as JSON on stdin,
write one result per case as JSON on stdout. Used by tests/signing.rs to cross-check
iris-cli's signer against the AWS SDK for Python."""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["access_key"], case["secret_key"], case.get("session_token"))
    req = AWSRequest(
        method="POST",
        url=case["url"],
        data=case["body"].encode(),
        headers=dict(case["headers"]),
    )
    when = datetime.datetime.fromtimestamp(case["epoch"], tz=datetime.timezone.utc)
    auth = SigV4Auth(creds, case["service"], case["region"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(req)
        canonical = auth.canonical_request(req)
    header = req.headers["Authorization"]
    return {
        "signature": header.rsplit("Signature=", 1)[1],
        "signed_headers": header.split("SignedHeaders=", 1)[1].split(",", 1)[0],
        "canonical_request": canonical,
    }


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    json.dump([sign(c) for c in cases], sys.stdout)
