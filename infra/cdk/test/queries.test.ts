// The auditors' saved queries: only fields the audit-record schema defines; each reads one record
// type and keeps one row per record (dedup by eventId), in the text the stack deploys; and, run by a
// small evaluator over a trail with redelivered records, parts, seals and quarantined records, each
// query returns every matching change exactly once and no bookkeeping record.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prodTemplate } from './synth';
import { AUDITOR_QUERIES, AuditorQuery, queryText } from '../lib/queries';

const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'audit-record.schema.json'), 'utf8'));

/** Logs Insights' own fields, on every event. */
const BUILTIN = ['@timestamp', '@message', '@logStream', '@ingestionTime'];

/** True when `field` (dotted) is a property of a record shape in the schema (or a built-in field). */
function defined(field: string): boolean {
  if (field.startsWith('@')) return BUILTIN.includes(field);
  return ['change', 'quarantine', 'part', 'seal'].some((shape) => {
    let nodes: any[] = [schema.$defs[shape]];
    for (const part of field.split('.')) {
      // A property may be one of several shapes (e.g. a signature or null): any of them counts.
      nodes = nodes.flatMap((n) => [n, ...(n.oneOf ?? [])]).map((n) => n?.properties?.[part]).filter(Boolean);
      if (!nodes.length) return false;
    }
    return true;
  });
}

/** True when the record shape `shape` defines `field` (so the query's record type carries it). */
function definedOn(shape: string, field: string): boolean {
  return field.startsWith('@') || field.split('.')[0] in schema.$defs[shape].properties;
}

/** Field names a Logs Insights expression refers to (string literals and keywords removed). */
function fieldsOf(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\\\]|\\\\.)*"/g, ' ').replace(/\/(?:[^/\\\\]|\\\\.)+\//g, ' ');
  const keywords = new Set(['and', 'or', 'not', 'in', 'like', 'asc', 'desc', 'true', 'false']);
  return [...noStrings.matchAll(/[A-Za-z_@][A-Za-z0-9_.]*/g)].map((m) => m[0]).filter((w) => !keywords.has(w.toLowerCase()));
}

/** Every field a query uses. */
function used(q: AuditorQuery): string[] {
  return [...q.fields, 'recordType', ...q.filters.flatMap(fieldsOf), ...fieldsOf(q.sort), ...q.dedup];
}

test('every saved query uses only schema fields, each defined on the record type it reads', () => {
  assert.equal(AUDITOR_QUERIES.length, 9);
  for (const q of AUDITOR_QUERIES) {
    assert.ok(q.fields.length > 2, q.name);
    for (const f of used(q)) {
      assert.ok(defined(f), `${q.name} uses "${f}", which the audit-record schema does not define`);
      assert.ok(definedOn(q.recordType, f), `${q.name} reads ${q.recordType} records, which have no "${f}"`);
    }
  }
});

test('the field check itself rejects an undefined field', () => {
  assert.equal(defined('flagKey'), true);
  assert.equal(defined('error.kind'), true);
  assert.equal(defined('flag_key'), false);
  assert.equal(defined('signature.keyId'), true);
  assert.equal(defined('signature.nope'), false);
  assert.equal(defined('@timestamp'), true);
  assert.equal(defined('@nope'), false);
  assert.equal(definedOn('seal', 'eventId'), false);
  assert.deepEqual(fieldsOf('actor = "bob and alice" and production = 1'), ['actor', 'production']);
});

test('the questions auditors ask are covered', () => {
  const names = AUDITOR_QUERIES.map((q) => q.name);
  for (const n of ['production-changes-in-period', 'who-changed-flag-in-environment', 'kill-switch-activations', 'production-changes-by-user', 'changes-for-tenant', 'everything-one-request-touched', 'quarantined-records', 'unattributed-changes', 'seals']) {
    assert.ok(names.includes(n), n);
  }
  assert.equal(new Set(names).size, names.length, 'names are unique');
  assert.equal(new Set(AUDITOR_QUERIES.map((q) => q.id)).size, names.length, 'ids are unique');
});

/** The commands of a query text, in order: [command, argument]. */
function commands(text: string): Array<[string, string]> {
  return text.split(/\n\| /).map((line) => {
    const m = /^(\w+) ([\s\S]+)$/.exec(line)!;
    return [m[1], m[2]];
  });
}

