import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import type { Redis } from '@meteorites/shared';
import { ApiMetrics } from './metrics.ts';

const NAME = 'meteorites_http_request_duration_seconds';
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Exposition lines with each line's labels sorted, so label order does not count. */
const normalised = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => line.replace(/\{([^}]*)\}/, (_, labels: string) => `{${labels.split(',').sort().join(',')}}`))
    .sort();

describe('HTTP request durations', () => {
  it('expose what prom-client’s Histogram exposes for the same observations', async () => {
    const metrics = new ApiMetrics(undefined as unknown as Redis, []);
    const registry = new Registry();
    const reference = new Histogram({
      name: NAME,
      help: 'x',
      labelNames: ['method', 'route', 'status_code'],
      buckets: BUCKETS,
      registers: [registry],
    });
    const observations: [string, string, number, number][] = [
      ['GET', '/meteorites/:id', 200, 0.0004],
      ['GET', '/meteorites/:id', 200, 0.001],
      ['GET', '/meteorites/:id', 200, 0.3],
      ['GET', '/meteorites/:id', 404, 0.002],
      ['POST', '/jobs', 202, 75],
      ['GET', 'unmatched', 404, 0.01],
    ];
    for (const [method, route, status, seconds] of observations) {
      metrics.httpDurations.observe(method, route, status, seconds);
      reference.observe({ method, route, status_code: status }, seconds);
    }
    const ours = await metrics.registry.getSingleMetricAsString(NAME);
    const theirs = await registry.getSingleMetricAsString(NAME);
    const withoutHelp = (text: string) => text.replace(/^# HELP .*$/m, '');
    expect(normalised(withoutHelp(ours))).toEqual(normalised(withoutHelp(theirs)));
    expect(ours).toContain(`${NAME}_count{method="GET",route="/meteorites/:id",status_code="200"} 3`);
  });
});
