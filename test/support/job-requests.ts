/** Job requests for the fault and load suites. */

export interface JobRequest {
  analysis: string;
  params: Record<string, unknown>;
}

const CELLS = [1, 2, 5, 10, 15, 30];

/**
 * `n` requests spread over the five analyses, no two alike for `i` in [offset, offset + n) up to
 * 10,000 (distinct params, so the queue deduplicates none of them). Every one is valid.
 */
export function mixedJobRequests(n: number, offset = 0): JobRequest[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    switch (i % 5) {
      case 0:
        return { analysis: 'mass-by-class', params: { year_from: i - 9999 } };
      case 1:
        return { analysis: 'mass-by-year', params: { bin: [1, 10, 100][i % 3], year_to: 9999 - i } };
      case 2:
        return { analysis: 'mass-by-fall', params: { year_to: i - 1000 } };
      case 3:
        return { analysis: 'heaviest', params: { n: 1 + (i % 1000), year_from: -9999 + Math.floor(i / 1000) } };
      default:
        return { analysis: 'geo-grid', params: { cell_deg: CELLS[i % CELLS.length], year_from: i - 9999 } };
    }
  });
}
