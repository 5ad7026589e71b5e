import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EncryptionKey } from "./encryption-key";
import { type AccountRef, modelPackageGroupName, registryNames } from "./names";
import {
  type Consumer,
  ecrRepositoryPolicy,
  modelPackageGroupPolicy,
  registryBucketStatements,
  registryKeyPolicy,
  sagemakerTrustPolicy,
  trainingRolePolicy,
} from "./policies";
import { approverPolicy, githubSubject, publisherPolicy, readerPolicy, registryRoleTrustPolicy, type RolePrincipal } from "./registry-roles";
import { SecureBucket } from "./secure-bucket";

export interface RegistryAccountArgs {
  /** Service name: prefix of every physical name. */
  readonly serviceName: string;
  /** The training / model-registry account and region. */
  readonly account: AccountRef;
  /** Every stage that deploys models from this registry (its own stage included). */
  readonly consumers: readonly Consumer[];
  /** Model names: one model package group each. */
  readonly models: readonly string[];
  /**
   * Create an ECR repository for custom inference images, pullable by the consumers.
   * @default false
   */
  readonly ecrRepository?: boolean;
  /** Who may assume the publisher role (the training pipeline). */
  readonly publishers: readonly RolePrincipal[];
  /** Who may assume the approver role (the people who approve or reject versions). */
  readonly approvers: readonly RolePrincipal[];
  /** Who may assume the reader role besides publishers and approvers (promotion's workflow). */
  readonly readers: readonly RolePrincipal[];
  /**
   * Days before non-current artifact versions expire.
   * @default 90
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Permissions boundary of the training and publisher roles (the registry stack's workload
   * boundary: the registry's deployer may change only the policies of roles that carry it). The
   * approver role never carries it, so no deployer can change who approves or what they may do.
   * @default - no boundary
   */
  readonly permissionsBoundaryArn?: pulumi.Input<string>;
  /**
   * The retraining database's Secrets Manager secret, which the publisher may read.
   * @default - none: the retraining loop takes the password from PGPASSWORD
   */
  readonly databaseSecretArn?: string;
  /**
   * Tags on every resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/**
 * The training / model-registry account: artifact bucket and key, one model package group per
 * model with a resource policy for the consumer accounts, an optional ECR repository, the
 * SageMaker training role, and the publisher, approver and reader roles for the pipeline and people.
 * Its resource policies keep every artifact write-once and every setting with the registry's own
 * roles (components/policies.ts). Every name is derived from config (components/names.ts),
 * so consumer stacks name these resources without reading this stack's outputs.
 */
export class RegistryAccount extends pulumi.ComponentResource {
  public readonly artifactBucketName: pulumi.Output<string>;
  public readonly kmsKeyArn: pulumi.Output<string>;
  public readonly modelPackageGroupNames: pulumi.Output<string>[];
  public readonly ecrRepositoryUrl: pulumi.Output<string> | undefined;
  public readonly trainingRoleArn: pulumi.Output<string>;
  public readonly publisherRoleArn: pulumi.Output<string>;
  public readonly approverRoleArn: pulumi.Output<string>;
  public readonly readerRoleArn: pulumi.Output<string>;

  constructor(name: string, args: RegistryAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:registry:RegistryAccount", name, {}, opts);
    const ecrRepository = args.ecrRepository ?? false;
    const tags = args.tags ?? {};
    const problems: string[] = [];
    if (args.models.length === 0) problems.push("models must list at least one model");
    if (args.consumers.length === 0) problems.push("consumers must list at least one stage");
    if (args.publishers.length === 0) problems.push("publishers must list at least one principal");
    if (args.approvers.length === 0) problems.push("approvers must list at least one principal");
    problems.push(...principalProblems({ publishers: args.publishers, approvers: args.approvers, readers: args.readers }));
    const foreign = args.consumers.filter((c) => c.account.region !== args.account.region);
    if (foreign.length > 0) {
      problems.push(`consumers must be in the registry's region ${args.account.region}: ${foreign.map((c) => c.stage).join(", ")}`);
    }
    if (problems.length > 0) throw new pulumi.ResourceError(`${name}: ${problems.join("; ")}`, this);
    const child = { parent: this };
    const names = registryNames(args.serviceName, args.account);

    const key = new EncryptionKey(`${name}-key`, {
      alias: names.kmsAlias,
      description: `${args.serviceName} model registry: artifacts and images`,
      policy: registryKeyPolicy(args.serviceName, args.account, args.consumers),
      tags,
    }, child);
    const bucket = new SecureBucket(`${name}-artifacts`, {
      bucketName: names.artifactBucket,
      account: args.account,
      kmsKeyArn: key.keyArn,
      policyStatements: registryBucketStatements(args.serviceName, args.account, args.consumers),
      noncurrentVersionExpirationDays: args.noncurrentVersionExpirationDays,
      tags,
    }, child);

    this.modelPackageGroupNames = args.models.map((model) => {
      const groupName = modelPackageGroupName(args.serviceName, model);
      const group = new aws.sagemaker.ModelPackageGroup(`${name}-${model}-group`, {
        modelPackageGroupName: groupName,
        modelPackageGroupDescription: `${args.serviceName} ${model}: versions for review and promotion`,
        tags,
      }, child);
      new aws.sagemaker.ModelPackageGroupPolicy(`${name}-${model}-group-policy`, {
        modelPackageGroupName: group.modelPackageGroupName,
        resourcePolicy: JSON.stringify(modelPackageGroupPolicy(args.serviceName, model, args.account, args.consumers)),
      }, child);
      return group.modelPackageGroupName;
    });

    if (ecrRepository) {
      const repository = new aws.ecr.Repository(`${name}-images`, {
        name: names.ecrRepository,
        // Promotion copies image tags between stages: a tag must always mean the same image.
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.keyArn }],
        tags,
      }, child);
      new aws.ecr.RepositoryPolicy(`${name}-images-policy`, {
        repository: repository.name,
        policy: JSON.stringify(ecrRepositoryPolicy(args.serviceName, args.account, args.consumers)),
      }, child);
      this.ecrRepositoryUrl = repository.repositoryUrl;
    }

