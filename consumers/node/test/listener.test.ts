/** Long-running mode against moto: the listener's own queue, its subscription, messages, gaps. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  CreateTopicCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
} from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';

import { FlagCache, InvalidationListener, type CacheKey, type InvalidationListenerOptions } from '../src/index.js';
import { motoPerFile, type Clients } from './support/moto.js';
import { attributesOf, publish, publishInvalidation, v1Body } from './support/notify.js';
import { jsonError, proxyPerSuite } from './support/proxy.js';
import { waitFor } from './support/wait.js';

const env = motoPerFile();
let topicN = 0;


async function topic(fifo = false): Promise<string> {
  const name = `invalidations-${++topicN}${fifo ? '.fifo' : ''}`;
  const out = await env.aws.sns.send(
    new CreateTopicCommand({ Name: name, ...(fifo && { Attributes: { FifoTopic: 'true', ContentBasedDeduplication: 'false' } }) }),
  );
  return out.TopicArn!;
}

const k = (flagKey: string, tenantId?: string, environment = 'prod'): CacheKey =>
  tenantId === undefined ? { environment, flagKey } : { environment, flagKey, tenantId };

function filledCache(keys: CacheKey[]): FlagCache<string> {
  const cache = new FlagCache<string>();
  for (const key of keys) assert.ok(cache.fill(cache.beginRead(key), 'v'));
  return cache;
}

const quiet = () => undefined;

/** Starts a listener and makes sure it is stopped (queue and subscription deleted) after the test. */
async function started(t: { after: (fn: () => Promise<void>) => void }, options: Omit<InvalidationListenerOptions, 'sqs' | 'sns'> & { clients?: Clients }) {
  const clients = options.clients ?? env.aws;
  const listener = new InvalidationListener({ sqs: clients.sqs, sns: clients.sns, log: quiet, ...options });
  await listener.start();
  t.after(() => listener.stop());
  return listener;
}

async function queueExists(url: string): Promise<boolean> {
  const out = await env.aws.sqs.send(new ListQueuesCommand({}));
  return (out.QueueUrls ?? []).includes(url);
}

