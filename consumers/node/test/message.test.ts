import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { compareSequences, isNewer, MessageError, parseMessage, parseSequence } from '../src/index.js';

const FORTY = '1234567890123456789012345678901234567890';
const THIRTY_NINE = '999999999999999999999999999999999999999';

const v1 = (over: Record<string, unknown> = {}) => ({
  schemaVersion: 1,
  eventId: 'e1',
  scope: 'tenant',
  environment: 'prod',
  flagKey: 'checkout',
  tenantId: 'acme',
  version: '100',
  itemVersion: '3',
  action: 'SET_TENANT_OVERRIDE',
  changedAt: '2025-01-01T00:00:00.000Z',
  ...over,
});

describe('sequence numbers', () => {
  it('compare numerically as BigInt: 40 digits beat 39 nines, no precision lost', () => {
    const forty = parseSequence(FORTY)!;
    const nines = parseSequence(THIRTY_NINE)!;
    assert.equal(typeof forty, 'bigint');
    assert.equal(compareSequences(forty, nines), 1);
    assert.equal(compareSequences(nines, forty), -1);
    assert.ok(isNewer(forty, nines));
    assert.ok(!isNewer(nines, forty));
    // Numbers differing only in the last digit stay distinct (Number would round them together).
    assert.equal(compareSequences(parseSequence(FORTY)!, parseSequence(FORTY.slice(0, -1) + '1')!), -1);
    assert.equal(Number(FORTY), Number(FORTY.slice(0, -1) + '1'), 'why Number is never used');
  });

  it('accepts zero padding (the marks pad to 40) and rejects anything else', () => {
    assert.equal(parseSequence('0000000000000000000000000000000000000042'), 42n);
    assert.equal(parseSequence('00' + FORTY), BigInt(FORTY), 'leading zeros do not count');
    for (const bad of ['', '12a', '-1', '1.5', ' 1', FORTY + '1', 12, null, undefined]) {
      assert.equal(parseSequence(bad), undefined, `rejects ${JSON.stringify(bad)}`);
    }
  });
});

describe('parseMessage', () => {
  it('reads a v1 message (raw delivery), null optionals as absent', () => {
    const parsed = parseMessage(JSON.stringify(v1({ scope: 'flag', tenantId: null, itemVersion: null, version: FORTY })));
    assert.deepEqual(parsed.errors, []);
    assert.equal(parsed.schemaVersion, 1);
    assert.deepEqual(parsed.invalidations, [
      { scope: 'flag', environment: 'prod', flagKey: 'checkout', version: BigInt(FORTY), eventId: 'e1', action: 'SET_TENANT_OVERRIDE', changedAt: '2025-01-01T00:00:00.000Z' },
    ]);
  });

  it('reads a v2 message with several invalidations', () => {
    const { schemaVersion: _, ...item } = v1();
    const parsed = parseMessage(
      JSON.stringify({
        schemaVersion: 2,
        invalidations: [item, { ...item, scope: 'environment', flagKey: null, tenantId: null, version: '7' }],
      }),
    );
    assert.equal(parsed.schemaVersion, 2);
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(
      parsed.invalidations.map((i) => [i.scope, i.flagKey, i.tenantId, i.version]),
      [
        ['tenant', 'checkout', 'acme', 100n],
        ['environment', undefined, undefined, 7n],
      ],
    );
  });

  it('unwraps an SNS envelope (non-raw delivery), one level only', () => {
    const envelope = { Type: 'Notification', MessageId: 'm', TopicArn: 'arn:t', Message: JSON.stringify(v1()) };
    const parsed = parseMessage(JSON.stringify(envelope));
    assert.equal(parsed.invalidations.length, 1);
    assert.equal(parsed.invalidations[0]!.tenantId, 'acme');
    const twice = parseMessage(JSON.stringify({ ...envelope, Message: JSON.stringify(envelope) }));
    assert.equal(twice.invalidations.length, 0);
    assert.equal(twice.errors[0]!.kind, 'schema-version');
  });

  it('returns typed errors naming what was wrong, and never throws', () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['not json', 'not-json', undefined],
      ['[1,2]', 'not-an-object', undefined],
      ['null', 'not-an-object', undefined],
      [JSON.stringify({ Type: 'SubscriptionConfirmation', Token: 't' }), 'envelope', 'Type'],
      [JSON.stringify(v1({ schemaVersion: 3 })), 'schema-version', 'schemaVersion'],
      [JSON.stringify(v1({ scope: 'everything' })), 'field', 'scope'],
      [JSON.stringify(v1({ environment: 'pr#od' })), 'field', 'environment'],
      [JSON.stringify(v1({ flagKey: null })), 'field', 'flagKey'],
      [JSON.stringify(v1({ tenantId: 5 })), 'field', 'tenantId'],
      [JSON.stringify(v1({ version: 100 })), 'field', 'version'],
      [JSON.stringify(v1({ version: FORTY + '0' })), 'field', 'version'],
      [JSON.stringify({ schemaVersion: 2, invalidations: {} }), 'field', 'invalidations'],
    ];
    for (const [body, kind, field] of cases) {
      const parsed = parseMessage(body);
      assert.equal(parsed.invalidations.length, 0, body);
      assert.equal(parsed.errors.length, 1, body);
      const error = parsed.errors[0]!;
      assert.ok(error instanceof MessageError);
      assert.equal(error.kind, kind, body);
      assert.equal(error.field, field, body);
    }
  });

  it('keeps the good invalidations of a v2 message and names the bad one by index', () => {
    const { schemaVersion: _, ...item } = v1();
    const parsed = parseMessage(JSON.stringify({ schemaVersion: 2, invalidations: [item, { ...item, version: 'x' }, 'junk'] }));
    assert.equal(parsed.invalidations.length, 1);
    assert.deepEqual(
      parsed.errors.map((e) => e.field),
      ['invalidations[1].version', 'invalidations[2]'],
    );
  });
});
