import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  type CiPrincipal,
  ciTrustPolicy,
  deployerPolicy,
  type DeployerScope,
  previewerPolicy,
  type StateBackendAccess,
} from "./ci-policies";
import { EncryptionKey } from "./encryption-key";
import { GITHUB_OIDC_HOST, type StageNames, stageNames } from "./names";
import {
  type Consumer,
  executionRolePolicy,
  type RegistryAccess,
  sagemakerTrustPolicy,
  stageKeyPolicy,
} from "./policies";
import { SecureBucket } from "./secure-bucket";
import { workloadBoundaryPolicy } from "./workload-boundary";

export interface DeploymentAccountArgs {
  /** The stage and the account it deploys into. */
  readonly stage: Consumer;
  /** The registry this stage deploys models from (names, account, models, ECR). */
  readonly registry: RegistryAccess;
  /**
   * The registry's own stack: its deployer manages the registry's resources, and the account gets no
   * stage key, bucket or execution role (it serves no endpoints).
   */
  readonly hostsRegistry: boolean;
  /** Who may assume the deployer (and previewer) role. */
  readonly ciPrincipal: CiPrincipal;
  /**
   * Create the account's GitHub OIDC identity provider (github-oidc principals only).
   * @default false
   */
  readonly createOidcProvider?: boolean;
  /**
   * The Pulumi state backend: the CI roles get access to this stack's state.
   * @default - no state backend access
   */
  readonly stateBackend?: StateBackendAccess;
  /**
   * Days before non-current object versions in the stage bucket expire.
   * @default 90
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Tags on every resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/**
 * A stage's deployment account: its key and bucket (data capture, async output, artifacts), the
 * SageMaker execution role its endpoints run as, the deployer role CI assumes for `pulumi up`, and
 * a read-only previewer role for pull requests.
 */
export class DeploymentAccount extends pulumi.ComponentResource {
  /** The stage bucket (undefined when the account serves no endpoints). */
  public readonly bucketName: pulumi.Output<string> | undefined;
  /** The stage key (undefined when the account serves no endpoints). */
  public readonly kmsKeyArn: pulumi.Output<string> | undefined;
  /** The endpoints' execution role (undefined when the account serves no endpoints). */
  public readonly executionRoleArn: pulumi.Output<string> | undefined;
  public readonly deployerRoleArn: pulumi.Output<string>;
  public readonly previewerRoleArn: pulumi.Output<string>;
  /** Boundary every workload role of the stage must carry (the registry's training role too). */
  public readonly workloadBoundaryArn: pulumi.Output<string>;

  constructor(name: string, args: DeploymentAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:account:DeploymentAccount", name, {}, opts);
    const createOidcProvider = args.createOidcProvider ?? false;
    const tags = args.tags ?? {};
    const { stage, registry } = args;
    if (createOidcProvider && args.ciPrincipal.type !== "github-oidc") {
      throw new pulumi.ResourceError(`${name}: createOidcProvider needs a github-oidc ciPrincipal, got ${args.ciPrincipal.type}`, this);
    }
    const child = { parent: this };
    const names = stageNames(registry.serviceName, stage.stage, stage.account);

    const boundary = new aws.iam.Policy(`${name}-workload-boundary`, {
      name: names.workloadBoundary,
      description: `${registry.serviceName} ${stage.stage}: permissions boundary of the roles the deployer creates`,
      policy: JSON.stringify(workloadBoundaryPolicy(stage, registry, args.hostsRegistry)),
      tags,
    }, child);
    const serves = !args.hostsRegistry ? this.servingResources(name, args, names, boundary, tags) : undefined;

    const dependsOn: pulumi.Resource[] = [];
    if (createOidcProvider) {
      dependsOn.push(new aws.iam.OpenIdConnectProvider(`${name}-github-oidc`, {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIdLists: ["sts.amazonaws.com"],
        tags,
      }, child));
    }
    const scope: DeployerScope = {
      stage, access: registry, hostsRegistry: args.hostsRegistry, manageOidcProvider: createOidcProvider, stateBackend: args.stateBackend,
    };
    const deployerRole = new aws.iam.Role(`${name}-deployer-role`, {
      name: names.deployerRole,
      description: `${registry.serviceName} ${stage.stage}: CI runs pulumi up as this role`,
      assumeRolePolicy: JSON.stringify(ciTrustPolicy(args.ciPrincipal, stage.account, { environment: stage.stage })),
      maxSessionDuration: 3600,
      tags,
    }, { parent: this, dependsOn });
    new aws.iam.RolePolicy(`${name}-deployer-policy`, { role: deployerRole.name, policy: JSON.stringify(deployerPolicy(scope)) }, child);
    const previewerRole = new aws.iam.Role(`${name}-previewer-role`, {
      name: names.previewerRole,
      description: `${registry.serviceName} ${stage.stage}: read-only pulumi preview from pull requests`,
      assumeRolePolicy: JSON.stringify(ciTrustPolicy(args.ciPrincipal, stage.account, "pull_request")),
      maxSessionDuration: 3600,
      tags,
    }, { parent: this, dependsOn });
    new aws.iam.RolePolicy(`${name}-previewer-policy`, { role: previewerRole.name, policy: JSON.stringify(previewerPolicy(scope)) }, child);

    this.bucketName = serves?.bucketName;
    this.kmsKeyArn = serves?.kmsKeyArn;
    this.executionRoleArn = serves?.executionRoleArn;
    this.deployerRoleArn = deployerRole.arn;
    this.previewerRoleArn = previewerRole.arn;
    this.workloadBoundaryArn = boundary.arn;
    this.registerOutputs({
      workloadBoundaryArn: this.workloadBoundaryArn,
      bucketName: this.bucketName,
      kmsKeyArn: this.kmsKeyArn,
      executionRoleArn: this.executionRoleArn,
      deployerRoleArn: this.deployerRoleArn,
      previewerRoleArn: this.previewerRoleArn,
    });
  }

  /** The stage key and bucket, and the execution role the endpoints run as. */
  private servingResources(name: string, args: DeploymentAccountArgs, names: StageNames, boundary: aws.iam.Policy, tags: Record<string, string>) {
    const { stage, registry } = args;
    const child = { parent: this };
    const key = new EncryptionKey(`${name}-key`, {
      alias: names.kmsAlias,
      description: `${registry.serviceName} ${stage.stage}: bucket and endpoint storage`,
      policy: stageKeyPolicy(stage.account),
      tags,
    }, child);
    const bucket = new SecureBucket(`${name}-bucket`, {
      bucketName: names.bucket,
      account: stage.account,
      kmsKeyArn: key.keyArn,
      noncurrentVersionExpirationDays: args.noncurrentVersionExpirationDays,
      tags,
    }, child);

    const executionRole = new aws.iam.Role(`${name}-execution-role`, {
      name: names.executionRole,
      description: `${registry.serviceName} ${stage.stage}: role the SageMaker endpoints run as`,
      assumeRolePolicy: JSON.stringify(sagemakerTrustPolicy(stage.account)),
      permissionsBoundary: boundary.arn,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-execution-policy`, {
      role: executionRole.name,
      policy: key.keyArn.apply((keyArn) => JSON.stringify(executionRolePolicy(stage, keyArn, registry))),
    }, child);

    return { bucketName: bucket.bucketName, kmsKeyArn: key.keyArn, executionRoleArn: executionRole.arn };
  }
}
