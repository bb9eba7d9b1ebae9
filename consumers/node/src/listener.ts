/**
 * Long-running mode (ECS, EKS, EC2): a queue of this process's own, subscribed to the
 * invalidation topic, long-polled, each message applied to the cache. SNS → SQS hands a message
 * to one consumer per queue, so every process needs its own queue; and whenever messages may have
 * been missed (start, receive error, unreadable message) the cache is flushed.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { SubscribeCommand, UnsubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';

import type { Invalidatable } from './cache.js';
import type { LogEntry } from './freshness.js';
import { parseMessage } from './message.js';

/** Options of an InvalidationListener. */
export interface InvalidationListenerOptions {
  /** The cache to keep fresh. */
  readonly cache: Invalidatable;
  /** SQS client (same region as the topic or not: SNS delivers cross-region). */
  readonly sqs: SQSClient;
  /** SNS client of the topic's region. */
  readonly sns: SNSClient;
  /** ARN of the invalidation topic; a `.fifo` topic gets a FIFO queue. */
  readonly topicArn: string;
  /** Environments to receive (the subscription's FilterPolicy on the `environment` attribute). */
  readonly environments: readonly string[];
  /** Queue name prefix; a random suffix makes it unique per process (default `flagtrail-listener`). */
  readonly queuePrefix?: string;
  /** Long-poll wait in seconds (default 20, the maximum: fewest empty receives). */
  readonly waitTimeSeconds?: number;
  /** Pause after a receive error in ms, so a broken queue is not hammered (default 1000). */
  readonly errorBackoffMs?: number;
  /** Where warnings go (default: one JSON line on console.warn). */
  readonly log?: (entry: LogEntry) => void;
}

/** Counters since start. */
export interface ListenerStats {
  /** Messages received. */
  received: number;
  /** Invalidations that dropped entries (or could have: newer than anything seen for their key). */
  applied: number;
  /** Invalidations ignored as duplicates or older than one applied. */
  stale: number;
  /** Messages (or parts of v2 messages) that could not be parsed; each flushed the cache. */
  malformed: number;
  /** ReceiveMessage failures; each flushed the cache. */
  receiveErrors: number;
  /** Messages whose delete failed (they will be redelivered and ignored by version). */
  deleteErrors: number;
}

/** A queue of this process's own on the invalidation topic, applying what arrives to the cache. */
export class InvalidationListener {
  /** Counters since start. */
  readonly stats: ListenerStats = { received: 0, applied: 0, stale: 0, malformed: 0, receiveErrors: 0, deleteErrors: 0 };
  readonly #options: InvalidationListenerOptions;
  readonly #log: (entry: LogEntry) => void;
  #queueUrl: string | undefined;
  #queueArn: string | undefined;
  #subscriptionArn: string | undefined;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;

  /** A listener; nothing is created before `start()`. */
  constructor(options: InvalidationListenerOptions) {
    if (options.environments.length === 0) throw new TypeError('environments must name at least one environment');
    this.#options = options;
    this.#log = options.log ?? ((entry) => console.warn(JSON.stringify(entry)));
  }

  /** URL of the listener's queue, once started. */
  get queueUrl(): string | undefined {
    return this.#queueUrl;
  }

  /** ARN of the listener's queue, once started. */
  get queueArn(): string | undefined {
    return this.#queueArn;
  }

  /** ARN of the subscription, once started. */
  get subscriptionArn(): string | undefined {
    return this.#subscriptionArn;
  }

