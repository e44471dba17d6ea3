import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { createRedactor, PII_PATTERNS, REDACTED, redactSecrets } from "./redact.js";

// Redaction on real finished traces: the secrets a frontend LLM app handles (headers, keys in
// request options) must be gone everywhere MLflow would show them, including the previews and the
// trace metadata that are JSON text of the root's inputs.

async function finished(run: () => void): Promise<mlflow.Trace> {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
  run();
  await mlflow.flushTraces();
  expect(exporter.traces).toHaveLength(1);
  return exporter.traces[0]!;
}

const SECRETS = ["sk-live-0123456789abcdefXYZ", "hunter2", "c2VjcmV0LXRva2Vu", "sess=abc123", "tok-998877", "refresh-555", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"];

describe("redactSecrets", () => {
  it("masks secrets under secret-looking keys at any depth, in any casing, and keeps everything else", async () => {
    const trace = await finished(() => {
      mlflow.withSpan(
        (span) => {
          mlflow.withSpan(() => "ok", {
            name: "fetch",
            inputs: { url: "https://api.example.com/v1?api_key=hunter2&model=gpt", headers: { Authorization: `Bearer ${SECRETS[0]}`, "X-Api-Key": "hunter2" } },
            attributes: { "http.request.header.cookie": SECRETS[3]!, max_tokens: 64 },
          });
          span.addEvent({ name: "login", attributes: { password: "hunter2", user: "ann" } });
          return { answer: "42", usage: { input_tokens: 3, output_tokens: 5 }, refreshToken: SECRETS[5] };
        },
        {
          name: "agent",
          inputs: { messages: [{ role: "user", content: "hi" }], apiKey: SECRETS[0], nested: [{ deeper: { PASSWORD: "hunter2", client_secret: SECRETS[2] } }], access_token: SECRETS[4] },
        },
      );
    });
    // The raw trace really carries them, also inside the metadata JSON text MLflow derives.
    expect(JSON.stringify(trace)).toContain("hunter2");
    expect(trace.info.traceMetadata["mlflow.traceInputs"]).toContain(SECRETS[0]);

    const clean = redactSecrets(trace)!;
    const text = JSON.stringify(clean);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    const [root, child] = clean.data.spans;
    expect(root?.inputs).toMatchObject({ messages: [{ role: "user", content: "hi" }], apiKey: REDACTED, nested: [{ deeper: { PASSWORD: REDACTED, client_secret: REDACTED } }] });
    expect(root?.outputs).toEqual({ answer: "42", usage: { input_tokens: 3, output_tokens: 5 }, refreshToken: REDACTED });
    expect(root?.attributes["mlflow.spanInputs"]).toMatchObject({ apiKey: REDACTED });
    expect(root?.events[0]?.attributes).toEqual({ password: REDACTED, user: "ann" });
    expect(child?.inputs).toEqual({ url: `https://api.example.com/v1?api_key=${REDACTED}&model=gpt`, headers: { Authorization: REDACTED, "X-Api-Key": REDACTED } });
    expect(child?.attributes).toMatchObject({ "http.request.header.cookie": REDACTED, max_tokens: 64 });
    expect(clean.info.requestPreview).toBe("hi");
    expect(clean.info.traceMetadata["mlflow.traceInputs"]).toContain(`"apiKey": "${REDACTED}"`);
    expect(clean.info.traceMetadata["mlflow.trace.tokenUsage"]).toBe(trace.info.traceMetadata["mlflow.trace.tokenUsage"]);
    // The caller's trace object is left as it was.
    expect(JSON.stringify(trace)).toContain("hunter2");
  });

  it("keeps data that only looks secret: a model's logprob tokens, pagination cursors, flags (what MLflow users read back)", async () => {
    const trace = await finished(() => {
      mlflow.withSpan(() => ({
        choices: [{ logprobs: { content: [{ token: "Hello", logprob: -0.1, top_logprobs: [{ token: "Hi", logprob: -2.3 }] }] } }],
        next_page_token: "CgwIARAB", NextToken: "eyJvZmZzZXQiOjV9", continuationToken: "c-2",
        use_credentials: true, api_key: null,
        token: "still-a-secret", auth: { token: "tok-998877" }, FB_PAGE_TOKEN: "EAAGm0PX4ZCpsBAKZB3xyz", page_token: "EAAGm0PX4Z",
        // A streamed model token (Hugging Face TGI), a tool's signature, an auth mode: data, not secrets.
        stream: [{ token: { id: 17, text: "Hello", logprob: -0.2, special: false } }, { token: "world" }, { token: 42 }],
        tool: { signature: "search(query: str, k: int = 3)", auth: "basic", sig: "v1" },
      }), { name: "list" });
    });
    expect(redactSecrets(trace)!.data.spans[0]!.outputs).toEqual({
      choices: [{ logprobs: { content: [{ token: "Hello", logprob: -0.1, top_logprobs: [{ token: "Hi", logprob: -2.3 }] }] } }],
      next_page_token: "CgwIARAB", NextToken: "eyJvZmZzZXQiOjV9", continuationToken: "c-2",
      use_credentials: true, api_key: null,
      token: REDACTED, auth: REDACTED, FB_PAGE_TOKEN: REDACTED, page_token: REDACTED,
      stream: [{ token: { id: 17, text: "Hello", logprob: -0.2, special: false } }, { token: "world" }, { token: 42 }],
      tool: { signature: "search(query: str, k: int = 3)", auth: "basic", sig: "v1" },
    });
    // The root's outputs as MLflow's metadata and preview text keep them too.
    const text = JSON.stringify(redactSecrets(trace)!.info);
    for (const kept of ['\\"text\\": \\"Hello\\"', '\\"token\\": \\"world\\"', '\\"auth\\": \\"basic\\"']) expect(text).toContain(kept);
    expect(text).not.toContain("tok-998877");
  });

  it("under token, sig, signature and auth, what may be a credential is masked, in the span and in the JSON text alike", async () => {
    const secrets = {
      a: { auth: { user: "bob@x.com", pass: "hunter2hunter" } }, b: { auth: ["bob", "hunter2hunter"] }, c: { auth: "bob:pw1" },
      d: { auth: 'Digest username="bob", response="6629fae49393a05397450978507c4ef1"' }, e: { auth: "Bearer abcdefghijklmno" },
      f: { token: "h7Kd9Qz" }, g: { token: "AbCdEfGhIjKlMnOp" }, h: { token: "482915" }, i: { token: 482915 }, j: { token: ["abcdefghijklmnop"] },
      k: { signature: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }, l: { token: "ya29.a0AfH6SMBx" },
      m: { hdr: 'OAuth oauth_consumer_key="key", oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D"' },
    };
    const leaks = ["hunter2hunter", "bob:pw1", "6629fae49393a05397450978507c4ef1", "abcdefghijklmno", "h7Kd9Qz", "AbCdEfGhIjKlMnOp", "482915", "9f86d081884c7d65", "ya29.a0AfH6SMBx", "tnnArxj06cWHq44gCs1OSKk"];
    const trace = await finished(() => mlflow.withSpan(() => "ok", { name: "creds", inputs: secrets }));
    const clean = redactSecrets(trace)!;
    const text = JSON.stringify(clean);
    for (const leak of leaks) expect(text, leak).not.toContain(leak);
    // JSON text that is not in a span (a logged line) is judged as its value would be.
    const redact = createRedactor();
    const line = (s: string) => (redact({ ...trace, info: { ...trace.info, requestPreview: s } })!.info.requestPreview);
    // A quoted auth-header parameter inside JSON text is masked, and the text stays JSON.
    const oauth = line(JSON.stringify({ hdr: 'OAuth oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D"' }))!;
    expect(JSON.parse(oauth)).toEqual({ hdr: `OAuth oauth_signature="${REDACTED}"` });
    expect(line('sent "token": ya29.a0AfH6SMBx upstream')).not.toContain("ya29");
    expect(line('{"token": "world", "token": "abc\\ndef"}')).toBe('{"token": "world", "token": "abc\\ndef"}');
  });

  it("masks an OAuth callback's ?code=, and ?key= / ?session= / ?sid= values that look opaque, in URLs only", async () => {
    const url = "https://app.example/callback?code=4%2F0AX4XfWhXk9Yq3pZ&state=xyz&key=k9Jd82hDk2&session=s3ss10nV4lue99&sid=ab12cd34ef&page=2";
    const exchange = "grant_type=authorization_code&code=123456&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
    const code = "sorted(words, key=str.lower)\nClient(session=http_session)\nsys.exit(code=exit_code)\nd.get(key=cache_key1)";
    const objects = "https://files.example/get?key=reports/2024/q1.pdf&format=raw";
    const form = "code=print(1)&lang=python";
    const trace = await finished(() => mlflow.withSpan(() => "ok", { name: "callback", inputs: { url, exchange, code, objects, form, key: "value" } }));
    const inputs = redactSecrets(trace)!.data.spans[0]!.inputs as Record<string, string>;
    for (const leak of ["4%2F0AX4XfWhXk9Yq3pZ", "k9Jd82hDk2", "s3ss10nV4lue99", "ab12cd34ef"]) expect(inputs.url).not.toContain(leak);
    expect(inputs.url).toContain("state=xyz");
    expect(inputs.url).toContain("page=2");
    expect(inputs.exchange).toBe("grant_type=authorization_code&code=[REDACTED]&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
    // Code a model wrote, an object key, a form field that holds code, and data keys are kept.
    expect([inputs.code, inputs.objects, inputs.form, inputs.key]).toEqual([code, objects, form, "value"]);
  });

  it("masks the key of a fetch made with Headers, and provider keys in URLs (Gemini's ?key=), Groq and Hugging Face tokens", async () => {
    const gemini = "AIzaSyA-0123456789abcdefghijklmnopqrstu";
    const tracedFetch = mlflow.trace(function callProvider(url: string, init: { headers: Headers }) { return init.headers.get("x-goog-api-key"); });
    const trace = await finished(() => {
      tracedFetch(`https://generativelanguage.googleapis.com/v1beta/models/gemini:generateContent?key=${gemini}`, {
        headers: new Headers({ "x-goog-api-key": gemini, authorization: "Bearer gsk_abcdefghijklmnopqrstuvwxyz", "x-hf": "hf_abcdefghijklmnopqrstuvwxyz" }),
      });
    });
    expect(JSON.stringify(trace)).toContain(gemini); // captured: Headers are no longer {}
    const clean = redactSecrets(trace)!;
    const text = JSON.stringify(clean);
    for (const secret of [gemini, "gsk_abcdefghijklmnopqrstuvwxyz", "hf_abcdefghijklmnopqrstuvwxyz"]) expect(text).not.toContain(secret);
    expect(clean.data.spans[0]!.inputs).toEqual({
      url: `https://generativelanguage.googleapis.com/v1beta/models/gemini:generateContent?key=${REDACTED}`,
      init: { headers: { authorization: REDACTED, "x-goog-api-key": REDACTED, "x-hf": REDACTED } },
    });
  });

  it("masks secret-shaped values anywhere and JSON escaped inside JSON strings", () => {
    const redact = createRedactor();
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: {
        spans: [{
          traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
          status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [],
          inputs: { note: `use ${SECRETS[6]} please`, body: '{"request": "{\\"password\\": \\"hunter2\\"}"}' },
          outputs: "Authorization: Basic c2VjcmV0LXRva2Vu", attributes: {},
        }],
      },
    } satisfies mlflow.Trace;
    const text = JSON.stringify(redact(trace));
    for (const secret of ["hunter2", SECRETS[6]!, SECRETS[2]!]) expect(text).not.toContain(secret);
    expect(text).toContain("use [REDACTED] please");
  });

  it("masks keys nested in arrays and objects inside JSON text (previews and metadata), plain or escaped", () => {
    const redact = createRedactor();
    const json = '{"label": "x", "nested": [{"password": "pw-in-array"}], "headers": {"token": "tok-in-object"}}';
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, requestPreview: json, traceMetadata: { "mlflow.traceInputs": json }, tags: {} },
      data: {
        spans: [{
          traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
          status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [],
          inputs: { escaped: JSON.stringify(json) }, outputs: undefined, attributes: {},
        }],
      },
    } satisfies mlflow.Trace;
    const text = JSON.stringify(redact(trace));
    expect(text).not.toContain("pw-in-array");
    expect(text).not.toContain("tok-in-object");
    expect(redact(trace)!.info.requestPreview).toBe('{"label": "x", "nested": [{"password": "[REDACTED]"}], "headers": {"token": "[REDACTED]"}}');
  });

  it("masks an object or array under a secret key inside JSON text as it does in the object itself: plain, pretty, escaped in a JSON string (tool-call arguments), in prose, or cut short", () => {
    const redact = createRedactor();
    const creds = { cookies: { sessionid: "SESSION-VALUE-1" }, auth: ["bob", "HUNTER2-PW"], keep: { a: [1, { b: "}" }] }, token: { text: "hello", secret: "TOKEN-SECRET-2" } };
    const inputs = {
      object: creds,
      plain: JSON.stringify(creds),
      pretty: JSON.stringify(creds, null, 2),
      tool: JSON.stringify({ function: { name: "login", arguments: JSON.stringify({ auth: { user: "bob", pass: "TOOL-PASS-3" }, city: "Paris" }) } }),
      inProse: `sent ${JSON.stringify(creds)} and done`,
      cut: '{"password": {"user": "bob", "pass": "CUT-PASS-4", "ot',
      cutPretty: `${JSON.stringify({ auth: { user: "bob", pass: "CUT-PASS-5", more: "x".repeat(40) } }, null, 2).slice(0, 60)}...[truncated 40 chars]`,
      prose: 'In your config, add "credentials": { then your keys.\nStep 2: run the build.',
      quoted: JSON.stringify({ password: { x: 'a "}" in a string' }, after: "kept" }),
    };
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: {
        spans: [{
          traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
          status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [], inputs, outputs: undefined, attributes: {},
        }],
      },
    } satisfies mlflow.Trace;
    const out = redact(trace)!.data.spans[0]!.inputs as Record<string, string>;
    for (const secret of ["SESSION-VALUE-1", "HUNTER2-PW", "TOKEN-SECRET-2", "TOOL-PASS-3", "CUT-PASS-4", "CUT-PASS-5"]) expect(JSON.stringify(out)).not.toContain(secret);
    // The text keeps its form, and what is not secret: the same masks as the object's.
    expect(JSON.parse(out.plain!)).toEqual(out.object);
    expect(JSON.parse(out.pretty!)).toEqual(out.object);
    expect(out.object).toEqual({ cookies: REDACTED, auth: REDACTED, keep: { a: [1, { b: "}" }] }, token: { text: "hello", secret: REDACTED } });
    expect(out.pretty).toBe(JSON.stringify(out.object, null, 2));
    expect(JSON.parse(JSON.parse(out.tool!).function.arguments)).toEqual({ auth: REDACTED, city: "Paris" });
    expect(out.inProse).toBe(`sent ${JSON.stringify(out.object)} and done`);
    expect(out.cut).toBe(`{"password": "${REDACTED}"`);
    expect(out.cutPretty).toBe(`{\n  "auth": "${REDACTED}"`);
    expect(out.prose).toBe('In your config, add "credentials": { then your keys.\nStep 2: run the build.'); // a brace in prose, not JSON cut short
    // After a brace opened in prose, a closed object or array under a secret key is still masked whole.
    const after = redact({ ...trace, data: { spans: [{ ...trace.data.spans[0]!, inputs: { t: 'add "credentials": { then save.\nlog: {"password": ["hunter2-Xy!"]}' } }] } })!;
    expect((after.data.spans[0]!.inputs as { t: string }).t).toBe(`add "credentials": { then save.\nlog: {"password": "${REDACTED}"}`);
    // Many keys opening braces in prose: each left as it is, a pair inside still masked.
    const many = redact({ ...trace, data: { spans: [{ ...trace.data.spans[0]!, inputs: { t: `${'"auth": { '.repeat(3)}"password": "PW-IN-PROSE"\nmore prose` } }] } })!;
    expect((many.data.spans[0]!.inputs as { t: string }).t).toBe(`${'"auth": { '.repeat(3)}"password": "${REDACTED}"\nmore prose`);
    expect(JSON.parse(out.quoted!)).toEqual({ password: REDACTED, after: "kept" });
  });

  it("masks header lines of any secret-looking header name in logged text (not prose lines), a key=value pair under a long key, and a URL password written with @ or : in it", async () => {
    const redact = createRedactor();
    const trace = await finished(() => {
      mlflow.withSpan(() => "ok", {
        name: "call",
        inputs: {
          raw: "GET /v1 HTTP/1.1\nX-Auth-Token: tok-abc-123\nPrivate-Token: glpat-secret-9\nAccept: */*\nToken: a budget of words",
          prose: "Rules:\nPassword: at least 8 characters\nPassword: optional\nCredentials: none\nToken: 4096",
          longKey: "spring.security.oauth2.client.registration.my-company-identity-provider.client-secret=s3cr3tValue9&x=1",
          urlThenEmail: JSON.stringify({ url: "http://localhost:8080", note: "ping", email: "bob@example.com" }),
          odd: "mysql://root:it's-Se\"cret9@db:3306/a redis://:abc\\def123\\@cache amqp://g:Pa<ss>w0rd@mq",
          oddInJson: JSON.stringify({ dsn: 'postgres://app:pa"ss99@db:5432/main' }),
          hyphenatedProse: "Two-factor-auth: enabled for all admins\nX-Auth-Token: abc123",
          json: JSON.stringify({ log: "GET /\r\nX-Goog-Api-Key: goog-key-7\r\nHost: a" }),
          db: "postgres://app:p@ss:w0rd@db.local:5432/main, see http://example.com/a@b",
        },
      });
    });
    const inputs = redact(trace)!.data.spans[0]!.inputs as Record<string, string>;
    expect(inputs.raw).toBe(`GET /v1 HTTP/1.1\nX-Auth-Token: ${REDACTED}\nPrivate-Token: ${REDACTED}\nAccept: */*\nToken: a budget of words`);
    expect(JSON.parse(inputs.json!).log).toBe(`GET /\r\nX-Goog-Api-Key: ${REDACTED}\r\nHost: a`);
    expect(inputs.prose).toBe("Rules:\nPassword: at least 8 characters\nPassword: optional\nCredentials: none\nToken: 4096"); // prose, not headers
    expect(inputs.longKey).toBe(`spring.security.oauth2.client.registration.my-company-identity-provider.client-secret=${REDACTED}&x=1`); // judged by its last 80 characters
    expect(JSON.parse(inputs.urlThenEmail!)).toEqual({ url: "http://localhost:8080", note: "ping", email: "bob@example.com" }); // no password across JSON strings
    expect(inputs.odd).toBe(`mysql://root:${REDACTED}@db:3306/a redis://:${REDACTED}@cache amqp://g:${REDACTED}@mq`); // quotes, backslashes, brackets in a password
    expect(JSON.parse(inputs.oddInJson!)).toEqual({ dsn: `postgres://app:${REDACTED}@db:5432/main` });
    expect(inputs.hyphenatedProse).toBe(`Two-factor-auth: enabled for all admins\nX-Auth-Token: ${REDACTED}`);
    expect(inputs.db).toBe(`postgres://app:${REDACTED}@db.local:5432/main, see http://example.com/a@b`);
  });

  it("masks more of what apps carry: secret keys by any name, header tuples and header text, passwords in URLs, Stripe keys, JWTs, PEM private keys, signed URLs", async () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretpemmaterial\n-----END RSA PRIVATE KEY-----";
    const trace = await finished(() => {
      mlflow.withSpan(() => "ok", {
        name: "call",
        inputs: {
          secret_key: "sk1", signingKey: "sk2", private_key_pem: "sk3", password_confirmation: "sk4", pwd: "sk5", cookies: "sk6",
          headers: [["api-key", "azure-0123"], ["content-type", "application/json"]],
          raw: "POST /v1 HTTP/1.1\nAuthorization: Basic dXNlcjpwYXNz\napi-key: azure-4567\nAccept: */*",
          db: "postgres://app:pg-pass-99@db.local:5432/main",
          stripe: "sk_live_abcdefghijklmnopqrstuv", jwt, pem,
          sas: "https://acct.blob.core.windows.net/c/b?sv=2024&sig=sas-sig-123&se=2026",
          form: "user[name]=ann&user[password]=form-pass-1",
          tokens: { input_tokens: 3 }, session: "s-1", key: "city",
        },
      });
    });
    const clean = redactSecrets(trace)!;
    const text = JSON.stringify(clean);
    for (const secret of ["sk1", "sk2", "sk3", "sk4", "sk5", "sk6", "azure-0123", "dXNlcjpwYXNz", "azure-4567", "pg-pass-99", "sk_live_abc", jwt, "secretpemmaterial", "sas-sig-123", "form-pass-1"]) {
      expect(text).not.toContain(secret);
    }
    const inputs = clean.data.spans[0]!.inputs as Record<string, unknown>;
    expect(inputs.headers).toEqual([["api-key", REDACTED], ["content-type", "application/json"]]);
    expect(inputs.raw).toBe(`POST /v1 HTTP/1.1\nAuthorization: ${REDACTED}\napi-key: ${REDACTED}\nAccept: */*`);
    expect(inputs.db).toBe(`postgres://app:${REDACTED}@db.local:5432/main`);
    expect(inputs.sas).toBe(`https://acct.blob.core.windows.net/c/b?sv=2024&sig=${REDACTED}&se=2026`);
    expect(inputs).toMatchObject({ tokens: { input_tokens: 3 }, session: "s-1", key: "city" }); // not secrets: kept
  });

  it("masks a secret in JSON nested in a JSON string, also in the previews and metadata made from it (a raw fetch with tool-call arguments)", async () => {
    const body = JSON.stringify({ messages: [{ role: "assistant", tool_calls: [{ function: { name: "login", arguments: JSON.stringify({ password: "hunter2hunter2" }) } }] }] });
    const trace = await finished(() => mlflow.withSpan(() => "ok", { name: "fetch", inputs: { url: "https://api.example.com/v1/chat/completions", body } }));
    expect(JSON.stringify(trace)).toContain("hunter2hunter2"); // in the inputs, the preview and the metadata
    const clean = redactSecrets(trace)!;
    expect(JSON.stringify(clean)).not.toContain("hunter2hunter2");
    // The texts are the redacted root's, made as MLflow makes them: the same shape, nothing else lost.
    expect(clean.info.requestPreview).toContain('"url": "https://api.example.com/v1/chat/completions"');
    expect(clean.info.traceMetadata["mlflow.traceInputs"]).toBe(clean.info.requestPreview!.slice(0, 250));
  });

  it("makes the texts again from a root whose parent is remote (a Worker's part of a browser trace), and scrubs the object keys in them", async () => {
    const body = JSON.stringify({ arguments: JSON.stringify({ password: "hunter2hunter2" }) });
    const trace = await finished(() =>
      mlflow.withSpan(() => mlflow.withSpan(() => 1, { name: "child", inputs: { apiKey: "x-1234567890" } }), {
        name: "worker",
        parent: mlflow.parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")!,
        inputs: { body, cache: { "https://api.example.com/q?api_key=SECRET1234567890": "hit" } },
      }),
    );
    expect(trace.data.spans[0]!.parentId).toBe("b7ad6b7169203331");
    const info = JSON.stringify(redactSecrets(trace)!.info);
    for (const secret of ["hunter2hunter2", "SECRET1234567890"]) expect(info).not.toContain(secret);
  });

  it("scrubs a preview the app set itself, rather than replacing it", async () => {
    const trace = await finished(() => mlflow.withSpan(() => { mlflow.updateCurrentTrace({ requestPreview: "asked with Bearer abc123def456ghi" }); return 1; }, { name: "s", inputs: { apiKey: "k-1234567890" } }));
    expect(redactSecrets(trace)!.info.requestPreview).toBe(`asked with Bearer ${REDACTED}`);
  });

  it("keeps prose that names an auth scheme: only a value shaped like a credential is masked", () => {
    const redact = createRedactor();
    const prose = "What is a token budget? Basic setup please. Bearer bonds and a Token ring.";
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: { spans: [{
        traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
        status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [], attributes: {},
        inputs: {
          prose, counts: "Token 4096 of 8192",
          samples: ["token ghx0123456789abcd", "Basic dXNlcjpwYXNz", "bearer AbcdefGhijkl", "Basic YTpi", "Bearer my-collector-secret", "Bearer hunter2", "Bearer abcdefghijklmnopqrstuvwxyz", "Token a1b2c3"],
          python: "{'Authorization': 'Bearer local-dev-token'}",
        }, outputs: undefined,
      }] },
    } satisfies mlflow.Trace;
    expect(redact(trace)?.data.spans[0]?.inputs).toEqual({
      prose, counts: "Token 4096 of 8192",
      samples: ["token", "Basic", "bearer", "Basic", "Bearer", "Bearer", "Bearer", "Token"].map((scheme) => `${scheme} ${REDACTED}`),
      python: `{'Authorization': 'Bearer ${REDACTED}'}`,
    });
  });

  it("keeps prompts, names and keys that only look like secrets: acronyms and words after a scheme word, sk-words, secretary; masks credentials that look like words", () => {
    const redact = createRedactor();
    const prose = [
      "Explain basic SQL joins for a basic AI assistant", "A basic SQL join combines rows; each token ID is an integer.", "Basic RAG pipeline",
      "Write a basic e-commerce site", "Basic e-commerce setup", "Try basic AI-powered search", "basic JavaScript", "Basic TypeScript types",
      "Basic iOS app", "a basic GPT-4o prompt", "basic OAuth2 flow", "basic 3D modeling", "Basic C++ tutorial", "Basic set-up.", "Basic math",
      "Use sk-learn-compatible-estimators",
    ];
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: { spans: [{
        traceId: "tr-1", spanId: "a", parentId: null, name: "Basic RAG pipeline", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
        status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [], attributes: {},
        inputs: {
          prose, secretary: "Ada", auth: "oauth2",
          samples: ["Bearer my-secret-key", "bearer dev-local-abc", "token staging-alpha", "bearer my-session", "Bearer ABCDEF", "Token sk-live-abc", "Bearer ABCdefGHI", "Basic QWxhZGRpbjpvcGVu", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "basic user-password", "basic YWRtaW46YWRtaW4", "Basic dXNlcjpwYXNzd29yZA", "Basic dXNlcjpwYXNzd29yZA=", "Basic dXNlcjpwYXNz", "Basic bWU6cHc", "basic YTphYmM"],
          hidden: [{ auth: "hunter2" }, { auth: "Password1" }, { secret_args: "s3cr3t-value-123" }, { secretArn: "arn:aws:secretsmanager:x" }] as Record<string, string>[],
        },
        outputs: "sk-proj-abcdefghij0123456789",
      }] },
    } satisfies mlflow.Trace;
    const span = redact(trace)!.data.spans[0]!;
    expect(span.name).toBe("Basic RAG pipeline");
    expect(span.inputs).toEqual({
      prose, secretary: "Ada", auth: "oauth2",
      samples: ["Bearer", "bearer", "token", "bearer", "Bearer", "Token", "Bearer", "Basic", "Basic", "basic", "basic", "Basic", "Basic", "Basic", "Basic", "basic"].map((scheme) => `${scheme} ${REDACTED}`),
      hidden: [{ auth: REDACTED }, { auth: REDACTED }, { secret_args: REDACTED }, { secretArn: REDACTED }],
    });
    expect(span.outputs).toBe(REDACTED);
  });

  it("masks a scheme's credential written after a key in a query string or a command line (Authorization=Basic …), not only the scheme word", () => {
    const redact = createRedactor();
    const texts = ["curl -H Authorization=Basic dXNlcjpwYXNz x", "GET /x?authorization=Bearer abc123secret456&y=1"];
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: { spans: [{
        traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
        status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [], attributes: {}, inputs: { texts }, outputs: undefined,
      }] },
    } satisfies mlflow.Trace;
    const kept = JSON.stringify(redact(trace)!.data.spans[0]!.inputs);
    expect(kept).not.toContain("dXNlcjpwYXNz");
    expect(kept).not.toContain("abc123secret456");
    expect(kept).toContain("&y=1");
  });

  it("masks credentials in the other forms logs and code write them: Rails' Token token=, a scheme's parameter, header lines of env and YAML files (indented, quoted, commented), single-quoted values, URL-encoded schemes, a made-up secret word after Bearer; keeps prose and settings", async () => {
    const texts = [
      'Authorization: Token token="rails-abc123xyz", email="a@b.c"',
      "curl -H 'Authorization: Token token=\"abc123xyz\"'",
      "curl -H 'Authorization: Token key=key-abc123def' -H 'Authorization: Bearer id=id-abc123def' x",
      "Bearer: abc123def456\nbearer: s3cr3tvalue\nToken: ghx12345abcd\nPassword: 12345678",
      'OPENAI_API_KEY: abc123def456\napi_key: "plainvalue"\nopenai:\n  api_key: "nested-value"\n- password: listed9value\nDB_PASSWORD: commented1 # dev',
      "client = OpenAI(api_key='abc123def456', base_url=url)",
      'fetch(url, { headers: { Authorization: "Basic%20dXNlcjpwYXNz" } })',
      "GET /cb?h=Authorization%3A%20Bearer%20abc123def",
      "Bearer mysecrettoken",
      JSON.stringify({ log: 'x\napi_key: "escaped-value"\nPassword: hunter2' }),
      'password: "correct horse battery staple"\nToken: 8f14e45f-ceea-467a-9af7-02a6b1d2c3e4\nSecret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nPassword: pass-word-42',
      "- **Password:** P@ssw0rd123\n1. Password: numbered1pw\n> Password: quoted2pw",
      "Bearer accessToken=camel-abc123 and Token token2=digit-abc123",
      JSON.stringify({ h: "Bearer abcDEF123=", b: "Basic dXNlcjpwYXNz=" }),
      'curl -H "Authorization: Basic YWxpY2U6aHVudGVyMg==" x; GET /x?h=Bearer%20dGVzdDp0ZXN0MTIzNA==&y=1; Bearer%20key=pct-s3cr3t',

      'xhr.setRequestHeader("Authorization", "Bearer dTpwcDk="); xhr.send("x");',
      'password = "toml-hunter2"\napi_key = \'abcd1234efgh\'\n[auth]\ntoken = "abcd1234efgh5678"',

      "requests.post(url, data='grant_type=client_credentials&client_secret=quoted-s3cr3t')\nDSN='host=db password=dsn-hunter2 dbname=x'",
      "curl -H 'Authorization: Bearer\u00a0nbsp-dTpwcDk5OXh4' x; `Authorization: Token token=\"tick-abc123def\"`",

      "GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\tfolded-secret-123\r\nAuthorization: abc123 #hash-xyz789",
      'DB_PASSWORD="correct horse\nmultiline-staple"\nBearer%20token=%22pct-quoted-456%22 Basic%20token=pct-basic-456',
      "Cookie: 'sid=abc123def'; other=cookie-xyz987654",

      'Authorization: "dotted-abc123def456".\nh=Bearer%20lettersOnlyJKL=&x=1\ndescription="Setup\ntoken=inner-abc123def456\n"',
    ];
    const prose = [
      "Rules:\nPassword: optional\nToken: 4096\nCredentials: none\nToken: a budget of words\n  Password: 8chars",
      "Send a bearer token in the header. Bearer tokens expire. Basic authentication is weak; basic key concepts. Include the Bearer keyword.",
      "Use Token-based auth; a Bearer of 4096 tokens. The bearer passes the token on.",
      "password_min_length: 8\nsecret_name: my-tls-secret\npassword_hasher: argon2\ntype_signature: int->int\nallow_credentials: true\napi_key: null\nAPI_KEY: ✓",
      "Password: SHA-256\nToken: GPT-4\nSecret: 42\nOAuth: 2.0\nAuth: \"Login with Google\"",
      'api_key: ""\nOPENAI_API_KEY: \napi_key: \'\'\nWWW-Authenticate: Bearer realm="example"',
      "Set password=' followed by your password, then close the quote.\nDon't forget it.",
      "class Settings(BaseSettings):\n    openai_api_key: str\n    db_password: SecretStr\n    basic_auth: off\n    client_secret: required",
      "Token: cl100k_base\nSignature: HMACSHA256\nPassword: argon2id\nAuth: SAML2.0\nCookies: 3rd-party\nPassword: x" + " ".repeat(50_000) + "y",
      "- **Authorization:** handled by the API gateway (RBAC)\n> Authorization: the process of granting access\n1. **Cookie:** SameSite\n* **Token:** claude-3-5-sonnet\n+ token: v2.0.1\nAuth: OAuth2/OIDC",
      "fetch(url, {\n  credentials: 'include',\n  headers: {\n    authorization: req.headers.authorization,\n    cookie: { name: \"sid\", httpOnly: true },\n  },\n})",
      "permissions:\n  id-token: write\nclass Auth:\n    auth_token: AuthToken\n    max_token: 4096\nflags = ['trace-token=', 'perf-trace-token=']\nNO_AUTH = \"NO_AUTH\"\nf(in_signature='s')\nenv = { PWD: '/home/me/project' }",
      "POST /oauth/token\nContent-Type: application/json\nEach token id=50256 ends the text; Token count=12; Bearer prefix=true",
      'tiktoken = "^0.7.0"\nuser, password = "wile", "coyote"\nforgot_password = "Forgot your password?"\nPASSWORD = "$DB_PASSWORD"\nPWD = "/home/me"',
      "auth=basic user=alice ip=10.0.0.1 method=basic host=db01",
    ];
    const trace = await finished(() => {
      mlflow.withSpan(() => "ok", { name: "call", inputs: { texts, prose } });
    });
    const inputs = createRedactor()(trace)!.data.spans[0]!.inputs as { texts: string[]; prose: string[] };
    const secrets = ["dotted-abc123def456", "lettersOnlyJKL", "inner-abc123def456", "folded-secret-123", "hash-xyz789", "multiline-staple", "pct-quoted-456", "pct-basic-456", "cookie-xyz987654", "quoted-s3cr3t", "dsn-hunter2", "nbsp-dTpwcDk5OXh4", "tick-abc123def", "dTpwcDk", "toml-hunter2", "abcd1234efgh", "YWxpY2U6aHVudGVyMg", "dGVzdDp0ZXN0MTIzNA", "pct-s3cr3t", "horse", "ceea-467a", "K7MDENG", "pass-word-42", "P@ssw0rd123", "numbered1pw", "quoted2pw", "camel-abc123", "digit-abc123", "abcDEF123", "rails-abc123xyz", "abc123xyz", "key-abc123def", "id-abc123def", "abc123def456", "s3cr3tvalue", "ghx12345abcd", "12345678", "plainvalue", "nested-value", "listed9value", "commented1", "dXNlcjpwYXNz", "abc123def", "mysecrettoken", "escaped-value", "hunter2"];
    for (const secret of secrets) expect(JSON.stringify(inputs.texts)).not.toContain(secret);
    expect(inputs.texts[0]).toContain('email="a@b.c"');
    expect(inputs.texts[2]).toBe(`curl -H 'Authorization: Token key=${REDACTED}' -H 'Authorization: Bearer id=${REDACTED}' x`);
    expect(inputs.texts[4]).toBe(`OPENAI_API_KEY: ${REDACTED}\napi_key: "${REDACTED}"\nopenai:\n  api_key: "${REDACTED}"\n- password: ${REDACTED}\nDB_PASSWORD: ${REDACTED} # dev`);
    expect(inputs.texts[5]).toBe(`client = OpenAI(api_key='${REDACTED}', base_url=url)`);
    expect(inputs.texts[6]).toBe(`fetch(url, { headers: { Authorization: "Basic%20${REDACTED}" } })`);
    expect(JSON.parse(inputs.texts[9]!)).toEqual({ log: `x\napi_key: "${REDACTED}"\nPassword: ${REDACTED}` });
    expect(JSON.parse(inputs.texts[13]!)).toEqual({ h: `Bearer ${REDACTED}`, b: `Basic ${REDACTED}` }); // a credential ending in "=" in JSON text
    expect(inputs.texts[15]).toBe(`xhr.setRequestHeader("Authorization", "Bearer ${REDACTED}"); xhr.send("x");`); // the code after it intact
    expect(inputs.texts[14]).toBe(`curl -H "Authorization: Basic ${REDACTED}" x; GET /x?h=Bearer%20${REDACTED}&y=1; Bearer%20key=${REDACTED}`); // base64 padding is no parameter
    expect(inputs.prose.slice(0, -1)).toEqual(prose.slice(0, -1));
    expect(inputs.prose.at(-1)).toBe(`auth=${REDACTED} user=alice ip=10.0.0.1 method=basic host=db01`); // key=value under auth, as before
    expect(inputs.prose).toHaveLength(prose.length); // the 50 000 blanks: in linear time (a backtracking split took seconds)
  });

  it("masks quoted values in object literals and Python dicts on one line ({ apiKey: '…' }, {'password': '…'}), Go's := assignments and curl -v's response headers; keeps labels, types and settings there", async () => {
    const texts = [
      "const client = new OpenAI({ apiKey: 'objabc123def456', baseURL: url });",
      "print(config)  # {'api_key': 'dictabc123def456', 'model': 'gpt-4o', 'password': 'dictpw1'}",
      "cfg = {\n    'password': 'multiline-dict9',\n    'user': 'bob',\n}",
      'apiKey := "goabc123def456"\npassword := "gopass99"',
      "password = \"--correct-horse-battery\"\nPASSWORD = '-x'",
      "< HTTP/1.1 200 OK\n< Set-Cookie: session=curlabc123def456; Path=/; HttpOnly\n< X-Api-Key: curlk3y12345",
    ];
    const kept = [
      "{ type: 'password', label: 'Password', name: 'api_key' }\n{ password: 'Password', token: 'eos', max_tokens: '100' }",
      "{'token': None, 'password': '', 'secret_name': 'my-tls-secret', 'auth': 'basic'}",
      "field = { name: 'password', placeholder: 'Forgot your password?', autocomplete: 'current-password' }\nflags = {'password': '-W', 'host': '-h'}\nlabels = { password: 'パスワード', confirm_password: '비밀번호 확인', pw: '密码' }",
    ];
    const trace = await finished(() => {
      mlflow.withSpan(() => "ok", { name: "call", inputs: { texts, kept } });
    });
    const inputs = createRedactor()(trace)!.data.spans[0]!.inputs as { texts: string[]; kept: string[] };
    expect(inputs.texts).toEqual([
      `const client = new OpenAI({ apiKey: '${REDACTED}', baseURL: url });`,
      `print(config)  # {'api_key': '${REDACTED}', 'model': 'gpt-4o', 'password': '${REDACTED}'}`,
      `cfg = {\n    'password': '${REDACTED}',\n    'user': 'bob',\n}`,
      `apiKey := "${REDACTED}"\npassword := "${REDACTED}"`,
      `password = "${REDACTED}"\nPASSWORD = '${REDACTED}'`, // a value shaped as a flag, outside a dict of flags
      `< HTTP/1.1 200 OK\n< Set-Cookie: ${REDACTED}\n< X-Api-Key: ${REDACTED}`, // curl -v's response headers
    ]);
    expect(inputs.kept).toEqual(kept);
  });

  it("masks tokens services put in a URL's path (a Telegram bot's, Slack and Discord webhooks), in names and attributes too, and keeps the ids and look-alikes", async () => {
    const bot = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"; // the shape of Telegram's own example
    const slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    const discord = "https://discord.com/api/webhooks/123456789012345678/abcDEF-ghiJKL_mnoPQRstuVWXyz0123456789abcdefGHIJKLmnopQRSTuvwxYZ012345";
    const trace = await finished(() => {
      mlflow.withSpan((span) => void span.setAttribute("url.full", `https://api.telegram.org/bot${bot}/sendMessage`), {
        name: `POST /bot${bot}/sendMessage`,
        inputs: {
          url: `https://api.telegram.org/bot${bot}/getUpdates?offset=1`, slack, discord, prose: `Post to ${slack} when done.`,
          // Look-alikes: a clock, a ratio, an id with a short suffix, Slack's page about webhooks, a token's length and more.
          time: "at 12:30:45 on 20261207:091500", ratio: "ratio 1000000:1", ref: "order 12345678:abc",
          docs: "https://api.slack.com/messaging/webhooks", longer: `123456789:${"A".repeat(51)}`,
        },
      });
    });
    const clean = redactSecrets(trace)!;
    const span = clean.data.spans[0]!;
    const text = JSON.stringify(clean);
    for (const secret of ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/", "XXXXXXXXXXXXXXXXXXXXXXXX", "abcDEF-ghiJKL"]) expect(text).not.toContain(secret);
    expect(span.name).toBe(`POST /bot123456789:${REDACTED}/sendMessage`);
    expect(span.attributes["url.full"]).toBe(`https://api.telegram.org/bot123456789:${REDACTED}/sendMessage`);
    expect(span.inputs).toEqual({
      url: `https://api.telegram.org/bot123456789:${REDACTED}/getUpdates?offset=1`,
      slack: `https://hooks.slack.com/services/T00000000/B00000000/${REDACTED}`,
      discord: `https://discord.com/api/webhooks/123456789012345678/${REDACTED}`,
      prose: `Post to https://hooks.slack.com/services/T00000000/B00000000/${REDACTED} when done.`,
      time: "at 12:30:45 on 20261207:091500", ratio: "ratio 1000000:1", ref: "order 12345678:abc",
      docs: "https://api.slack.com/messaging/webhooks", longer: `123456789:${"A".repeat(51)}`,
    });
    expect(clean.info.requestPreview).not.toContain("XXXXXXXXXXXXXXXXXXXXXXXX");
  });

  it("takes extra keys and patterns", () => {
    const redact = createRedactor({ keys: ["ssn", /^x-internal-/], patterns: [/\b\d{3}-\d{2}-\d{4}\b/g] });
    const trace = {
      info: { traceId: "tr-1", traceLocation: { type: "MLFLOW_EXPERIMENT" as const }, requestTime: 0, state: "OK" as const, traceMetadata: {}, tags: {} },
      data: { spans: [{
        traceId: "tr-1", spanId: "a", parentId: null, name: "s", spanType: "UNKNOWN" as const, startTime: 0, endTime: 1,
        status: { statusCode: "STATUS_CODE_OK" as const, description: "" }, events: [], attributes: {},
        inputs: { SSN: "x", "x-internal-id": "y", text: "mine is 123-45-6789" }, outputs: undefined,
      }] },
    } satisfies mlflow.Trace;
    expect(redact(trace)?.data.spans[0]?.inputs).toEqual({ SSN: REDACTED, "x-internal-id": REDACTED, text: `mine is ${REDACTED}` });
  });

  it("PII_PATTERNS (opt-in) mask emails, card numbers, phone numbers and IP addresses, and keep look-alikes", async () => {
    const message = [
      "Mail ann.lee+work@mail.example.co.uk or call +1 415 555 0100 / (415) 555-0100 / 415-555-0199.",
      "Card 4111 1111 1111 1111 and 5500-0000-0000-0004; order 4111111111111112 (bad checksum), ts 1718000000123.",
      "From 192.168.10.1, app v1.2.3, model 2024-06-10, 3.14159, +1 2 3.",
    ].join(" ");
    const trace = await finished(() => {
      mlflow.withSpan(() => "ok", { name: "chat", inputs: { messages: [{ role: "user", content: message }] } });
    });
    const plain = JSON.stringify(redactSecrets(trace)); // not in the default
    expect(plain).toContain("ann.lee+work@mail.example.co.uk");
    const clean = createRedactor({ patterns: PII_PATTERNS })(trace)!;
    const content = (clean.data.spans[0]!.inputs as { messages: { content: string }[] }).messages[0]!.content;
    expect(content).toBe(
      [
        "Mail [REDACTED:email] or call [REDACTED:phone] / [REDACTED:phone] / [REDACTED:phone].",
        "Card [REDACTED:card] and [REDACTED:card]; order 4111111111111112 (bad checksum), ts 1718000000123.",
        "From [REDACTED:ip], app v1.2.3, model 2024-06-10, 3.14159, +1 2 3.",
      ].join(" "),
    );
    expect(clean.info.requestPreview).not.toContain("ann.lee");
    expect(clean.info.traceMetadata["mlflow.traceInputs"]).toContain("[REDACTED:email]");
    // The default rules still apply alongside.
    const both = createRedactor({ patterns: PII_PATTERNS })({ ...trace, data: { spans: [{ ...trace.data.spans[0]!, attributes: { api_key: "k" } }] } })!;
    expect(both.data.spans[0]!.attributes).toEqual({ api_key: REDACTED });
  });
});

