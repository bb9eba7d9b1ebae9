/**
 * Test tables and the writers that stand in for the flag service and for `notify`'s mark writer
 * (the exact UpdateItem of docs/freshness.md; it lives here, not in the package).
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

/** Creates the flag table: PK/SK strings, on demand. */
export async function createFlagTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'PK', AttributeType: 'S' },
        { AttributeName: 'SK', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
    }),
  );
}

/** Creates the marks table: partition key `mark` (S), no sort key, on demand. */
export async function createMarksTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'mark', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'mark', KeyType: 'HASH' }],
    }),
  );
}

/** One invalidation as notify applies it to a mark. */
export interface MarkWrite {
  readonly mark: string;
  /** `METADATA`/`KILLSWITCH` under F#, the flag key under T#, `GLOBAL` under E#. */
  readonly item: string;
  /** Stream sequence number (unpadded). */
  readonly sequence: string;
  readonly eventId?: string;
  readonly changedAt?: string;
}

/** notify's mark writer: returns false when the condition failed (redelivered or older: already covered). */
export async function writeMark(dynamodb: DynamoDBClient, table: string, write: MarkWrite): Promise<boolean> {
  const padded = write.sequence.padStart(40, '0');
  try {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { mark: { S: write.mark } },
        UpdateExpression: 'SET #v = :padded, version = :seq, eventId = :id, changedAt = :at ADD n :one',
        ConditionExpression: 'attribute_not_exists(#v) OR #v < :padded',
        ExpressionAttributeNames: { '#v': `v:${write.item}` },
        ExpressionAttributeValues: {
          ':padded': { S: padded },
          ':seq': { S: write.sequence },
          ':id': { S: write.eventId ?? `event-${write.sequence}` },
          ':at': { S: write.changedAt ?? new Date().toISOString() },
          ':one': { N: '1' },
        },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

const stamps = () => ({
  updatedBy: { S: 'test' },
  updatedAt: { S: new Date().toISOString() },
  requestId: { S: `req-${Math.random().toString(36).slice(2)}` },
  version: { N: '1' },
});

/** Writes a flag item (`SK = METADATA`). */
export async function putFlag(dynamodb: DynamoDBClient, table: string, env: string, flagKey: string, defaultEnabled: boolean): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: { PK: { S: `FLAG#${env}#${flagKey}` }, SK: { S: 'METADATA' }, flagKey: { S: flagKey }, defaultEnabled: { BOOL: defaultEnabled }, ...stamps() },
    }),
  );
}

/** Writes a tenant override. */
export async function putOverride(
  dynamodb: DynamoDBClient,
  table: string,
  env: string,
  flagKey: string,
  tenantId: string,
  enabled: boolean,
): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: { PK: { S: `FLAG#${env}#${flagKey}` }, SK: { S: `TENANT#${tenantId}` }, enabled: { BOOL: enabled }, ...stamps() },
    }),
  );
}

/** Writes a flag's kill switch. */
export async function putFlagKillSwitch(dynamodb: DynamoDBClient, table: string, env: string, flagKey: string, enabled: boolean): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: { PK: { S: `FLAG#${env}#${flagKey}` }, SK: { S: 'KILLSWITCH' }, enabled: { BOOL: enabled }, reason: { S: 'test' }, ...stamps() },
    }),
  );
}

/** Writes the environment's global kill switch. */
export async function putGlobalKillSwitch(dynamodb: DynamoDBClient, table: string, env: string, enabled: boolean): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: { PK: { S: `KILLSWITCH#${env}` }, SK: { S: 'GLOBAL' }, enabled: { BOOL: enabled }, reason: { S: 'test' }, ...stamps() },
    }),
  );
}
