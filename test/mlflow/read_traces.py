"""Reads traces back through MLflow's own Python client and prints them in the normalized shape
test/mlflow/readback.ts builds from the REST API, so the two can be compared field by field.

stdin: {"trace_ids": [...], "searches": [{"experiment_id": "1", "filter": "tags.fruit = 'apple'"}]}
stdout: {"traces": {trace_id: normalized}, "searches": [[trace_id, ...], ...]}
"""

import json
import sys

import mlflow


def normalize(trace):
    spans = trace.data.spans
    by_id = {s.span_id: s for s in spans}
    out_spans = []
    for s in spans:
        out_spans.append({
            "name": s.name,
            "parent": by_id[s.parent_id].name if s.parent_id in by_id else None,
            "span_type": s.span_type,
            "inputs": s.inputs,
            "outputs": s.outputs,
            "attributes": {k: v for k, v in s.attributes.items() if not k.startswith("mlflow.")},
            "reserved": sorted(k for k in s.attributes if k.startswith("mlflow.")),
            "status": s.status.status_code.value,
            "status_message": s.status.description or "",
            "events": [{"name": e.name, "attributes": e.attributes} for e in s.events],
            "start_ns": str(s.start_time_ns),
            "end_ns": str(s.end_time_ns),
        })
    out_spans.sort(key=lambda s: (int(s["start_ns"]), s["name"]))
    info = trace.info
    return {
        "info": {
            "trace_id": info.trace_id,
            "state": info.state.value if hasattr(info.state, "value") else str(info.state),
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
            "request_time": info.request_time,
            "execution_duration": info.execution_duration,
            "tags": dict(info.tags),
            "metadata": dict(info.trace_metadata),
            "client_request_id": info.client_request_id,
        },
        "spans": out_spans,
    }


def main():
    mlflow.set_tracking_uri(sys.argv[1])
    req = json.load(sys.stdin)
    out = {"traces": {}, "searches": []}
    for trace_id in req.get("trace_ids", []):
        out["traces"][trace_id] = normalize(mlflow.get_trace(trace_id))
    for search in req.get("searches", []):
        found = mlflow.search_traces(
            locations=[search["experiment_id"]], filter_string=search["filter"], return_type="list"
        )
        out["searches"].append(sorted(t.info.trace_id for t in found))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