    const access = {
      serviceName: args.serviceName, registry: args.account, models: args.models, ecrRepository, databaseSecretArn: args.databaseSecretArn,
    };
    const trainingRole = new aws.iam.Role(`${name}-training-role`, {
      name: names.trainingRole,
      description: `${args.serviceName}: SageMaker training jobs (writes training output only)`,
      assumeRolePolicy: JSON.stringify(sagemakerTrustPolicy(args.account)),
      permissionsBoundary: args.permissionsBoundaryArn,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-training-policy`, {
      role: trainingRole.name,
      policy: key.keyArn.apply((keyArn) => JSON.stringify(trainingRolePolicy(access, keyArn))),
    }, child);
    const publisherRole = new aws.iam.Role(`${name}-publisher-role`, {
      name: names.publisherRole,
      description: `${args.serviceName}: uploads artifacts, pushes images, registers versions pending approval`,
      assumeRolePolicy: JSON.stringify(registryRoleTrustPolicy(args.account, args.publishers)),
      permissionsBoundary: args.permissionsBoundaryArn,
      maxSessionDuration: 3600,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-publisher-policy`, { role: publisherRole.name, policy: JSON.stringify(publisherPolicy(access)) }, child);
    const approverRole = new aws.iam.Role(`${name}-approver-role`, {
      name: names.approverRole,
      description: `${args.serviceName}: approves or rejects model versions`,
      assumeRolePolicy: JSON.stringify(registryRoleTrustPolicy(args.account, args.approvers)),
      maxSessionDuration: 3600,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-approver-policy`, { role: approverRole.name, policy: JSON.stringify(approverPolicy(access)) }, child);
    const readerRole = new aws.iam.Role(`${name}-reader-role`, {
      name: names.readerRole,
      description: `${args.serviceName}: reads the registry (promotion, registry list)`,
      assumeRolePolicy: JSON.stringify(registryRoleTrustPolicy(args.account, [...args.readers, ...args.publishers, ...args.approvers])),
      maxSessionDuration: 3600,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-reader-policy`, { role: readerRole.name, policy: JSON.stringify(readerPolicy(access)) }, child);

    this.artifactBucketName = bucket.bucketName;
    this.kmsKeyArn = key.keyArn;
    this.trainingRoleArn = trainingRole.arn;
    this.publisherRoleArn = publisherRole.arn;
    this.approverRoleArn = approverRole.arn;
    this.readerRoleArn = readerRole.arn;
    this.registerOutputs({
      readerRoleArn: this.readerRoleArn,
      publisherRoleArn: this.publisherRoleArn,
      approverRoleArn: this.approverRoleArn,
      artifactBucketName: this.artifactBucketName,
      kmsKeyArn: this.kmsKeyArn,
      modelPackageGroupNames: this.modelPackageGroupNames,
      ecrRepositoryUrl: this.ecrRepositoryUrl,
      trainingRoleArn: this.trainingRoleArn,
    });
  }
}

const ROLE_ARN_PATTERN = /^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/*-]{1,512}$/;

/** What is wrong with the declared principals, checked before any child is created. */
function principalProblems(lists: Record<string, readonly RolePrincipal[]>): string[] {
  const problems: string[] = [];
  for (const [field, principals] of Object.entries(lists)) {
    principals.forEach((p, i) => {
      if (p.type === "role") {
        if (!ROLE_ARN_PATTERN.test(p.roleArn)) problems.push(`${field}[${i}].roleArn must be an IAM role ARN, got "${p.roleArn}"`);
        return;
      }
      try {
        githubSubject(p);
      } catch (error) {
        problems.push(`${field}[${i}]: ${(error as Error).message.replace(/^githubSubject: /, "")}`);
      }
    });
  }
  return problems;
}
