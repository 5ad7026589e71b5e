import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BlueGreenEndpoint } from "../components/blue-green-endpoint";
import { CanaryDeployer } from "../components/canary-deployer";
import { DeploymentAccount } from "../components/deployment-account";
import { hasLocalInstanceStorage } from "../components/instance-types";
import { type AccountRef, endpointNames, modelPackageGroupName, modelPackagesArn, roleArn, stageNames } from "../components/names";
import type { Consumer } from "../components/policies";
import { RegistryAccount } from "../components/registry-account";
import { ConfigError, loadStackConfig } from "./config/load";
import {
  accountRef, deploymentStacks, PROMOTE_ENVIRONMENT, REGISTRY_STACK, registryAccountRef, registryPrincipals, type StackConfig,
} from "./config/schema";

/** What a stack exports. */
export interface StackOutputs {
  readonly stage: string;
  readonly accountId: string;
  /** The stage bucket; undefined in the registry's stack, which serves no endpoints. */
  readonly bucketName: pulumi.Output<string> | undefined;
  /** The endpoints' role; undefined in the registry's stack. */
  readonly executionRoleArn: pulumi.Output<string> | undefined;
  readonly deployerRoleArn: pulumi.Output<string>;
  readonly previewerRoleArn: pulumi.Output<string>;
  readonly endpointNames: Record<string, pulumi.Output<string>>;
  readonly registry?: {
    readonly artifactBucketName: pulumi.Output<string>;
    readonly modelPackageGroupNames: pulumi.Output<string>[];
    readonly ecrRepositoryUrl?: pulumi.Output<string>;
    readonly trainingRoleArn: pulumi.Output<string>;
    readonly publisherRoleArn: pulumi.Output<string>;
    readonly approverRoleArn: pulumi.Output<string>;
    readonly readerRoleArn: pulumi.Output<string>;
  };
}

/**
 * The Pulumi program: reads and validates the stack's config once (nothing is registered when it
 * is wrong), then builds the stack's account, the registry in the registry's stack, and one
 * blue/green endpoint per configured endpoint. Called by stacks/index.ts, the tests and the
 * offline tools, so all of them run exactly the same code.
 */
