/** Publishes invalidations the way notify does: JSON body, filterable message attributes. */
import { PublishCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';

/** A v1 invalidation body as the Rust side serializes it (absent options as null). */
export interface WireInvalidation {
  scope: 'tenant' | 'flag' | 'environment';
  environment: string;
  flagKey?: string | null;
  tenantId?: string | null;
  version: string;
  eventId?: string;
  itemVersion?: string | null;
  action?: string;
  changedAt?: string | null;
}

/** The v1 JSON body of one invalidation. */
export function v1Body(inv: WireInvalidation): string {
  return JSON.stringify({
    schemaVersion: 1,
    eventId: inv.eventId ?? `event-${inv.version}`,
    scope: inv.scope,
    environment: inv.environment,
    flagKey: inv.flagKey ?? null,
    tenantId: inv.tenantId ?? null,
    version: inv.version,
    itemVersion: inv.itemVersion ?? null,
    action: inv.action ?? 'UPDATE_FLAG',
    changedAt: inv.changedAt ?? null,
  });
}

/** The attributes notify sets (environment, scope, eventType, flagKey, tenantId when present). */
export function attributesOf(inv: Pick<WireInvalidation, 'environment' | 'scope' | 'flagKey' | 'tenantId'>): Record<string, MessageAttributeValue> {
  const attrs: Record<string, MessageAttributeValue> = {
    environment: { DataType: 'String', StringValue: inv.environment },
    scope: { DataType: 'String', StringValue: inv.scope },
    eventType: { DataType: 'String', StringValue: 'Invalidation' },
  };
  if (inv.flagKey) attrs.flagKey = { DataType: 'String', StringValue: inv.flagKey };
  if (inv.tenantId) attrs.tenantId = { DataType: 'String', StringValue: inv.tenantId };
  return attrs;
}

/** Publishes a body with attributes; FIFO topics get a group (per env/flag) and a dedup id. */
export async function publish(
  sns: SNSClient,
  topicArn: string,
  body: string,
  attributes: Record<string, MessageAttributeValue>,
  fifo?: { groupId: string; dedupId: string },
): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Message: body,
      MessageAttributes: attributes,
      ...(fifo && { MessageGroupId: fifo.groupId, MessageDeduplicationId: fifo.dedupId }),
    }),
  );
}

/** Publishes one v1 invalidation as notify would. */
export async function publishInvalidation(sns: SNSClient, topicArn: string, inv: WireInvalidation): Promise<void> {
  await publish(sns, topicArn, v1Body(inv), attributesOf(inv));
}
