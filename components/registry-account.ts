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
  /**
   * Days before non-current artifact versions expire.
   * @default 90
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Permissions boundary of the training role (the registry stage's workload boundary, which the
   * stage's deployer requires on every role it creates).
   * @default - no boundary
   */
  readonly permissionsBoundaryArn?: pulumi.Input<string>;
  /**
   * Tags on every resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/**
 * The training / model-registry account: artifact bucket and key, one model package group per
 * model with a resource policy for the consumer accounts, an optional ECR repository, and the
 * SageMaker training / registration role. Every name is derived from config (components/names.ts),
 * so consumer stacks name these resources without reading this stack's outputs.
 */
export class RegistryAccount extends pulumi.ComponentResource {
  public readonly artifactBucketName: pulumi.Output<string>;
  public readonly kmsKeyArn: pulumi.Output<string>;
  public readonly modelPackageGroupNames: pulumi.Output<string>[];
  public readonly ecrRepositoryUrl: pulumi.Output<string> | undefined;
  public readonly trainingRoleArn: pulumi.Output<string>;

  constructor(name: string, args: RegistryAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:registry:RegistryAccount", name, {}, opts);
    const ecrRepository = args.ecrRepository ?? false;
    const tags = args.tags ?? {};
    const problems: string[] = [];
    if (args.models.length === 0) problems.push("models must list at least one model");
    if (args.consumers.length === 0) problems.push("consumers must list at least one stage");
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
        policy: JSON.stringify(ecrRepositoryPolicy(args.serviceName, args.consumers)),
      }, child);
      this.ecrRepositoryUrl = repository.repositoryUrl;
    }

    const trainingRole = new aws.iam.Role(`${name}-training-role`, {
      name: names.trainingRole,
      description: `${args.serviceName}: SageMaker training jobs and model registration`,
      assumeRolePolicy: JSON.stringify(sagemakerTrustPolicy(args.account)),
      permissionsBoundary: args.permissionsBoundaryArn,
      tags,
    }, child);
    new aws.iam.RolePolicy(`${name}-training-policy`, {
      role: trainingRole.name,
      policy: key.keyArn.apply((keyArn) => JSON.stringify(trainingRolePolicy({
        serviceName: args.serviceName, registry: args.account, models: args.models, ecrRepository,
      }, keyArn))),
    }, child);

    this.artifactBucketName = bucket.bucketName;
    this.kmsKeyArn = key.keyArn;
    this.trainingRoleArn = trainingRole.arn;
    this.registerOutputs({
      artifactBucketName: this.artifactBucketName,
      kmsKeyArn: this.kmsKeyArn,
      modelPackageGroupNames: this.modelPackageGroupNames,
      ecrRepositoryUrl: this.ecrRepositoryUrl,
      trainingRoleArn: this.trainingRoleArn,
    });
  }
}
