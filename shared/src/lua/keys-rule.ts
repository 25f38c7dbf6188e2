/**
 * The KEYS rule, checked on a script's text (after its includes are expanded): every key a
 * `redis.call` / `redis.pcall` touches must come from KEYS, or be a name built on a KEYS entry
 * (`JOB .. id`, where JOB = KEYS[n] is a prefix), so that Redis (and a cluster's router) knows
 * every key before the script runs and per-job keys share the declared keys' hash tag.
 *
 * A small data-flow check over the script's syntax tree (luaparse), by variable name (the
 * scripts reuse few names, and a reuse only makes the check stricter): a value is a key when
 * every assignment to it (local, global, a function parameter at every call site, a loop
 * variable over a table's keys or values, a table element) is one. Literals, ARGV and call
 * results are not. Test-only (luaparse is a dev dependency).
 */
import luaparse from 'luaparse';
import type { Expression, Node } from 'luaparse';

/** Commands whose keys are not just their first argument. */
const KEY_ARGS: Record<string, 'none' | 'all' | number> = {
  TIME: 'none',
  PUBLISH: 'none', // a channel, not a key
  PING: 'none',
  DEL: 'all',
  UNLINK: 'all',
  EXISTS: 'all',
  TOUCH: 'all',
  MGET: 'all',
  LMOVE: 2,
  BLMOVE: 2,
  RPOPLPUSH: 2,
  SMOVE: 2,
  RENAME: 2,
  COPY: 2,
};

export interface KeysRuleViolation {
  line: number;
  command: string;
  message: string;
}

type State = 'no' | 'neutral' | 'key';
/** A definition: an expression, or what a loop variable or a missing value stands for. */
type Def = Expression | { elemOf: string } | { keyOf: string } | 'nil' | 'opaque';

function combine(states: State[]): State {
  if (states.length === 0 || states.includes('no')) return 'no';
  return states.includes('key') ? 'key' : 'neutral';
}

