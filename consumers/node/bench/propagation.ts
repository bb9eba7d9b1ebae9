/**
 * End-to-end freshness benchmark (not a test): changes written to the real table on the stand-in,
 * carried by the stream-mapping stand-in and notify (`flagtrail tail --follow`) to the marks table
 * and the invalidation topic, and observed by two evaluators of this package:
 *   - a Lambda-mode evaluator "invoked" at a steady rate; between invocations it runs nothing
 *     (no timers: a frozen instance), exactly as Lambda freezes it;
 *   - a long-running evaluator with its own SQS queue (InvalidationListener).
 * Staleness = from the write being durable (PutItem returned) to the evaluator returning the new
 * value. After a kill switch goes on, any evaluation still returning enabled counts as stale.
 * Prints one line: `propagation: lambda p50=… p99=… max=…; long-running …; stale after kill switch=N; reads per evaluation=F`.
 *
 * Environment: AWS_ENDPOINT_URL, FLAGTRAIL_TABLE, FLAGTRAIL_MARKS_TABLE, FLAGTRAIL_INVALIDATION_TOPIC_ARN;
 * PROPAGATION_CHANGES (default 120), PROPAGATION_INVOKE_MS (default 50), PROPAGATION_CHECK_MS (default: the package's).
 */
import { DynamoDBClient, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

import { FeatureFlagEvaluator, FlagCache, freshness, InvalidationListener, type CachedEvaluation, type EvaluationContext } from '../src/index.js';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};
const endpoint = env('AWS_ENDPOINT_URL');
const table = env('FLAGTRAIL_TABLE');
const marksTable = env('FLAGTRAIL_MARKS_TABLE');
const topicArn = env('FLAGTRAIL_INVALIDATION_TOPIC_ARN');
const changes = Number(env('PROPAGATION_CHANGES', '120'));
const invokeMs = Number(env('PROPAGATION_INVOKE_MS', '50'));
const checkMs = process.env.PROPAGATION_CHECK_MS ? Number(process.env.PROPAGATION_CHECK_MS) : undefined;
const client = { endpoint, region: process.env.AWS_REGION ?? 'us-east-1' };
const ddb = new DynamoDBClient(client);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = 'prod';
const FLAGS = ['checkout', 'search', 'banner', 'pricing'];
const TENANTS = ['acme', 'globex', 'initech'];

let requestSeq = 0;
/** Writes one stamped item; resolves when DynamoDB has made it durable. */
async function put(pk: string, sk: string, fields: Record<string, AttributeValue>): Promise<number> {
  requestSeq += 1;
  await ddb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        PK: { S: pk },
        SK: { S: sk },
        ...fields,
        updatedBy: { S: 'bench@example.com' },
        updatedAt: { S: new Date().toISOString() },
        requestId: { S: `bench-${requestSeq}` },
        version: { N: String(requestSeq) },
      },
    }),
  );
  return performance.now();
}

