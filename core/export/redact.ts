import { META_INPUTS, META_OUTPUTS } from "../model/constants.js";
import { rootOf, rootTexts } from "../model/finalize.js";
import type { Json, SpanData, SpanEvent, Trace, TraceInfo } from "../model/types.js";
import { setKey } from "../serialize/safe-json.js";

// Redaction runs on the finished trace before it is stored anywhere (IndexedDB, a Durable Object):
// data at rest never holds what the hook removed. The default masks values under secret-looking
// keys, deep in inputs, outputs and attributes, and inside strings that embed JSON or query strings
// (MLflow's trace metadata and previews are JSON text of the root's inputs and outputs).

/** Gets the finished trace; returns the trace to keep (a copy, or the same object) or `null` to drop it. */
export type RedactHook = (trace: Trace) => Trace | null;

export const REDACTED = "[REDACTED]";

/** A pattern with its own replacement: `replace` gets each match and returns what to keep instead. */
export interface RedactRule {
  pattern: RegExp;
  replace: (match: string) => string;
}

export interface RedactorOptions {
  /** More keys to mask: strings match the normalized key (case, `-`, `_` ignored) exactly; RegExps test the raw key. */
  keys?: readonly (string | RegExp)[];
  /** More patterns to mask inside any string (a RegExp's matches become [REDACTED]; a rule says what instead). Use the `g` flag. */
  patterns?: readonly (RegExp | RedactRule)[];
}

// Compared after lowercasing and dropping everything but letters and digits, so apiKey, api_key,
// API-KEY and x-api-key all match. A suffix match, so access_token and client_secret do too, while
// token counts (input_tokens, mlflow.chat.tokenUsage) do not.
const SECRET_KEY = /(authorization|apikey|passwd|passphrase|cookies?|token|credentials?|accesskey|signingkey|clientkey|bearer|jwt|auth|pwd|signature|sig)$/;
// Anywhere in the key: password_confirmation, secret_key, private_key_pem.
const SECRET_IN_KEY = /password|secret(?!ary|ariat)|privatekey/; // not secretary, secretariat
// Pagination cursors named like tokens: next_page_token, NextToken, continuationToken (whole keys
// only: FB_PAGE_TOKEN or page_token may well be a credential).
const CURSOR_KEY = /^(?:next|nextpage|continuation)token$/;
// Keys as often data as secrets: a streamed model token ({ token: { id, text, logprob } }, or a
// word piece), a function's signature. Under these, objects are looked into, and a value is kept
// only when it reads as text: a string with whitespace (a scheme and credential in it is still
// masked by the patterns), a plain word (lower-case or caseless letters, an initial capital
// allowed), 3 characters or fewer; a number under 1000 (not a one-time code). Arrays and anything
// else are masked. `auth` is strict: only a lone scheme word ("basic", "oauth2") is kept.
const DATA_OR_SECRET_KEY = /^(?:token|sig|signature)$/;
// (A tokenizer's word-start mark, SentencePiece's "▁" or byte-level BPE's "Ġ", may lead.)
const PLAIN_WORD = /^[▁Ġ]?\p{Lu}?[\p{Ll}\p{Lo}\p{M}]{1,23}$/u;
const readsAsText = (s: string): boolean => /\s/.test(s) || PLAIN_WORD.test(s) || [...s].length <= 3;
// A bare (unquoted) value in JSON text that JSON reads as a literal; anything else is a string.
const JSON_LITERAL = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$/;

// Secret-shaped values wherever they appear: auth schemes, and well-known key formats.
const SECRET_VALUES: readonly RegExp[] = [
  /\bsk-(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{16,}/g, // OpenAI, Anthropic (sk-ant-…), with a digit somewhere (not "sk-learn-compatible-estimators")
  /\bAIza[0-9A-Za-z_-]{35}/g, // Google (Gemini's ?key=)
  /\b(?:gsk|hf)_[A-Za-z0-9]{20,}/g, // Groq, Hugging Face
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g, // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/g, // Stripe
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // a JWT
  /-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s\\]{0,10000}-----END [A-Z ]{0,40}PRIVATE KEY-----/g, // base64 (its line breaks escaped too, in JSON text) only: linear on hostile text
];
/**
 * Text shaped as Basic's credential (base64 of user:password, RFC 7617): base64 of a padded length,
 * or, cut or unpadded, 7 characters or more (5 bytes: "me:pw") with a digit or capitals inside
 * ("bWU6cHc", "dXNlcjpwYXNzd29yZA"; not "TypeScript", "OAuth2").
 */
