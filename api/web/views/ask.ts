/**
 * Ask: a form per analysis, generated from the JSON Schema of its params in GET /analyses.
 * Enums are selects, lists of enums (group-by's dimensions and measures) are checkbox groups,
 * numbers carry their ranges, descriptions are the help text. Fields left empty are not sent,
 * so the service fills in its defaults. Submitting shows the job at once, live.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson, postJson } from '../api.ts';
import { announce } from '../store.ts';
import type { AnalysisInfo, Job, JsonSchema } from '../types.ts';
import { ErrorNote } from './parts.ts';
import { JobPanel } from './job-panel.ts';
import { initialValues, paramsOf, type Values } from '../logic.ts';

interface FieldProps {
  name: string;
  prop: JsonSchema;
  required: boolean;
  value: string | string[];
  set(v: string | string[]): void;
}

function Field({ name, prop, required, value, set }: FieldProps) {
  const id = `f-${name}`;
  const help = prop.description && html`<small id=${`${id}-help`} class="help">${prop.description}</small>`;
  const described = prop.description ? `${id}-help` : undefined;
  if (prop.type === 'array' && prop.items?.enum) {
    const chosen = value as string[];
    const limits = [prop.minItems && `at least ${prop.minItems}`, prop.maxItems && `at most ${prop.maxItems}`].filter(Boolean).join(', ');
    return html`
      <fieldset class="field" aria-describedby=${described}>
        <legend>${name}${required ? ' (required)' : ''}${limits ? ` — ${limits}` : ''}</legend>
        <div class="choices">
          ${prop.items.enum.map((opt) => {
            const o = String(opt);
            const toggle = (e: Event) => set((e.target as HTMLInputElement).checked ? [...chosen, o] : chosen.filter((c) => c !== o));
            return html`<label class="choice">
              <input type="checkbox" name=${name} value=${o} checked=${chosen.includes(o)} onChange=${toggle} /> ${o}
            </label>`;
          })}
        </div>
        ${help}
      </fieldset>
    `;
  }
  const onInput = (e: Event) => set((e.target as HTMLInputElement | HTMLSelectElement).value);
  let control;
  if (prop.enum) {
    control = html`<select id=${id} name=${name} value=${value} onChange=${onInput} aria-describedby=${described}>
      ${prop.default === undefined && html`<option value="">(any)</option>`}
      ${prop.enum.map((opt) => html`<option value=${String(opt)}>${String(opt)}${opt === prop.default ? ' (default)' : ''}</option>`)}
    </select>`;
  } else if (prop.type === 'integer' || prop.type === 'number') {
    const range = prop.minimum !== undefined && prop.maximum !== undefined ? ` (${prop.minimum} to ${prop.maximum})` : '';
    control = html`<input
        id=${id}
        name=${name}
        type="number"
        inputmode="decimal"
        min=${prop.minimum}
        max=${prop.maximum}
        step=${prop.type === 'integer' ? 1 : 'any'}
        value=${value}
        placeholder=${prop.default !== undefined ? String(prop.default) : ''}
        onInput=${onInput}
        aria-describedby=${described}
        required=${required}
      /><span class="range">${range}</span>`;
  } else {
    control = html`<input
      id=${id}
      name=${name}
      type="text"
      value=${value}
      onInput=${onInput}
      aria-describedby=${described}
      required=${required}
    />`;
  }
  return html`<div class="field"><label for=${id}>${name}${required ? ' (required)' : ''}</label>${control}${help}</div>`;
}

export function Ask({ analysis, preset }: { analysis: string; preset: string | null }) {
  const [analyses, setAnalyses] = useState<AnalysisInfo[]>();
  const [values, setValues] = useState<Values>({});
  const [job, setJob] = useState<Job>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    getJson<AnalysisInfo[]>('analyses').then(setAnalyses, setError);
  }, []);
  const chosen = analyses?.find((a) => a.name === analysis) ?? analyses?.find((a) => a.name === 'group-by') ?? analyses?.[0];
  useEffect(() => {
    if (!chosen) return;
    let given: Record<string, unknown> = {};
    try {
      given = preset ? (JSON.parse(preset) as Record<string, unknown>) : {};
    } catch {
      // a mangled link: start from the defaults
    }
    setValues(initialValues(chosen.params, chosen.name === analysis ? given : {}));
    setJob(undefined);
  }, [chosen?.name, preset]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!chosen) return;
    setBusy(true);
    setError(undefined);
    try {
      const { body } = await postJson<Job>('jobs', { analysis: chosen.name, params: paramsOf(chosen.params, values) });
      setJob(body);
      announce(body.deduplicated ? `Existing job ${body.analysis}: ${body.status}` : `Job ${body.analysis} queued`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!analyses)
    return html`<h1 tabindex="-1">Ask a question</h1>
      <${ErrorNote} error=${error} />`;
  const schema = chosen?.params ?? {};
  const required = (name: string) => schema.required?.includes(name) ?? false;
  // What shapes the answer (required, or with a default) comes first; the filters, all optional, fold away.
  const props = Object.entries(schema.properties ?? {});
  const main = props.filter(([name, prop]) => required(name) || prop.default !== undefined);
  const filters = props.filter(([name, prop]) => !required(name) && prop.default === undefined);
  const pick = (e: Event) => (location.hash = `#/ask/${(e.target as HTMLSelectElement).value}`);
  const field = ([name, prop]: [string, JsonSchema]) =>
    html`<${Field}
      key=${`${chosen?.name}.${name}`}
      name=${name}
      prop=${prop}
      required=${required(name)}
      value=${values[name] ?? ''}
      set=${(v: string | string[]) => setValues((old) => ({ ...old, [name]: v }))}
    />`;
  return html`
    <h1 tabindex="-1">Ask a question</h1>
    <form class="ask" onSubmit=${submit}>
      <div class="field">
        <label for="analysis">Analysis</label>
        <select id="analysis" value=${chosen?.name} onChange=${pick}>
          ${analyses.map((a) => html`<option value=${a.name}>${a.name}</option>`)}
        </select>
        <small class="help">${chosen?.description}</small>
      </div>
      ${main.map(field)}
      ${
        filters.length > 0 &&
        (main.length
          ? html`<details class="filters-box" open=${filters.some(([n]) => (values[n] ?? '').length > 0)}>
              <summary>Filters (optional): which landings count</summary>
              ${filters.map(field)}
            </details>`
          : filters.map(field))
      }
      <button type="submit" disabled=${busy}>Submit</button>
    </form>
    <${ErrorNote} error=${error} />
    ${
      job?.deduplicated &&
      html`<p class="note" data-field="deduplicated">The same question on the same data was asked before: this is that job.</p>`
    }
    ${job && html`<${JobPanel} key=${job.id} id=${job.id} initial=${job} />`}
  `;
}
