// Maps a call's arguments to the function's parameter names, read once from its source text
// (Python's MLflow binds them with inspect.signature). Where a name cannot be read (destructuring,
// native code such as Math.pow) the argument is kept by position, never dropped.

type Param = { name: string; rest: boolean } | null;

const IDENT = /^[A-Za-z_$][\w$]*/;

/** Parameter list of `fn` from its source; `undefined` when the source shows none (native code). */
export function readParams(fn: Function): Param[] | undefined {
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return undefined;
  }
  if (/\[native code\]\s*\}\s*$/.test(src)) return undefined;
  let body = src.replace(/^\s*async(?=[\s(])\s*/, "");
  const single = /^([A-Za-z_$][\w$]*)\s*=>/.exec(body);
  if (single) return [{ name: single[1] as string, rest: false }];
  const open = body.indexOf("(");
  if (open < 0) return undefined;
  body = body.slice(open + 1);
  const params = splitTopLevel(body);
  return params?.map(parseParam).filter((p): p is Param => p !== undefined);
}

function parseParam(text: string): Param | undefined {
  const t = text.trim();
  if (t === "") return undefined; // trailing comma
  if (t.startsWith("...")) {
    const m = IDENT.exec(t.slice(3).trim());
    return m ? { name: m[0], rest: true } : null;
  }
  if (t.startsWith("{") || t.startsWith("[")) return null;
  const m = IDENT.exec(t);
  return m ? { name: m[0], rest: false } : null;
}

/** Splits the text after `(` into top-level parameters, stopping at the matching `)`. */
function splitTopLevel(text: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === "`") {
      i = skipString(text, i);
    } else if (c === "/" && text[i + 1] !== "/" && text[i + 1] !== "*" && /[=(,[{:!&|?+\-*%<>~^;]$/.test(text.slice(0, i).trimEnd() || "(")) {
      i = skipRegExp(text, i); // a default value such as /[)"]/: after an operator, `/` starts a literal, not a division
    } else if (c === "/" && text[i + 1] === "/") {
      // comments are cut out of the text so they never count as parameters
      const nl = text.indexOf("\n", i);
      text = text.slice(0, i) + text.slice(nl < 0 ? text.length : nl);
      i--;
    } else if (c === "/" && text[i + 1] === "*") {
      const endAt = text.indexOf("*/", i + 2);
      text = text.slice(0, i) + text.slice(endAt < 0 ? text.length : endAt + 2);
      i--;
    } else if (c === "(" || c === "[" || c === "{") {
      depth++;
    } else if (c === ")" || c === "]" || c === "}") {
      if (depth === 0) {
        if (c !== ")") return undefined;
        out.push(text.slice(start, i));
        return out.length === 1 && out[0]?.trim() === "" ? [] : out;
      }
      depth--;
    } else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return undefined;
}

function skipString(text: string, at: number): number {
  const quote = text[at];
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

/** Index of the `/` closing the regex literal opened at `at` (a `/` inside `[...]` does not close it). */
function skipRegExp(text: string, at: number): number {
  let inClass = false;
  for (let i = at + 1; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) return i;
    else if (c === "\n") return i; // not a literal after all (literals never span lines)
  }
  return text.length;
}

/**
 * `{ name: value }` for each argument. Unreadable names become `arg<i>`; a function whose
 * parameters cannot be read at all (native code) records `{ args: [...] }`; `this` is never an input.
 */
export function mapArgs(params: Param[] | undefined, args: readonly unknown[]): Record<string, unknown> {
  if (params === undefined || (params.length === 0 && args.length > 0)) return args.length ? { args: [...args] } : {};
  const out: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const p = params[i];
    if (p?.rest) {
      out[p.name] = args.slice(i);
      return out;
    }
    out[p ? p.name : `arg${i}`] = args[i];
  }
  return out;
}
