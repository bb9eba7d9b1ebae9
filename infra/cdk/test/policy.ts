// The policy evaluator the IAM tests share (iam.test.ts: the main stack; witness.test.ts: the
// witness stack and the log writer's side of a call to it): every policy attached to a role
// (inline policies, the role's own policies, managed policies) resolved to concrete ARNs and
// evaluated the way IAM does (an explicit Deny wins, then an Allow, else denied). Conditions are
// ignored unless the question gives the request's condition keys (a context), which only ever
// makes an Allow broader: a "denied" answer without a context is denied. Operators the stacks use
// are known; any other throws.
import { ACCOUNT, REGION } from './synth';

/** Resolves CloudFormation intrinsics to the concrete strings AWS would see (the stack in `account`). */
export function resolver(t: any, account = ACCOUNT): (v: any) => any {
  const ACCOUNT = account;
  const res = t.Resources;
  const ref = (id: string): string => {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };
    if (pseudo[id]) return pseudo[id];
    const r = res[id];
    switch (r?.Type) {
      case 'AWS::Logs::LogGroup': return r.Properties.LogGroupName;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${REGION}:${ACCOUNT}:${r.Properties.TopicName}`;
      case 'AWS::S3::Bucket': return id.toLowerCase();
      case 'AWS::DynamoDB::Table': return r.Properties.TableName;
      default: return id;
    }
  };
  const getAtt = (id: string, attr: string): string => {
    const r = res[id];
    if (attr !== 'Arn') return `${id}.${attr}`;
    switch (r?.Type) {
      case 'AWS::Logs::LogGroup': return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${r.Properties.LogGroupName}:*`;
      case 'AWS::S3::Bucket': return `arn:aws:s3:::${id.toLowerCase()}`;
      case 'AWS::KMS::Key': return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
      case 'AWS::SNS::Topic': return ref(id);
      case 'AWS::KinesisFirehose::DeliveryStream': return `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/${r.Properties.DeliveryStreamName}`;
      case 'AWS::DynamoDB::Table': return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${r.Properties.TableName}`;
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${r.Properties.FunctionName}`;
      default: return `arn:aws:unknown:${REGION}:${ACCOUNT}:${id}`;
    }
  };
  const resolve = (v: any): any => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === 'object') {
      if ('Ref' in v) return ref(v.Ref);
      if ('Fn::GetAtt' in v) return getAtt(v['Fn::GetAtt'][0], v['Fn::GetAtt'][1]);
      if ('Fn::Join' in v) return v['Fn::Join'][1].map(resolve).join(v['Fn::Join'][0]);
      throw new Error(`unresolved intrinsic ${JSON.stringify(v)}`);
    }
    return v;
  };
  return resolve;
}

export interface Statement { effect: string; actions: string[]; notActions: string[]; resources: string[]; notResources: string[]; conditions?: Record<string, Record<string, unknown>> }

/** A request's condition keys as IAM sees them (a multivalued key as an array); absent keys are absent. */
export type Context = Record<string, string | string[]>;

/** A policy statement of the template with its ARNs resolved. */
export function normalizer(t: any, account = ACCOUNT): (s: any) => Statement {
  const resolve = resolver(t, account);
  const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return (s: any): Statement => ({
    effect: s.Effect,
    actions: arr(s.Action),
    notActions: arr(s.NotAction),
    resources: arr(resolve(s.Resource)).flat(),
    notResources: arr(resolve(s.NotResource)).flat(),
    conditions: s.Condition && Object.fromEntries(Object.entries<any>(s.Condition).map(([op, kv]) => [op, Object.fromEntries(Object.entries<any>(kv).map(([k, v]) => [k, resolve(v)]))])),
  });
}

/** Every statement attached to a role, and its managed policy ARNs. */
export function policiesOf(t: any, roleId: string, account = ACCOUNT): { statements: Statement[]; managed: string[] } {
  const resolve = resolver(t, account);
  const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const norm = normalizer(t, account);
  const statements: Statement[] = [];
  for (const r of Object.values<any>(t.Resources)) {
    if (r.Type === 'AWS::IAM::Policy' && arr(r.Properties.Roles).some((x: any) => x.Ref === roleId)) {
      statements.push(...arr(r.Properties.PolicyDocument.Statement).map(norm));
    }
    if (r.Type === 'AWS::IAM::ManagedPolicy' && arr(r.Properties.Roles).some((x: any) => x.Ref === roleId)) {
      statements.push(...arr(r.Properties.PolicyDocument.Statement).map(norm));
    }
  }
  const role = t.Resources[roleId];
  for (const p of arr(role.Properties.Policies)) statements.push(...arr(p.PolicyDocument.Statement).map(norm));
  const managed = arr(role.Properties.ManagedPolicyArns).map((m: any) => String(resolve(m)));
  for (const m of managed) {
    const known = AWS_MANAGED[m.split('/').pop()!];
    if (!known) throw new Error(`managed policy ${m}: its document is not known to this test`);
    statements.push(...known);
  }
  return { statements, managed };
}

