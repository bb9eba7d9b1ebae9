// The alarms that page on-call through the alarm topic: production changes, pipeline health,
// the completeness check, and the rule that pages on discarded batches.
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { StreamConsumer } from './stream-consumer';
import { publishFrom } from './tamper-rules';

/** Settings of the alarms. */
export interface AlarmsProps {
  readonly stage: string;
  /** Where every alarm pages. */
  readonly alarmTopic: sns.ITopic;
  /** The stream consumers (audit, notify): errors and iterator age of each. */
  readonly consumers: StreamConsumer[];
  /** The completeness check's function. */
  readonly reconcile: lambda.Function;
  /** The transparency log's writer (transparency-log.ts). */
  readonly logWriter: lambda.Function;
  /** Environments counted as production: one UnattributedChanges alarm each. */
  readonly productionEnvironments: string[];
  /** The failure bucket (EventBridge notifications on): an object under aws/lambda/ is a discarded batch. */
  readonly failureBucket: s3.IBucket;
}

/** Every alarm of the pipeline but the archive's delivery lag (archive.ts). */
export class Alarms extends Construct {
  /** The rule that pages when Lambda writes a discarded batch to the failure bucket. */
  public readonly discardedBatches: events.Rule;
  /** The names of the rules that page (for the tamper rules to watch). */
  public readonly ruleNames: string[];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const { stage } = props;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const action = new cwActions.SnsAction(props.alarmTopic);
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const a = new cloudwatch.Alarm(stack, id, {
        alarmName: `flagtrail-${stage}-${id}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      return a;
    };
    const flagtrail = (metricName: string, dimensionsMap?: Record<string, string>) =>
      new cloudwatch.Metric({ namespace: 'Flagtrail', metricName, dimensionsMap, statistic: 'Sum', period: Duration.minutes(1) });
    alarm('ProductionFlagChange', flagtrail('ProductionFlagChange'), 0, 'A flag changed in a production environment.');
    alarm('QuarantinedRecords', flagtrail('RecordsQuarantined', { Function: 'audit' }), 0, 'A stream record could not be decoded; it is kept as a quarantine record in the audit log group.');
    // Someone wrote to the table outside the stamping protocol (docs/audit-record.md).
    for (const env of props.productionEnvironments) {
      const id = `UnattributedChanges${env.replace(/[^A-Za-z0-9]/g, '')}`;
      alarm(id, flagtrail('UnattributedChanges', { Environment: env }), 0, `A change in ${env} names no author: it was written outside the flag service's stamping protocol (query unattributed-changes).`);
    }
    alarm('ReconcileFindings', flagtrail('ReconcileFindings', { Function: 'reconcile' }), 0, 'The trail does not account for a change: a version gap, a write behind its back, or a delete without a record (see the reconcile function log).');
    alarm('ReconcileErrors', props.reconcile.metricErrors({ period: Duration.minutes(5) }), 0, 'The completeness check could not run.');
    alarm('LogWriterErrors', props.logWriter.metricErrors({ period: Duration.minutes(5) }), 0, 'The transparency log\'s writer could not complete a round: no new checkpoint this hour (see the log-writer function log).');
    for (const c of props.consumers) {
      alarm(`${c.name}Errors`, c.fn.metricErrors({ period: Duration.minutes(1) }), 0, `The ${c.name} function failed.`);
      alarm(`${c.name}IteratorAge`, c.fn.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }), 60_000, `The ${c.name} function is more than a minute behind the stream.`);
    }
    // Discarded batches page from S3's own event, not from request metrics, which AWS delivers "on
    // a best-effort basis" and which "might not be delivered at all" (S3 User Guide, "CloudWatch
    // metrics configurations"), and in which redrive's PutObjectTagging counts as a PUT. With
    // EventBridge notifications on (failure-destination.ts) S3 sends "Object Created" for every
    // object Lambda writes under aws/lambda/ ("Amazon S3 event notifications with EventBridge",
    // event detail: bucket.name, object.key, reason). `flagtrail redrive` only tags what it has
    // replayed ("Object Tags Added"): no page. (Not the ID of the alarm it replaces: CloudFormation
    // cannot change a resource's type in place.)
    const bucket = props.failureBucket;
    this.ruleNames = [`flagtrail-${stage}-DiscardedBatches`];
    this.discardedBatches = new events.Rule(stack, 'DiscardedBatchesRule', {
      ruleName: this.ruleNames[0],
      description: 'Lambda discarded stream records after the retries or the record age; they are in the failure bucket: fix the cause, then run flagtrail redrive (docs/runbook.md).',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [bucket.bucketName] }, object: { key: [{ prefix: 'aws/lambda/' }] } },
      },
      // The topic as a plain target (see tamper-rules.ts): it has no key to grant.
      targets: [{ bind: () => ({ arn: props.alarmTopic.topicArn }) }],
    });
    publishFrom(props.alarmTopic, 'DiscardedBatchesPublish', [this.discardedBatches]);
  }
}
