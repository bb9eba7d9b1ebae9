/**
 * `make demo`'s last step: a Lambda-mode evaluator of this package beside the live local
 * pipeline (scripts/with-local-pipeline.sh). It serves a flag from its cache, sees a changed flag
 * within its check interval through the freshness marks, and refuses a kill-switched flag at the
 * very next evaluation (kill switches are read strongly consistent every time).
 */
import { DynamoDBClient, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';

import { FeatureFlagEvaluator, FlagCache, freshness, type CachedEvaluation } from '../src/index.js';

const endpoint = process.env.AWS_ENDPOINT_URL;
const table = process.env.FLAGTRAIL_TABLE;
const marksTable = process.env.FLAGTRAIL_MARKS_TABLE;
if (!endpoint || !table || !marksTable) throw new Error('AWS_ENDPOINT_URL, FLAGTRAIL_TABLE and FLAGTRAIL_MARKS_TABLE are required');
const ddb = new DynamoDBClient({ endpoint, region: process.env.AWS_REGION ?? 'us-east-1' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let request = 0;
async function put(sk: string, fields: Record<string, AttributeValue>, pk = 'FLAG#prod#new-checkout'): Promise<number> {
  request += 1;
  await ddb.send(new PutItemCommand({
    TableName: table,
    Item: { PK: { S: pk }, SK: { S: sk }, ...fields, updatedBy: { S: 'demo@example.com' }, requestId: { S: `demo-${request}` }, version: { N: String(request) } },
  }));
  return performance.now();
}

const cache = new FlagCache<CachedEvaluation>();
const fresh = freshness({ cache, dynamodb: ddb, marksTable, checkIntervalMs: 1000 });
const evaluator = new FeatureFlagEvaluator({ dynamodb: ddb, flagTable: table, cache, freshness: fresh });
const context = { environment: 'prod', flagKey: 'new-checkout', tenantId: 'acme-corp' };

await put('METADATA', { flagKey: { S: 'new-checkout' }, defaultEnabled: { BOOL: true } });
let e = await evaluator.evaluate(context);
console.log(`  new-checkout for acme-corp: ${e.enabled ? 'ON ' : 'OFF'} (${e.source}); check interval ${1000} ms, cache TTL 300 s as a backstop only`);
e = await evaluator.evaluate(context);
console.log(`  again:                      ${e.enabled ? 'ON ' : 'OFF'} (${e.source})`);

const changed = await put('METADATA', { flagKey: { S: 'new-checkout' }, defaultEnabled: { BOOL: false } });
console.log('  flag default switched OFF in the table; invoking the evaluator every 100 ms (frozen in between)…');
for (;;) {
  e = await evaluator.evaluate(context);
  if (!e.enabled) break;
  if (performance.now() - changed > 30_000) throw new Error('the change did not reach the evaluator within 30 s');
  await sleep(100);
}
console.log(`  serving OFF (${e.source}) ${Math.round(performance.now() - changed)} ms after the write (marks checked ${fresh.stats.checks} times, ${fresh.stats.marksChanged} moved)`);

await put('METADATA', { flagKey: { S: 'new-checkout' }, defaultEnabled: { BOOL: true } });
for (;;) {
  e = await evaluator.evaluate(context);
  if (e.enabled) break;
  await sleep(100);
}
const killed = await put('KILLSWITCH', { enabled: { BOOL: true }, reason: { S: 'payment errors' } });
e = await evaluator.evaluate(context);
console.log(`  kill switch ON: the next evaluation says ${e.enabled ? 'ON — STALE' : 'OFF'} (${e.source}), ${Math.round(performance.now() - killed)} ms after the write`);
if (e.enabled) process.exit(1);
