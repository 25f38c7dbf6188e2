import Type from 'typebox';
import { meteoriteAt } from '../columns.ts';
import { checkFilters, filterParams, hasYearFilter, type Filters } from './filters.ts';
import { knownMass, REASONS } from './group-by/dimensions.ts';
import { group, release, type Grouping } from './group-by/engine.ts';
import { massOrder } from './group-by/measures.ts';
import { resultHead } from './result.ts';
import type { Analysis } from './types.ts';

export interface HeaviestParams extends Filters {
  n: number;
}

/**
 * The n heaviest of the grouped records, heaviest first, equal masses by id: read from the top of
 * the dataset's mass order, so a query reads only as far down as its n-th landing (and the landings
 * as heavy as that one, whose order by id the mass order does not give).
 */
function topN(g: Grouping, n: number): number[] {
  const { index, mass } = massOrder(g.columns);
  const { id } = g.columns;
  const top: number[] = [];
  for (let j = index.length - 1; j >= 0; j--) {
    if (top.length >= n && mass[j] !== g.columns.mass[top.at(-1)!]) break;
    if (g.groupOf[index[j]!] === 0) top.push(index[j]!);
  }
  const { mass: byRecord } = g.columns;
  return top.sort((a, b) => byRecord[b]! - byRecord[a]! || id[a]! - id[b]!).slice(0, n);
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
    const g = await group(columns, { dims: [knownMass(columns)], filters: params, minMax: false }, ctx);
    try {
      const count = (reason: (typeof REASONS)[number]) => g.reasons[REASONS.indexOf(reason)]!;
      const excluded: Record<string, number> = { missing_mass: count('missing_mass') };
      if (hasYearFilter(params)) excluded.missing_year = count('missing_year');
      const items = topN(g, params.n).map((i) => meteoriteAt(columns, i));
      return { ...resultHead('heaviest', params, columns, ctx, g.matched, excluded), items };
    } finally {
      release(g);
    }
  },
};
