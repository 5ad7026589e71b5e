/**
 * Deterministic names and ARNs shared across accounts. Every stack derives the other accounts'
 * resource names from config through these functions, never from another stack's outputs, so both
 * sides of a cross-account grant always agree. Pure: no Pulumi, no AWS calls.
 */

/** Longest SageMaker name (models, endpoint configs, endpoints, model package groups). */
export const SAGEMAKER_NAME_MAX = 63;
/** Characters Pulumi's auto-naming appends to a logical name: "-" plus 7 hex digits. */
export const AUTO_NAME_SUFFIX_LENGTH = 8;
/** SageMaker name pattern (no `_` or `.`). */
export const SAGEMAKER_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/** Where a stack deploys: its account, region and partition. */
export interface AccountRef {
  readonly accountId: string;
  readonly region: string;
  /** @default "aws" */
  readonly partition?: string;
}

/** Name of the registry's own stack (Pulumi.registry.yaml), in whichever account the registry lives. */
export const REGISTRY_STACK = "registry";

/** Names of everything a service's registry account holds. */
export interface RegistryNames {
  readonly artifactBucket: string;
  readonly kmsAlias: string;
  readonly ecrRepository: string;
  /** SageMaker training jobs; writes only under TRAINING_OUTPUT_PREFIX. */
  readonly trainingRole: string;
  /** The training pipeline: uploads artifacts under new keys, pushes images, registers versions. */
  readonly publisherRole: string;
  /** People who approve or reject versions. */
  readonly approverRole: string;
  /** Reads the registry: promotion's approval check, the registry CLI's list and latest-approved. */
  readonly readerRole: string;
}

/** Artifact keys under this prefix are SageMaker training output (mutable); every other key is write-once. */
export const TRAINING_OUTPUT_PREFIX = "training/";

export function registryNames(serviceName: string, registry: AccountRef): RegistryNames {
  return {
    artifactBucket: `${serviceName}-artifacts-${registry.accountId}-${registry.region}`,
    kmsAlias: `alias/${serviceName}-registry`,
    ecrRepository: `${serviceName}-inference`,
    trainingRole: `${serviceName}-sagemaker-training`,
    publisherRole: `${serviceName}-registry-publisher`,
    approverRole: `${serviceName}-registry-approver`,
    readerRole: `${serviceName}-registry-reader`,
  };
}

/** Names of everything a stage's deployment account holds. */
export interface StageNames {
  readonly bucket: string;
  readonly kmsAlias: string;
  readonly executionRole: string;
  readonly deployerRole: string;
  readonly previewerRole: string;
  /** Permissions boundary of every role the deployer creates (execution and training roles). */
  readonly workloadBoundary: string;
}

export function stageNames(serviceName: string, stage: string, account: AccountRef): StageNames {
  return {
    bucket: `${serviceName}-${stage}-${account.accountId}-${account.region}`,
    kmsAlias: `alias/${serviceName}-${stage}`,
    executionRole: `${serviceName}-${stage}-sagemaker-execution`,
    deployerRole: `${serviceName}-${stage}-deployer`,
    previewerRole: `${serviceName}-${stage}-previewer`,
    workloadBoundary: `${serviceName}-${stage}-workload-boundary`,
  };
}

/** The model package group of one model. */
export function modelPackageGroupName(serviceName: string, model: string): string {
  return `${serviceName}-${model}`;
}

/** Names of one endpoint: the stable endpoint name, its children's logical names and its alarms. */
export interface EndpointNames {
  /** Explicit, stable: clients call it. Also the component's logical name. */
  readonly endpoint: string;
  /** Logical name of the Model; the physical name is this plus an auto-name suffix. */
  readonly modelLogical: string;
  /** Logical name of the EndpointConfiguration; auto-named like the model. */
  readonly endpointConfigLogical: string;
  /** Rollback alarm names: fixed for the life of the endpoint (changing the list replaces it). */
  readonly errorAlarm: string;
  readonly latencyAlarm: string;
  /** Asynchronous endpoints: the SNS topics of finished and failed requests, and the scale-out-from-zero alarm. */
  readonly asyncSuccessTopic: string;
  readonly asyncErrorTopic: string;
  readonly backlogAlarm: string;
}

export function endpointNames(serviceName: string, endpointKey: string): EndpointNames {
  return endpointChildNames(`${serviceName}-${endpointKey}`);
}

/** The names of an endpoint's children, from the endpoint's own (stable) name. */
export function endpointChildNames(endpoint: string): EndpointNames {
  return {
    endpoint,
    modelLogical: `${endpoint}-model`,
    endpointConfigLogical: `${endpoint}-config`,
    errorAlarm: `${endpoint}-invocation-5xx`,
    latencyAlarm: `${endpoint}-model-latency`,
    asyncSuccessTopic: `${endpoint}-async-success`,
    asyncErrorTopic: `${endpoint}-async-error`,
    backlogAlarm: `${endpoint}-backlog-without-capacity`,
  };
}

/** Names of one further variant of an A/B test: its Model (auto-named like the endpoint's) and its own alarms. */
export interface AbVariantNames {
  readonly modelLogical: string;
  readonly errorAlarm: string;
  readonly latencyAlarm: string;
}