/** The expected evaluation of every (flag, tenant) after each write, tracked by the writer. */
const state = {
  global: false,
  killed: new Map<string, boolean>(),
  defaults: new Map<string, boolean>(),
  overrides: new Map<string, boolean>(),
};
function expected(flag: string, tenant: string): boolean {
  if (state.global || state.killed.get(flag)) return false;
  return state.overrides.get(`${flag}/${tenant}`) ?? state.defaults.get(flag) ?? false;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function main(): Promise<void> {
  // Seed: every flag on by default, no kill switch, no override.
  for (const f of FLAGS) {
    state.defaults.set(f, true);
    await put(`FLAG#${ENV}#${f}`, 'METADATA', { flagKey: { S: f }, defaultEnabled: { BOOL: true } });
  }
  await put(`KILLSWITCH#${ENV}`, 'GLOBAL', { enabled: { BOOL: false } });

  const lambdaCache = new FlagCache<CachedEvaluation>();
  const lambdaFresh = freshness({ cache: lambdaCache, dynamodb: ddb, marksTable, ...(checkMs === undefined ? {} : { checkIntervalMs: checkMs }) });
  const lambda = new FeatureFlagEvaluator({ dynamodb: ddb, flagTable: table, cache: lambdaCache, freshness: lambdaFresh });
  const longCache = new FlagCache<CachedEvaluation>();
  const long = new FeatureFlagEvaluator({ dynamodb: ddb, flagTable: table, cache: longCache });
  const listener = new InvalidationListener({
    cache: longCache,
    sqs: new SQSClient(client),
    sns: new SNSClient(client),
    topicArn,
    environments: [ENV],
    queuePrefix: 'propagation',
    waitTimeSeconds: 1,
  });
  await listener.start();
  const contexts: EvaluationContext[] = FLAGS.flatMap((f) => TENANTS.map((t) => ({ environment: ENV, flagKey: f, tenantId: t })));
  // One Lambda invocation: check the marks (inside the evaluator), evaluate every key once.
  const invoke = async (evaluator: FeatureFlagEvaluator) => Promise.all(contexts.map((c) => evaluator.evaluate(c)));
  await invoke(lambda);
  await invoke(long);

  const lambdaLags: number[] = [];
  const longLags: number[] = [];
  let staleAfterKill = 0;
  let lambdaEvaluations = 0;
  const byKind: Record<string, Array<[number, number]>> = {};
  for (let i = 0; i < changes; i += 1) {
    // A mix: flag defaults, tenant overrides, flag kill switches, and the global kill switch.
    const flag = FLAGS[i % FLAGS.length]!;
    const tenant = TENANTS[i % TENANTS.length]!;
    const kind = ['default', 'override', 'flag-kill', 'override', 'default', 'global-kill'][i % 6]!;
    // Both evaluators serve every key from their caches before the change (else a miss would read
    // the new value at once and measure nothing), and the write lands at a random phase of the
    // Lambda evaluator's check interval.
    await invoke(lambda);
    await invoke(long);
    await sleep(Math.random() * 1000);
    let written: number;
    let killOn = false;
    const target = { environment: ENV, flagKey: flag, tenantId: tenant };
    const before = expected(flag, tenant);
    if (kind === 'default') {
      const v = !state.defaults.get(flag);
      written = await put(`FLAG#${ENV}#${flag}`, 'METADATA', { flagKey: { S: flag }, defaultEnabled: { BOOL: v } });
      state.defaults.set(flag, v);
    } else if (kind === 'override') {
      const v = !(state.overrides.get(`${flag}/${tenant}`) ?? state.defaults.get(flag));
      written = await put(`FLAG#${ENV}#${flag}`, `TENANT#${tenant}`, { enabled: { BOOL: v } });
      state.overrides.set(`${flag}/${tenant}`, v);
    } else if (kind === 'flag-kill') {
      const v = !state.killed.get(flag);
      written = await put(`FLAG#${ENV}#${flag}`, 'KILLSWITCH', { enabled: { BOOL: v }, reason: { S: 'bench' } });
      state.killed.set(flag, v);
      killOn = v;
    } else {
      const v = !state.global;
      written = await put(`KILLSWITCH#${ENV}`, 'GLOBAL', { enabled: { BOOL: v }, reason: { S: 'bench' } });
      state.global = v;
      killOn = v;
    }
    const want = expected(flag, tenant);
    // A change the key cannot show (a default flipped under a kill switch) has nothing to measure.
    const visible = want !== before;
    let lambdaSeen: number | undefined;
    let longSeen: number | undefined;
    const deadline = written + 30_000;
    // Invoke both at a steady rate until both serve the new value; the Lambda evaluator is frozen between.
    while ((lambdaSeen === undefined || longSeen === undefined) && performance.now() < deadline) {
      const all = await invoke(lambda);
      lambdaEvaluations += all.length;
      const got = all[contexts.findIndex((c) => c.flagKey === flag && c.tenantId === tenant)]!;
      // Once a kill switch is on, every evaluation under it must say disabled, from the first one.
      if (killOn) staleAfterKill += all.filter((e, k) => e.enabled && (kind === 'global-kill' || contexts[k]!.flagKey === flag)).length;
      if (lambdaSeen === undefined && got.enabled === want) lambdaSeen = performance.now();
      if (longSeen === undefined) {
        const l = await long.evaluate(target);
        if (killOn && l.enabled) staleAfterKill += 1;
        if (l.enabled === want) longSeen = performance.now();
      }
      await sleep(invokeMs);
    }
    if (lambdaSeen === undefined || longSeen === undefined) throw new Error(`change ${i} (${kind}) not seen within 30 s: lambda ${lambdaSeen !== undefined}, long-running ${longSeen !== undefined}; ${JSON.stringify({ lambda: lambda.stats, freshness: lambdaFresh.stats, listener: listener.stats })}`);
    if (visible) {
      lambdaLags.push(lambdaSeen - written);
      longLags.push(longSeen - written);
      (byKind[kind] ??= []).push([Math.round(lambdaSeen - written), Math.round(longSeen - written)]);
    }
  }
  await listener.stop();
  // Requests to DynamoDB per evaluation: the kill-switch read (every evaluation), fills on a miss, mark checks.
  const reads = lambda.stats.tableRequests + lambdaFresh.stats.checks + lambdaFresh.stats.admits;
  const fmt = (xs: number[]) => `p50=${percentile(xs, 50).toFixed(0)} p99=${percentile(xs, 99).toFixed(0)} max=${Math.max(...xs).toFixed(0)}`;
  console.error(
    JSON.stringify({ changes, measured: lambdaLags.length, invokeMs, byKind, lambda: lambda.stats, freshness: lambdaFresh.stats, listener: listener.stats, lambdaEvaluations }),
  );
  console.log(
    `propagation: lambda ${fmt(lambdaLags)}; long-running ${fmt(longLags)}; stale after kill switch=${staleAfterKill}; reads per evaluation=${(reads / Math.max(1, lambda.stats.evaluations)).toFixed(2)}`,
  );
}

await main();
