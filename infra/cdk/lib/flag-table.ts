// The flag table the pipeline reads: the existing one (attach mode, the default) or, for a trial
// stack, a demo table of its own.
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/** Settings of the flag table. */
export interface FlagTableSourceProps {
  /** Existing table to attach to; with `createDemoTable`, a table of this name is created. */
  readonly tableName: string;
  /** Stream ARN of the existing table (required unless `createDemoTable`). */
  readonly tableStreamArn?: string;
  /** Create a demo table with a NEW_AND_OLD_IMAGES stream instead of attaching. */
  readonly createDemoTable?: boolean;
}

/** The flag table and its stream: attached by name and stream ARN, or created for a demo. */
export class FlagTableSource extends Construct {
  /** The flag table (imported, or the demo table). */
  public readonly table: dynamodb.ITable;
  /** The stream both mappings read. */
  public readonly streamArn: string;

  constructor(scope: Construct, id: string, props: FlagTableSourceProps) {
    super(scope, id);
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    this.table = props.createDemoTable
      ? new dynamodb.Table(stack, 'DemoTable', {
          tableName: props.tableName,
          partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: dynamodb.TableEncryption.AWS_MANAGED,
          removalPolicy: RemovalPolicy.DESTROY,
        })
      : dynamodb.Table.fromTableAttributes(stack, 'FlagTable', {
          tableName: props.tableName,
          tableStreamArn: required(props.tableStreamArn, 'tableStreamArn (context) is required when attaching to an existing table'),
        });
    this.streamArn = this.table.tableStreamArn!;
  }
}

function required<T>(v: T | undefined, message: string): T {
  if (v === undefined || v === '') throw new Error(message);
  return v;
}
