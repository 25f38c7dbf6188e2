/**
 * The layouts the queue's scripts and TypeScript share, defined once here: the Lua side gets
 * them as the generated include `constants` (named offsets, `CLAIM_TOKEN` and so on), so a field
 * added or moved here moves in both.
 */
import { CHART_FORMATS } from '../../keys.ts';
import { JOB_DURATION_BUCKETS } from '../../metrics.ts';

/**
 * A claim's reply record per started job (written by includes/take.lua, decoded by replies.ts).
 * `dataset`: the dataset as the claim found it, `<version> <state> <generation>`.
 */
export const CLAIM_RECORD = ['id', 'token', 'attempts', 'analysis', 'params', 'dataset'] as const;

/** One item of a settle call's ARGV (read by settle.lua, written by worker-queue.ts). */
export const SETTLE_ITEM = ['id', 'token', 'status', 'payload', 'version', 'generation', 'ms'] as const;

/**
 * Ended jobs retention prunes per call at most: each is 4 keys (UNLINK), an entry in 5 zsets and
 * maybe a dedup entry, so a full batch is a few milliseconds of Redis' time.
 */
export const PRUNE_BATCH = 1000;

const lua = (v: string | number) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

/** `local PREFIX_FIELDS, PREFIX_A, PREFIX_B = 2, 1, 2`: a record's size and each field's 1-based offset. */
function offsets(prefix: string, fields: readonly string[]): string {
  const names = [`${prefix}_FIELDS`, ...fields.map((f) => `${prefix}_${f.toUpperCase()}`)];
  return `local ${names.join(', ')} = ${[fields.length, ...fields.map((_, i) => i + 1)].join(', ')}`;
}

/** The generated include `constants`. */
export const CONSTANTS_LUA = [
  '-- Generated from shared/src/queue/lua/layout.ts (record layouts, chart formats, duration buckets).',
  offsets('CLAIM', CLAIM_RECORD),
  offsets('SETTLE', SETTLE_ITEM),
  `local PRUNE_BATCH = ${PRUNE_BATCH}`,
  `local CHART_SUFFIXES = { ${CHART_FORMATS.map((f) => lua(`:${f}`)).join(', ')} }`,
  `local DURATION_BOUNDS = { ${JOB_DURATION_BUCKETS.map((b) => Math.round(b * 1000)).join(', ')} }`,
  `local DURATION_LE = { ${JOB_DURATION_BUCKETS.map((b) => lua(String(b))).join(', ')}, '+Inf' }`,
].join('\n');

export const GENERATED_INCLUDES = { constants: CONSTANTS_LUA } as const;

/** One settle item's ARGV in SETTLE_ITEM order. */
export const settleItem = (v: Readonly<Record<(typeof SETTLE_ITEM)[number], string | number | Buffer>>): (string | number | Buffer)[] =>
  SETTLE_ITEM.map((f) => v[f]);
