// The Traces view: a table like MLflow's Traces tab (previews, status, duration, time, spans, tags,
// forwarding state) with filters and live updates, and a trace detail with the span tree, a
// waterfall and each span's inputs, outputs, attributes and events. Text only, never HTML.
import { append, clear, formatDuration, formatTime, h, pretty } from "./dom.js";
import { startTracing } from "./tracing.js";
import { getConfig, getTrace, listTraces, type DemoConfig, type SpanData, type StoredTrace, type TraceQuery } from "./traces-api.js";

const REFRESH_MS = 2000;
const root = document.getElementById("app")!;
let config: DemoConfig = { mlflowUrl: null, experimentId: null };
// Only a forwarded trace's "Open in MLflow" link needs it, and it waits for MLflow (the
// experiment's id): the buffer's own views do not wait for it.
const configReady = getConfig().then(
  (c) => (config = c),
  () => config,
);
let timer: ReturnType<typeof setTimeout> | undefined;
/** Bumped by every route(): a render or refresh started for an earlier view stops at its next step. */
let view = 0;
const filters: TraceQuery = { limit: 50 };

function statusBadge(state: string): HTMLElement {
  const ok = state === "OK" || state === "STATUS_CODE_OK";
  const error = state === "ERROR" || state === "STATUS_CODE_ERROR";
  return h("span", { class: `badge ${ok ? "ok" : error ? "error" : "other"}` }, ok ? "OK" : error ? "Error" : state.replace("STATUS_CODE_", ""));
}

function tagList(tags: Record<string, string>): HTMLElement {
  const user = Object.entries(tags).filter(([k]) => !k.startsWith("mlflow."));
  return h("span", { class: "tags" }, ...user.map(([k, v]) => h("bdi", { class: "tag" }, `${k}: ${v}`)));
}

// ---------------------------------------------------------------- list

function filterBar(onChange: () => void): HTMLElement {
  const search = h("input", { type: "search", placeholder: "Search request, response, name or id", "aria-label": "Search traces", value: filters.text ?? "" });
  const status = h("select", { "aria-label": "Status" }, h("option", { value: "" }, "Any status"), h("option", { value: "OK" }, "OK"), h("option", { value: "ERROR" }, "Error"));
  const forwarding = h(
    "select",
    { "aria-label": "Forwarding" },
    h("option", { value: "" }, "Any forwarding"),
    ...["buffered", "forwarded", "dead-lettered", "not-configured"].map((v) => h("option", { value: v }, v)),
  );
  const tag = h("input", { type: "text", placeholder: "tag or tag=value", "aria-label": "Tag filter", value: filters.tag ?? "" });
  status.value = filters.status ?? "";
  forwarding.value = filters.forwarding ?? "";
  let debounce: ReturnType<typeof setTimeout> | undefined;
  const update = () => {
    filters.text = search.value.trim() || undefined;
    filters.tag = tag.value.trim() || undefined;
    filters.status = (status.value || undefined) as TraceQuery["status"];
    filters.forwarding = (forwarding.value || undefined) as TraceQuery["forwarding"];
    clearTimeout(debounce);
    debounce = setTimeout(onChange, 200);
  };
  for (const el of [search, tag]) el.addEventListener("input", update);
  for (const el of [status, forwarding]) el.addEventListener("change", update);
  return h("div", { class: "filters", role: "search" }, search, status, tag, forwarding);
}

