import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  CreateModelPackageCommand,
  type CreateModelPackageInput,
  ModelApprovalStatus,
  paginateListModelPackages,
  type ProductionVariantInstanceType,
  type SageMakerClient,
  UpdateModelPackageCommand,
} from "@aws-sdk/client-sagemaker";
import {
  type AccountTarget, AWS_CLI_HELP, AWS_CLI_OPTIONS, awsSettings, clientsForAccount, createAwsClients, type RetryOptions, retryingClient,
  type ToolDeps,
} from "./aws";
import { CliError, type OptionSpecs, type ParsedOptions, processIo, UsageError } from "./cli";
import { XGBOOST_IMAGE_SOURCE, XGBOOST_REGISTRY_ACCOUNTS, XGBOOST_REPOSITORY, XGBOOST_VERSIONS, xgboostImageUri } from "./retrain/xgboost-images";
import {
  type AccountRef, ecrRegistryHost, modelPackageGroupName, registryNames, roleArn, TRAINING_OUTPUT_PREFIX,
} from "../../components/names";
import { PRODUCTION_VARIANT_INSTANCE_TYPES } from "../../components/production-variant-instance-types";
import { checkModelPackageArn, type ProjectConfig, registryAccountRef } from "../../stacks/config/schema";

/**
 * The model registry: register, list, approve or reject versions of the service's models, and find
 * the newest approved one. Each operation is a function that takes its SageMaker client; the CLI
 * (scripts/registry.ts) only parses arguments and builds clients.
 */

/** The registry of one service: its models, in the registry stack's account and the project's region. */
export interface Registry {
  readonly project: ProjectConfig;
  readonly region: string;
}

export function registryAccount(registry: Registry): AccountRef {
  return registryAccountRef(registry.project, registry.region);
}

/** What a command does in the registry; it decides the role the command acts as. */
export type RegistryPurpose = "publish" | "approve" | "read";

/** The role a registry command acts as, in the registry account. */
export interface RegistryRole extends AccountTarget {
  readonly purpose: RegistryPurpose;
  /** "publisher role", "approver role", "reader role", or "--role-arn". */
  readonly label: string;
  /** What the role is, for messages: "the publisher role", or "--role-arn" for an override. */
  readonly title: string;
  /** The default role of the purpose, for messages: "the publisher role". */
  readonly defaultTitle: string;
  /** What to say when AssumeRole is denied: the role's purpose and who its trust policy admits. */
  readonly deniedHint: string;
}

/** The registry's roles for people and pipelines, by purpose (names from components/names.ts). */
const REGISTRY_ROLES: Record<RegistryPurpose, {
  readonly label: string;
  /** The label as it reads inside parentheses. */
  readonly title: string;
  readonly does: string;
  readonly trustedBy: string;
  readonly name: (registry: Registry) => string;
}> = {
  publish: {
    label: "publisher role",
    title: "the publisher role",
    does: "uploads artifacts, pushes images and registers versions",
    trustedBy: "its trust policy admits the principals in publishers: of the service definition in .projenrc.ts",
    name: (registry) => registryNames(registry.project.serviceName, registryAccount(registry)).publisherRole,
  },
  approve: {
    label: "approver role",
    title: "the approver role",
    does: "approves and rejects versions",
    trustedBy: "its trust policy admits the principals in approvers: of the service definition in .projenrc.ts",
    name: (registry) => registryNames(registry.project.serviceName, registryAccount(registry)).approverRole,
  },
  read: {
    label: "reader role",
    title: "the reader role",
    does: "reads the registry",
    trustedBy: "its trust policy admits the promote GitHub environment, and the principals in publishers: and approvers: of the service definition in .projenrc.ts",
    name: (registry) => registryNames(registry.project.serviceName, registryAccount(registry)).readerRole,
  },
};

/**
 * The role a registry command acts as, by what it does: register → publisher, approve/reject →
 * approver, list/latest-approved/promote → reader. The registry
 * stack's deployer role manages the registry's resources but holds none of these rights.
 * `override` (--role-arn) replaces the role.
 */
