import Type from 'typebox';
import { meteoriteAt, type Columns } from '../columns.ts';
import { checkFilters, filterParams, hasYearFilter, scan, type Filters } from './filters.ts';
import { resultHead } from './result.ts';
import type { Analysis } from './types.ts';

export interface HeaviestParams extends Filters {
  n: number;
}

/**
 * The top n by mass in one pass: a min-heap of record indices whose root is the weakest of the
 * best n so far (lightest; of equal masses, the larger id), replaced whenever a record beats it.
 */
function topN(columns: Columns, n: number) {
  const { mass, id } = columns;
  /** a ranks below b */
  const below = (a: number, b: number) => mass[a]! < mass[b]! || (mass[a] === mass[b] && id[a]! > id[b]!);
  const heap = new Int32Array(n);
  let size = 0;
  const swap = (a: number, b: number) => {
    const t = heap[a]!;
    heap[a] = heap[b]!;
    heap[b] = t;
  };
  const siftDown = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let min = at;
      if (l < size && below(heap[l]!, heap[min]!)) min = l;
      if (r < size && below(heap[r]!, heap[min]!)) min = r;
      if (min === at) return;
      swap(at, min);
      at = min;
    }
  };
  return {
    offer(i: number) {
      if (size < n) {
        let at = size++;
        heap[at] = i;
        while (at > 0) {
          const parent = (at - 1) >> 1;
          if (!below(heap[at]!, heap[parent]!)) break;
          swap(at, parent);
          at = parent;
        }
      } else if (below(heap[0]!, i)) {
        heap[0] = i;
        siftDown(0);
      }
    },
    ranked: () => Array.from(heap.subarray(0, size)).sort((a, b) => (below(a, b) ? 1 : below(b, a) ? -1 : 0)),
  };
}

export const heaviest: Analysis<HeaviestParams> = {
  name: 'heaviest',
  description: 'The n heaviest landings, heaviest first (equal masses by id).',
  params: Type.Object(
    {
      n: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'How many landings: 1..1000.' })),
      ...filterParams,
    },
    { additionalProperties: false },
  ),
  check: checkFilters,
  async run(columns, params, ctx) {
    const top = topN(columns, params.n);
    const { mass } = columns;
    let missing = 0;
    const { matched, missingYear } = await scan(columns, params, ctx, (i) => {
      if (Number.isNaN(mass[i]!)) missing++;
      else top.offer(i);
    });
    const excluded: Record<string, number> = { missing_mass: missing };
    if (hasYearFilter(params)) excluded.missing_year = missingYear;
    const items = top.ranked().map((i) => meteoriteAt(columns, i));
    return { ...resultHead('heaviest', params, columns, ctx, matched, excluded), items };
  },
};
