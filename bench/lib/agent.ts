// The realistic trace both delivery benches send: a 5-span agent run (retriever, two chat-model
// calls with token usage, a tool), the shape MLflow's own examples record.
import * as mlflow from "../../core/index.js";

export const SPANS_PER_TRACE = 5;

const DOCS = Array.from({ length: 3 }, (_, i) => ({ id: `doc-${i}`, text: "MLflow tracing records spans of GenAI apps. ".repeat(6).trim() }));
const retrieve = mlflow.trace(function retrieve(query: string) { return DOCS; }, { spanType: mlflow.SpanType.RETRIEVER });
const calculator = mlflow.trace(function calculator(expression: string) { return { result: 42 }; }, { spanType: mlflow.SpanType.TOOL });
const llm = mlflow.trace(function llm(messages: { role: string; content: string }[], model: string) {
  mlflow.getCurrentActiveSpan()?.setAttribute("mlflow.chat.tokenUsage", { input_tokens: 120, output_tokens: 40, total_tokens: 160 });
  return { choices: [{ message: { role: "assistant", content: "The answer is 42. ".repeat(5) } }] };
}, { name: "chat.completions", spanType: mlflow.SpanType.CHAT_MODEL });
export const agent = mlflow.trace(function agent(question: string, i: number) {
  mlflow.updateCurrentTrace({ tags: { bench: "agent", i: String(i) } });
  const docs = retrieve(question);
  const messages = [{ role: "system", content: "Answer with the documents." }, { role: "user", content: question }];
  const first = llm([...messages, { role: "user", content: JSON.stringify(docs) }], "gpt-4o-mini");
  const tool = calculator("6*7");
  const second = llm([...messages, { role: "tool", content: JSON.stringify(tool) }], "gpt-4o-mini");
  return second.choices[0]!.message.content + first.choices[0]!.message.content.slice(0, 10);
}, { spanType: mlflow.SpanType.AGENT });