export function registryRole(registry: Registry, purpose: RegistryPurpose, override?: string): RegistryRole {
  const account = registryAccount(registry);
  const role = REGISTRY_ROLES[purpose];
  if (override !== undefined) {
    return {
      accountId: account.accountId,
      roleArn: override,
      purpose,
      label: "--role-arn",
      title: "--role-arn",
      defaultTitle: role.title,
      deniedHint: `it was given with --role-arn, instead of ${role.title} (which ${role.does}), and its trust policy does not admit them`,
    };
  }
  return {
    accountId: account.accountId,
    roleArn: roleArn(account, role.name(registry)),
    purpose,
    label: role.label,
    title: role.title,
    defaultTitle: role.title,
    deniedHint: `it is ${role.title}, which ${role.does}; ${role.trustedBy}`,
  };
}

/** The options of the tools that call the registry: the AWS options and the role to act as. */
export const REGISTRY_ACCESS_OPTIONS = { ...AWS_CLI_OPTIONS, "role-arn": { type: "string" } } as const satisfies OptionSpecs;

/** The values of REGISTRY_ACCESS_OPTIONS, as parseOptions returns them. */
export type RegistryAccessValues = ParsedOptions<typeof REGISTRY_ACCESS_OPTIONS>;

/** Help lines of REGISTRY_ACCESS_OPTIONS. */
export const REGISTRY_ACCESS_HELP = [
  "  --role-arn ARN      Role in the registry account to act as, assumed unless the credentials already are it",
  "                      (default: the role of the command: register → publisher, approve/reject → approver,",
  "                      list/latest-approved → reader; promote → reader)",
  ...AWS_CLI_HELP,
];

/**
 * A SageMaker client in the registry account acting as the role of `purpose` (registryRole), and
 * the retry policy, from a tool's parsed options. The role is assumed, also from the registry
 * account itself (being in the account grants no registry rights), unless the credentials already
 * are that role; stderr says which role and why.
 */
export async function registryClients(
  tool: string, registry: Registry, purpose: RegistryPurpose, values: RegistryAccessValues, deps: ToolDeps,
): Promise<{ sagemaker: SageMakerClient; retry: RetryOptions }> {
  const { aws, retry } = awsSettings(tool, values, registry.region, deps);
  const createClients = deps.createClients ?? createAwsClients;
  const role = registryRole(registry, purpose, values["role-arn"]);
  const access = await clientsForAccount(createClients(aws).sts, role, {
    aws, retry, createClients, deniedHint: role.deniedHint, sessionName: `${tool}-${Date.now()}`,
  });
  const held = access.via === "assumed" ? "" : ", already held by these credentials";
  const why = role.label === "--role-arn" ? `--role-arn${held}, instead of ${role.defaultTitle}` : `${role.title}${held}; --role-arn overrides`;
  (deps.io ?? processIo).err(`${tool}: as ${role.roleArn} (${why})`);
  return { sagemaker: access.sagemaker, retry };
}

/** The model package group of one of the project's models; unknown models are refused with the valid ones. */
export function groupOf(registry: Registry, model: string): string {
  if (!registry.project.models.includes(model)) {
    throw new UsageError(`unknown model "${model}"; this service's models are ${registry.project.models.join(", ")}`);
  }
  return modelPackageGroupName(registry.project.serviceName, model);
}

// ---------------------------------------------------------------------------------------------
// Evaluation metrics.
//
// CreateModelPackage takes metrics only as report documents in S3 (ModelMetrics.*.MetricsSource:
// S3Uri, ContentType, ContentDigest), never inline values. The numbers a reviewer decides on
// would then need S3 reads in the registry account, and ListModelPackages/DescribeModelPackage
// would not show them. So the CLI records each metric in CustomerMetadataProperties
// (`metric:<name>` = the number as a string; at most 50 entries, keys <= 128 and values <= 256
// characters), which DescribeModelPackage returns and SageMaker Studio shows. When the training
// pipeline has already written the same report to S3 (--metrics-s3-uri), the CLI also links it as
// ModelMetrics.ModelQuality.Statistics with the sha256 of the local file as ContentDigest, so the
// linked document provably is the one whose numbers were recorded. The CLI does not upload
// anything itself: the publisher copies the artifacts out of the training output (TRAINING_OUTPUT_PREFIX,
// which stays writable) to write-once keys of their own, next to model.tar.gz.
// ---------------------------------------------------------------------------------------------