export function checkKeysRule(source: string): KeysRuleViolation[] {
  const ast = luaparse.parse(source, { luaVersion: '5.1', locations: true, comments: false });
  const defs = new Map<string, Def[]>();
  const elems = new Map<string, Def[]>();
  const tableKeys = new Map<string, Def[]>();
  const params = new Map<string, string[]>();
  const calls: { name: string; args: Expression[] }[] = [];
  const redisCalls: { node: Node & { arguments: Expression[] }; line: number }[] = [];
  const push = (m: Map<string, Def[]>, name: string, d: Def) => (m.get(name) ?? m.set(name, []).get(name)!).push(d);

  const assign = (target: Node, value: Def) => {
    if (target.type === 'Identifier') {
      push(defs, target.name, value);
      if (typeof value === 'object' && 'type' in value && value.type === 'TableConstructorExpression') {
        for (const field of value.fields) {
          push(elems, target.name, field.value);
          if (field.type === 'TableKey') push(tableKeys, target.name, field.key);
        }
      }
    } else if (target.type === 'IndexExpression' && target.base.type === 'Identifier') {
      push(elems, target.base.name, value);
      push(tableKeys, target.base.name, target.index);
    } else if (target.type === 'MemberExpression' && target.base.type === 'Identifier') {
      push(elems, target.base.name, value);
    }
  };

  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(walk);
    const n = node as Node;
    switch (n.type) {
      case 'LocalStatement':
      case 'AssignmentStatement':
        n.variables.forEach((v, i) => {
          const init = n.init[i];
          const spread = !init && n.init.length > 0 && n.init.at(-1)!.type === 'CallExpression';
          assign(v, init ?? (spread ? 'opaque' : 'nil'));
        });
        break;
      case 'FunctionDeclaration':
        if (n.identifier?.type === 'Identifier') {
          params.set(
            n.identifier.name,
            n.parameters.map((p) => (p.type === 'Identifier' ? p.name : '...')),
          );
        }
        break;
      case 'ForGenericStatement': {
        const it = n.iterators[0];
        const table = it?.type === 'CallExpression' && it.arguments[0]?.type === 'Identifier' ? it.arguments[0].name : undefined;
        const fn = it?.type === 'CallExpression' && it.base.type === 'Identifier' ? it.base.name : undefined;
        const first = it?.type === 'CallExpression' ? it.arguments[0] : undefined;
        const inline = first?.type === 'TableConstructorExpression' ? first : undefined;
        const [k, v] = n.variables;
        if (inline && (fn === 'ipairs' || fn === 'pairs')) {
          if (k) push(defs, k.name, 'opaque');
          if (v) for (const f of inline.fields) push(defs, v.name, f.value);
        } else if (table && (fn === 'pairs' || fn === 'ipairs')) {
          if (k) push(defs, k.name, fn === 'pairs' ? { keyOf: table } : 'opaque');
          if (v) push(defs, v.name, { elemOf: table });
        } else {
          for (const x of n.variables) push(defs, x.name, 'opaque');
        }
        break;
      }
      case 'ForNumericStatement':
        push(defs, n.variable.name, 'opaque');
        break;
      case 'CallExpression': {
        const base = n.base;
        if (base.type === 'Identifier') calls.push({ name: base.name, args: n.arguments });
        if (base.type === 'MemberExpression' && base.base.type === 'Identifier') {
          const owner = base.base.name;
          const member = base.identifier.name;
          if (owner === 'redis' && (member === 'call' || member === 'pcall')) redisCalls.push({ node: n, line: n.loc!.start.line });
          if (owner === 'table' && member === 'insert' && n.arguments[0]?.type === 'Identifier') {
            push(elems, n.arguments[0].name, n.arguments.at(-1)!);
          }
        }
        break;
      }
    }
    for (const [key, child] of Object.entries(n)) if (key !== 'loc' && key !== 'range') walk(child);
  };
  walk(ast.body);

  for (const call of calls) {
    const names = params.get(call.name);
    if (!names) continue;
    names.forEach((p, i) => p !== '...' && push(defs, p, call.args[i] ?? 'nil'));
  }

  // Greatest fixed point: every name starts as a key and loses that when any value flowing into
  // it is not one. A value only passed around a cycle (a loop variable and a parameter of one
  // name) stays a key only if everything entering the cycle is one.
  let value = new Map<string, State>([...defs.keys()].map((name) => [name, 'key']));
  const nameState = (m: Map<string, Def[]>, name: string, cur: Map<string, State>) =>
    combine((m.get(name) ?? []).map((d) => defState(d, cur)));
  const defState = (d: Def, cur: Map<string, State>): State => {
    if (d === 'nil') return 'neutral';
    if (d === 'opaque') return 'no';
    if ('elemOf' in d) return nameState(elems, d.elemOf, cur);
    if ('keyOf' in d) return nameState(tableKeys, d.keyOf, cur);
    return exprState(d, cur);
  };
  const exprState = (e: Expression, cur: Map<string, State>): State => {
    switch (e.type) {
      case 'NilLiteral':
      case 'BooleanLiteral':
        return 'neutral';
      case 'Identifier':
        return cur.get(e.name) ?? 'no';
      case 'BinaryExpression':
        // A name built on a key: the key must come first (its hash tag leads).
        return e.operator === '..' && exprState(e.left, cur) === 'key' ? 'key' : 'no';
      case 'LogicalExpression':
        // `a and b` is b or a falsy a; `a or b` either.
        if (e.operator === 'and') return combine([exprState(e.right, cur), 'neutral']);
        return combine([exprState(e.left, cur), exprState(e.right, cur)]);
      case 'IndexExpression':
      case 'MemberExpression':
        if (e.base.type !== 'Identifier') return 'no';
        if (e.base.name === 'KEYS') return e.type === 'IndexExpression' ? 'key' : 'no';
        return nameState(elems, e.base.name, cur);
      case 'CallExpression':
        if (e.base.type === 'Identifier' && e.base.name === 'unpack' && e.arguments[0]?.type === 'Identifier') {
          return nameState(elems, e.arguments[0].name, cur);
        }
        return 'no';
      default:
        return 'no';
    }
  };
  for (;;) {
    const next = new Map<string, State>();
    for (const name of defs.keys()) next.set(name, nameState(defs, name, value));
    const same = [...next].every(([k, v]) => value.get(k) === v);
    value = next;
    if (same) break;
  }

  const violations: KeysRuleViolation[] = [];
  for (const { node, line } of redisCalls) {
    const [cmd, ...args] = node.arguments;
    if (cmd?.type !== 'StringLiteral') {
      violations.push({ line, command: '?', message: 'the command is not a literal: its keys cannot be checked' });
      continue;
    }
    const command = (cmd.raw.slice(1, -1) || '').toUpperCase();
    const spec = KEY_ARGS[command] ?? 1;
    const keyArgs = spec === 'none' ? [] : spec === 'all' ? args : args.slice(0, spec);
    if (spec !== 'none' && keyArgs.length === 0) violations.push({ line, command, message: 'no key argument' });
    keyArgs.forEach((arg, i) => {
      // neutral: only ever nil or false (a script without a list of its own), never a name.
      const state = exprState(arg, value);
      if (state === 'no') {
        const what = arg.type === 'StringLiteral' ? 'a literal string' : 'a value not derived from KEYS';
        violations.push({ line, command, message: `key argument ${i + 1} is ${what}` });
      }
    });
  }
  return violations;
}
