"""OTLP protobuf requests encoded by MLflow's own Python SDK, for test/mlflow/otlp-proto.test.ts.

argv: tracking URI, experiment id. Runs the programs of python_programs.py, reads each trace back,
and encodes its spans into an ExportTraceServiceRequest exactly as MLflow's RestStore.log_spans
does before it POSTs `application/x-protobuf` to a tracking server's /v1/traces.
stdout: {"<program>": {"request": "<base64 protobuf>", "spans": [<span.to_dict()>, ...]}, ...}
"""

import base64
import json
import sys

import mlflow
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from python_programs import run_programs


def encode(trace):
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.spans.extend(span.to_otel_proto() for span in trace.data.spans)
    return request.SerializeToString()


def main():
    out = {}
    for name, trace_id in run_programs(sys.argv[1], sys.argv[2]).items():
        trace = mlflow.get_trace(trace_id)
        out[name] = {
            "request": base64.b64encode(encode(trace)).decode(),
            "spans": [span.to_dict() for span in trace.data.spans],
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