const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const MAX_METRICS = 50;

/** A validated evaluation report: metric name to value, and the sha256 of the file it came from. */
export interface EvaluationReport {
  readonly metrics: Readonly<Record<string, number>>;
  readonly sha256: string;
}

/** Parses an evaluation file: a flat JSON object of metric names to finite numbers ({"mae": 0.12, "rmse": 0.3}). */
function parseMetrics(text: string, file: string): EvaluationReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${file}: is not valid JSON (${(error as Error).message})`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new CliError(`${file}: must be a JSON object of metric names to numbers, such as {"mae": 0.12, "rmse": 0.3}`);
  }
  const entries = Object.entries(doc);
  const problems: string[] = [];
  if (entries.length === 0) problems.push("has no metrics");
  if (entries.length > MAX_METRICS) problems.push(`has ${entries.length} metrics; at most ${MAX_METRICS} fit in a model version's metadata`);
  for (const [name, value] of entries) {
    if (!METRIC_NAME.test(name)) problems.push(`"${name}": metric names are 1-64 letters, digits, "_", "." or "-", starting with a letter`);
    if (typeof value !== "number" || !Number.isFinite(value)) problems.push(`"${name}": must be a finite number, got ${JSON.stringify(value)}`);
  }
  if (problems.length > 0) throw new CliError(`${file}: ${problems.join("; ")}`);
  return { metrics: Object.fromEntries(entries) as Record<string, number>, sha256: createHash("sha256").update(text).digest("hex") };
}

export function readMetricsFile(file: string): EvaluationReport {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read the metrics file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseMetrics(text, file);
}

// ---------------------------------------------------------------------------------------------
// Commands.
// ---------------------------------------------------------------------------------------------

/** What `register` records. */
export interface RegisterRequest {
  readonly model: string;
  /** Image in the registry's own ECR repository, or the region's built-in XGBoost image, with a tag or digest. */
  readonly image: string;
  /**
   * s3:// URL of model.tar.gz in the registry's artifact bucket (the stage accounts can read only
   * that bucket), at a write-once key: not under TRAINING_OUTPUT_PREFIX.
   */
  readonly modelDataUrl: string;
  /** @default - none recorded */
  readonly contentTypes?: readonly string[];
  /** @default - none recorded */
  readonly responseTypes?: readonly string[];
  /** @default - none recorded */
  readonly instanceTypes?: readonly string[];
  /** @default - none */
  readonly description?: string;
  /** @default - no metrics */
  readonly report?: EvaluationReport;
  /** The same report in the registry bucket (not under TRAINING_OUTPUT_PREFIX), linked as ModelMetrics; needs `report`. @default - not linked */
  readonly reportS3Uri?: string;
  /** Idempotency token, the same on every retry, so a retried call never creates two versions. @default - a new UUID */
  readonly clientToken?: string;
}