  /** Creates and subscribes the queue, flushes the cache, and starts polling. */
  async start(): Promise<void> {
    if (this.#loop !== undefined || this.#queueUrl !== undefined) throw new Error('listener already started');
    this.#stopping = false;
    this.#abort = new AbortController();
    const { sqs, sns, topicArn } = this.#options;
    const fifo = topicArn.endsWith('.fifo');
    const name = `${this.#options.queuePrefix ?? 'flagtrail-listener'}-${randomUUID()}${fifo ? '.fifo' : ''}`;
    try {
      const created = await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            // A message older than the cache's backstop TTL invalidates nothing; keep the queue small.
            MessageRetentionPeriod: '600',
            // SQS-managed encryption at rest: needs no KMS key policy for SNS to deliver.
            SqsManagedSseEnabled: 'true',
            ...(fifo && { FifoQueue: 'true' }),
          },
        }),
      );
      this.#queueUrl = created.QueueUrl;
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.#queueUrl, AttributeNames: ['QueueArn'] }));
      this.#queueArn = attrs.Attributes?.QueueArn;
      if (this.#queueUrl === undefined || this.#queueArn === undefined) throw new Error(`queue ${name} has no URL or ARN`);
      await sqs.send(
        new SetQueueAttributesCommand({ QueueUrl: this.#queueUrl, Attributes: { Policy: queuePolicy(this.#queueArn, topicArn) } }),
      );
      const sub = await sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: this.#queueArn,
          ReturnSubscriptionArn: true,
          Attributes: {
            RawMessageDelivery: 'true',
            FilterPolicy: JSON.stringify({ environment: [...this.#options.environments] }),
          },
        }),
      );
      this.#subscriptionArn = sub.SubscriptionArn;
    } catch (err) {
      await this.#teardown().catch(() => undefined);
      throw err;
    }
    // Whatever was cached before the subscription existed may have missed invalidations.
    this.#options.cache.flush();
    this.#loop = this.#run();
  }

  /** Stops polling promptly (aborts the long poll), unsubscribes and deletes the queue. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    await this.#loop;
    this.#loop = undefined;
    await this.#teardown();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#stopping) {
      let messages: Message[];
      try {
        const out = await this.#options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.#options.waitTimeSeconds ?? 20,
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (this.#stopping) return;
        // Messages may have been missed or delayed past their use: nothing cached can be trusted.
        this.stats.receiveErrors += 1;
        this.#options.cache.flush();
        this.#warn('flagtrail.listener.receive_failed', 'receive failed; cache flushed', err);
        await sleep(this.#options.errorBackoffMs ?? 1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        await this.#handle(messages);
      } catch (err) {
        // Nothing may end the loop but stop(); whatever this batch carried is treated as missed.
        this.#options.cache.flush();
        this.#warn('flagtrail.listener.apply_failed', 'applying messages failed; cache flushed', err);
      }
    }
  }

  async #handle(messages: Message[]): Promise<void> {
    this.stats.received += messages.length;
    for (const message of messages) {
      const parsed = parseMessage(message.Body ?? '');
      for (const inv of parsed.invalidations) {
        const applied = this.#options.cache.apply(inv);
        if (applied.kind === 'stale') this.stats.stale += 1;
        else this.stats.applied += 1;
      }
      if (parsed.errors.length > 0) {
        // An invalidation we cannot read is one we missed: a needless flush is cheap, a stale flag is not.
        this.stats.malformed += parsed.errors.length;
        this.#options.cache.flush();
        this.#warn('flagtrail.listener.malformed', 'unreadable invalidation message; cache flushed', parsed.errors[0], {
          messageId: message.MessageId,
          errors: parsed.errors.map((e) => e.message),
        });
      }
    }
    // Unreadable ones are deleted too: redelivering them cannot make them readable.
    const entries = messages
      .filter((m) => m.ReceiptHandle !== undefined)
      .map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
    if (entries.length === 0) return;
    try {
      const out = await this.#options.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }));
      this.stats.deleteErrors += out.Failed?.length ?? 0;
    } catch (err) {
      // Redelivered later and ignored by version: no freshness is lost.
      this.stats.deleteErrors += entries.length;
      this.#warn('flagtrail.listener.delete_failed', 'delete failed; messages will be redelivered', err);
    }
  }

  async #teardown(): Promise<void> {
    const errors: unknown[] = [];
    if (this.#subscriptionArn !== undefined) {
      try {
        await this.#options.sns.send(new UnsubscribeCommand({ SubscriptionArn: this.#subscriptionArn }));
        this.#subscriptionArn = undefined;
      } catch (err) {
        errors.push(err);
      }
    }
    if (this.#queueUrl !== undefined) {
      try {
        await this.#options.sqs.send(new DeleteQueueCommand({ QueueUrl: this.#queueUrl }));
        this.#queueUrl = undefined;
        this.#queueArn = undefined;
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'listener teardown incomplete');
  }

  #warn(event: string, message: string, err: unknown, extra: LogEntry = {}): void {
    this.#log({
      level: 'warn',
      event,
      message,
      queueUrl: this.#queueUrl,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      ...extra,
    });
  }
}

/** Only the invalidation topic may send to the queue (real AWS requires the aws:SourceArn condition for SNS). */
export function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'FlagtrailInvalidations',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  });
}
