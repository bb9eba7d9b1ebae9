// The freshness marks table (docs/freshness.md): one item per invalidation scope, written by
// `notify` (one conditional UpdateItem per mark) and read by evaluators (BatchGetItem) on invocation.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Settings of the marks table. */
export interface FreshnessMarksProps {
  /** Stage name: the table is `flagtrail-{stage}-marks`. */
  readonly stage: string;
}

/** What notify does to a mark: one conditional UpdateItem (SET … ADD n), nothing else. */
export const MARKS_WRITE_ACTIONS = ['dynamodb:UpdateItem'];
/** What an evaluator does: reads the marks it needs, in one BatchGetItem (GetItem for a single one). */
export const MARKS_READ_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:GetItem'];

export class FreshnessMarks extends Construct {
  /** The marks table: partition key `mark` (S), no sort key. */
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: FreshnessMarksProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: `flagtrail-${props.stage}-marks`,
      partitionKey: { name: 'mark', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // KMS with the AWS managed key (aws/dynamodb), not a customer-managed one:
      // - An evaluator in this account (any stack) reads with IAM alone: the aws/dynamodb key policy
      //   lets every principal of the account use the key through DynamoDB, so the evaluator needs
      //   dynamodb:BatchGetItem/GetItem and nothing else. A customer-managed key would add
      //   kms:Decrypt to every evaluator's policy (with the stack key: Decrypt on the key that
      //   protects the audit trail).
      // - Nobody can disable it or schedule its deletion: freshness reads never fail on a key's
      //   state (the reasoning that keeps the alarm topic off the stack key).
      // - Another account cannot read it directly: DynamoDB refuses cross-account resource-policy
      //   access to tables under AWS managed keys ("DynamoDB resource-based policy
      //   considerations"). No key choice makes cross-account reads "IAM alone" (they need a table
      //   resource policy, and a key policy for a customer-managed key); such an evaluator assumes a
      //   role in this account carrying the evaluator-read policy.
      // - cdk-nag AwsSolutions asks only for point-in-time recovery on a table (DDB3), not for a
      //   customer-managed key; the stack's demo flag table uses the AWS managed key too.
      // The items are derived, low-sensitivity data: scope keys (environment, flag key, tenant id),
      // counters, stream sequence numbers and timestamps, all of which the flag table already holds.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // DESTROY: the marks are derived data that notify rewrites on every change; losing them
      // costs evaluators one flush, not a record. RETAIN would also leave a table named
      // flagtrail-{stage}-marks behind, which makes re-creating the stack fail on the name.
      // Evaluators must treat a missing mark or a counter lower than the one they saw (a re-created
      // table starts again at 1) as "drop", or they would keep stale entries until it catches up.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** Lets `grantee` (notify) update marks: exactly dynamodb:UpdateItem on this table, no index, no other table. */
  public grantWrite(grantee: iam.IGrantable): iam.AddToPrincipalPolicyResult {
    return grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'WriteFreshnessMarks', actions: MARKS_WRITE_ACTIONS, resources: [this.table.tableArn] }),
    );
  }

  /** Lets `grantee` (an evaluator role) read marks: BatchGetItem and GetItem on this table. */
  public grantRead(grantee: iam.IGrantable): iam.AddToPrincipalPolicyResult {
    return grantee.grantPrincipal.addToPrincipalPolicy(this.readStatement());
  }

  /** The evaluator's read statement, for a managed policy that roles elsewhere attach. */
  public readStatement(): iam.PolicyStatement {
    return new iam.PolicyStatement({ sid: 'ReadFreshnessMarks', actions: MARKS_READ_ACTIONS, resources: [this.table.tableArn] });
  }
}