export function runProgram(): StackOutputs {
  let config: StackConfig;
  try {
    config = loadStackConfig(pulumi.getStack(), pulumi.runtime.allConfig());
  } catch (error) {
    // A RunError ends the program with its message and no stack trace: a config mistake is the user's to fix.
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
  return createStack(config);
}

/** Builds every resource of one stack from its validated config. */
function createStack(config: StackConfig): StackOutputs {
  const { project, stage, region } = config;
  const serviceName = project.serviceName;
  const account: AccountRef = accountRef(config.accountId, region);
  const registry = registryAccountRef(project, region);
  const consumers: Consumer[] = project.stages.map((s) => ({ stage: s.name, account: accountRef(s.accountId, region) }));
  // The registry is a stack of its own, whose account serves no endpoints from it.
  const hostsRegistry = stage === REGISTRY_STACK;
  // One stack per account manages the account's GitHub OIDC provider: the first deployed there.
  const firstInAccount = deploymentStacks(project).find((s) => s.accountId === config.accountId)?.name === stage;

  // The only AWS provider: pinned to the stage's account, so no resource can land anywhere else.
  const provider = new aws.Provider("stage-account", {
    region: region as aws.Region,
    allowedAccountIds: [config.accountId],
    defaultTags: { tags: { ...config.tags, "mlplatform:service": serviceName, "mlplatform:stage": stage } },
  });
  const opts = { provider };

  const ci = project.ciPrincipal;
  const publishers = registryPrincipals(project, "publishers");
  const approvers = registryPrincipals(project, "approvers");
  // The registry's reader role: promotion's workflow (and, in the component, whoever publishes or approves).
  // The stages' deployers read too: `models add` copies approved artifacts into a stage's multi-model prefix.
  const stageDeployers = project.stages.map((s) => {
    const at = accountRef(s.accountId, region);
    return { type: "role" as const, roleArn: roleArn(at, stageNames(serviceName, s.name, at).deployerRole) };
  });
  const readers = [
    ...(ci.type === "github-oidc" ? [{ type: "github" as const, repository: ci.repository, environment: PROMOTE_ENVIRONMENT }] : []),
    ...stageDeployers,
  ];
  const backend = project.stateBackend;
  const deployment = new DeploymentAccount(`${serviceName}-${stage}`, {
    stage: { stage, account },
    registry: {
      serviceName, registry, models: project.models, ecrRepository: project.ecrRepository, databaseSecretArn: project.retrainingDatabaseSecretArn,
    },
    hostsRegistry,
    ciPrincipal: ci.type === "github-oidc" ? { type: ci.type, repository: ci.repository } : ci,
    createOidcProvider: ci.type === "github-oidc" && firstInAccount ? ci.createOidcProvider : false,
    stateBackend: backend === undefined ? undefined : {
      bucket: backend.bucket, account: accountRef(backend.accountId, region), project: serviceName, secretsKeyAlias: backend.secretsKeyAlias,
    },
    noncurrentVersionExpirationDays: config.noncurrentVersionExpirationDays,
  }, opts);

  let registryOutputs: StackOutputs["registry"];
  if (hostsRegistry) {
    const reg = new RegistryAccount(`${serviceName}-registry`, {
      serviceName,
      account: registry,
      consumers,
      models: project.models,
      ecrRepository: project.ecrRepository,
      publishers,
      approvers,
      readers,
      permissionsBoundaryArn: deployment.workloadBoundaryArn,
      databaseSecretArn: project.retrainingDatabaseSecretArn,
      noncurrentVersionExpirationDays: config.noncurrentVersionExpirationDays,
    }, opts);
    registryOutputs = {
      artifactBucketName: reg.artifactBucketName,
      modelPackageGroupNames: reg.modelPackageGroupNames,
      ecrRepositoryUrl: reg.ecrRepositoryUrl,
      trainingRoleArn: reg.trainingRoleArn,
      publisherRoleArn: reg.publisherRoleArn,
      approverRoleArn: reg.approverRoleArn,
      readerRoleArn: reg.readerRoleArn,
    };
  }

  const endpoints: Record<string, pulumi.Output<string>> = {};
  const executionRoleArn = deployment.executionRoleArn;
  // The schema admits endpoints only in stacks that serve; the check keeps the types honest.
  const served = executionRoleArn === undefined ? [] : Object.entries(config.endpoints);
  for (const [key, endpoint] of served) {
    const component = new BlueGreenEndpoint(endpointNames(serviceName, key).endpoint, {
      variantName: endpoint.variantName,
      model: endpoint.source,
      executionRoleArn: executionRoleArn!,
      instanceType: endpoint.instanceType,
      instanceCount: endpoint.instanceCount,
      serverless: endpoint.serverless,
      volumeSizeGiB: endpoint.volumeSizeGiB,
      kmsKeyArn: deployment.kmsKeyArn,
      deployment: endpoint.deployment,
      alarms: endpoint.alarms,
      autoscaling: endpoint.autoscaling,
      async: endpoint.async,
      stageBucketName: deployment.bucketName,
      multiModel: endpoint.multiModel,
      containerStartupHealthCheckTimeoutSeconds: endpoint.containerStartupHealthCheckTimeoutSeconds,
      modelDataDownloadTimeoutSeconds: endpoint.modelDataDownloadTimeoutSeconds,
      abTest: endpoint.abTest,
    }, opts);
    if (endpoint.deployment.strategy === "step-functions-canary") {
      // The canary deployer's state machine moves this endpoint to new versions (npx projen deploy).
      const endpointName = endpointNames(serviceName, key).endpoint;
      new CanaryDeployer(`${endpointName}-canary`, {
        account,
        endpointName,
        variantName: endpoint.variantName,
        executionRoleArn: executionRoleArn!,
        modelPackagesArn: modelPackagesArn(registry, modelPackageGroupName(serviceName, endpoint.model)),
        kmsKeyArn: deployment.kmsKeyArn!,
        // SageMaker refuses a volume key on instance types with local NVMe storage.
        ...(hasLocalInstanceStorage(endpoint.instanceType ?? "") ? {} : { volumeKmsKeyArn: deployment.kmsKeyArn }),
        deployment: endpoint.deployment,
        alarms: endpoint.alarms,
        autoscaling: endpoint.autoscaling,
      }, { ...opts, parent: component });
    }
    endpoints[key] = component.endpointName;
  }

  return {
    stage,
    accountId: config.accountId,
    bucketName: deployment.bucketName,
    executionRoleArn: deployment.executionRoleArn,
    deployerRoleArn: deployment.deployerRoleArn,
    previewerRoleArn: deployment.previewerRoleArn,
    endpointNames: endpoints,
    registry: registryOutputs,
  };
}
