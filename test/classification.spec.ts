import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ruleFor } from '@meteorites/shared';
import { classCounts, classificationDoc, docPath } from '../scripts/classification-table.ts';

describe('the classification of the shipped dataset', () => {
  it('places every distinct recclass of data/ by a rule, not by the fallback', () => {
    const counts = classCounts();
    expect(counts.size).toBe(455);
    const unmapped = [...counts.keys()].filter((name) => ruleFor(name) === undefined);
    expect(unmapped).toEqual([]);
  });

  it('is documented in docs/classification.md as generated (npx tsx scripts/classification-table.ts)', () => {
    expect(readFileSync(docPath, 'utf8')).toBe(classificationDoc());
  });
});
