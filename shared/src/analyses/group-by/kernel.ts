/**
 * The grouping loop, compiled once per shape of query: which filters are set, one dimension or
 * two, min and max wanted or not. One general loop tests every filter for every record whether
 * set or not, and took twice the time of a loop holding only the tests a query needs, so each
 * shape gets that loop, made from the snippets below (the source holds no value from a request:
 * values come in as arguments) and kept: there are at most 2^8 shapes, a handful in practice.
 *
 * The loop takes typed arrays and numbers as arguments, not an object's fields: compiled code
 * that reads fields depends on their types staying as first seen, and V8 did not always compile
 * it again once one changed. It runs on chunks of records (see CHUNK in engine.ts).
 */
import { compiledLoop, FILTER_ARGUMENTS, matchSnippets, type FilterArgs, type FilterShape } from './query.ts';

export interface Shape extends FilterShape {
  minMax: boolean;
}

/**
 * Filters and groups records [from, to), summing in record order; returns where it stopped: `to`,
 * or earlier when a new group finds the sums full (the caller grows them and calls again).
 * `state` holds matched and the number of groups; `reasons` counts per index into REASONS. The
 * sums hold one entry more than groups fit: the sink (see source()).
 */
export type Kernel = (
  from: number,
  to: number,
  state: Float64Array,
  reasons: Float64Array,
  groupOf: Int32Array,
  slotGroup: Int32Array,
  slot: Int32Array,
  count: Float64Array,
  withMass: Float64Array,
  sum: Float64Array,
  min: Float64Array,
  max: Float64Array,
  ...filters: FilterArgs
) => number;

// prettier-ignore
const ARGUMENTS = ['from', 'to', 'state', 'reasons', 'groupOf', 'slotGroup', 'slot', 'count', 'withMass', 'sum', 'min', 'max', ...FILTER_ARGUMENTS];

// Reason indices (REASONS in dimensions.ts): 3 missing_year, 4 missing_location, 5 zero_location.
function source(s: Shape): string {
  const when = (on: boolean, code: string) => (on ? code : '');
  // A record outside the year range or the box (out = 1) is not skipped by a jump, which a random
  // mix of ins and outs mispredicts half the time (it doubled the time of a query with a box):
  // it is added to the sums' last entry, a sink nothing reads, and gets group -1. Reasons are
  // counted only for records inside (a record outside the years is not matched, located or not).
  return `
    const sink = count.length - 1;
    const capacity = sink;
    let matched = state[0];
    let size = state[1];
    let i = from;
    records: for (; i < to; i++) {
      let g = -1;
      record: {
        ${matchSnippets(s)}
        let out = 0;
        ${when(
          s.yearFiltered,
          `const y = year[i];
          if (y !== y) { matched++; reasons[3] += 1; break record; }
          out = (y < yearFrom) | (y > yearTo);`,
        )}
        ${when(
          s.boxed,
          `const la = lat[i];
          const lo = lon[i];
          if (la !== la || lo !== lo) { if (out === 0) { matched++; reasons[4] += 1; } break record; }
          if (la === 0 && lo === 0) { if (out === 0) { matched++; reasons[5] += 1; } break record; }
          out |= (la < latMin) | (la > latMax) | (lo < lonMin) | (lo > lonMax);`,
        )}
        let s = c1s[i];
        if (s < 0) { if (out === 0) { matched++; reasons[-1 - s] += 1; } break record; }
        ${when(
          s.two,
          `const c2 = c2s[i];
          if (c2 < 0) { if (out === 0) { matched++; reasons[-1 - c2] += 1; } break record; }
          s = s * width + c2;`,
        )}
        g = slotGroup[s];
        if (g < 0) {
          if (out !== 0) g = sink;
          else {
            if (size === capacity) break records;
            g = slotGroup[s] = size++;
            slot[g] = s;
          }
        }
        const t = g + (sink - g) * out;
        matched += 1 - out;
        count[t] += 1;
        const m = mass[i];
        if (m === m) {
          withMass[t] += 1;
          sum[t] += m;
          ${when(s.minMax, 'if (m < min[t]) min[t] = m; if (m > max[t]) max[t] = m;')}
        }
        g -= (g + 1) * out;
      }
      // Every record's group is written, -1 for none: no clearing of the array first.
      groupOf[i] = g;
    }
    state[0] = matched;
    state[1] = size;
    return i;`;
}

const kernels = new Map<string, Kernel>();

/** The loop for a shape of query, compiled on first use. */
export const kernelFor = (shape: Shape): Kernel => compiledLoop(kernels, ARGUMENTS, shape, source);
