"""py-spy's samples are put in the part of the request path they were taken in."""

from __future__ import annotations

import pytest

from labctl.bench import profile

WORKER = "<module> (gunicorn:10);SyncWorker.handle (gunicorn/workers/sync.py:141)"
ROUTE = f"{WORKER};Flask.wsgi_app (flask/app.py:1511);predict_route (app/routes/api.py:64)"


@pytest.mark.parametrize(
    ("stack", "part"),
    [
        (
            f"{ROUTE};predict (app/inference.py:50);Session.run (onnxruntime/capi/x.py:406)",
            "model (ONNX Runtime)",
        ),
        (
            f"{ROUTE};plain_rows (app/validation.py:174);loads (json/__init__.py:346)",
            "input validation",
        ),
        (
            f"{ROUTE};_finish (app/request_log.py:47);emit (logging/__init__.py:1113)",
            "request log (JSON line to stderr)",
        ),
        (f"{ROUTE};inc (prometheus_client/values.py:116)", "metrics (prometheus_client)"),
        (
            f"{WORKER};close_graceful (gunicorn/util.py:312)",
            "closing the connection (waiting for the proxy's FIN)",
        ),
        (
            f"{WORKER};send_headers (gunicorn/http/wsgi.py:471);write (gunicorn/util.py:348)",
            "socket reads and writes",
        ),
        (f"{WORKER};Request.parse (gunicorn/http/message.py:90)", "HTTP parsing (gunicorn)"),
        (f"{ROUTE};jsonify (flask/json/__init__.py:170)", "Flask and Werkzeug"),
        (ROUTE, "the app's other code"),
        (WORKER, "gunicorn's worker loop"),
        ("<module> (something_else.py:1)", "other"),
    ],
)
def test_each_sample_goes_to_the_innermost_part_it_names(stack, part):
    assert profile.part_of(stack) == part


def test_background_threads_are_left_out_and_shares_add_up():
    raw = "\n".join(
        [
            f"{ROUTE};predict (app/inference.py:50) 30",
            f"{WORKER};close_graceful (gunicorn/util.py:312) 10",
            f"{ROUTE} 60",
            "Thread._bootstrap (threading.py:995);ModelStore._watch (app/model_store.py:194) 900",
            "",
        ]
    )
    summary = profile.summarize(raw)
    assert summary["samples"] == 100
    assert summary["percent"] == {
        "the app's other code": 60.0,
        "model (ONNX Runtime)": 30.0,
        "closing the connection (waiting for the proxy's FIN)": 10.0,
    }
    assert list(summary["percent"]) == sorted(
        summary["percent"], key=summary["percent"].get, reverse=True
    )


def test_no_samples_is_an_empty_profile_not_an_error():
    assert profile.summarize("") == {"samples": 0, "percent": {}}
