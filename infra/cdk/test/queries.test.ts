// The auditors' saved queries use only fields the audit-record schema defines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AUDITOR_QUERIES } from '../lib/queries';

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

/** Field names a Logs Insights expression refers to (string literals and keywords removed). */
function fieldsOf(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\\\]|\\\\.)*"/g, ' ').replace(/\/(?:[^/\\\\]|\\\\.)+\//g, ' ');
  const keywords = new Set(['and', 'or', 'not', 'in', 'like', 'asc', 'desc', 'true', 'false']);
  return [...noStrings.matchAll(/[A-Za-z_@][A-Za-z0-9_.]*/g)].map((m) => m[0]).filter((w) => !keywords.has(w.toLowerCase()));
}

test('every saved query uses only schema fields', () => {
  assert.equal(AUDITOR_QUERIES.length, 8);
  for (const q of AUDITOR_QUERIES) {
    const used = [...q.fields, ...q.filters.flatMap(fieldsOf), ...(q.sort ? fieldsOf(q.sort) : [])];
    assert.ok(used.length > 2, q.name);
    for (const f of used) assert.ok(defined(f), `${q.name} uses "${f}", which the audit-record schema does not define`);
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
  assert.deepEqual(fieldsOf('actor = "bob and alice" and production = 1'), ['actor', 'production']);
});

test('the questions auditors ask are covered', () => {
  const names = AUDITOR_QUERIES.map((q) => q.name);
  for (const n of ['who-changed-flag-in-environment', 'kill-switch-activations', 'production-changes-by-user', 'changes-for-tenant', 'everything-one-request-touched', 'quarantined-records', 'unattributed-changes', 'seals']) {
    assert.ok(names.includes(n), n);
  }
});
