/**
 * The JSON reader's work on the text itself (json.ts keeps the state between chunks): the
 * character checks of the scanner, and the parse of a batch of records it has delimited.
 */
const NUMBER_CHARS = /^[-+.0-9eE]*$/;
const LITERAL_PREFIX = /^(t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?)$/;

export const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * Whether the unfinished scalar t[start, to) can still become a number, true, false or null;
 * only t[from, to) is new since the last look, so a long run of digits is checked once.
 */
export function couldBeScalar(t: string, start: number, from: number, to: number): boolean {
  const c = t.charCodeAt(start);
  if (c === 45 || (c >= 48 && c <= 57)) return NUMBER_CHARS.test(t.slice(Math.max(from, start), to));
  return to - start <= 5 && LITERAL_PREFIX.test(t.slice(start, to));
}

/** Index of the quote in `t` that closes the string whose contents start at `from`, or -1. */
export function stringEnd(t: string, from: number): number {
  let q = from;
  for (;;) {
    q = t.indexOf('"', q);
    if (q === -1) return -1;
    let backslashes = 0;
    while (t.charCodeAt(q - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return q;
    q++;
  }
}

/**
 * The records starting at `starts` (the last one ending at `to`) with one JSON.parse over their
 * stretch of text from `from` (only commas and spaces lie between them), which costs less than a
 * call per record; on a syntax error each is parsed alone, to name the broken one to `fail`.
 */
export function parseBatch(
  t: string,
  starts: readonly number[],
  from: number,
  to: number,
  fail: (what: string, start: number, k: number) => never,
): unknown[] {
  let values: unknown[] | undefined;
  try {
    values = JSON.parse(`[${t.slice(from, to)}]`) as unknown[];
  } catch {
    // found below
  }
  if (values && values.length === starts.length) return values;
  return starts.map((start, k) => {
    const end = k + 1 < starts.length ? t.lastIndexOf(',', starts[k + 1]!) : to;
    try {
      return JSON.parse(t.slice(start, end));
    } catch (err) {
      return fail(`has a malformed record: ${(err as Error).message}`, start, k);
    }
  });
}