/** What each query must say: one record type filter first; sort, then dedup by the record's identity, last. */
function shapeFailures(name: string, text: string): string[] {
  const cmds = commands(text);
  const failures: string[] = [];
  const types = cmds.filter(([c, a]) => c === 'filter' && /^recordType = "(change|quarantine|seal)"$/.test(a));
  if (types.length !== 1 || cmds[1][0] !== 'filter' || cmds[1] !== types[0]) failures.push(`${name}: the first filter must be its one recordType filter`);
  const type = types[0]?.[1].match(/"(\w+)"/)?.[1];
  // Change questions read changes only (no seals, parts, quarantined records).
  if (type !== 'change' && !/quarantine|seals/.test(name)) failures.push(`${name}: reads ${type} records, not changes`);
  const want = type === 'seal' ? 'sealId, part' : 'eventId';
  const last = cmds[cmds.length - 1];
  if (last[0] !== 'dedup' || last[1] !== want) failures.push(`${name}: must end with "dedup ${want}" (only limit may follow dedup), ends with "${last.join(' ')}"`);
  if (cmds[cmds.length - 2]?.[0] !== 'sort') failures.push(`${name}: dedup keeps the first row in sort order: sort right before it`);
  if (cmds.filter(([c]) => c === 'dedup').length !== 1) failures.push(`${name}: one dedup`);
  if (cmds.some(([c]) => !['fields', 'filter', 'sort', 'dedup'].includes(c))) failures.push(`${name}: unexpected command`);
  return failures;
}

test('every query reads one record type and de-duplicates by eventId (seals by sealId and part)', () => {
  const failures = AUDITOR_QUERIES.flatMap((q) => shapeFailures(q.name, queryText(q)));
  assert.deepEqual(failures, []);
  assert.equal(AUDITOR_QUERIES.filter((q) => q.recordType === 'change').length, 7);
  // The check itself: a query without dedup, or reading every record type, fails it.
  assert.notDeepEqual(shapeFailures('x', 'fields eventId\n| filter recordType = "change"\n| sort changedAt desc'), []);
  assert.notDeepEqual(shapeFailures('x', 'fields eventId\n| filter flagKey = "a"\n| sort changedAt desc\n| dedup eventId'), []);
  assert.notDeepEqual(shapeFailures('x', 'fields eventId\n| filter recordType = "change"\n| dedup eventId\n| sort changedAt desc'), []);
  assert.deepEqual(shapeFailures('x', 'fields eventId\n| filter recordType = "change"\n| sort changedAt desc\n| dedup eventId'), []);
});

test('the deployed query definitions are these texts, on the audit group', () => {
  const defs = Object.values<any>(prodTemplate({}, 'Queries').Resources).filter((r) => r.Type === 'AWS::Logs::QueryDefinition');
  assert.equal(defs.length, AUDITOR_QUERIES.length);
  const failures: string[] = [];
  for (const q of AUDITOR_QUERIES) {
    const d = defs.find((r) => r.Properties.Name === `flagtrail/prod/${q.name}`);
    if (!d) { failures.push(`${q.name}: not deployed`); continue; }
    if (d.Properties.QueryString !== queryText(q)) failures.push(`${q.name}: deployed as ${d.Properties.QueryString}`);
    failures.push(...shapeFailures(q.name, d.Properties.QueryString));
    if (d.Properties.LogGroupNames.length !== 1) failures.push(`${q.name}: on ${JSON.stringify(d.Properties.LogGroupNames)}`);
  }
  assert.deepEqual(failures, []);
});

// A small Logs Insights evaluator for the subset these queries use: `filter` with `=`, `in [...]`
// (joined by `and`), `sort FIELD asc|desc`, `dedup F, …` (the first row in sort order wins; a row
// with a null key is never a duplicate, as Logs Insights documents). JSON booleans compare as 1/0.
type Rec = Record<string, any>;
const get = (r: Rec, f: string) => f.split('.').reduce((v: any, k) => (v == null ? undefined : v[k]), r);
const scalar = (v: any) => (v === true ? 1 : v === false ? 0 : v);

function matches(r: Rec, expr: string): boolean {
  return expr.split(/ and /).every((term) => {
    let m = /^([\w.@]+) = (?:"([^"]*)"|(\d+))$/.exec(term);
    if (m) return m[2] !== undefined ? scalar(get(r, m[1])) === m[2] : scalar(get(r, m[1])) === Number(m[3]);
    m = /^([\w.@]+) in \[(.*)\]$/.exec(term);
    if (m) return JSON.parse(`[${m[2]}]`).includes(get(r, m[1]));
    throw new Error(`the evaluator does not know "${term}"`);
  });
}

