import { describe, expect, it } from 'vitest';
import { negotiate } from './negotiate.ts';

const offers = ['application/json', 'text/csv'] as const;

describe('negotiate', () => {
  it('answers the first offer when the client states no preference', () => {
    expect(negotiate(undefined, offers)).toBe('application/json');
    expect(negotiate('', offers)).toBe('application/json');
    expect(negotiate('*/*', offers)).toBe('application/json');
    expect(negotiate('garbage', offers)).toBe('application/json');
  });

  it('picks the offer the client asks for, case-insensitively and with parameters', () => {
    expect(negotiate('text/csv', offers)).toBe('text/csv');
    expect(negotiate('Text/CSV; charset=utf-8', offers)).toBe('text/csv');
    expect(negotiate('text/*', offers)).toBe('text/csv');
    expect(negotiate('application/json', offers)).toBe('application/json');
  });

  it('weighs offers by q, with the most specific range deciding', () => {
    expect(negotiate('application/json;q=0.5, text/csv', offers)).toBe('text/csv');
    expect(negotiate('text/csv;q=0.2, */*;q=0.8', offers)).toBe('application/json');
    expect(negotiate('text/html, text/csv;q=0.9, */*;q=0.1', offers)).toBe('text/csv');
    expect(negotiate('*/*, application/json;q=0', offers)).toBe('text/csv');
  });

  it('answers undefined when nothing offered is acceptable', () => {
    expect(negotiate('text/html', offers)).toBeUndefined();
    expect(negotiate('application/xml, image/*', offers)).toBeUndefined();
    expect(negotiate('text/csv;q=0, application/json;q=0', offers)).toBeUndefined();
  });
});
