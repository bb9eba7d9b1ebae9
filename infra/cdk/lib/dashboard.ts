// One CloudWatch dashboard per stage: what changed, and how the pipeline keeps up.
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { StreamConsumer } from './stream-consumer';

/** Settings of the dashboard. */
export interface PipelineDashboardProps {
  readonly stage: string;
  /** The stream consumers (audit, notify). */
  readonly consumers: StreamConsumer[];
}

/** The `flagtrail-{stage}` dashboard: changes per environment, production changes, kill switches, pipeline health. */
export class PipelineDashboard extends Construct {
  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { consumers } = props;
    const m = (metricName: string, dims?: Record<string, string>, label?: string) =>
      new cloudwatch.Metric({ namespace: 'Flagtrail', metricName, dimensionsMap: dims, statistic: 'Sum', period: Duration.minutes(5), label });
    // In the stack's scope: the logical ID predates this construct (flagtrail-stack.ts).
    new cloudwatch.Dashboard(Stack.of(this), 'Dashboard', {
      dashboardName: `flagtrail-${props.stage}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Changes per environment',
            left: [new cloudwatch.MathExpression({ expression: "SEARCH('{Flagtrail,Environment} MetricName=\"FlagChanges\"', 'Sum', 300)", label: '' })],
          }),
          new cloudwatch.GraphWidget({ title: 'Production changes', left: [m('ProductionFlagChange')] }),
          new cloudwatch.GraphWidget({ title: 'Kill switches switched on', left: [m('KillSwitchActivations')] }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Pipeline health',
            left: [m('RecordsProcessed', { Function: 'audit' }, 'audited'), m('RecordsQuarantined', { Function: 'audit' }, 'quarantined'), m('RecordsRetried', { Function: 'audit' }, 'audit retried'), m('RecordsRetried', { Function: 'notify' }, 'notify retried')],
            right: consumers.map((c) => c.fn.metricErrors({ label: `${c.name} errors` })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Invalidation lag (iterator age, ms)',
            left: consumers.map((c) => c.fn.metric('IteratorAge', { statistic: 'Maximum', label: c.name })),
          }),
          new cloudwatch.GraphWidget({ title: 'Alerts and invalidations', left: [m('AlertsPublished', { Function: 'notify' }), m('InvalidationsPublished', { Function: 'notify' })] }),
        ],
      ],
    });
  }
}
