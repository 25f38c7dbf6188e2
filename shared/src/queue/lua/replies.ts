/**
 * Decoders of the queue scripts' replies, beside the scripts that write them. The claim record's
 * layout is CLAIM_RECORD (layout.ts), which the scripts get as the `constants` include.
 */
import type { DatasetState } from '../../schemas.ts';
import { CLAIM_RECORD } from './layout.ts';

/** The dataset as a claim found it (as datasetStatus() reads it). */
export interface ClaimedDataset {
  version: number;
  state: DatasetState;
  generation: string;
}

/** A job a worker holds: `token` (unique to this claim, for ever) proves its ownership to every later step. */
export interface ClaimedJob {
  id: string;
  token: string;
  attempts: number;
  analysis: string;
  params: Record<string, unknown>;
  /** The dataset when the job was claimed: the load it runs on unless a newer one is seen. */
  dataset?: ClaimedDataset;
}

/** `<version> <state> <generation>` (take.lua's datasetRecord). */
function datasetFrom(record: unknown): ClaimedDataset | undefined {
  if (typeof record !== 'string') return undefined;
  const a = record.indexOf(' ');
  const b = record.indexOf(' ', a + 1);
  if (a < 0 || b < 0) return undefined;
  return { version: Number(record.slice(0, a)), state: record.slice(a + 1, b) as DatasetState, generation: record.slice(b + 1) };
}

const FIELDS = CLAIM_RECORD.length;
const at = Object.fromEntries(CLAIM_RECORD.map((f, i) => [f, i])) as Record<(typeof CLAIM_RECORD)[number], number>;

/** claim.lua's reply, and settle.lua's from `from` on: one claim record per started job. */
export function claimedFrom(reply: readonly unknown[], from = 0): ClaimedJob[] {
  const jobs: ClaimedJob[] = [];
  for (let i = from; i + FIELDS <= reply.length; i += FIELDS) {
    jobs.push({
      id: String(reply[i + at.id]),
      token: String(reply[i + at.token]),
      attempts: Number(reply[i + at.attempts]),
      analysis: String(reply[i + at.analysis]),
      params: JSON.parse(String(reply[i + at.params])) as Record<string, unknown>,
      dataset: datasetFrom(reply[i + at.dataset]),
    });
  }
  return jobs;
}

/** An id in a worker's processing list and its job as Redis has it ('' for a field it lacks). */
export interface HeldJob {
  id: string;
  status: string;
  token: string;
  worker: string;
}

/** held.lua's reply: id, status, token, worker per id. */
export function heldFrom(flat: readonly string[]): HeldJob[] {
  const jobs: HeldJob[] = [];
  for (let i = 0; i + 4 <= flat.length; i += 4) {
    jobs.push({ id: flat[i]!, status: flat[i + 1]!, token: flat[i + 2]!, worker: flat[i + 3]! });
  }
  return jobs;
}

export type CancelOutcome = 'cancelled' | 'requested' | 'ended';

/** cancel.lua's reply: null for an unknown job, else the outcome and the job hash. */
export function cancelledFrom(reply: readonly string[]): { outcome: CancelOutcome; hash: Record<string, string> } | null {
  if (reply[0] === 'missing') return null;
  const hash: Record<string, string> = {};
  for (let i = 1; i + 1 < reply.length; i += 2) hash[reply[i]!] = reply[i + 1]!;
  return { outcome: reply[0] as CancelOutcome, hash };
}
