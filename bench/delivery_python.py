"""MLflow's own Python SDK sending the bench's traces (the twin of bench/delivery.ts's agent run).

argv: tracking URI, experiment id, trace count. stdout: {"seconds": s, "traces": n, "spans": m}
Timed from the first span to the end of flush_trace_async_logging (every trace delivered),
with MLflow's default async logging.
"""

import json
import sys
import time

import mlflow
from mlflow.entities import SpanType

DOCS = [{"id": f"doc-{i}", "text": ("MLflow tracing records spans of GenAI apps. " * 6).strip()} for i in range(3)]


@mlflow.trace(span_type=SpanType.RETRIEVER)
def retrieve(query):
    return DOCS


@mlflow.trace(span_type=SpanType.TOOL)
def calculator(expression):
    return {"result": 42}


@mlflow.trace(name="chat.completions", span_type=SpanType.CHAT_MODEL)
def llm(messages, model):
    mlflow.get_current_active_span().set_attribute(
        "mlflow.chat.tokenUsage", {"input_tokens": 120, "output_tokens": 40, "total_tokens": 160}
    )
    return {"choices": [{"message": {"role": "assistant", "content": "The answer is 42. " * 5}}]}


@mlflow.trace(span_type=SpanType.AGENT)
def agent(question, i):
    mlflow.update_current_trace(tags={"bench": "delivery", "i": str(i)})
    docs = retrieve(question)
    messages = [{"role": "system", "content": "Answer with the documents."}, {"role": "user", "content": question}]
    first = llm(messages + [{"role": "user", "content": json.dumps(docs)}], "gpt-4o-mini")
    tool = calculator("6*7")
    second = llm(messages + [{"role": "tool", "content": json.dumps(tool)}], "gpt-4o-mini")
    return second["choices"][0]["message"]["content"] + first["choices"][0]["message"]["content"][:10]


def main():
    uri, experiment_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    agent("warm-up", -1)  # imports, connections and the version check outside the timing
    mlflow.flush_trace_async_logging()
    started = time.perf_counter()
    for i in range(count):
        agent(f"What is 6 times 7? ({i})", i)
    mlflow.flush_trace_async_logging()
    seconds = time.perf_counter() - started
    json.dump({"seconds": seconds, "traces": count, "spans": count * 5}, sys.stdout)


if __name__ == "__main__":
    main()
