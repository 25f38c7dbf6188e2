import Type, { type TObject } from 'typebox';
import type { Columns } from '../columns.ts';
import type { Meteorite } from '../schemas.ts';

export interface AnalysisContext {
  datasetVersion: number;
  /** Called every few thousand records with the fraction done (0..1); awaits it (it yields to the event loop, and may throw to cancel). */
  progress(fraction: number): Promise<void>;
  /** Clock for computed_at (tests pass a fixed one). */
  now(): Date;
}

export interface Analysis<P = Record<string, unknown>> {
  name: string;
  /** One sentence for GET /analyses. */
  description: string;
  /** The params, common filters included: defaults, descriptions, additionalProperties false. */
  params: TObject;
  /** Problems the schema cannot express (an inverted year range, ...), each naming its param. */
  check?(params: P): string[];
  /** Reads lenient forms into the schema's (a list given as one text with commas), before validation. */
  coerce?(params: Record<string, unknown>): Record<string, unknown>;
  run(columns: Columns, params: P, ctx: AnalysisContext): Promise<AnalysisResult>;
  /**
   * The result as JSON text, equal to JSON.stringify of run()'s (what the worker stores), where
   * an analysis can write it more cheaply than building the objects first. See resultJson().
   */
  json?(columns: Columns, params: P, ctx: AnalysisContext): Promise<string>;
}

/** The result of an analysis as JSON text: its own json() if it has one, else run()'s, stringified. */
export async function resultJson<P>(analysis: Analysis<P>, columns: Columns, params: P, ctx: AnalysisContext): Promise<string> {
  return analysis.json ? analysis.json(columns, params, ctx) : JSON.stringify(await analysis.run(columns, params, ctx));
}

const Mass = (description: string) =>
  Type.Union([Type.Number(), Type.Null()], { description: `${description}; null when with_mass is 0.` });

export const Group = Type.Object(
  {
    key: Type.Union([Type.String(), Type.Number()], {
      description: 'The class name (mass-by-class), the `fall` value (mass-by-fall) or the first year of the bin (mass-by-year).',
    }),
    count: Type.Integer({ minimum: 0, description: 'Landings in the group.' }),
    with_mass: Type.Integer({ minimum: 0, description: 'Landings in the group with a known mass; the mass statistics cover these.' }),
    total_mass_g: Mass('Sum of the known masses in grams, added in record order'),
    mean_mass_g: Mass('total_mass_g / with_mass'),
    median_mass_g: Mass('Median mass (the mean of the two middle masses for an even count)'),
    min_mass_g: Mass('Smallest known mass'),
    max_mass_g: Mass('Largest known mass'),
  },
  { additionalProperties: false },
);

export const GroupByRow = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]), {
  description:
    'A group-by row: one field per dimension, named after it (its value, or "other" on the row that sums the groups past `limit`), then one per measure asked for (null where the group has no mass to measure).',
});

export const Cell = Type.Object(
  {
    lat: Type.Number({ description: "Latitude of the cell's south-west corner." }),
    lon: Type.Number({ description: "Longitude of the cell's south-west corner." }),
    count: Type.Integer({ minimum: 1, description: 'Landings in the cell.' }),
  },
  { additionalProperties: false },
);

export const AnalysisResult = Type.Object(
  {
    analysis: Type.String(),
    params: Type.Record(Type.String(), Type.Unknown(), { description: 'The canonical params: defaults filled in, keys sorted.' }),
    dataset_version: Type.Integer({ minimum: 0, description: 'The dataset version the result was computed on.' }),
    computed_at: Type.String({ format: 'date-time' }),
    records: Type.Integer({ minimum: 0, description: 'Landings in the dataset.' }),
    matched: Type.Integer({
      minimum: 0,
      description:
        'Landings the filters did not rule out. Each of them is either in the result (a group, a cell, a ranked candidate) or counted in `excluded`.',
    }),
    excluded: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
      description:
        'Matched landings left out for lack of a value the analysis needs, by reason: missing_year (also every landing without a year when a year filter is set: it cannot be tested), missing_class, missing_fall, missing_mass, missing_location, zero_location (exactly 0,0).',
    }),
    groups: Type.Optional(
      Type.Array(Type.Union([Group, GroupByRow]), {
        description:
          'mass-by-class, mass-by-fall: by total mass, heaviest first, then by key; mass-by-year: by year; group-by: rows of its table, in the order its `sort` asks.',
      }),
    ),
    items: Type.Optional(Type.Array(Type.Ref('Meteorite'), { description: 'heaviest: heaviest first, equal masses by id.' })),
    cells: Type.Optional(
      Type.Array(Cell, { description: 'geo-grid: cells with at least one landing, south to north, then west to east.' }),
    ),
  },
  { additionalProperties: true, description: 'The result of a finished job.' },
);

export interface Group {
  key: string | number;
  count: number;
  with_mass: number;
  total_mass_g: number | null;
  mean_mass_g: number | null;
  median_mass_g: number | null;
  min_mass_g: number | null;
  max_mass_g: number | null;
}

export interface Cell {
  lat: number;
  lon: number;
  count: number;
}

export type AnalysisResult = {
  analysis: string;
  params: Record<string, unknown>;
  dataset_version: number;
  computed_at: string;
  records: number;
  matched: number;
  excluded: Record<string, number>;
  /** Group rows; a group-by result holds GroupByRow objects here instead (see the schema). */
  groups?: Group[];
  items?: Meteorite[];
  cells?: Cell[];
} & Record<string, unknown>;