async function renderList(): Promise<void> {
  const mine = view;
  clear(root);
  const body = h("tbody");
  const note = h("p", { class: "note", role: "status", "aria-live": "polite" }, "Loading traces…");
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
  let cursor: string | null = null;
  /** Set once "Load more" was used: live updates of the first page would drop the rows loaded since. */
  let paged = false;
  const table = h(
    "table",
    { class: "traces" },
    h(
      "thead",
      {},
      h("tr", {}, ...["Trace", "Request", "Response", "Status", "Duration", "Time", "Spans", "Tags", "Forwarding"].map((c) => h("th", { scope: "col" }, c))),
    ),
    body,
  );
  const row = (t: StoredTrace["summary"]) =>
    h(
      "tr",
      { "data-trace-id": t.traceId },
      h("td", {}, h("a", { href: `#/${encodeURIComponent(t.traceId)}`, class: "trace-link" }, h("bdi", {}, t.name ?? t.traceId))),
      h("td", { class: "preview request" }, t.requestPreview ?? ""),
      h("td", { class: "preview response" }, t.responsePreview ?? ""),
      h("td", {}, statusBadge(t.state)),
      h("td", { class: "num" }, formatDuration(t.executionDuration)),
      h("td", {}, formatTime(t.requestTime)),
      h("td", { class: "num" }, t.spanCount),
      h("td", {}, tagList(t.tags)),
      h("td", {}, h("span", { class: `fwd ${t.forwarding}`, title: t.lastError ?? "" }, t.forwarding)),
    );
  /** The last load started: an earlier one still under way (a live update when Load more was clicked) is stale. */
  let latest = 0;
  let moreTicket = 0;
  const load = async (more_: boolean) => {
    const ticket = ++latest;
    if (more_) moreTicket = ticket; // no live update while it is under way
    try {
      const page = await listTraces({ ...filters, cursor: more_ ? (cursor ?? undefined) : undefined });
      if (mine !== view || ticket !== latest) return; // the user went elsewhere, or asked for more, meanwhile
      paged = more_;
      if (!more_) clear(body);
      append(body, page.traces.map(row));
      cursor = page.nextCursor;
      more.hidden = cursor === null;
      const filtered = filters.text || filters.tag || filters.status || filters.forwarding;
      note.textContent = body.childElementCount > 0 ? "" : filtered ? "No traces match these filters." : "No traces yet. Send a message in the chat.";
    } catch (error) {
      if (mine !== view || ticket !== latest) return;
      note.textContent = `Could not load traces: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      if (moreTicket === ticket) moreTicket = 0;
    }
  };
  more.addEventListener("click", () => void load(true));
  append(root, [h("h1", {}, "Traces"), filterBar(() => void load(false)), h("div", { class: "table-wrap" }, table), more, note]);
  await load(false);
  // Replacing the rows would take away the focus and a text selection in them: wait until they go.
  const inUse = () => {
    const selection = document.getSelection();
    return table.contains(document.activeElement) || (selection !== null && !selection.isCollapsed && table.contains(selection.anchorNode));
  };
  // Live updates: refresh the first page while nobody has paged further.
  const tick = async () => {
    if (mine !== view) return;
    if (!paged && !moreTicket && !inUse()) await load(false);
    if (mine === view) timer = setTimeout(tick, REFRESH_MS);
  };
  timer = setTimeout(tick, REFRESH_MS);
}

// ---------------------------------------------------------------- detail

interface Node_ {
  span: SpanData;
  depth: number;
}

/**
 * Depth-first order; spans whose parent is elsewhere (another part of the trace) are roots. Spans
 * no root reaches (parents that loop, sent in separate parts) follow at the top level: every span
 * the trace holds is listed, once. Walked with a stack of its own, not recursion: parts merged
 * up to a raised TRACE_MAX_SPANS can nest deeper than the browser's call stack.
 */
function flatten(spans: SpanData[]): Node_[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string | null, SpanData[]>();
  for (const s of spans) {
    const key = s.parentId !== null && ids.has(s.parentId) ? s.parentId : null;
    const siblings = children.get(key);
    if (siblings) siblings.push(s);
    else children.set(key, [s]);
  }
  for (const siblings of children.values()) siblings.sort((a, b) => a.startTime - b.startTime);
  const out: Node_[] = [];
  const listed = new Set<SpanData>();
  const walk = (start: SpanData[]) => {
    const stack: Node_[] = start.map((span) => ({ span, depth: 0 })).reverse();
    for (let node = stack.pop(); node; node = stack.pop()) {
      if (listed.has(node.span)) continue;
      listed.add(node.span);
      out.push(node);
      const kids = children.get(node.span.spanId) ?? [];
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i]!, depth: node.depth + 1 });
    }
  };
  walk(children.get(null) ?? []);
  walk(spans.filter((s) => !listed.has(s)));
  return out;
}

function section(title: string, content: Node | string): HTMLElement {
  return h("section", { class: "span-section" }, h("h3", {}, title), typeof content === "string" ? h("pre", {}, content) : content);
}

function spanDetail(span: SpanData): HTMLElement {
  const attributes = Object.fromEntries(Object.entries(span.attributes).filter(([k]) => !["mlflow.spanInputs", "mlflow.spanOutputs"].includes(k)));
  const events = h(
    "ol",
    { class: "events" },
    ...span.events.map((e) =>
      h(
        "li",
        { class: `event ${e.name === "exception" ? "exception" : ""}` },
        h("strong", {}, h("bdi", {}, e.name)),
        " ",
        h("span", { class: "muted" }, formatTime(e.timestamp)),
        h("pre", {}, pretty(e.attributes)),
      ),
    ),
  );
  return h(
    "div",
    { class: "span-detail", "data-span-id": span.spanId },
    h("h2", {}, span.name),
    h(
      "p",
      { class: "meta" },
      h("bdi", { class: "type" }, span.spanType),
      " ",
      statusBadge(span.status.statusCode),
      " ",
      formatDuration(span.endTime === null ? null : span.endTime - span.startTime),
      span.status.description ? h("bdi", { class: "status-desc" }, ` ${span.status.description}`) : null,
    ),
    section("Inputs", pretty(span.inputs)),
    section("Outputs", pretty(span.outputs)),
    section("Attributes", pretty(attributes)),
    section(`Events (${span.events.length})`, span.events.length ? events : "—"),
  );
}

async function renderDetail(id: string): Promise<void> {
  const mine = view;
  clear(root);
  const back = h("a", { href: "#", class: "back" }, "← All traces");
  const loading = h("p", { class: "note", role: "status" }, "Loading trace…");
  append(root, [back, loading]);
  let stored: StoredTrace;
  try {
    stored = await getTrace(id);
  } catch (error) {
    if (mine !== view) return; // the user went elsewhere meanwhile
    loading.remove();
    append(root, [h("p", { class: "note", role: "alert" }, `Could not load ${id}: ${error instanceof Error ? error.message : String(error)}`)]);
    return;
  }
  if (mine !== view) return;
  const { summary, trace } = stored;
  const nodes = flatten(trace.data.spans);
  // A loop, not Math.min(...spans): spreading that many arguments overflows the call stack.
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const s of trace.data.spans) {
    t0 = Math.min(t0, s.startTime);
    t1 = Math.max(t1, s.endTime ?? s.startTime);
  }
  const total = Math.max(t1 - t0, 0.001);
  const detail = h("div", { class: "detail-pane", "aria-live": "polite" });
  const rows: HTMLElement[] = [];
  const select = (i: number) => {
    rows.forEach((r, j) => r.setAttribute("aria-selected", String(i === j)));
    clear(detail);
    detail.appendChild(spanDetail(nodes[i]!.span));
  };
  nodes.forEach(({ span, depth }, i) => {
    const left = ((span.startTime - t0) / total) * 100;
    const width = Math.max((((span.endTime ?? t1) - span.startTime) / total) * 100, 0.5);
    const error = span.status.statusCode === "STATUS_CODE_ERROR";
    // Positions through the CSSOM, not style attributes, which the page's CSP does not allow.
    const name = h("span", { class: "span-name" }, h("bdi", {}, span.name), " ", h("bdi", { class: "type" }, span.spanType));
    name.style.paddingLeft = `${Math.min(depth, 40) * 14}px`; // a 2000-deep chain stays on the screen (aria-level has the depth)
    const bar = h("span", { class: `bar ${error ? "error" : ""}` });
    bar.style.left = `${left}%`;
    bar.style.width = `${width}%`;
    const row = h(
      "li",
      { role: "treeitem", tabindex: i === 0 ? 0 : -1, "aria-level": depth + 1, class: `span-row ${error ? "error" : ""}`, "data-span-name": span.name },
      name,
      h("span", { class: "bar-track", "aria-hidden": "true" }, bar),
      h("span", { class: "num" }, formatDuration(span.endTime === null ? null : span.endTime - span.startTime)),
    );
    row.addEventListener("click", () => select(i));
    row.addEventListener("keydown", (event) => {
      const key = (event as KeyboardEvent).key;
      const next = key === "ArrowDown" ? i + 1 : key === "ArrowUp" ? i - 1 : key === "Enter" || key === " " ? i : -1;
      if (next < 0 || next >= rows.length) return;
      event.preventDefault();
      rows[next]!.focus();
      select(next);
    });
    rows.push(row);
  });
  loading.remove();
  // "Open in MLflow" waits for MLflow (the experiment's id), the spans do not: it comes when known.
  const mlflowLink = h("span", { class: "mlflow-link-slot" });
  if (summary.forwarding === "forwarded") {
    void (async () => {
      await configReady;
      // The experiment may only exist since this page loaded (created by the buffer's first forward).
      if (config.mlflowUrl && config.experimentId === null) config = await getConfig().catch(() => config);
      if (mine !== view || !config.mlflowUrl) return;
      const href = `${config.mlflowUrl}/#/experiments/${config.experimentId ?? "0"}/traces?selectedEvaluationId=${encodeURIComponent(trace.info.traceId)}`;
      mlflowLink.appendChild(h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "mlflow-link" }, "Open in MLflow"));
    })();
  }
  append(root, [
    h("h1", {}, summary.name ?? trace.info.traceId),
    h(
      "p",
      { class: "meta" },
      statusBadge(summary.state),
      ` ${formatDuration(summary.executionDuration)} · ${formatTime(summary.requestTime)} · ${summary.spanCount} spans · `,
      h("span", { class: `fwd ${summary.forwarding}` }, summary.forwarding),
      summary.lastError ? h("span", { class: "muted" }, ` (${summary.lastError})`) : null,
      " ",
      mlflowLink,
    ),
    h("p", { class: "muted mono" }, trace.info.traceId),
    tagList(summary.tags),
    h("div", { class: "trace-detail" }, h("ol", { role: "tree", class: "span-tree", "aria-label": "Spans" }, ...rows), detail),
  ]);
  if (rows.length) select(0);
}

// ---------------------------------------------------------------- routing

async function route(): Promise<void> {
  view++;
  clearTimeout(timer);
  const hash = location.hash.replace(/^#\/?/, "");
  let id: string;
  try {
    id = decodeURIComponent(hash);
  } catch {
    // A malformed escape (`#/%E0%A4%A`, typed or pasted) would throw here and leave the previous
    // view on screen as if it were this one: say what is wrong instead (as text, like all content).
    clear(root);
    append(root, [h("a", { href: "#", class: "back" }, "← All traces"), h("p", { class: "note", role: "alert" }, `"${hash}" is not a valid trace id.`)]);
    return;
  }
  if (id) await renderDetail(id);
  else await renderList();
}

window.addEventListener("hashchange", () => void route());
void route();
// A page of the site: it sends what the chat's tabs left in the queue (its settings unreadable:
// they wait for the chat).
startTracing().catch(() => undefined);
