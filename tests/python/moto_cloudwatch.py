"""moto's CloudWatch with known datapoints, for `report cloudwatch` (tests/it/cloudwatch.rs).

moto 5.2.1 answers CloudWatch only in awsJson1_0/awsQuery on `POST /`; aws-sdk-cloudwatch
sends Smithy RPC v2 CBOR to `/service/GraniteServiceVersion20100801/operation/GetMetricData`,
which moto answers 404. moto also has no percentile statistics (a `p99` query is a 500). So
this helper puts the datapoints into moto with boto3, then serves a loopback bridge that only
transcodes: each CBOR query becomes one awsJson1_0 GetMetricData call to moto, and moto's
answer goes back as CBOR (a query moto cannot answer comes back empty, as no data). Every
value in the answers is moto's.

Prints one JSON line {"url", "start", "end"} and serves until standard input closes.
"""

import datetime
import http.server
import json
import struct
import sys
import threading
import urllib.request

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
KEYS = dict(aws_access_key_id="testing", aws_secret_access_key="testing")


# --- a minimal CBOR codec (RFC 8949): what GetMetricData's shapes need -------------------
def cbor_decode(data):
    def item(i):
        ib = data[i]
        major, info = ib >> 5, ib & 31
        i += 1

        def arg(i, info):
            if info < 24:
                return info, i
            n = {24: 1, 25: 2, 26: 4, 27: 8}[info]
            return int.from_bytes(data[i : i + n], "big"), i + n

        if major == 7:
            if info == 20:
                return False, i
            if info == 21:
                return True, i
            if info in (22, 23):
                return None, i
            if info == 25:
                return struct.unpack(">e", data[i : i + 2])[0], i + 2
            if info == 26:
                return struct.unpack(">f", data[i : i + 4])[0], i + 4
            if info == 27:
                return struct.unpack(">d", data[i : i + 8])[0], i + 8
            raise ValueError(f"simple value {info}")
        if info == 31:  # indefinite length
            if major in (2, 3):
                parts = []
                while data[i] != 0xFF:
                    p, i = item(i)
                    parts.append(p)
                return (b"" if major == 2 else "").join(parts), i + 1
            out = [] if major == 4 else {}
            while data[i] != 0xFF:
                k, i = item(i)
                if major == 4:
                    out.append(k)
                else:
                    v, i = item(i)
                    out[k] = v
            return out, i + 1
        n, i = arg(i, info)
        if major == 0:
            return n, i
        if major == 1:
            return -1 - n, i
        if major == 2:
            return data[i : i + n], i + n
        if major == 3:
            return data[i : i + n].decode(), i + n
        if major == 4:
            out = []
            for _ in range(n):
                v, i = item(i)
                out.append(v)
            return out, i
        if major == 5:
            out = {}
            for _ in range(n):
                k, i = item(i)
                v, i = item(i)
                out[k] = v
            return out, i
        if major == 6:  # a tag: the value stands for itself (1: epoch seconds)
            return item(i)
        raise ValueError(f"major type {major}")

    return item(0)[0]


def cbor_encode(v, timestamp=False):
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError(n)

    if timestamp:
        return b"\xc1" + cbor_encode(float(v))
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor_encode(x) for x in v)
    if isinstance(v, dict):
        out = head(5, len(v))
        for k, x in v.items():
            if k == "Timestamps":
                out += cbor_encode(k) + head(4, len(x)) + b"".join(cbor_encode(t, True) for t in x)
            else:
                out += cbor_encode(k) + cbor_encode(x)
        return out
    raise TypeError(type(v))


def put_known_datapoints(cw, at):
    api = [{"Name": "ApiName", "Value": "stack-iris"}, {"Name": "Stage", "Value": "prod"}]
    fn = [{"Name": "FunctionName", "Value": "stack-iris-predict"}]
    sm = [{"Name": "EndpointName", "Value": "iris-xgb"}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def put(ns, name, dims, values, unit):
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": float(v), "Unit": unit}
                for v in values
            ],
        )

    put("AWS/ApiGateway", "Latency", api, [30, 50], "Milliseconds")
    put("AWS/ApiGateway", "IntegrationLatency", api, [20, 40], "Milliseconds")
    put("AWS/ApiGateway", "Count", api, [1] * 7, "Count")
    put("AWS/Lambda", "Duration", fn, [10, 15], "Milliseconds")
    put("AWS/Lambda", "Invocations", fn, [1] * 7, "Count")
    put("AWS/Lambda", "Throttles", fn, [0], "Count")
    put("AWS/SageMaker", "ModelLatency", sm, [4000, 6000], "Microseconds")
    put("AWS/SageMaker", "OverheadLatency", sm, [1500, 2500], "Microseconds")
    put("AWS/SageMaker", "Invocations", sm, [1] * 7, "Count")


def main():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    cw = boto3.client("cloudwatch", endpoint_url=moto_url, region_name=REGION, **KEYS)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # A window that ended a few minutes ago, on whole minutes; the points sit in its middle.
    end = now.replace(second=0) - datetime.timedelta(minutes=2)
    start = end - datetime.timedelta(minutes=5)
    put_known_datapoints(cw, start + datetime.timedelta(minutes=2, seconds=30))

    def moto_query(req, q):
        body = {k: req[k] for k in ("StartTime", "EndTime", "ScanBy") if k in req}
        body["MetricDataQueries"] = [q]
        r = urllib.request.Request(
            moto_url + "/",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                return json.loads(resp.read())["MetricDataResults"]
        except urllib.error.HTTPError:
            # moto has no such statistic (pNN): no data, as CloudWatch says for none.
            return [{"Id": q["Id"], "Label": q.get("Label", q["Id"]), "Timestamps": [], "Values": [], "StatusCode": "Complete"}]

    class Bridge(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self.path.endswith("/operation/GetMetricData"):
                self.send_error(404)
                return
            req = cbor_decode(body)
            results = []
            for q in req.get("MetricDataQueries", []):
                for r in moto_query(req, q):
                    r["Timestamps"] = [
                        t if isinstance(t, (int, float)) else datetime.datetime.fromisoformat(t).timestamp()
                        for t in r.get("Timestamps", [])
                    ]
                    results.append(r)
            out = cbor_encode({"MetricDataResults": results, "Messages": []})
            self.send_response(200)
            self.send_header("Content-Type", "application/cbor")
            self.send_header("smithy-protocol", "rpc-v2-cbor")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    bridge = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
    threading.Thread(target=bridge.serve_forever, daemon=True).start()
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"url": f"http://127.0.0.1:{bridge.server_address[1]}", "start": iso(start), "end": iso(end)}), flush=True)
    sys.stdin.read()
    bridge.shutdown()
    moto.stop()


if __name__ == "__main__":
    main()