/** `<account>.dkr.ecr.<region>.amazonaws.com/<repository>` with a `:tag` or `@sha256:` digest; captures the region. */
const ECR_IMAGE = /^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\/[a-z0-9][a-z0-9._/-]*(:\w[\w.-]{0,127}|@sha256:[0-9a-f]{64})$/;
/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/sagemaker-xgboost` with a `:tag` or digest: account, region, suffix, tag. */
const BUILT_IN_IMAGE = new RegExp(`^(\\d{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?\\/${XGBOOST_REPOSITORY}(?::([\\w.-]{1,128})|@sha256:[0-9a-f]{64})$`);
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;
const MIME_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;
const INSTANCE_TYPES: readonly string[] = PRODUCTION_VARIANT_INSTANCE_TYPES;

/**
 * Whether an image is AWS's built-in XGBoost image of the registry's region (the retraining loop
 * trains and registers with it): the region's XGBoost account (scripts/lib/retrain/xgboost-images.ts),
 * repository `sagemaker-xgboost`, a known version tag or a digest. Such an image needs no ECR
 * permission: SageMaker pulls AWS's algorithm images for any role of the region. Throws a
 * UsageError for a `sagemaker-xgboost` image of another account, which is no built-in image here.
 */
function isBuiltInXgboostImage(registry: Registry, image: string): boolean {
  const parsed = BUILT_IN_IMAGE.exec(image);
  if (parsed === null) return false;
  if (parsed[2] !== registry.region) {
    throw new UsageError(`--image must be in ${registry.region}, the registry's region (SageMaker pulls from its own region); got ${parsed[2]}`);
  }
  const expected = XGBOOST_REGISTRY_ACCOUNTS[registry.region];
  if (parsed[1] !== expected) {
    throw new UsageError(`--image ${image} is not AWS's built-in XGBoost image of ${registry.region}: `
      + (expected === undefined ? `no XGBoost account is known for ${registry.region} (${XGBOOST_IMAGE_SOURCE})`
        : `its images come from account ${expected}, got ${parsed[1]}; use ${xgboostImageUri(registry.region, XGBOOST_VERSIONS[XGBOOST_VERSIONS.length - 1])}`));
  }
  const version = parsed[4];
  if (version !== undefined && !XGBOOST_VERSIONS.includes(version)) {
    throw new UsageError(`--image ${image}: "${version}" is not a version of the built-in XGBoost image; choose one of ${XGBOOST_VERSIONS.join(", ")}`);
  }
  return true;
}

/**
 * Checks that an image is the region's built-in XGBoost image or in the registry's own ECR
 * repository, the only one the stages' execution roles may pull from; returns nothing or throws a
 * UsageError saying what to do.
 */
function checkImage(registry: Registry, image: string): void {
  if (isBuiltInXgboostImage(registry, image)) return;
  if (!registry.project.ecrRepository) {
    throw new UsageError("--image: the registry has no ECR repository: set ecrRepository: true in .projenrc.ts, "
      + "deploy the registry stack, and push the image there");
  }
  const account = registryAccount(registry);
  const repository = `${ecrRegistryHost(account)}/${registryNames(registry.project.serviceName, account).ecrRepository}`;
  const parsed = ECR_IMAGE.exec(image);
  if (!parsed) {
    throw new UsageError(`--image must be an ECR image with a tag or digest, ${repository}:<tag> or ${repository}@sha256:<digest>; got "${image}"`);
  }
  if (parsed[1] !== registry.region) throw new UsageError(`--image must be in ${registry.region}, the registry's region (SageMaker pulls from its own region); got ${parsed[1]}`);
  if (image.startsWith(`${repository}:`) || image.startsWith(`${repository}@`)) return;
  // ECR_IMAGE matched: the image ends in either a digest or a tag.
  const tag = image.includes("@sha256:") ? "<tag>" : image.slice(image.lastIndexOf(":") + 1);
  throw new UsageError(`--image must be in the registry's ECR repository ${repository}, the only one the stages' execution roles may pull from; `
    + `got "${image}": push it there with the publisher role (docker tag ${image} ${repository}:${tag} && docker push ${repository}:${tag}) `
    + `and register ${repository}:${tag}`);
}

/**
 * Checks that an s3:// URL is in the registry bucket and not training output: keys under
 * TRAINING_OUTPUT_PREFIX stay writable, while a version must point at a write-once object.
 * `suggested` is the write-once key (and local file) the refusal proposes instead.
 */