/** AWS managed policies' documents, as AWS publishes them (only those a CDK function role may get). */
export const AWS_MANAGED: Record<string, Statement[]> = {
  AWSLambdaBasicExecutionRole: [
    { effect: 'Allow', actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], notActions: [], resources: ['*'], notResources: [] },
  ],
};

export const glob = (pattern: string, value: string, ci = false) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, ci ? 'i' : '').test(value);

/**
 * Whether a statement's conditions hold for a request (IAM's "Condition operators"): a single-valued
 * StringEquals or StringLike needs the key (StringLike matches `*` and `?`); …IfExists holds without
 * it; ForAllValues holds when every value of the key is listed (also for an absent key, IAM's
 * documented pitfall); Bool needs the key, `true` or `false` (case-insensitive). Other operators throw.
 */
export function conditionsHold(conditions: Statement['conditions'], context: Context): boolean {
  return Object.entries(conditions ?? {}).every(([op, kv]) =>
    Object.entries(kv).every(([key, want]) => {
      const listed = [want].flat().map(String);
      const values = context[key] === undefined ? undefined : [context[key]].flat();
      switch (op) {
        case 'StringEquals': return values !== undefined && values.length === 1 && listed.includes(values[0]);
        case 'StringLike': return values !== undefined && values.length === 1 && listed.some((l) => glob(l, values[0]));
        case 'StringEqualsIfExists': return values === undefined || (values.length === 1 && listed.includes(values[0]));
        case 'ForAllValues:StringEquals': return (values ?? []).every((v) => listed.includes(v));
        case 'Bool': return values !== undefined && values.length === 1 && listed.map((l) => l.toLowerCase()).includes(values[0].toLowerCase());
        default: throw new Error(`the evaluator does not know the condition operator ${op} (${key})`);
      }
    }),
  );
}

export function allowed(p: { statements: Statement[] }, action: string, resource: string, context?: Context): boolean {
  const applies = (s: Statement) =>
    (s.actions.length ? s.actions.some((a) => glob(a, action, true)) : !s.notActions.some((a) => glob(a, action, true))) &&
    (s.resources.length ? s.resources.some((r) => glob(r, resource)) : !s.notResources.some((r) => glob(r, resource))) &&
    (context === undefined || conditionsHold(s.conditions, context));
  if (p.statements.some((s) => s.effect === 'Deny' && applies(s))) return false;
  return p.statements.some((s) => s.effect === 'Allow' && applies(s));
}

/** Whether a role may use a KMS key as KMS decides: a key policy statement naming the role allows it
 * directly; one naming the account root delegates to IAM, so the role's own policies must allow it too. */
export function keyAllows(t: any, keyPrefix: string, roleId: string, action: string, account = ACCOUNT): boolean {
  const resolve = resolver(t, account);
  const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const [keyId, key] = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith(keyPrefix))!;
  const roleArn = resolve({ 'Fn::GetAtt': [roleId, 'Arn'] });
  const root = `arn:aws:iam::${account}:root`;
  const statements = arr(key.Properties.KeyPolicy.Statement).map((s: any) => ({
    effect: s.Effect,
    actions: arr(s.Action),
    principals: arr(resolve(s.Principal?.AWS)).flat(),
  }));
  const matches = (s: any) => s.actions.some((a: string) => glob(a, action, true));
  if (statements.some((s: any) => s.effect === 'Deny' && matches(s) && (s.principals.includes(roleArn) || s.principals.includes('*')))) return false;
  if (statements.some((s: any) => s.effect === 'Allow' && matches(s) && s.principals.includes(roleArn))) return true;
  const delegated = statements.some((s: any) => s.effect === 'Allow' && matches(s) && s.principals.includes(root));
  return delegated && allowed(policiesOf(t, roleId, account), action, `arn:aws:kms:${REGION}:${account}:key/${keyId}`);
}

/** A role by its construct id (logical id prefix). */
export function roleNamed(t: any, prefix: string): string {
  return Object.keys(t.Resources).find((id) => t.Resources[id].Type === 'AWS::IAM::Role' && id.startsWith(prefix))!;
}

/** The role a function runs with. */
export function roleOf(t: any, fnPrefix: string): string {
  const [, fn] = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(fnPrefix))!;
  return fn.Properties.Role['Fn::GetAtt'][0];
}
