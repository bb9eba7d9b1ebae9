// Logs Insights saved queries for the auditors' questions. Every field they use is defined by the
// audit-record schema (docs/audit-record.schema.json); test/queries.test.ts checks that.
// Values in capitals are placeholders the auditor replaces before running the query.
//
// Every query reads one record type and counts each record once:
// - `recordType = "change"` skips the bookkeeping records (seals, the parts of a record over the
//   event size limit, quarantined records), which have none of a change's fields or share its
//   `eventId` (a part);
// - `dedup eventId` keeps one row per stream record: a retried or redriven batch writes the same
//   record again, with the same `eventId` (seals, which have no `eventId`, by `sealId` and `part`).
//   Logs Insights' `dedup` keeps the first row in the sort order and allows only `limit` after it
//   (CloudWatch Logs user guide, "dedup"), so each query sorts, then de-duplicates.
// The period is the query's time range (the events' @timestamp, the time the record was written).
// A query returns at most 10,000 rows unless it sets a higher `limit`: the full population of a
// period is `flagtrail report --csv` (README, auditors), not a query.

/** The record types of the audit log group (docs/audit-record.md). */
export type RecordType = 'change' | 'quarantine' | 'seal';

export interface AuditorQuery {
  id: string;
  name: string;
  /** The one record type the query reads. */
  recordType: RecordType;
  fields: string[];
  /** Further filters, each a `filter` command. */
  filters: string[];
  /** The order rows are kept in by `dedup` (the first of each key wins) and shown in. */
  sort: string;
  /** The fields one row per record is kept by: `eventId`, or for seals `sealId` and `part`. */
  dedup: string[];
}

/** A change's record once, however often it was written. */
const ONCE = ['eventId'];

export const AUDITOR_QUERIES: AuditorQuery[] = [
  {
    // The full population of a period for a change-management review (up to the row limit above).
    id: 'ProductionChanges',
    name: 'production-changes-in-period',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'action', 'scope', 'flagKey', 'tenantId', 'actor', 'actorSource', 'requestId', 'reason', 'changedFields', 'eventId'],
    filters: ['production = 1'],
    sort: 'changedAt asc',
    dedup: ONCE,
  },
  {
    id: 'FlagHistory',
    name: 'who-changed-flag-in-environment',
    recordType: 'change',
    fields: ['changedAt', 'action', 'actor', 'requestId', 'changedFields', 'reason', 'eventId'],
    filters: ['flagKey = "FLAG_KEY"', 'environment = "ENVIRONMENT"'],
    sort: 'changedAt desc',
    dedup: ONCE,
  },
  {
    id: 'KillSwitches',
    name: 'kill-switch-activations',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'scope', 'flagKey', 'action', 'actor', 'reason', 'requestId', 'eventId'],
    filters: ['action in ["KILL_SWITCH_ENABLED", "KILL_SWITCH_DISABLED", "UPDATE_KILL_SWITCH"]'],
    sort: 'changedAt desc',
    dedup: ONCE,
  },
  {
    id: 'ProductionByUser',
    name: 'production-changes-by-user',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'action', 'flagKey', 'tenantId', 'requestId', 'changedFields', 'eventId'],
    filters: ['production = 1', 'actor = "USER"'],
    sort: 'changedAt desc',
    dedup: ONCE,
  },
  {
    id: 'TenantHistory',
    name: 'changes-for-tenant',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'flagKey', 'action', 'actor', 'requestId', 'eventId'],
    filters: ['tenantId = "TENANT_ID"'],
    sort: 'changedAt desc',
    dedup: ONCE,
  },
  {
    id: 'RequestTrace',
    name: 'everything-one-request-touched',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'flagKey', 'tenantId', 'action', 'actor', 'eventId'],
    filters: ['requestId = "REQUEST_ID"'],
    sort: 'changedAt asc',
    dedup: ONCE,
  },
  {
    // Changes the record cannot attribute: a write that did not stamp itself, a delete without the
    // delete stamp (docs/audit-record.md). lastWriter is the previous stamp, not the author.
    id: 'Unattributed',
    name: 'unattributed-changes',
    recordType: 'change',
    fields: ['changedAt', 'environment', 'action', 'flagKey', 'tenantId', 'actorSource', 'lastWriter', 'eventId'],
    filters: ['actorSource in ["unstamped", "unknown"]'],
    sort: 'changedAt desc',
    dedup: ONCE,
  },
  {
    // Stream records the audit function could not decode, kept whole (a retried batch keeps them again).
    id: 'Quarantined',
    name: 'quarantined-records',
    recordType: 'quarantine',
    fields: ['@timestamp', 'eventId', 'sequenceNumber', 'eventName', 'error.kind', 'error.message', 'rawSha256', 'rawBytes'],
    filters: [],
    sort: '@timestamp desc',
    dedup: ONCE,
  },
  {
    // The seals over the trail (docs/integrity.md): what each invocation sealed, and with which key.
    // A seal written again (a retried PutLogEvents) has the same sealId; each part once.
    id: 'Seals',
    name: 'seals',
    recordType: 'seal',
    fields: ['@timestamp', 'sealId', 'part', 'parts', 'count', 'firstSequenceNumber', 'lastSequenceNumber', 'signature.keyId'],
    filters: [],
    sort: '@timestamp desc',
    dedup: ['sealId', 'part'],
  },
];

/** The query's Logs Insights text: fields, the record type, the filters, sort, then dedup. */
export function queryText(q: AuditorQuery): string {
  return [
    `fields ${q.fields.join(', ')}`,
    `filter recordType = "${q.recordType}"`,
    ...q.filters.map((f) => `filter ${f}`),
    `sort ${q.sort}`,
    `dedup ${q.dedup.join(', ')}`,
  ].join('\n| ');
}
