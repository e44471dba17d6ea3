// Maps a call's arguments to the function's parameter names, read once from its source text
// (Python's MLflow binds them with inspect.signature). Where a name cannot be read (destructuring,
// native code such as Math.pow) the argument is kept by position, never dropped.

type Param = { name: string; rest: boolean } | null;

// Any identifier JavaScript allows (名前, ä), as Python records any parameter name.
const IDENT = /^[\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*/u;
const LOWERED_ASYNC = /^[^({]*\(\s*(?:(?:\.\.\.)?_\d+(?:\s*,\s*(?:\.\.\.)?_\d+)*)?\s*\)\s*(?:=>\s*|\{\s*return\s+)__async\((?:this|null|void 0),\s*(?:arguments|\[[\w$.,\s]*\]),\s*function\*\s*\(/;

/** Parameter list of `fn` from its source; `undefined` when the source shows none (native code). */
export function readParams(fn: Function): Param[] | undefined {
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return undefined;
  }
  if (/\[native code\]\s*\}\s*$/.test(src)) return undefined;
  // A class takes its constructor's parameters; without one of its own, they cannot be read here.
  // (Not a method named `class`: `class(x) {}`.)
  if (/^class\s*(?:[\p{ID_Start}_$][\p{ID_Continue}$]*\s*)?(?:extends\b|\{)/u.test(src)) {
    const at = constructorAt(src);
    if (at < 0) return undefined;
    src = src.slice(at);
  }
  let body = src.replace(/^\s*async(?=[\s(*[])(?!\s*=>)\s*/, "").replace(/^\*\s*/, "");
  // A method's name before its parameters may hold brackets of its own: a computed key (where
  // compilers put the calls of the method's decorators: `[(_dec = [trace()], KEY)](q) {}`) or a quoted one.
  if (body.startsWith("[")) body = body.slice(closingBracket(body) + 1);
  else if (body[0] === '"' || body[0] === "'") body = body.slice(skipString(body, 0) + 1);
  // esbuild lowering async/await (Zone.js mode) moves a parameter list with non-constant defaults
  // into the generator it runs, leaving `_0, _1` (an arrow: `_0, ..._1`) outside: the names are
  // read from the generator.
  const lowered = LOWERED_ASYNC.exec(body);
  if (lowered) body = body.slice(lowered[0].length - 1);
  const single = /^([\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*)\s*=>/u.exec(body);
  if (single) return [{ name: single[1] as string, rest: false }];
  const open = body.indexOf("(");
  if (open < 0) return undefined;
  body = body.slice(open + 1);
  const params = splitTopLevel(body) ?? splitTopLevel(body, false);
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

// After these a `/` starts a regex literal; after a value (a name, a number, a string, `)`, `]`, `}`) it divides.
const BEFORE_REGEX = new Set(["return", "typeof", "void", "delete", "in", "of", "instanceof", "new", "case", "throw", "yield", "await", "else", "do"]);
// A character of a name (surrogate halves too: an identifier may hold astral letters).
const WORD = /[\p{ID_Continue}$\u200c\u200d\ud800-\udfff]/u;

/**
 * Splits the text after `(` into top-level parameters, stopping at the matching `)`. It tracks
 * whether the last token was a value, so that a slash is read as JavaScript reads it: a division
 * after a value, a regex literal (whose brackets and quotes are not the list's) anywhere else.
 * Comments are left out of the parameters' text. A literal after `)` (`if (x) /re/`) is read as a
 * division; when that leaves the list unclosed, readParams reads it again with every slash an operator.
 */
function splitTopLevel(text: string, literals = true): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let param = ""; // the current parameter's text before `from`, comments left out
  let from = 0;
  let afterValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") continue;
    if (c === '"' || c === "'" || c === "`") {
      i = skipString(text, i);
      afterValue = true;
    } else if (c === "/" && (text[i + 1] === "/" || text[i + 1] === "*")) {
      const close = text[i + 1] === "/" ? text.indexOf("\n", i) : text.indexOf("*/", i + 2);
      param += text.slice(from, i);
      i = close < 0 ? text.length : text[i + 1] === "/" ? close - 1 : close + 1;
      from = i + 1;
    } else if (c === "/") {
      const literal: boolean = literals && !afterValue;
      if (literal) i = skipRegExp(text, i);
      afterValue = literal;
    } else if (WORD.test(c)) {
      let end = i + 1;
      while (end < text.length && WORD.test(text[end] as string)) end++;
      afterValue = !BEFORE_REGEX.has(text.slice(i, end));
      i = end - 1;
    } else if ((c === "+" || c === "-") && text[i + 1] === c) {
      i++; // x++ stays a value; ++x is not one yet
    } else if (c === "(" || c === "[" || c === "{") {
      depth++;
      afterValue = false;
    } else if (c === ")" || c === "]" || c === "}") {
      if (depth === 0) {
        if (c !== ")") return undefined;
        out.push(param + text.slice(from, i));
        return out.length === 1 && out[0]?.trim() === "" ? [] : out;
      }
      depth--;
      afterValue = true;
    } else if (c === "," && depth === 0) {
      out.push(param + text.slice(from, i));
      param = "";
      from = i + 1;
      afterValue = false;
    } else {
      afterValue = false;
    }
  }
  return undefined;
}

/**
 * Where a class's own constructor starts in its source: `constructor(` in the class body itself, not
 * in a string, a comment, a field's value or a method's body (`new this.constructor(…)`, a nested class).
 */
function constructorAt(src: string): number {
  let depth = 0; // brackets open: the class body is the first `{` outside the heritage's ( and [
  let body = -1;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '"' || c === "'" || c === "`") {
      if (depth === body && /^(["'])constructor\1\s*\(/.test(src.slice(i, i + 40))) return i;
      i = skipString(src, i);
    } else if (c === "/" && (src[i + 1] === "/" || src[i + 1] === "*")) {
      const close = src[i + 1] === "/" ? src.indexOf("\n", i) : src.indexOf("*/", i + 2) + 1;
      i = close <= 0 ? src.length : close;
    } else if (c === "{" && body < 0 && depth === 0) body = ++depth;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (depth === body && c === "c" && !/[.\w$]/.test(src[i - 1] ?? "") && /^constructor\s*\(/.test(src.slice(i, i + 40))) return i;
  }
  return -1;
}

/** Index of the bracket closing the one `text` opens with at `from` (strings skipped). */
function closingBracket(text: string, from = 0): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(text, i);
    else if (c === "[" || c === "(" || c === "{") depth++;
    else if ((c === "]" || c === ")" || c === "}") && --depth === 0) return i;
  }
  return text.length;
}

/** Index of the quote closing the string or template literal opened at `at` (a template's `${…}` may hold strings and templates of its own). */
function skipString(text: string, at: number): number {
  const quote = text[at];
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === quote) return i;
    else if (quote === "`" && text[i] === "$" && text[i + 1] === "{") i = closingBracket(text, i + 1);
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
