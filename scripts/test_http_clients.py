"""Drives the HTTP API of a running sentimentd with the clients people already use (called by scripts/test-http.sh).

tritonclient[http] (the official KServe v2 / Triton client, binary tensor data by default): readiness, metadata and
an inference of the tweets in examples/tweets.txt, which must give the probabilities `sentimentctl predict` gives;
prometheus_client's text parser on /metrics. Exits non-zero with the reason on the first difference.

usage: test_http_clients.py HOST:PORT TOKEN EXPECTED.json TWEETS.txt METRICS.txt
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    url, token, expected_path, tweets_path, metrics_path = sys.argv[1:6]
    auth = {"Authorization": f"Bearer {token}"}

    def headers():
        # A new dict per call: tritonclient's infer() adds Inference-Header-Content-Length to the dict it is given,
        # which a later JSON request would then carry.
        return dict(auth)

    texts = [line.rstrip("\n") for line in open(tweets_path, encoding="utf-8") if line.strip()]
    expected = json.load(open(expected_path, encoding="utf-8"))
    want = np.array([p["probabilities"] for p in expected["predictions"]], dtype=np.float32)
    want_labels = [p["label"] for p in expected["predictions"]]

    client = httpclient.InferenceServerClient(url=url)
    if not client.is_server_live(headers=headers()):
        fail("is_server_live is false")
    if not client.is_server_ready(headers=headers()):
        fail("is_server_ready is false")
    if not client.is_model_ready("sentiment", headers=headers()):
        fail("is_model_ready('sentiment') is false")
    if client.is_model_ready("no-such-model", headers=headers()):
        fail("is_model_ready('no-such-model') is true")
    server = client.get_server_metadata(headers=headers())
    if "binary_tensor_data" not in server["extensions"]:
        fail(f"server metadata lacks binary_tensor_data: {server}")
    meta = client.get_model_metadata("sentiment", headers=headers())
    if [t["name"] for t in meta["inputs"]] != ["text"] or meta["outputs"][0]["shape"] != [-1, want.shape[1]]:
        fail(f"unexpected model metadata: {meta}")
    version = expected["model"]
    if version not in meta["versions"]:
        fail(f"model metadata versions {meta['versions']} lack the active {version}")

    for binary in (True, False):
        data = np.array([t.encode("utf-8") for t in texts], dtype=np.object_).reshape(-1, 1)
        text = httpclient.InferInput("text", list(data.shape), "BYTES")
        text.set_data_from_numpy(data, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=binary),
                   httpclient.InferRequestedOutput("label", binary_data=binary)]
        result = client.infer("sentiment", [text], outputs=outputs, request_id="tweets", headers=headers())
        got = result.as_numpy("probabilities")
        labels = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in result.as_numpy("label").reshape(-1)]
        response = result.get_response()
        if response.get("id") != "tweets" or response.get("model_version") != version:
            fail(f"response header {response}")
        if got.shape != want.shape:
            fail(f"probabilities shape {got.shape}, expected {want.shape}")
        tolerance = 0.0 if binary else 1e-6
        if np.max(np.abs(got - want)) > tolerance:
            fail(f"binary={binary}: probabilities differ from sentimentctl predict by {np.max(np.abs(got - want))}")
        if labels != want_labels:
            fail(f"binary={binary}: labels {labels}, expected {want_labels}")
        print(f"tritonclient: {len(texts)} tweets, binary={binary}: same probabilities and labels as sentimentctl predict")

    # A version by name, under the same rule as predict with model (the active one is in memory).
    result = client.infer("sentiment", [text], model_version=version, headers=headers())
    if result.get_response()["model_version"] != version:
        fail("model_version was not honoured")

    # No default outputs asked: both, binary (tritonclient asks binary_data_output).
    result = client.infer("sentiment", [text], headers=headers())
    if result.as_numpy("probabilities").shape != want.shape or result.as_numpy("label").shape[0] != len(texts):
        fail("default outputs")

    families = {f.name: f for f in text_string_to_metric_families(open(metrics_path, encoding="utf-8").read())}
    for name, kind in [("process_resident_memory_bytes", "gauge"), ("process_cpu_seconds", "counter"),
                       ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                       ("process_start_time_seconds", "gauge"), ("sentimentd_build_info", "gauge"),
                       ("sentimentd_http_requests", "counter"), ("sentimentd_model_load_duration_seconds", "histogram"),
                       ("sentimentd_texts_predicted", "counter"), ("sentimentd_request_duration_seconds", "histogram")]:
        family = families.get(name)
        if family is None or family.type != kind:
            fail(f"/metrics: {name} missing or not a {kind} ({family.type if family else 'absent'})")
    build = families["sentimentd_build_info"].samples[0]
    if build.value != 1 or "version" not in build.labels:
        fail(f"sentimentd_build_info {build}")
    print(f"prometheus_client: parsed {len(families)} metric families from /metrics")


if __name__ == "__main__":
    main()
