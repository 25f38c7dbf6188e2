import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import { ExpositionFormatError, parsePrometheus, sampleValue, samples } from './prometheus.ts';

describe('parsePrometheus', () => {
  it("reads prom-client's output back, escaped labels and histograms included", async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'x_total', help: 'x', labelNames: ['path'], registers: [registry] });
    c.inc({ path: 'a "quoted"\\ back\nslash' }, 3);
    const h = new Histogram({ name: 'h_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] });
    h.observe(0.05);
    h.observe(0.5);
    const exp = parsePrometheus(await registry.metrics());
    expect(exp.types.get('x_total')).toBe('counter');
    expect(sampleValue(exp, 'x_total', { path: 'a "quoted"\\ back\nslash' })).toBe(3);
    expect(samples(exp, 'h_seconds_bucket').map((s) => [s.labels.le, s.value])).toEqual([
      ['0.1', 1],
      ['1', 2],
      ['+Inf', 2],
    ]);
    expect(sampleValue(exp, 'h_seconds_sum')).toBeCloseTo(0.55);
  });

  it('refuses what Prometheus would refuse', () => {
    expect(() => parsePrometheus('# TYPE a counter\na{b="1} 1\n')).toThrow(ExpositionFormatError);
    expect(() => parsePrometheus('# TYPE a counter\na one\n')).toThrow(ExpositionFormatError);
    expect(() => parsePrometheus('a 1\n')).toThrow(/before its # TYPE/);
    expect(() => parsePrometheus('# TYPE a gauge\na_bucket{le="1"} 1\n')).toThrow(/before its # TYPE/);
    expect(parsePrometheus('# TYPE a gauge\na{b="1",} +Inf 1700000000\n').samples).toEqual([
      { name: 'a', labels: { b: '1' }, value: Infinity },
    ]);
  });
});
