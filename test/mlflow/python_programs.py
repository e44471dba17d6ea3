"""The programs of test/mlflow/python-parity.test.ts, written with MLflow's own Python SDK.

argv: tracking URI, experiment id. stdout: {"<program>": "<trace id>", ...}
Each program has a twin in the test written with mlflow-edge; the test compares the stored traces.
"""

import json
import sys

import mlflow
from mlflow.entities import SpanEvent, SpanType


class ValueError_(ValueError):
    pass


def decorator():
    @mlflow.trace(span_type="func", attributes={"key": "value"})
    def add_1(x):
        return x + 1

    @mlflow.trace(span_type="func", attributes={"key1": "value1"})
    def minus_1(x):
        return x - 1

    @mlflow.trace(name="Trace Test")
    def trace_test(x):
        return minus_1(add_1(x))

    trace_test(4)


def code_block():
    with mlflow.start_span(name="MySpan") as span:
        span.set_inputs({"x": 1, "y": 2})
        span.set_outputs(3)


def tags_and_previews():
    @mlflow.trace(span_type=SpanType.LLM)
    def generate_text(prompt):
        mlflow.get_current_active_span().set_attributes({"model": "gpt-4o-mini", "temperature": 0.7, "stop": ["\n"]})
        mlflow.update_current_trace(
            tags={"fruit": "apple"},
            metadata={"tenant": "acme"},
            client_request_id="req-42",
            request_preview="Doc: preview",
            response_preview="Summary: preview",
        )
        return prompt.upper()

    generate_text("hi")


def chat_with_usage():
    @mlflow.trace(name="Completions", span_type=SpanType.CHAT_MODEL)
    def create(messages, model):
        span = mlflow.get_current_active_span()
        span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8})
        return {"choices": [{"message": {"role": "assistant", "content": "You said: " + messages[-1]["content"]}}]}

    @mlflow.trace(span_type=SpanType.CHAIN)
    def chat(question):
        return create([{"role": "user", "content": question}], "gpt-4o-mini")

    chat("Hello")


def exception():
    @mlflow.trace
    def child(x):
        return x * 2

    @mlflow.trace
    def parse(text):
        child(21)
        mlflow.get_current_active_span().set_attribute("stage", "parsing")
        raise ValueError_("Some error in " + text)

    try:
        parse("{bad json")
    except ValueError_:
        pass


def generator_reducer():
    @mlflow.trace(output_reducer=lambda chunks: ",".join(chunks))
    def stream_data():
        yield from "hé😀lo"

    for _ in stream_data():
        pass


def generator_plain():
    @mlflow.trace
    def stream_data():
        for i in range(3):
            yield i

    for _ in stream_data():
        pass


def long_values():
    # Longer than MLflow keeps: the trace name and tags are cut to 4096 characters, metadata to 250.
    with mlflow.start_span(name="n" * 5000) as span:
        mlflow.update_current_trace(tags={"note": "t" * 5000}, metadata={"mlflow.trace.session": "s" * 300})
        span.set_inputs({"q": 1})


def unstorable_spans():
    # The server cannot put these spans in its tables (it cannot add up a null token count, and a
    # session id is at most 250 characters), so they go to MLflow as traces.json instead.
    @mlflow.trace(span_type=SpanType.CHAT_MODEL)
    def model(q):
        span = mlflow.get_current_active_span()
        span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": None, "output_tokens": 2, "total_tokens": 2})
        span.set_attribute("session.id", "s" * 300)
        return q.upper()

    @mlflow.trace(span_type=SpanType.CHAIN)
    def app(q):
        return model(q)

    app("hi")


def usage_with_cache():
    @mlflow.trace(span_type=SpanType.CHAT_MODEL)
    def model(q):
        mlflow.get_current_active_span().set_attribute(
            "mlflow.chat.tokenUsage", {"input_tokens": 7, "output_tokens": 2, "cache_read_input_tokens": 5}
        )
        return q

    @mlflow.trace(span_type=SpanType.CHAIN)
    def app(q):
        return model(q) + model(q)

    app("hi")


def explicit_outputs():
    @mlflow.trace
    def answer(q):
        mlflow.get_current_active_span().set_outputs({"answer": q.upper()})
        return {"text": q.upper(), "tokens": 7}

    answer("why?")


def chat_list_root():
    # A bare list of messages is not chat to MLflow 3.18's previews: they keep the raw JSON.
    with mlflow.start_span(name="chat") as span:
        span.set_inputs([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
        span.set_outputs([{"role": "assistant", "content": "hello!"}])


def emoji_cut():
    # The 250-character metadata cut and the 1000-character preview cut both fall on an emoji.
    @mlflow.trace
    def ask(q):
        return "ok"

    ask("a" + "\U0001F600" * 1200)


def user_trace_name():
    @mlflow.trace
    def named():
        mlflow.update_current_trace(tags={"mlflow.traceName": "custom-name"})
        return 1

    named()


def outputs_none():
    @mlflow.trace
    def five():
        mlflow.get_current_active_span().set_outputs(None)
        return 5

    five()


def small_floats():
    # json.dumps writes floats below 1e-4 in exponent form: previews, metadata and chunk events.
    @mlflow.trace
    def score(p):
        return {"p": p, "lp": [-3.2e-05, 2.5e-09, 0.5]}

    score(1e-05)


def event_arrays():
    with mlflow.start_span(name="events") as span:
        span.add_event(SpanEvent(name="typed", attributes={"ints": [1, 2, 3], "floats": [0.5, 1.5], "bools": [True, False], "words": ["a", "b"]}))


def generator_throws():
    @mlflow.trace
    def tokens():
        yield "a"
        yield 1e-05
        raise ValueError_("boom mid-stream")

    try:
        for _ in tokens():
            pass
    except ValueError_:
        pass


PROGRAMS = {
    "decorator": decorator,
    "explicit_outputs": explicit_outputs,
    "chat_list_root": chat_list_root,
    "emoji_cut": emoji_cut,
    "user_trace_name": user_trace_name,
    "outputs_none": outputs_none,
    "code_block": code_block,
    "tags_and_previews": tags_and_previews,
    "chat_with_usage": chat_with_usage,
    "exception": exception,
    "generator_reducer": generator_reducer,
    "generator_plain": generator_plain,
    "long_values": long_values,
    "unstorable_spans": unstorable_spans,
    "usage_with_cache": usage_with_cache,
    "small_floats": small_floats,
    "event_arrays": event_arrays,
    "generator_throws": generator_throws,
}


def run_programs(tracking_uri, experiment_id):
    """Runs every program against the server; returns {program: trace id}."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    out = {}
    for name, program in PROGRAMS.items():
        program()
        out[name] = mlflow.get_last_active_trace_id()
        # One program's spans per export: a batch the server refuses would take its neighbours
        # to the artifact path with it.
        mlflow.flush_trace_async_logging()
    mlflow.flush_trace_async_logging()
    return out


def main():
    json.dump(run_programs(sys.argv[1], sys.argv[2]), sys.stdout)


if __name__ == "__main__":
    main()