describe('InvalidationListener', () => {
  it('lifecycle: own queue, policy for the topic, raw subscription with a filter; flush on start; all gone after a prompt stop', async () => {
    const topicArn = await topic();
    const cache = filledCache([k('a'), k('b', 'x')]);
    const listener = new InvalidationListener({ cache, sqs: env.aws.sqs, sns: env.aws.sns, topicArn, environments: ['prod', 'staging'], log: quiet });
    await listener.start();
    assert.equal(cache.size, 0, 'flushed on start: entries may have missed invalidations');
    assert.equal(cache.stats.flushes, 1);

    const queueUrl = listener.queueUrl!;
    assert.match(queueUrl, /\/flagtrail-listener-[0-9a-f-]{36}$/);
    assert.ok(await queueExists(queueUrl));
    const attrs = await env.aws.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['Policy', 'QueueArn', 'SqsManagedSseEnabled'] }),
    );
    assert.equal(attrs.Attributes!.SqsManagedSseEnabled, 'true');
    const policy = JSON.parse(attrs.Attributes!.Policy!) as { Statement: Array<Record<string, any>> };
    assert.equal(policy.Statement[0]!.Principal.Service, 'sns.amazonaws.com');
    assert.equal(policy.Statement[0]!.Action, 'sqs:SendMessage');
    assert.equal(policy.Statement[0]!.Resource, attrs.Attributes!.QueueArn);
    assert.deepEqual(policy.Statement[0]!.Condition, { ArnEquals: { 'aws:SourceArn': topicArn } });

    const subs = await env.aws.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
    assert.deepEqual(
      subs.Subscriptions?.map((s) => [s.Protocol, s.Endpoint, s.SubscriptionArn]),
      [['sqs', listener.queueArn, listener.subscriptionArn]],
    );
    const subAttrs = await env.aws.sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: listener.subscriptionArn! }));
    assert.equal(subAttrs.Attributes!.RawMessageDelivery, 'true');
    assert.deepEqual(JSON.parse(subAttrs.Attributes!.FilterPolicy!), { environment: ['prod', 'staging'] });

    // The loop is in a 20 s long poll now; stop must abort it, not wait it out.
    const t0 = Date.now();
    await listener.stop();
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    assert.equal(await queueExists(queueUrl), false, 'queue deleted');
    const after = await env.aws.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
    assert.deepEqual(after.Subscriptions ?? [], [], 'unsubscribed');
  });

  it('applies v1 and v2 messages by scope; redelivered and reordered ones are ignored by per-key BigInt version', async (t) => {
    const topicArn = await topic();
    const cache = new FlagCache<string>();
    const listener = await started(t, { cache, topicArn, environments: ['prod'] });
    const fill = (...keys: CacheKey[]) => keys.forEach((key) => assert.ok(cache.fill(cache.beginRead(key), 'v')));
    fill(k('a', 'x'), k('a', 'y'), k('b', 'x'), k('c'));

    await publishInvalidation(env.aws.sns, topicArn, { scope: 'tenant', environment: 'prod', flagKey: 'a', tenantId: 'x', version: '1234567890123456789012345678901234567890' });
    await waitFor(() => listener.stats.applied === 1, { what: 'the tenant invalidation' });
    assert.equal(cache.get(k('a', 'x')), undefined);
    assert.equal(cache.get(k('a', 'y')), 'v');

    fill(k('a', 'x'));
    // Redelivered (same version) and reordered (older: 39 digits) messages change nothing.
    await publishInvalidation(env.aws.sns, topicArn, { scope: 'tenant', environment: 'prod', flagKey: 'a', tenantId: 'x', version: '1234567890123456789012345678901234567890' });
    await publishInvalidation(env.aws.sns, topicArn, { scope: 'tenant', environment: 'prod', flagKey: 'a', tenantId: 'x', version: '999999999999999999999999999999999999999' });
    await waitFor(() => listener.stats.stale === 2, { what: 'the two stale messages' });
    assert.equal(cache.get(k('a', 'x')), 'v');

    // v2: several invalidations in one SNS message.
    const { schemaVersion: _, ...flagB } = JSON.parse(v1Body({ scope: 'flag', environment: 'prod', flagKey: 'b', version: '50' })) as Record<string, unknown>;
    const { schemaVersion: __, ...flagA } = JSON.parse(v1Body({ scope: 'flag', environment: 'prod', flagKey: 'a', version: '60' })) as Record<string, unknown>;
    await publish(env.aws.sns, topicArn, JSON.stringify({ schemaVersion: 2, invalidations: [flagB, flagA] }), attributesOf({ environment: 'prod', scope: 'flag' }));
    await waitFor(() => listener.stats.applied === 3, { what: 'the v2 message' });
    assert.deepEqual(cache.keys(), [k('c')]);

    await publishInvalidation(env.aws.sns, topicArn, { scope: 'environment', environment: 'prod', version: '70', action: 'KILL_SWITCH_ENABLED' });
    await waitFor(() => cache.size === 0, { what: 'the environment invalidation' });
    assert.equal(listener.stats.received, 5);
    assert.equal(listener.stats.deleteErrors, 0);
  });

  it('the filter policy keeps other environments out (notify sets the environment attribute)', async (t) => {
    const topicArn = await topic();
    const cache = new FlagCache<string>();
    const listener = await started(t, { cache, topicArn, environments: ['prod'] });
    for (const key of [k('a', undefined, 'dev'), k('a', undefined, 'prod')]) cache.fill(cache.beginRead(key), 'v');
    await publishInvalidation(env.aws.sns, topicArn, { scope: 'environment', environment: 'dev', version: '1' });
    await publishInvalidation(env.aws.sns, topicArn, { scope: 'flag', environment: 'prod', flagKey: 'a', version: '2' });
    await waitFor(() => listener.stats.applied >= 1, { what: 'the prod message' });
    // SNS fans out at publish: had the dev message passed the filter, it would be queued before the prod one.
    assert.equal(listener.stats.received, 1);
    assert.equal(cache.get(k('a', undefined, 'dev')), 'v');
    assert.equal(cache.get(k('a', undefined, 'prod')), undefined);
  });

  it('an unreadable message flushes the cache and is deleted, and the loop goes on', async (t) => {
    const topicArn = await topic();
    const cache = new FlagCache<string>();
    const warnings: Array<Record<string, unknown>> = [];
    const listener = await started(t, { cache, topicArn, environments: ['prod'], log: (e) => warnings.push(e) });
    cache.fill(cache.beginRead(k('a')), 'v');
    await publish(env.aws.sns, topicArn, '{"schemaVersion":1,"scope":"flag","environment":"prod","flagKey":"zzz","version":12}', attributesOf({ environment: 'prod', scope: 'flag' }));
    await waitFor(() => listener.stats.malformed === 1, { what: 'the malformed message' });
    assert.equal(cache.size, 0);
    assert.equal(warnings[0]?.event, 'flagtrail.listener.malformed');
    assert.deepEqual(warnings[0]?.errors, ['version: expected a string of 1 to 40 decimal digits']);
    await publishInvalidation(env.aws.sns, topicArn, { scope: 'flag', environment: 'prod', flagKey: 'a', version: '3' });
    await waitFor(() => listener.stats.applied === 1, { what: 'the next message' });
    assert.equal(listener.stats.received, 2, 'the bad one was deleted, not redelivered');
  });

  describe('behind a proxy that fails a receive', () => {
    const through = proxyPerSuite(() => env.moto.endpoint);

    it('a receive error flushes the cache (messages may have been missed), then polling resumes', async (t) => {
      const topicArn = await topic();
      const cache = new FlagCache<string>();
      const warnings: Array<Record<string, unknown>> = [];
      let receives = 0;
      let failNext = false;
      through.proxy.setHandler(async (request, forward) => {
        if (request.target === 'AmazonSQS.ReceiveMessage') {
          receives += 1;
          if (failNext) {
            failNext = false;
            return jsonError(400, 'com.amazonaws.sqs#QueueDoesNotExist', 'The specified queue does not exist.');
          }
        }
        return forward();
      });
      const listener = await started(t, {
        cache,
        topicArn,
        environments: ['prod'],
        clients: through.clients,
        waitTimeSeconds: 1,
        errorBackoffMs: 10,
        log: (e) => warnings.push(e),
      });
      await waitFor(() => receives >= 1, { what: 'the first receive' });
      cache.fill(cache.beginRead(k('a')), 'v');
      const inFlight = cache.beginRead(k('b'));
      const flushes = cache.stats.flushes;
      failNext = true;
      await waitFor(() => listener.stats.receiveErrors === 1, { what: 'the failed receive', timeoutMs: 30_000 });
      assert.equal(cache.size, 0, 'flushed');
      assert.equal(cache.stats.flushes, flushes + 1);
      assert.equal(cache.fill(inFlight, 'v'), false, 'reads in flight during the gap are refused too');
      assert.equal(warnings[0]?.event, 'flagtrail.listener.receive_failed');
      cache.fill(cache.beginRead(k('a')), 'v');
      await publishInvalidation(env.aws.sns, topicArn, { scope: 'flag', environment: 'prod', flagKey: 'a', version: '9' });
      await waitFor(() => listener.stats.applied === 1, { what: 'a message after the error', timeoutMs: 30_000 });
      assert.equal(cache.size, 0);
    });
  });

  it('a FIFO topic gets a FIFO queue of its own', async (t) => {
    const topicArn = await topic(true);
    const cache = new FlagCache<string>();
    const listener = await started(t, { cache, topicArn, environments: ['prod'] });
    assert.match(listener.queueUrl!, /\.fifo$/);
    const attrs = await env.aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: listener.queueUrl!, AttributeNames: ['FifoQueue'] }));
    assert.equal(attrs.Attributes!.FifoQueue, 'true');
    cache.fill(cache.beginRead(k('a', 'x')), 'v');
    const inv = { scope: 'tenant', environment: 'prod', flagKey: 'a', tenantId: 'x', version: '5' } as const;
    await publish(env.aws.sns, topicArn, v1Body(inv), attributesOf(inv), { groupId: 'prod/a', dedupId: 'd5' });
    await waitFor(() => listener.stats.applied === 1, { what: 'the FIFO message' });
    assert.equal(cache.size, 0);
  });
});
