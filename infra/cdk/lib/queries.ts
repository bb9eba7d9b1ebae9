// Logs Insights saved queries for the auditors' questions. Every field they use is defined by the
// audit-record schema (docs/audit-record.schema.json); test/queries.test.ts checks that.
// Values in capitals are placeholders the auditor replaces before running the query.

export interface AuditorQuery {
  id: string;
  name: string;
  fields: string[];
  filters: string[];
  sort?: string;
}

export const AUDITOR_QUERIES: AuditorQuery[] = [
  {
    id: 'FlagHistory',
    name: 'who-changed-flag-in-environment',
    fields: ['changedAt', 'action', 'actor', 'requestId', 'changedFields', 'reason'],
    filters: ['flagKey = "FLAG_KEY"', 'environment = "ENVIRONMENT"'],
    sort: 'changedAt desc',
  },
  {
    id: 'KillSwitches',
    name: 'kill-switch-activations',
    fields: ['changedAt', 'environment', 'scope', 'flagKey', 'action', 'actor', 'reason', 'requestId'],
    filters: ['action in ["KILL_SWITCH_ENABLED", "KILL_SWITCH_DISABLED", "UPDATE_KILL_SWITCH"]'],
    sort: 'changedAt desc',
  },
  {
    id: 'ProductionByUser',
    name: 'production-changes-by-user',
    fields: ['changedAt', 'environment', 'action', 'flagKey', 'tenantId', 'requestId', 'changedFields'],
    filters: ['production = 1', 'actor = "USER"'],
    sort: 'changedAt desc',
  },
  {
    id: 'TenantHistory',
    name: 'changes-for-tenant',
    fields: ['changedAt', 'environment', 'flagKey', 'action', 'actor', 'requestId'],
    filters: ['tenantId = "TENANT_ID"'],
    sort: 'changedAt desc',
  },
  {
    id: 'RequestTrace',
    name: 'everything-one-request-touched',
    fields: ['changedAt', 'environment', 'flagKey', 'tenantId', 'action', 'actor', 'eventId'],
    filters: ['requestId = "REQUEST_ID"'],
    sort: 'changedAt asc',
  },
  {
    // Changes the record cannot attribute: a write that did not stamp itself, a delete without the
    // delete stamp (docs/audit-record.md). lastWriter is the previous stamp, not the author.
    id: 'Unattributed',
    name: 'unattributed-changes',
    fields: ['changedAt', 'environment', 'action', 'flagKey', 'tenantId', 'actorSource', 'lastWriter', 'eventId'],
    filters: ['actorSource in ["unstamped", "unknown"]'],
    sort: 'changedAt desc',
  },
  {
    id: 'Quarantined',
    name: 'quarantined-records',
    fields: ['eventId', 'sequenceNumber', 'eventName', 'error.kind', 'error.message', 'rawSha256', 'rawBytes'],
    filters: ['recordType = "quarantine"'],
  },
  {
    // The seals over the trail (docs/integrity.md): what each invocation sealed, and with which key.
    id: 'Seals',
    name: 'seals',
    fields: ['@timestamp', 'sealId', 'part', 'parts', 'count', 'firstSequenceNumber', 'lastSequenceNumber', 'signature.keyId'],
    filters: ['recordType = "seal"'],
    sort: '@timestamp desc',
  },
];