function checkRegistryObject(registry: Registry, option: string, url: string, suggested: { key: string; file: string }): void {
  const bucket = registryNames(registry.project.serviceName, registryAccount(registry)).artifactBucket;
  const parsed = S3_URL.exec(url);
  if (!parsed) throw new UsageError(`--${option} must be an s3://bucket/key URL; got "${url}"`);
  if (parsed[1] !== bucket) {
    throw new UsageError(`--${option} must be in the registry bucket ${bucket}, which the stage accounts may read; got bucket "${parsed[1]}"`);
  }
  if (parsed[2].startsWith(TRAINING_OUTPUT_PREFIX)) {
    throw new UsageError(`--${option} must not be under ${TRAINING_OUTPUT_PREFIX}: training output stays writable, so a version may not point at it; `
      + `got "${url}": upload a write-once copy under a new key with the publisher role (aws s3api put-object --bucket ${bucket} `
      + `--key ${suggested.key} --body ${suggested.file} --if-none-match '*') and register s3://${bucket}/${suggested.key}`);
  }
}

/** Validates a registration against the project and builds the CreateModelPackage request; makes no AWS call. */
export function createModelPackageInput(registry: Registry, request: RegisterRequest): CreateModelPackageInput {
  const group = groupOf(registry, request.model);
  checkImage(registry, request.image);
  if (!S3_URL.test(request.modelDataUrl) || !request.modelDataUrl.endsWith(".tar.gz")) {
    throw new UsageError(`--model-data-url must be an s3://bucket/key URL of a .tar.gz archive; got "${request.modelDataUrl}"`);
  }
  checkRegistryObject(registry, "model-data-url", request.modelDataUrl, { key: `models/${request.model}/<sha256>/model.tar.gz`, file: "model.tar.gz" });
  for (const [option, types] of [["content-type", request.contentTypes], ["response-type", request.responseTypes]] as const) {
    const bad = (types ?? []).find((t) => !MIME_TYPE.test(t));
    if (bad !== undefined) throw new UsageError(`--${option} must be a MIME type such as text/csv; got "${bad}"`);
  }
  const badInstance = (request.instanceTypes ?? []).find((t) => !INSTANCE_TYPES.includes(t));
  if (badInstance !== undefined) throw new UsageError(`--instance-type must be a SageMaker instance type such as ml.m5.large; got "${badInstance}"`);
  if ((request.description?.length ?? 0) > 1024) throw new UsageError("--description must be at most 1024 characters");
  if (request.reportS3Uri !== undefined) {
    if (request.report === undefined) throw new UsageError("--metrics-s3-uri needs --metrics, the local copy of the same report");
    checkRegistryObject(registry, "metrics-s3-uri", request.reportS3Uri,
      { key: `models/${request.model}/${request.report.sha256}/evaluation.json`, file: "evaluation.json" });
  }
  const nonEmpty = <T>(list: readonly T[] | undefined) => (list !== undefined && list.length > 0 ? [...list] : undefined);
  return {
    ModelPackageGroupName: group,
    ModelPackageDescription: request.description,
    ModelApprovalStatus: ModelApprovalStatus.PENDING_MANUAL_APPROVAL,
    ClientToken: request.clientToken ?? randomUUID(),
    InferenceSpecification: {
      Containers: [{ Image: request.image, ModelDataUrl: request.modelDataUrl }],
      SupportedContentTypes: nonEmpty(request.contentTypes),
      SupportedResponseMIMETypes: nonEmpty(request.responseTypes),
      SupportedRealtimeInferenceInstanceTypes: nonEmpty(request.instanceTypes) as ProductionVariantInstanceType[] | undefined,
    },
    CustomerMetadataProperties: request.report === undefined ? undefined
      : Object.fromEntries(Object.entries(request.report.metrics).map(([name, value]) => [`metric:${name}`, String(value)])),
    ModelMetrics: request.reportS3Uri === undefined || request.report === undefined ? undefined : {
      ModelQuality: {
        Statistics: { ContentType: "application/json", S3Uri: request.reportS3Uri, ContentDigest: `sha256:${request.report.sha256}` },
      },
    },
  };
}