export function abVariantNames(endpoint: string, variant: string): AbVariantNames {
  return {
    modelLogical: `${endpoint}-ab-${variant}`,
    errorAlarm: `${endpoint}-${variant}-invocation-5xx`,
    latencyAlarm: `${endpoint}-${variant}-model-latency`,
  };
}

/** The longest SageMaker name an endpoint (by its stable name) and its children reach once auto-named. */
export function longestEndpointName(endpoint: string): number {
  const n = endpointChildNames(endpoint);
  return Math.max(n.endpoint.length, n.modelLogical.length + AUTO_NAME_SUFFIX_LENGTH,
    n.endpointConfigLogical.length + AUTO_NAME_SUFFIX_LENGTH);
}

function partitionOf(account: AccountRef): string {
  return account.partition ?? "aws";
}

/** The ARN of a Step Functions state machine of this name in the account. */
export function stateMachineArn(account: AccountRef, name: string): string {
  return `arn:${partitionOf(account)}:states:${account.region}:${account.accountId}:stateMachine:${name}`;
}

export function roleArn(account: AccountRef, roleName: string): string {
  return `arn:${partitionOf(account)}:iam::${account.accountId}:role/${roleName}`;
}

/** Where an asynchronous endpoint writes results and failures, in the stage bucket. */
export function asyncOutputPrefixes(endpoint: string): { readonly output: string; readonly failure: string } {
  return { output: `async/${endpoint}/output/`, failure: `async/${endpoint}/failure/` };
}

/** Where a multi-model endpoint's models live in the stage bucket (`npx projen models add` writes there). */
export function multiModelPrefix(endpoint: string): string {
  return `multi-model/${endpoint}/`;
}

export function snsTopicArn(account: AccountRef, topic: string): string {
  return `arn:${partitionOf(account)}:sns:${account.region}:${account.accountId}:${topic}`;
}

/** Every role of this name pattern in any account (for `aws:PrincipalArn` conditions). */
export function anyAccountRoleArn(account: AccountRef, rolePattern: string): string {
  return `arn:${partitionOf(account)}:iam::*:role/${rolePattern}`;
}

export function policyArn(account: AccountRef, policyName: string): string {
  return `arn:${partitionOf(account)}:iam::${account.accountId}:policy/${policyName}`;
}

export function accountRootArn(account: AccountRef): string {
  return `arn:${partitionOf(account)}:iam::${account.accountId}:root`;
}

export function bucketArn(account: AccountRef, bucket: string): string {
  return `arn:${partitionOf(account)}:s3:::${bucket}`;
}

export function kmsAliasArn(account: AccountRef, alias: string): string {
  return `arn:${partitionOf(account)}:kms:${account.region}:${account.accountId}:${alias}`;
}

export function kmsKeyArn(account: AccountRef, keyId: string): string {
  return `arn:${partitionOf(account)}:kms:${account.region}:${account.accountId}:key/${keyId}`;
}

/** Every key of an account and region; narrow it with a `kms:ResourceAliases` condition. */
export function kmsKeysArn(account: AccountRef): string {
  return kmsKeyArn(account, "*");
}

export function ecrRepositoryArn(account: AccountRef, repository: string): string {
  return `arn:${partitionOf(account)}:ecr:${account.region}:${account.accountId}:repository/${repository}`;
}

export function ecrRegistryHost(account: AccountRef): string {
  // The China regions' endpoints end in amazonaws.com.cn.
  const domain = partitionOf(account) === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `${account.accountId}.dkr.ecr.${account.region}.${domain}`;
}

export function sagemakerArn(account: AccountRef, resource: string): string {
  return `arn:${partitionOf(account)}:sagemaker:${account.region}:${account.accountId}:${resource}`;
}

export function modelPackageGroupArn(account: AccountRef, group: string): string {
  return sagemakerArn(account, `model-package-group/${group}`);
}

/** All versions of a group: `model-package/<group>/*`. */
export function modelPackagesArn(account: AccountRef, group: string): string {
  return sagemakerArn(account, `model-package/${group}/*`);
}

export function logGroupArn(account: AccountRef, name: string): string {
  return `arn:${partitionOf(account)}:logs:${account.region}:${account.accountId}:log-group:${name}`;
}

export function alarmArn(account: AccountRef, alarmName: string): string {
  return `arn:${partitionOf(account)}:cloudwatch:${account.region}:${account.accountId}:alarm:${alarmName}`;
}

/** The GitHub Actions OIDC provider of an account. */
export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

/** An IAM OIDC identity provider, by its host (the issuer URL without `https://`). */
export function oidcProviderArn(account: AccountRef, host: string): string {
  return `arn:${partitionOf(account)}:iam::${account.accountId}:oidc-provider/${host}`;
}

export function githubOidcProviderArn(account: AccountRef): string {
  return oidcProviderArn(account, GITHUB_OIDC_HOST);
}

/** A version of a model package group: `model-package/<group>/<version>`. */
export function modelPackageVersionArn(account: AccountRef, group: string, version: number): string {
  return sagemakerArn(account, `model-package/${group}/${version}`);
}

/** The AWS partition of a region: aws-cn for China, aws-us-gov for GovCloud, aws-iso* for the isolated regions, else aws. */
export function partitionOfRegion(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("us-isob-")) return "aws-iso-b";
  if (region.startsWith("us-iso-")) return "aws-iso";
  return "aws";
}
