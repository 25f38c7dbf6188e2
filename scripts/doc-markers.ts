/**
 * Generated sections of the docs sit between `<!-- name:start -->` and `<!-- name:end -->`
 * markers, so a script can rewrite them and a test can tell whether they are stale.
 */
import { ServiceError } from '@meteorites/shared';
import { readFileSync, writeFileSync } from 'node:fs';

export class MissingMarkersError extends ServiceError {
  override name = 'MissingMarkersError';
  override readonly code = 'missing_markers';
  constructor(file: string, marker: string) {
    super(`${file} lacks the <!-- ${marker}:start --> ... <!-- ${marker}:end --> markers`);
  }
}

/** `text` with what lies between the markers of `marker` replaced by `content`. */
export function replaceMarked(text: string, marker: string, content: string, file = 'the file'): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new MissingMarkersError(file, marker);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

/** Rewrites the marked section of a file in place; returns whether it changed. */
export function rewriteMarked(path: string, marker: string, content: string): boolean {
  const before = readFileSync(path, 'utf8');
  const after = replaceMarked(before, marker, content, path);
  if (after !== before) writeFileSync(path, after);
  return after !== before;
}