/** Registers a new version (PendingManualApproval); returns its ARN. */
export async function registerVersion(sagemaker: SageMakerClient, input: CreateModelPackageInput, retry: RetryOptions = {}): Promise<string> {
  const out = await retryingClient(sagemaker, retry).send(new CreateModelPackageCommand(input));
  if (out.ModelPackageArn === undefined) throw new CliError("CreateModelPackage returned no ARN");
  return out.ModelPackageArn;
}

/** One version of a model, as `list` shows it. */
export interface ModelVersion {
  readonly arn: string;
  readonly version: number | undefined;
  readonly approvalStatus: string;
  /** Creation progress: Pending, InProgress, Completed, Failed, Deleting. */
  readonly packageStatus: string;
  readonly createdAt: string;
  readonly description?: string;
}

/** Every version of a group (all pages), newest first; optionally only those with one approval status. */
export async function listVersions(
  sagemaker: SageMakerClient, group: string, filter: { status?: ModelApprovalStatus } = {}, retry: RetryOptions = {},
): Promise<ModelVersion[]> {
  const versions: ModelVersion[] = [];
  const pages = paginateListModelPackages({ client: retryingClient(sagemaker, retry), pageSize: 100 }, {
    ModelPackageGroupName: group, ModelApprovalStatus: filter.status, SortBy: "CreationTime", SortOrder: "Descending",
  });
  for await (const page of pages) {
    for (const s of page.ModelPackageSummaryList ?? []) {
      versions.push({
        arn: s.ModelPackageArn ?? "",
        version: s.ModelPackageVersion,
        approvalStatus: s.ModelApprovalStatus ?? "Unknown",
        packageStatus: s.ModelPackageStatus ?? "Unknown",
        createdAt: (s.CreationTime ?? new Date(0)).toISOString(),
        description: s.ModelPackageDescription,
      });
    }
  }
  // The API sorts each listing already; sorting again keeps the order a guarantee of this function.
  return versions.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || (b.version ?? 0) - (a.version ?? 0));
}

/** The newest Approved version of a group, if any. */
export async function latestApproved(sagemaker: SageMakerClient, group: string, retry: RetryOptions = {}): Promise<ModelVersion | undefined> {
  const approved = await listVersions(sagemaker, group, { status: ModelApprovalStatus.APPROVED }, retry);
  return approved.find((v) => v.approvalStatus === ModelApprovalStatus.APPROVED);
}

/** Checks that an ARN is a version of one of the project's models in the registry; returns the model. */
export function modelOfVersionArn(registry: Registry, arn: string): string {
  const group = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package\/([a-zA-Z0-9-]{1,63})\/\d+$/.exec(arn)?.[1];
  if (group === undefined) {
    throw new UsageError(`--arn must be a model version ARN arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>; got "${arn}"`);
  }
  const model = registry.project.models.find((m) => modelPackageGroupName(registry.project.serviceName, m) === group);
  if (model === undefined) {
    const groups = registry.project.models.map((m) => modelPackageGroupName(registry.project.serviceName, m));
    throw new UsageError(`--arn is a version of group ${group}, which is not one of this service's groups (${groups.join(", ")})`);
  }
  const problem = checkModelPackageArn(arn, { region: registry.region, registryAccountId: registryAccount(registry).accountId, group });
  if (problem !== undefined) throw new UsageError(`--arn ${problem}`);
  return model;
}

/** Approves or rejects a version, recording why. */
export async function setApproval(
  sagemaker: SageMakerClient, change: { arn: string; status: "Approved" | "Rejected"; description: string }, retry: RetryOptions = {},
): Promise<void> {
  await retryingClient(sagemaker, retry).send(new UpdateModelPackageCommand({
    ModelPackageArn: change.arn, ModelApprovalStatus: change.status, ApprovalDescription: change.description,
  }));
}

// ---------------------------------------------------------------------------------------------
// Command line.
// ---------------------------------------------------------------------------------------------
