import { describe, expect, it } from "vitest";
import { mapArgs, readParams } from "./args.js";

const names = (fn: Function) => readParams(fn)?.map((p) => (p ? `${p.rest ? "..." : ""}${p.name}` : null));

describe("readParams / mapArgs", () => {
  it("reads parameter names from every function form", () => {
    expect(names(function f(a: number, b = 2) { return a + b; })).toEqual(["a", "b"]);
    expect(names((x: number) => x)).toEqual(["x"]);
    expect(names(async (x: number, y: string) => x + y)).toEqual(["x", "y"]);
    expect(names(new Function("q", "return q"))).toEqual(["q"]);
    // A class: its constructor's parameters, none read without a constructor of its own.
    expect(names(class K { constructor(a: number, b: number) { void [a, b]; } m(x: number) { return x; } })).toEqual(["a", "b"]);
    expect(names(class K extends Object { m(x: number) { return x; } })).toBeUndefined();
    expect(names(new Function("return class Sub extends Array { copy() { return new this.constructor(this.q); } }")())).toBeUndefined();
    expect(names(new Function("return class { \"constructor\"(a, b) {} }")())).toEqual(["a", "b"]);
    expect(names({ class(x: number, y: number) { return x + y; } }.class)).toEqual(["x", "y"]); // a method named class
    // The class's own constructor, not the word in a string, a comment, a field or a nested class before it.
    expect(names(new Function(`return class Q extends Object { static label = "constructor(zz)"; // the constructor (below)
      /* constructor(c) */ static Inner = class { constructor(inner) {} }; m() { return new this.constructor(m); } constructor(a, b) { super(); } }`)())).toEqual(["a", "b"]);
    expect(names(new Function("return class { x = `${`constructor(t)`}`; \"constructor\"(a) {} }")())).toEqual(["a"]);
    expect(names(new Function("return class extends ((o) => Object)({ constructor(h) {} }) { constructor(a) { super(); } }")())).toEqual(["a"]);
    // A template in a default may hold templates, quotes and brackets of its own.
    expect(names(new Function("a = `x${`)`}${'(' + `y${1}`}`, b", "return 0"))).toEqual(["a", "b"]);
    // A name with letters beyond ASCII before a slash: a division, not a regex literal.
    expect(names(new Function("x = ä / 2, b", "return b / 3"))).toEqual(["x", "b"]);
    // Any identifier JavaScript allows, as Python records any parameter name.
    expect(names(new Function("名前, ä, $x, _y, café", "return 0"))).toEqual(["名前", "ä", "$x", "_y", "café"]);
    expect(names(new Function("return (名前) => 名前")())).toEqual(["名前"]);
    expect(names(new Function("return 名前 => 名前")())).toEqual(["名前"]);
    expect(names(new Function("return async => async")())).toEqual(["async"]); // a parameter named async, not an async arrow
    expect(names({ m(a: number, ...rest: number[]) { return a + rest.length; } }.m)).toEqual(["a", "...rest"]);
    expect(names({ async *g(a: number) { yield a; } }.g)).toEqual(["a"]);
    expect(names(function (a = "x,)", b = { c: [1, 2] }, /* c, */ d = Math.max(1, 2)) { return [a, b, d]; })).toEqual(["a", "b", "d"]);
    expect(names(function ({ a }: { a: number }, [b]: [number]) { return a + b; })).toEqual([null, null]);
    // Regex literals in defaults hold brackets and quotes that are not the list's; a division is not a literal.
    expect(names(new Function("pattern = /[)\"(]/g, flags = x / 2, limit = (n) / 3", "return 0"))).toEqual(["pattern", "flags", "limit"]);
    expect(names(new Function("a = /\\/\\)/, b = [/,/]", "return 0"))).toEqual(["a", "b"]);
    // A slash after a keyword starts a literal; after a value (x++, a name, a bracket) it divides.
    for (const list of [
      "a = x++ / 2, b = 3",
      "a = x-- / 2,\n b = /\\d*/",
      "a = () => { return /,/ }, b",
      "a = (s) => { return /\\s+/.test(s) }, b = 2",
      "a = (s) => typeof /a*/, b = 2",
      "a = [1, 2] / 2, b = /\\)/",
      "a /* (, */ = 1, // b,\n b",
    ]) expect(names(new Function(list, "return 0")), list).toEqual(["a", "b"]);
    // A method's key before its parameters: computed (a compiler puts the decorators' calls there), or quoted with brackets in it.
    const KEY = Symbol("ask");
    expect(names({ [KEY](question: string) { return question; } }[KEY])).toEqual(["question"]);
    expect(names(new Function("const KEY = 'x', trace = () => 0, f = () => 0; let _dec; return { [(_dec = [trace({ a: f(1) })], KEY)](question, k) {} }.x")())).toEqual(["question", "k"]);
    expect(names(new Function("return { async *[\"k(\" + \"]\"](a, b) {} }[\"k(]\"]")())).toEqual(["a", "b"]);
    expect(names(new Function("return { \"a(b)\"(x, y) {} }[\"a(b)\"]")())).toEqual(["x", "y"]);
    // ... also lowered for Zone.js (esbuild es2016): the parameters moved into the generator after the key.
    expect(names(new Function("const K = 'k', f = () => 0, __async = () => 0; let _K_dec, _a; return { [(_a = (_K_dec = [f()], K), _a)](_0) { return __async(this, arguments, function* (query, limit = f()) { return query; }); } }.k")())).toEqual(["query", "limit"]);
    expect(names(() => 1)).toEqual([]);
    expect(names(Math.pow)).toBeUndefined();
    expect(names(function f() {}.bind(null))).toBeUndefined();
  });

  it("reads the names esbuild's async lowering (Zone.js mode) moved into the generator, whitespace-minified too, and only there", () => {
    const lowered = (text: string) => names(new Function(`return ${text}`)() as Function);
    expect(lowered("function f(_0) {\n  return __async(this, arguments, function* (q, o = model()) {\n    return q;\n  });\n}")).toEqual(["q", "o"]);
    expect(lowered("(_0, ..._1) => __async(null, [_0, ..._1], function* (city, units = model()) {\n  return city;\n})")).toEqual(["city", "units"]);
    expect(lowered("(_0,..._1)=>__async(null,[_0,..._1],function*(city,units=model()){return city})")).toEqual(["city", "units"]);
    expect(lowered("(..._0) => __async(void 0, [..._0], function* (x = this.y) { return x; })")).toEqual(["x"]);
    expect(lowered("function m(_0){return __async(this,arguments,function*(prompt,opts={}){return prompt})}")).toEqual(["prompt", "opts"]);
    // Not lowered: the function's own list.
    expect(lowered("(city, ...rest) => __async(null, null, function* () { return city; })")).toEqual(["city", "...rest"]);
    expect(lowered("function g(_0) { return helper(_0); }")).toEqual(["_0"]);
    // Hostile source text is read in linear time (a backtracking pattern took seconds at 25 items).
    expect(lowered(`x => "(${"_1  ".repeat(5000)}"`)).toEqual(["x"]);
  });

  it("maps arguments to names, positional where a name cannot be read", () => {
    const f = function (a: number, { b }: { b: number }, ...rest: number[]) { return a + b + rest.length; };
    expect(mapArgs(readParams(f), [1, { b: 2 }, 3, 4])).toEqual({ a: 1, arg1: { b: 2 }, rest: [3, 4] });
    expect(mapArgs(readParams(Math.max), [1, 2])).toEqual({ args: [1, 2] });
    expect(mapArgs(readParams(() => 0), [])).toEqual({});
    expect(mapArgs(readParams(() => 0), [7])).toEqual({ args: [7] });
    expect(mapArgs(readParams((x: number) => x), [1, 2])).toEqual({ x: 1, arg1: 2 });
  });
});
