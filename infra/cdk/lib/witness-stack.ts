// The witness, alone in a stack of its own, deployed by the auditors in their own AWS account
// (`cdk deploy -c witness=true -c logVkey=… -c logWriterRoleArn=…`; docs/integrity.md, "A witness
// in the auditors' account"). Nothing of the log owner's stack is in it, and it needs nothing of
// that account but the log's vkey and the log writer's role ARN. This file only wires the construct.
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { Witness } from './witness';

/** Settings of the witness stack (from CDK context, see bin/flagtrail.ts). */
export interface WitnessStackProps extends StackProps {
  /** Stage name (resource names carry it). */
  readonly stage: string;
  /** Directory holding `witness/bootstrap.zip` (cargo lambda output). */
  readonly assetDir: string;
  /** Architecture the bootstrap was built for. */
  readonly architecture?: 'x86_64' | 'arm64';
  /** The vkeys of the logs it witnesses (`-c logVkey`, comma-separated). */
  readonly logVkeys: string[];
  /** The log writer roles that may submit checkpoints (`-c logWriterRoleArn`, comma-separated). */
  readonly logWriterRoleArns: string[];
  /** The witness's key name (`-c witnessName`; default `flagtrail-witness/<stage>`). */
  readonly witnessName?: string;
  /** Receives the witness's alarm (`-c alertEmail`). */
  readonly alertEmail?: string;
}

/** A C2SP tlog-witness for flagtrail logs. */
export class WitnessStack extends Stack {
  /** The witness. */
  public readonly witness: Witness;

  constructor(scope: Construct, id: string, props: WitnessStackProps) {
    super(scope, id, props);
    const w = (this.witness = new Witness(this, 'Witness', {
      stage: props.stage,
      arch: props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      assetDir: props.assetDir,
      logVkeys: props.logVkeys,
      logWriterRoleArns: props.logWriterRoleArns,
      name: props.witnessName,
      alertEmail: props.alertEmail,
    }));
    // What the log owner needs (-c witnesses="URL VKEY" -c witnessFunctionArns=ARN) and the
    // auditors' vkey command (flagtrail vkey --kms-key KEY --name NAME --witness).
    const outputs: Record<string, string> = {
      WitnessUrl: w.url.url,
      WitnessFunctionArn: w.fn.functionArn,
      WitnessKeyArn: w.key.keyArn,
      WitnessName: w.name,
      WitnessTableName: w.table.tableName,
      WitnessAlarmTopicArn: w.alarmTopic.topicArn,
    };
    for (const [id, value] of Object.entries(outputs)) new CfnOutput(this, id, { value });
  }
}