function run(text: string, records: Rec[], placeholders: Record<string, string>): Rec[] {
  let rows = records;
  for (let [cmd, arg] of commands(text)) {
    for (const [k, v] of Object.entries(placeholders)) arg = arg.split(k).join(v);
    if (cmd === 'filter') rows = rows.filter((r) => matches(r, arg));
    if (cmd === 'sort') {
      const [f, dir] = arg.split(' ');
      rows = [...rows].sort((a, b) => (get(a, f) < get(b, f) ? -1 : get(a, f) > get(b, f) ? 1 : 0) * (dir === 'desc' ? -1 : 1));
    }
    if (cmd === 'dedup') {
      const keys = arg.split(', ');
      const seen = new Set<string>();
      rows = rows.filter((r) => {
        const vals = keys.map((k) => get(r, k));
        if (vals.some((v) => v == null)) return true;
        const key = JSON.stringify(vals);
        return seen.has(key) ? false : (seen.add(key), true);
      });
    }
  }
  return rows;
}

test('run over a trail with redeliveries and bookkeeping records, each query returns each record once', () => {
  const change = (eventId: string, at: string, extra: Rec = {}): Rec => ({
    recordType: 'change', eventId, '@timestamp': at, changedAt: at, environment: 'prod', production: true, action: 'UPDATE_FLAG',
    scope: 'flag', flagKey: 'checkout', tenantId: null, actor: 'alice', actorSource: 'stamp', requestId: 'req-1', ...extra,
  });
  const changes = [
    change('e1', '2026-11-01T10:00:00Z'),
    change('e2', '2026-11-01T11:00:00Z', { action: 'KILL_SWITCH_ENABLED', scope: 'killSwitch' }),
    change('e3', '2026-11-01T12:00:00Z', { environment: 'staging', production: false }),
    change('e4', '2026-11-01T13:00:00Z', { actor: null, actorSource: 'unstamped', requestId: null }),
    change('e5', '2026-11-01T14:00:00Z', { tenantId: 'acme' }),
  ];
  const trail: Rec[] = [
    ...changes,
    // A retried batch and a redrive write e1, e2 and e4 again, later.
    { ...changes[0], '@timestamp': '2026-11-02T09:00:00Z' },
    { ...changes[1], '@timestamp': '2026-11-02T09:00:00Z' },
    { ...changes[3], '@timestamp': '2026-11-03T09:00:00Z' },
    // Bookkeeping: the parts of a large record (its eventId, no change fields), seals (one written
    // twice), a quarantined record written twice.
    { recordType: 'part', eventId: 'e9', part: 1, parts: 2, '@timestamp': '2026-11-01T15:00:00Z' },
    { recordType: 'part', eventId: 'e9', part: 2, parts: 2, '@timestamp': '2026-11-01T15:00:00Z' },
    { recordType: 'seal', sealId: 's1', part: 1, parts: 1, '@timestamp': '2026-11-01T10:00:01Z' },
    { recordType: 'seal', sealId: 's1', part: 1, parts: 1, '@timestamp': '2026-11-01T10:00:02Z' },
    { recordType: 'seal', sealId: 's2', part: 1, parts: 1, '@timestamp': '2026-11-02T09:00:01Z' },
    { recordType: 'quarantine', eventId: 'q1', '@timestamp': '2026-11-01T16:00:00Z', error: { kind: 'malformed' } },
    { recordType: 'quarantine', eventId: 'q1', '@timestamp': '2026-11-02T09:00:00Z', error: { kind: 'malformed' } },
  ];
  const placeholders = { FLAG_KEY: 'checkout', ENVIRONMENT: 'prod', USER: 'alice', TENANT_ID: 'acme', REQUEST_ID: 'req-1' };
  const want: Record<string, string[]> = {
    'production-changes-in-period': ['e1', 'e2', 'e4', 'e5'],
    'who-changed-flag-in-environment': ['e5', 'e4', 'e2', 'e1'],
    'kill-switch-activations': ['e2'],
    'production-changes-by-user': ['e5', 'e2', 'e1'],
    'changes-for-tenant': ['e5'],
    'everything-one-request-touched': ['e1', 'e2', 'e3', 'e5'],
    'unattributed-changes': ['e4'],
    'quarantined-records': ['q1'],
    seals: ['s2', 's1'],
  };
  const got: Record<string, string[]> = {};
  for (const q of AUDITOR_QUERIES) got[q.name] = run(queryText(q), trail, placeholders).map((r) => r.eventId ?? r.sealId);
  assert.deepEqual(got, want);
  // Without dedup and the record type, the same question counts redeliveries and parts.
  const naive = run('filter production = 1', trail, {}).length;
  assert.equal(naive, 7);
});
