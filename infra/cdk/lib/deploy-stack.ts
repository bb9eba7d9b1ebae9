// The role GitHub Actions assumes to deploy one stage, through GitHub's OIDC provider: trusted only
// for this repository's workflow runs in that stage's GitHub environment, and allowed only what
// `cdk deploy` needs with the modern bootstrap — assuming the bootstrap's deploy, file-publishing
// and lookup roles (CloudFormation then acts with the bootstrap's execution role).
import { Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Settings of the deploy role. */
export interface DeployProps extends StackProps {
  /** `owner/name` of the GitHub repository. */
  readonly repository: string;
  /** The stage, which is also the GitHub environment name (`dev`, `prod`). */
  readonly stage: string;
  /** The ARN of the account's existing GitHub OIDC provider, if there is one (one per account). */
  readonly oidcProviderArn?: string;
  /** The CDK bootstrap qualifier. */
  readonly qualifier?: string;
}

export class FlagtrailDeployStack extends Stack {
  /** The role the workflow assumes. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DeployProps) {
    super(scope, id, props);
    // The native CloudFormation resource (no custom-resource Lambda and role in the stack).
    const providerArn = props.oidcProviderArn
      ?? new iam.OidcProviderNative(this, 'GitHub', { url: 'https://token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'] }).oidcProviderArn;
    this.role = new iam.Role(this, 'DeployRole', {
      roleName: `flagtrail-${props.stage}-deploy`,
      assumedBy: new iam.WebIdentityPrincipal(providerArn, {
        StringEquals: {
          'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
          // Only jobs of this repository that run in this stage's environment (prod is protected).
          'token.actions.githubusercontent.com:sub': `repo:${props.repository}:environment:${props.stage}`,
        },
      }),
    });
    const qualifier = props.qualifier ?? 'hnb659fds';
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UseTheCdkBootstrapRoles',
        actions: ['sts:AssumeRole'],
        resources: ['deploy', 'file-publishing', 'lookup'].map((r) => `arn:${this.partition}:iam::${this.account}:role/cdk-${qualifier}-${r}-role-${this.account}-${this.region}`),
      }),
    );
  }
}
