/** The shapes of the API's answers the dashboard reads (openapi.json has them in full). */
import type { JobStatus } from './live.ts';

export interface Job {
  id: string;
  analysis: string;
  params: Record<string, unknown>;
  status: JobStatus;
  progress: number;
  attempts: number;
  dataset_version: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  cancel_requested: boolean;
  deduplicated?: boolean;
}

export interface DatasetSummary {
  version: number;
  state: 'empty' | 'loading' | 'ready';
  records: number;
  loaded_at: string | null;
  source: string | null;
}

export interface JsonSchema {
  type?: string;
  enum?: (string | number)[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

export interface AnalysisInfo {
  name: string;
  description: string;
  params: JsonSchema;
}

export type Row = Record<string, unknown>;

export const ENDED: readonly JobStatus[] = ['finished', 'failed', 'cancelled'];

export const fmtNumber = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 3 });

export function fmtTime(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' }) : '—';
}

/** Run time: started to finished, or to now while it runs. */
export function duration(job: Pick<Job, 'started_at' | 'finished_at'>): string {
  if (!job.started_at) return '—';
  const ms = (job.finished_at ? Date.parse(job.finished_at) : Date.now()) - Date.parse(job.started_at);
  return ms < 1000 ? `${Math.max(0, ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