const basicCredential = (s: string): boolean =>
  /^[A-Za-z0-9+/]+={0,2}$/.test(s) && (s.length % 4 === 0 || (s.length >= 7 && (/\d/.test(s) || (s.slice(1).match(/[A-Z]/g)?.length ?? 0) >= 2)));
// `name=value` after Bearer or Token (Basic takes no parameters but a challenge's realm): the value
// starts with a letter or digit, or is quoted where no string of code ends (`"…abc=");`), so
// base64 padding ("…Mg==", "…abc=" in JSON text, "…4=)") is never read as a parameter (`[`: one
// masked already).
const AUTH_PARAM = `[A-Za-z][\\w-]{0,19}=(?:\\\\?"(?![,:;}\\])+/|".\\s>\`])[^"\\\\\\r\\n]{0,200}\\\\?"(?=[\\s,;'"}\\]&\\\\).>\`]|$)|[\\w[][^\\s"'\\\\,;&]{0,199})`;
// What separates a scheme from its credential: blanks (not a line break), "%20", or a folded
// `Authorization:` line (a line break and an indent).
const FOLDED = "(?<=authorization:[ \\t]*\\w+)\\r?\\n[ \\t]+";
const SCHEME_SEP = `(?:[^\\S\\r\\n]+|%20(?![A-Za-z_-]{1,20}=[\\w"%[])|${FOLDED})`; // (%20 before a parameter: the rule for those)
// Where only part of the match is the secret.
const SECRET_PARTS: readonly RedactRule[] = [
  // An auth scheme and its credential. Prose says "a token budget", "Token 4096", "each token ID",
  // "Basic setup", "basic SQL", "a basic e-commerce site", "Basic TypeScript types": a number or a
  // short plain word is kept; after `basic` or `token` an acronym too; and after `basic` anything
  // that is not base64 (RFC 7617's credential is base64 of user:password) and names no secret.
  // Anything else is masked ("Bearer my-collector-secret", "Token dev-local", "Basic dXNlcjpwYXNz").
  // A parameter after the scheme (Rails' `Token token="…"`, `Bearer key=…`): its value, unless the
  // parameter names no credential (a challenge's `Bearer realm="example"`).
  {
    pattern: new RegExp(`\\b(?:Bearer|Token)(?:[^\\S\\r\\n]+|%20|${FOLDED})${AUTH_PARAM}`, "gi"),
    replace: (m) => {
      const at = m.indexOf("=");
      const value = m.slice(at + 1);
      const quote = value.startsWith('\\"') ? '\\"' : value.startsWith('"') ? '"' : "";
      // A number or a setting is no credential (`token count=12`, `Bearer prefix=true`).
      if (/^\d[\d.]*$/.test(value) || NOT_A_CREDENTIAL.test(value)) return m;
      return /(?:\s|%20)(?:realm|scope|error|error_description|error_uri|charset|algorithm|resource_metadata)=$/i.test(m.slice(0, at + 1)) ? m : `${m.slice(0, at + 1)}${quote}${REDACTED}${quote}`;
    },
  },
  // Also URL-encoded (Bearer%20…, after %3A too: no letter before it, a cheaper test than \b or a
  // %XX look-behind); not a parameter (the rule above).
  {
    pattern: new RegExp(`(?<![A-Za-z_])(?:(?:Bearer|Token)${SCHEME_SEP}(?!${AUTH_PARAM})|Basic${SCHEME_SEP})[A-Za-z0-9\\-._~+/]+=*`, "gi"),
    replace: (m) => {
      const [scheme = "", sep = " ", value = ""] = m.split(/(\s+|%20)/);
      const words = value.replace(/\.+$/, ""); // "a Token ring."
      const kind = scheme.toLowerCase();
      const kept =
        /^\d[\d.,]*$/.test(value) ||
        // after Bearer a made-up word naming a secret is one ("Bearer mysecrettoken", "bearer devtoken"), not prose ("the Bearer keyword")
        (words.length < 16 && /^[A-Z]?[a-z]+$/.test(words) && !(kind === "bearer" && /^(?:my|your|our|dev|test|prod|super|local|app|api|access|auth)?(?:secret|token|key|passw(?:or)?d)+\d*$/i.test(words) && !/^(?:tokens?|secrets?|passwords?|keys?)$/i.test(words))) ||
        (kind !== "bearer" && /^[A-Z]{2,6}s?$/.test(words)) ||
        (kind === "basic" && !basicCredential(words) && !/secret|token|key|pass|pwd|cred/i.test(words));
      return kept ? m : `${scheme}${sep.includes("%") ? sep : " "}${REDACTED}`;
    },
  },
  // Tokens that services put in a URL's path, where no key names them: a Telegram bot's
  // (`/bot<id>:<token>/sendMessage`, 30 to 50 URL-safe characters after the bot's id), a Slack or Discord
  // webhook's last segment. The ids before them stay.
  { pattern: /(?<![\d:-])\d{6,12}:[A-Za-z0-9_-]{30,50}(?![\w-])/g, replace: (m) => `${m.slice(0, m.indexOf(":") + 1)}${REDACTED}` },
  {
    pattern: /\b(?:hooks\.slack\.com\/(?:services|triggers|workflows)(?:\/[A-Za-z0-9]{1,40}){1,3}|discord(?:app)?\.com\/api\/webhooks\/\d{1,30})\/[A-Za-z0-9_-]{16,}/g,
    replace: (m) => `${m.slice(0, m.lastIndexOf("/") + 1)}${REDACTED}`,
  },
  // The password in scheme://user:password@host, up to the last "@" before the host (a password
  // written with "@" or ":" in it, unencoded, is masked whole), never past a quote that ends a
  // JSON string, one followed by , : } or ] (an escaped one, \", is part of the password).
  { pattern: /\b[a-z][a-z0-9+.-]{0,20}:\/\/[^\s:/@"]{0,200}:(?:[^\s/"\\]|\\[^@]|\\(?=@)|"(?![,:}\]])){1,200}@/gi, replace: (m) => `${m.slice(0, m.indexOf(":", m.indexOf("//")))}:${REDACTED}@` },
];

// "key": value inside JSON text, plain or escaped once (JSON inside a JSON string). A bare value
// never starts an object or array, so a key whose value is one does not swallow the keys inside.
const JSON_PAIR = /"([^"\\]{1,80})"(\s*:\s*)("(?:[^"\\]|\\.)*"|[^,{}[\]\s]+)/g;
const ESCAPED_JSON_PAIR = /\\"([^"\\]{1,80})\\"(\s*:\s*)(\\"(?:(?!\\").)*\\"|[^,{}[\]\s\\]+)/g;
// "key": followed by an object or array inside JSON text, plain or escaped once: the container is
// found by scanning (containerEnd), since no regular expression can match its nesting.
// Only keys holding a secret-looking word are looked at (a redactor given keys of its own looks at
// every key): a callback for every key of a large JSON text is what hostile text would cost.
const SECRET_WORDS = "auth|key|pass|pwd|token|secret|cookie|sig|jwt|bearer|credential"; // every secret key holds one
const SECRET_WORD = `(?=[^"\\\\]{0,80}?(?:${SECRET_WORDS}))`;
const containerKeys = (any: boolean): [RegExp, RegExp] => {
  const named = any ? "" : SECRET_WORD;
  return [new RegExp(`"${named}([^"\\\\]{1,80})"(\\s*:\\s*)(?=[{[])`, "gi"), new RegExp(`\\\\"${named}([^"\\\\]{1,80})\\\\"(\\s*:\\s*)(?=[{[])`, "gi")];
};
// A quoted value ends there: before a comment, a separator or closing bracket, the line's end.
const CLOSED = "(?=[ \\t]*(?:[#,.)}\\]>|&/]|$|\\\\[nr]))";
// Header lines as text (a logged request, an error message, an env or YAML file), at a line start
// (indented, or as a YAML list item) or after "\n" or "\r" written inside JSON text: `Name: value`
// to the end of the line, or a quoted value (also `\"…\"` in JSON text); also after `curl -v`'s `< `.
// The separator takes all the blanks, so an empty value is no value.
const HEADER_LINE = new RegExp(
  `(^|\\\\[nr])([ \\t]{0,40}(?:(?:[-*+<>]|\\d{1,3}\\.)[ \\t]{1,4})?(?:\\*\\*|__)?)(?=[A-Za-z0-9_-]{0,80}?(?:${SECRET_WORDS}))([A-Za-z][A-Za-z0-9_-]{0,79})((?:\\*\\*|__)?[ \\t]*:(?:\\*\\*|__)?[ \\t]*)(?![ \\t])` +
    `(\\\\"[^"\\\\\\r\\n]{1,2000}\\\\"|"[^"\\\\\\r\\n]{1,2000}"${CLOSED}|'[^'\\\\\\r\\n]{1,2000}'${CLOSED}|[^\\r\\n\\\\"]+)`,
  "gim",
);
// A line that reads as a header rather than prose ("Password: optional", "Two-factor-auth: enabled
// for admins", "Token: 4096", "password_min_length: 8", "api_key: str" are kept): a header's name
// (Authorization, Cookie); a quoted passphrase; or one word that names no type, setting, version or
// algorithm, and is quoted, under a hyphenated name (X-Auth-Token: abc), under a variable's name
// that ends naming a secret (OPENAI_API_KEY: abc), or shaped as a credential. In a Markdown list
// item, quote or bold label ("- **Authorization:** RBAC") only the last.
const HEADER_NAME = /^(?:proxy-authorization|authorization|x-api-key|api-key|set-cookie|cookie)$/i;
const TOKENISH = /^[\w.+/=~!@#$%^&*-]+$/;
const PASSWORD_NAME = /(?:password|passwd|pwd|passphrase|secret)$/; // a normalized name
const PATH = /^(?:~?\/|\.\.?\/)/;
const NOT_A_CREDENTIAL = new RegExp(
  "^(?:true|false|null|none|nil|~|yes|no|on|off|enabled|disabled|required|optional|strict|lax|always|never|include|same-origin|omit|" +
    "str|string!?|bytes|int|integer|number|bool|boolean|any|unknown|object|secretstr|secretbytes|[\\^~]?(?:[<>=!]=?)?v?\\d{1,4}(?:\\.(?:\\d{1,4}|\\*|x)){1,3}|#[0-9a-f]{3,8}|" + // types, versions and ranges (^0.7.0), colours
    "sha-?(?:1|224|256|384|512)|sha3-?(?:256|512)|md5|[hrep]s(?:256|384|512)|hmac-?sha-?(?:1|256|384|512)|aes-?(?:128|192|256)(?:-?(?:gcm|cbc|ctr))?|" +
    "rsa-?(?:1024|2048|3072|4096)|argon2(?:id|i|d)?|bcrypt|scrypt|pbkdf2(?:-sha256)?|base64(?:url)?|utf-?8|oauth ?2(?:\\.0)?|saml ?2(?:\\.0)?|ed25519|x25519|(?:cl100k|o200k|p50k|r50k)_base)[.,;]?$", // algorithms, encodings; a docstring's "Optional."
  "i",
);
/**
 * One word shaped as a credential: 6 characters or more with a digit (hunter2, abc123; not 8chars,
 * 3rd-party, a number under Token, a count); with - / + only under a password's name, or 20
 * characters or more (a UUID; not claude-3-5-sonnet, OAuth2/OIDC). `n`: the normalized name.
 */
const credentialShaped = (value: string, n: string): boolean =>
  !/\s/.test(value) && !NOT_A_CREDENTIAL.test(value) && value.length >= 6 && /\d/.test(value) && TOKENISH.test(value) &&
  !/^\d*[a-z]*(?:-[a-z]+)+$|^\d+[+-]?[a-z]+$/i.test(value) && !(/^\d+$/.test(value) && DATA_OR_SECRET_KEY.test(n)) &&
  (/^[\w.!@#$%^&*]+$/.test(value) || PASSWORD_NAME.test(n) || value.length >= 20);
/**
 * `indent`: what precedes the name on its line. In a Markdown list item, quote or bold label, where
 * prose is usual, and on an indented line (code, YAML under a key: `cookie: { name: "sid" }`,
 * `id-token: write`) a header's or a hyphenated name's value counts only when shaped as a credential.
 */
const headerLike = (name: string, value: string, quoted: boolean, indent: string): boolean => {
  if (!value) return false;
  if (indent === "< ") indent = ""; // a response header as `curl -v` prints it
  const n = normalizeKey(name);
  const word = !/\s/.test(value);
  const credential = () => credentialShaped(value, n);
  if (/[-*+>.]|\*\*|__/.test(indent) || (indent && (HEADER_NAME.test(name) || name.includes("-")))) return credential();
  if (HEADER_NAME.test(name)) return true;
  if (value.length <= 40 && NOT_A_CREDENTIAL.test(value)) return false;
  if (!word) return quoted && PASSWORD_NAME.test(n); // a quoted passphrase
  const secretName = SECRET_KEY.test(n) || PASSWORD_NAME.test(n);
  // A name that says it holds a secret (api_key, password), else only a credential's shape (csrfField: 'x').
  if (quoted) return (secretName && !PATH.test(value)) || credential(); // not a path (PWD: '/home/me')
  if (name.includes("-")) return true;
  // Not a type (`auth_token: AuthToken` in a class), nor a count (`max_token: 4096`).
  if (name.includes("_")) return TOKENISH.test(value) && secretName && !(indent && /^(?:[A-Z][a-z]+)+$/.test(value)) && !(/^\d+$/.test(value) && /tokens?$/.test(n));
  return credential();
};
// ["name", "value"] inside JSON text: headers given as tuples.
const JSON_TUPLE = /\[\s*"([^"\\]{1,80})"(\s*,\s*)"(?:[^"\\]|\\.)*"\s*\]/g;
// key=value in query strings and form bodies, key="value" in auth headers (OAuth's
// oauth_signature="…", Digest's response="…"), also with the quotes escaped in JSON text.
// (A key starts only where a run of key characters starts, so the run is read once; a key longer
// than 80 characters is judged by its last 80, `a.b.c.client-secret`.)
const QUERY_PAIR = /(?<![A-Za-z0-9_.[\]-])([A-Za-z0-9_.[\]-]+)=(\\?"[^"\\\r\n]{0,2000}\\?"|"[^"\\]{0,2000}"(?=[ \t]*(?:\r?\n|$))|'[^'\\\r\n]{1,2000}'|[^&\s#"'\\]+)/g;
const ASSIGNED = /(?<![\w.-]|,[ \t]*)([A-Za-z_][\w.-]{0,79})([ \t]+:?=[ \t]*|[ \t]*:?=[ \t]+)(["'])([^"'\\\r\n]{1,2000})\3/g;
// An entry of an object literal or a Python dict after "{" or "," ({ apiKey: '…' }, {'password': '…'}),
// or under a quoted key at a line's start (a dict over several lines): a quoted value, judged as an assignment.
// (What comes before the key is matched, not looked behind for: a look-behind over a run of blanks
// would read the run again at each of its positions.)
const OBJECT_ENTRY = /([{,][ \t]*|^[ \t]*(?=['"]))(['"]?)([A-Za-z_][\w.-]{0,79})\2([ \t]*:[ \t]*)(["'])([^"'\\\r\n]{1,2000})\5/gm;
// Parameters that carry a credential in a URL's query string or a form body (an OAuth callback's
// `?code=`, `?key=`, a session id), though elsewhere they are data (`{"code": "print(1)"}`,
// `sorted(words, key=str.lower)`): masked only right after `?` or `&`, and only when the value
// reads as a token (6 URL-safe characters or more, not a plain word; for `key`, without `/` or `.`,
// which an object key such as `reports/q1.pdf` has).
const QUERY_SECRET = /([?&])(code|key|session|sessionid|sid|ticket)=([A-Za-z0-9%._~+/=-]{6,})(?=[&#\s"'\\]|$)/gi;
const tokenLike = (key: string, v: string): boolean => !PLAIN_WORD.test(v) && (key.toLowerCase() !== "key" || !/[/.]/.test(v));

/** Builds a redaction hook; `redactSecrets` is the default one. */
export function createRedactor(options: RedactorOptions = {}): RedactHook {
  const exact = new Set((options.keys ?? []).filter((k): k is string => typeof k === "string").map(normalizeKey));
  const regexps = (options.keys ?? []).filter((k): k is RegExp => k instanceof RegExp);
  const patterns = [...SECRET_VALUES, ...SECRET_PARTS, ...(options.patterns ?? [])];
  const [jsonContainerKey, escapedContainerKey] = containerKeys(exact.size > 0 || regexps.length > 0);
  const isSecretKey = (key: string): boolean => {
    const n = normalizeKey(key);
    return ((SECRET_KEY.test(n) && !CURSOR_KEY.test(n)) || SECRET_IN_KEY.test(n) || exact.has(n) || regexps.some((r) => r.test(key)));
  };
  /** Whether `item` under `key` is masked whole (false: kept, or, for an object, looked into). */
  const masks = (key: string, item: Json | undefined): boolean => {
    if (!isSecretKey(key) || typeof item === "boolean" || item === null) return false;
    const n = normalizeKey(key);
    if (exact.has(n) || regexps.some((r) => r.test(key))) return true;
    if (n === "auth") return !(typeof item === "string" && /^(?:[A-Za-z]{1,16}|oauth[12])$/i.test(item)); // "basic", "oauth2"
    if (!DATA_OR_SECRET_KEY.test(n)) return true;
    if (typeof item === "string") return !readsAsText(item);
    if (typeof item === "number") return !(Math.abs(item) < 1000);
    return Array.isArray(item);
  };
  /**
   * A quoted value assigned in code or a config (`password = "…"`, `api_key='…'`), where constants
   * are usual (`NO_AUTH = "NO_AUTH"`, `in_signature='s'`): under a password's name anything but a
   * constant's name or a template ('{0}:{1}', "%s"); under another secret name only a credential's shape.
   */
  const assigned = (key: string, v: string): boolean => {
    const n = normalizeKey(key);
    // (Not a template or a reference: '{0}:{1}', "%s", "%(pw)s", "$DB_PASSWORD", "${{ secrets.X }}"; nor a path.)
    if (!isSecretKey(key) || NOT_A_CREDENTIAL.test(v) || /\{\w*\}|%[sd]|%\(\w+\)s|\$[{A-Z_]/.test(v) || PATH.test(v) || !masks(key, v.trim())) return false;
    if (exact.has(n) || regexps.some((r) => r.test(key))) return true;
    // Under a password's name: not a constant's name, nor a label ("Password", "Forgot your password?", "Mot de passe", "パスワード").
    if (PASSWORD_NAME.test(n)) return normalizeKey(v) !== n && !/^[A-Z][A-Z0-9_]*$|^\p{Lu}\p{Ll}+$|[?:]$/u.test(v) && !/passw|mot de passe|contrase|kennwort|парол|パスワード|密码|密碼|비밀번호/i.test(v);
    return credentialShaped(v, n);
  };
  /**
   * The same for a value inside JSON text (`raw`: quoted, or bare; `escaped`: JSON inside a JSON
   * string, `\"…\"`), decoded first so the decision is the one the object itself gets.
   */
  const masksText = (key: string, raw: string, escaped: boolean): boolean => {
    if (!isSecretKey(key)) return false;
    try {
      const text = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
      return masks(key, text.startsWith('"') || JSON_LITERAL.test(text) ? (JSON.parse(text) as Json) : text);
    } catch {
      return true; // text that does not decode: the safe side
    }
  };
  /**
   * Masks whole each object or array in `text` (JSON, or JSON escaped once) that comes under a key
   * that masks it (`{}` or `[]` stand for it: under token/sig/signature an object is looked into).
   * One that does not close is masked to where the text ends when the text was cut short (its
   * rest is one line, or it ends with a truncation mark); in prose that only opens a brace (a
   * model explaining a config file), the rest is left to the other rules.
   */
  const maskContainers = (text: string, keyPattern: RegExp, escaped: boolean): string => {
    let out = "";
    let from = 0;
    // Characters the scans may read in all: hostile text (a key opening a brace, many times, never
    // closed) costs a few reads of the text, not one per key; past it the other rules look on.
    const budget = { left: 4 * text.length + 1024 };
    keyPattern.lastIndex = 0;
    for (let m; (m = keyPattern.exec(text)); ) {
      const start = m.index + m[0].length;
      if (!masks(m[1]!, text[start] === "[" ? [] : {})) continue;
      const end = containerEnd(text, start, escaped, budget);
      if (end === undefined) break;
      // Open to where the text (or its string) ends: masked when the text was cut short; in prose
      // that only opens a brace the other rules look at what follows.
      if (end < 0 && !cutShort(text, start, -end - 1)) continue;
      const q = escaped ? '\\"' : '"';
      out += `${text.slice(from, start)}${q}${REDACTED}${q}`;
      from = end < 0 ? -end - 1 : end;
      keyPattern.lastIndex = from;
    }
    return from ? out + text.slice(from) : text;
  };


  let hits = 0; // what was masked so far: tells whether a trace's derived texts must be made again
  const scrub = (text: string): string => {
    const out = scrubbed(text);
    if (out !== text) hits++;
    return out;
  };
  const scrubbed = (text: string): string => {
    let out = text;
    // Values first: a scheme's credential after a key (Authorization=Basic <credential>) is one
    // the key's rule would stop short of, at the space.
    for (const p of patterns) {
      out = p instanceof RegExp ? out.replace(p, REDACTED) : out.replace(p.pattern, (m) => p.replace(m));
    }
    if (out.includes('"')) {
      out = maskContainers(out, jsonContainerKey, false);
      out = maskContainers(out, escapedContainerKey, true);
      out = out.replace(JSON_PAIR, (m, k: string, sep: string, v: string) => (masksText(k, v, false) ? `"${k}"${sep}"${REDACTED}"` : m));
      out = out.replace(ESCAPED_JSON_PAIR, (m, k: string, sep: string, v: string) => (masksText(k, v, true) ? `\\"${k}\\"${sep}\\"${REDACTED}\\"` : m));
      out = out.replace(JSON_TUPLE, (m, k: string, sep: string) => (isSecretKey(k) ? `["${k}"${sep}"${REDACTED}"]` : m));
    }
    // Pairs before header lines: a header line's value stops at a quote (Authorization: Token token="…").
    if (out.includes("=")) {
      out = out.replace(QUERY_SECRET, (m, sep: string, k: string, v: string) => (tokenLike(k, v) ? `${sep}${k}=${REDACTED}` : m));
      const pair = (m: string, k: string, v: string, at: number, text: string): string => {
        // A single-quoted value: not one that closes the key's own string ('token=', 'x='), nor a setting.
        if (v.startsWith("'") && (text[at - 1] === "'" || !assigned(k.slice(-80), v.slice(1, -1)))) return `${k}='${v.slice(1, -1).replace(QUERY_PAIR, pair)}'`;
        // A value over several lines, under a name that is no secret's: its own pairs are looked at.
        if (/^"[^]*[\r\n]/.test(v) && !isSecretKey(k.slice(-80))) return `${k}="${v.slice(1, -1).replace(QUERY_PAIR, pair)}"`;
        return isSecretKey(k.slice(-80)) ? `${k}=${v.startsWith('\\"') ? `\\"${REDACTED}\\"` : /^["']/.test(v) ? `${v[0]}${REDACTED}${v[0]}` : REDACTED}` : m;
      };
      out = out.replace(QUERY_PAIR, pair);
      // key = "value" with blanks around "=" (TOML, INI, Python, shell): a quoted value only.
      out = out.replace(ASSIGNED, (m, k: string, sep: string, q: string, v: string) => (assigned(k.slice(-80), v) ? `${k}${sep}${q}${REDACTED}${q}` : m));
    }
    if (out.includes(":")) {
      // (Not a command's flag: {'password': '-p'} maps options to how a CLI takes them.)
      out = out.replace(OBJECT_ENTRY, (m, start: string, kq: string, k: string, sep: string, q: string, v: string) =>
        v !== REDACTED && !/^-[A-Za-z]$/.test(v) && assigned(k.slice(-80), v) ? `${start}${kq}${k}${kq}${sep}${q}${REDACTED}${q}` : m);
      out = out.replace(HEADER_LINE, (m, start: string, indent: string, k: string, sep: string, v: string) => {
        const quote = v.startsWith('\\"') ? '\\"' : /^(["'])[^]*\1$/.test(v) ? v[0]! : "";
        // Unquoted, a trailing comment (`# prod`) stays.
        const end = quote || HEADER_NAME.test(k) ? -1 : v.search(/\s#/); // (a header's value has no comment)
        const bare = quote ? v.slice(quote.length, -quote.length) : (end < 0 ? v : v.slice(0, end)).trimEnd();
        const rest = quote ? "" : v.slice(bare.length);
        return headerLike(k, bare, quote !== "", indent) && masks(k, bare) ? `${start}${indent}${k}${sep}${quote}${REDACTED}${quote}${rest}` : m;
      });
    }
    return out;
  };
  const value = (v: Json, depth: number): Json => {
    if (typeof v === "string") return scrub(v);
    if (v === null || typeof v !== "object" || depth > 64) return v;
    // A [name, value] pair: headers given as tuples, form entries.
    if (Array.isArray(v)) return v.length === 2 && typeof v[0] === "string" && isSecretKey(v[0]) ? [v[0], REDACTED] : v.map((item) => value(item, depth + 1));
    const out: { [key: string]: Json } = {};
    // A model's logprobs ({ token, logprob, top_logprobs }) hold the generated text, not a secret.
    const logprob = "logprob" in v;
    for (const key of Object.keys(v)) {
      const item = v[key] as Json;
      // true/false or null under a secret-looking key (use_credentials: true) tells nothing away.
      const masked = masks(key, item) && !(logprob && key === "token");
      if (masked) hits++;
      setKey(out, key, masked ? REDACTED : value(item, depth + 1));
    }
    return out;
  };
  const record = <T extends Json>(r: Record<string, T>): Record<string, T> => value(r as { [key: string]: Json }, 0) as Record<string, T>;
  const event = (e: SpanEvent): SpanEvent => ({ ...e, attributes: record(e.attributes as Record<string, Json>) as SpanEvent["attributes"] });
  const span = (s: SpanData): SpanData => ({
    ...s,
    name: scrub(s.name),
    status: { ...s.status, description: scrub(s.status.description) },
    inputs: s.inputs === undefined ? undefined : value(s.inputs, 0),
    outputs: s.outputs === undefined ? undefined : value(s.outputs, 0),
    attributes: record(s.attributes),
    events: s.events.map(event),
  });
  /**
   * The previews and the inputs/outputs metadata are text made from the root span. Scrubbing that
   * text finds a secret only as deep as the patterns look (JSON in a JSON string in the text), so
   * where it is the text the root gives, it is made again from the redacted root; text the app set
   * itself (updateCurrentTrace) is scrubbed.
   */
  const describe = (info: TraceInfo, root: SpanData | undefined, redactedRoot: SpanData | undefined): TraceInfo => {
    const was = root && rootTexts(root);
    const now = redactedRoot && rootTexts(redactedRoot);
    // Scrubbed either way: the root's object keys are not masked in the spans, but are text here.
    const text = (value: string | undefined, key: keyof ReturnType<typeof rootTexts>) =>
      value === undefined ? undefined : scrub(was && now && value === was[key] ? now[key] : value);
    const meta = record(info.traceMetadata);
    for (const [key, field] of [[META_INPUTS, "inputs"], [META_OUTPUTS, "outputs"]] as const) {
      if (typeof info.traceMetadata[key] === "string") meta[key] = text(info.traceMetadata[key], field)!;
    }
    return { ...info, requestPreview: text(info.requestPreview, "requestPreview"), responsePreview: text(info.responsePreview, "responsePreview"), traceMetadata: meta, tags: record(info.tags) };
  };
  return (trace) => {
    const before = hits;
    const spans = trace.data.spans.map(span);
    // Nothing masked in the spans: the derived texts hold nothing to mask beyond what scrubbing finds.
    const at = hits === before ? -1 : trace.data.spans.indexOf(rootOf(trace.data.spans)!);
    return { info: describe(trace.info, trace.data.spans[at], spans[at]), data: { spans } };
  };
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * Whether `text` from `start` to `end` was cut short: it is one line (no line break, raw or
 * escaped), or it ends with a truncation mark. Reads only that stretch, from its end back.
 */
function cutShort(text: string, start: number, end: number): boolean {
  if (/(?:\.\.\.|…|\[truncated \d+ chars\])\s*$/.test(text.slice(Math.max(start, end - 40), end))) return true;
  for (let i = end - 1; i >= start; i--) {
    const c = text[i];
    if (c === "\n" || c === "\r" || ((c === "n" || c === "r") && i > start && text[i - 1] === "\\")) return false;
  }
  return true;
}

/**
 * Where the JSON object or array opening at `start` ends (the index after it). `escaped`: the text
 * is JSON written inside a JSON string, so its quotes are `\"` and a bare `"` ends that string.
 * Not closed: `-(i + 1)`, `i` where the text (or the string holding it) ends. `undefined` once
 * `budget` (characters read) runs out.
 */
function containerEnd(text: string, start: number, escaped: boolean, budget: { left: number }): number | undefined {
  let depth = 0;
  let inString = false;
  let escape = false;
  for (let i = start; i < text.length; ) {
    if (--budget.left < 0) return undefined;
    let c = text[i]!;
    if (!escaped || c !== "\\") {
      if (escaped && c === '"') return -(i + 1);
      i++;
    } else {
      // One character of the inner JSON, written as an escape of the outer string (\" \\ \n \u0022).
      const e = text[i + 1] ?? "";
      c = e === "u" ? String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16) || 0) : e;
      i += e === "u" ? 6 : 2;
    }
    if (escape) escape = false;
    else if (inString) {
      if (c === "\\") escape = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if ((c === "}" || c === "]") && --depth === 0) return i;
  }
  return -(text.length + 1);
}

/**
 * The default redaction: masks values under keys like authorization, api_key/apiKey, password,
 * token, secret, cookie (any case, at any depth) and secret-shaped strings (Bearer …, sk-…).
 * @example
 * initBrowser({ collectorUrl, redact: (trace) => redactSecrets(myOwnMasking(trace)) });
 */
export const redactSecrets: RedactHook = createRedactor();

/** The Luhn checksum of a digit string: tells a payment card number from most other long numbers. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1 && (d *= 2) > 9) d -= 9;
    sum += d;
  }
  return sum % 10 === 0;
}

const digitsOf = (m: string) => m.replace(/\D/g, "");

/**
 * Opt-in masks for personal data inside any string (user messages, previews): email addresses,
 * payment card numbers (known prefixes, Luhn-checked, so order ids and timestamps stay), phone
 * numbers written with a country code or as (415) 555-0100 / 415-555-0100, and IPv4 addresses.
 * Each becomes `[REDACTED:<kind>]`. Quantifiers are bounded: hostile text cannot make them slow.
 * Not in the default: in an LLM app personal data is often the content you trace.
 * @example
 * initBrowser({ collectorUrl, redact: createRedactor({ patterns: PII_PATTERNS }) });
 */
export const PII_PATTERNS: readonly RedactRule[] = [
  { pattern: /\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b/g, replace: () => "[REDACTED:email]" },
  {
    pattern: /\b\d(?:[ -]?\d){14,18}\b/g,
    replace: (m) => (/^(?:4|5[1-5]|2[2-7]|3[47]|6)/.test(digitsOf(m)) && luhn(digitsOf(m)) ? "[REDACTED:card]" : m),
  },
  {
    pattern: /\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)|\(\d{3}\) ?\d{3}[ .-]\d{4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b/g,
    replace: (m) => (digitsOf(m).length >= 8 ? "[REDACTED:phone]" : m),
  },
  { pattern: /\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b/g, replace: () => "[REDACTED:ip]" },
];
