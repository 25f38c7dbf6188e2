import { describe, expect, it } from 'vitest';
import { eventsFromEntry } from './events.ts';

const ID = '1796442713587-0';
const AT = new Date(1796442713587).toISOString();
const A = '652e5dba-5fc0-4bbf-bf49-02f4a750fc35';
const B = '5ba31c4f-f879-4efd-b073-9353e272e18a';

describe('eventsFromEntry', () => {
  it('reads the job events of one queue step, a line each in the field `jobs`, as events <entry>.<n>', () => {
    const flat = ['jobs', `started ${B} mass-by-class 2\nfinished ${A} heaviest\nretrying ${B} mass-by-class`];
    expect(eventsFromEntry(ID, flat)).toEqual([
      { id: `${ID}.1`, event: 'started', job: B, data: { id: B, analysis: 'mass-by-class', status: 'running', attempts: 2, at: AT } },
      { id: `${ID}.2`, event: 'finished', job: A, data: { id: A, analysis: 'heaviest', status: 'finished', at: AT } },
      { id: `${ID}.3`, event: 'retrying', job: B, data: { id: B, analysis: 'mass-by-class', status: 'queued', at: AT } },
    ]);
  });

  it('gives a one-event entry the entry id itself', () => {
    expect(eventsFromEntry(ID, ['jobs', `cancelled ${A} geo-grid`])).toEqual([
      { id: ID, event: 'cancelled', job: A, data: { id: A, analysis: 'geo-grid', status: 'cancelled', at: AT } },
    ]);
  });

  it('reads entries written a field per event (before the `jobs` field) the same way', () => {
    const flat = ['started', `${B} mass-by-class 2`, 'finished', `${A} heaviest`];
    expect(eventsFromEntry(ID, flat)).toEqual(eventsFromEntry(ID, ['jobs', `started ${B} mass-by-class 2\nfinished ${A} heaviest`]));
  });

  it('reads an event of named fields (dataset and progress events)', () => {
    expect(eventsFromEntry(ID, ['event', 'ready', 'version', '3', 'records', '45716'])).toEqual([
      { id: ID, event: 'ready', data: { state: 'ready', version: 3, records: 45716, at: AT } },
    ]);
    expect(eventsFromEntry(ID, ['event', 'progress', 'id', A, 'analysis', 'heaviest', 'progress', '0.5'])).toEqual([
      { id: ID, event: 'progress', job: A, data: { id: A, analysis: 'heaviest', status: 'running', progress: 0.5, at: AT } },
    ]);
  });
});
