import { describe, expect, it } from 'vitest';
import { catalog } from './catalog.ts';
import { InvalidParamsError, UnknownAnalysisError } from './index.ts';

describe('catalog', () => {
  it('offers test-sleep only when enabled, with canonical params', () => {
    expect(catalog({ enableTestAnalyses: false }).analyses.has('test-sleep')).toBe(false);
    expect(() => catalog({ enableTestAnalyses: false }).validate('test-sleep', {})).toThrow(UnknownAnalysisError);
    const on = catalog({ enableTestAnalyses: true });
    expect([...on.analyses.keys()].at(-1)).toBe('test-sleep');
    expect(JSON.stringify(on.validate('test-sleep', { tag: 'a', steps: 2 }).params)).toBe('{"step_ms":100,"steps":2,"tag":"a"}');
    expect(() => on.validate('test-sleep', { steps: 0 })).toThrow(InvalidParamsError);
    expect(() => on.validate('test-sleep', { nope: 1 })).toThrow(InvalidParamsError);
    expect(() => on.validate('test-sleep', [])).toThrow(InvalidParamsError);
    expect(on.validate('heaviest', {}).params).toMatchObject({ n: 10 });
    const deep = JSON.parse('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)) as unknown;
    expect(() => on.validate('test-sleep', { steps: deep })).toThrow(InvalidParamsError);
  });
});
