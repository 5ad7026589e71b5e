import {
  AssemblyType,
  CreateTransformJobCommand,
  type CreateTransformJobCommandInput,
  DescribeEndpointConfigCommand,
  DescribeTransformJobCommand,
  type DescribeTransformJobCommandOutput,
  EndpointStatus,
  type SageMakerClient,
  SplitType,
  TransformInstanceType,
  TransformJobStatus,
} from "@aws-sdk/client-sagemaker";
import { isRetryable, type RetryOptions, retryingClient, withRetries } from "./aws";
import { CliError, describeKnownError, isError, UsageError } from "./cli";
import { hourlyPrice, PRICE_TABLE } from "./prices";
import { deployHint, describeEndpoint, dropUndefined, formatDuration, isThrottlingError, type Stage, type StageEndpoint } from "./stage-access";
import { STACK_TAG_KEYS } from "../../components/ci-policies";
import { hasLocalInstanceStorage } from "../../components/instance-types";
import { SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN } from "../../components/names";

/**
 * Batch transform: a SageMaker transform job that runs the model a stage's endpoint serves now
 * over an S3 prefix of the stage's bucket, writing its output there, encrypted with the stage key.
 * Each step is a function; the CLI (scripts/batch.ts) only parses arguments and builds clients.
 * The stage, its endpoints and the role the CLI acts as come from scripts/lib/stage-access.ts.
 *
 * The job runs as the model's own execution role (CreateTransformJob takes no role), which may
 * read and write only the stage's bucket: input and output elsewhere are refused before any call.
 */

// ---------------------------------------------------------------------------------------------
// The request, checked offline.
// ---------------------------------------------------------------------------------------------

/** `s3://bucket/key-prefix`; S3Uri allows at most 1024 characters. */
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(\S+)$/;
const S3_URI_MAX = 1024;
const MIME_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;

/** The SDK's list of batch transform instance types (TransformInstanceType). */
export const TRANSFORM_INSTANCE_TYPES: readonly string[] = Object.values(TransformInstanceType);
export const SPLIT_TYPES: readonly string[] = Object.values(SplitType);
/** MaxPayloadInMB: 0 (streamed, for containers that take HTTP chunked encoding) to 100 MiB; SageMaker's default is 6. */
export const MAX_PAYLOAD_MIB = 100;
/** TransformResources.InstanceCount. */
export const MAX_INSTANCE_COUNT = 100;

/** Checks an s3:// URL of `--<option>` against the stage's bucket, the only one the model's execution role may read and write. */
export function stageS3Url(stage: Stage, option: "input" | "output", url: string): { bucket: string; prefix: string } {
  const bucket = stage.names.bucket;
  const example = `s3://${bucket}/batch/${option}/<name>/`;
  const parsed = S3_URL.exec(url);
  if (!parsed || url.length > S3_URI_MAX) {
    throw new UsageError(`--${option} must be an s3://bucket/prefix URL of at most ${S3_URI_MAX} characters, such as ${example}; got "${url}"`);
  }
  if (parsed[1] !== bucket) {
    const todo = option === "input"
      ? `copy the data there first (aws s3 sync <source> ${example}) and pass that prefix`
      : `write to ${example} and copy the results on from there`;
    throw new UsageError(`--${option} must be in the ${stage.config.stage} stage's bucket ${bucket}: the model's execution role `
      + `may read and write only there; got bucket "${parsed[1]}": ${todo}`);
  }
  return { bucket, prefix: parsed[2] };
}

/** `--instance-type` or the endpoint's own type, checked against the SDK's transform instance types. */
export function transformInstanceType(endpoint: StageEndpoint, file: string, given?: string): TransformInstanceType {
  const type = given ?? endpoint.config.instanceType;
  if (type !== undefined && TRANSFORM_INSTANCE_TYPES.includes(type)) return type as TransformInstanceType;
  if (given !== undefined) {
    throw new UsageError(`--instance-type must be a SageMaker batch transform instance type such as ml.m5.large; got "${given}"`);
  }
  if (type === undefined) {
    throw new UsageError(`endpoint ${endpoint.key} is serverless (${file}): choose the transform's instances with --instance-type, such as ml.m5.large`);
  }
  throw new UsageError(`the endpoint's instance type ${type} (endpoints.${endpoint.key}.instanceType of ${file}) `
    + "is not a batch transform instance type; choose one with --instance-type, such as ml.m5.large");
}

/** UTC `yyyymmddhhmmss`. */
function utcStamp(at: Date): string {
  return at.toISOString().replace(/\.\d+Z$/, "").replace(/\D/g, "");
}

/**
 * `<endpoint name>-batch-<UTC yyyymmddhhmmss>`, the endpoint's name shortened (and any trailing
 * hyphen dropped) so that the whole fits TransformJobName (63 characters, SAGEMAKER_NAME_PATTERN).
 */
export function transformJobName(endpointName: string, at: Date): string {
  const suffix = `-batch-${utcStamp(at)}`;
  const name = endpointName.slice(0, SAGEMAKER_NAME_MAX - suffix.length).replace(/-+$/, "") + suffix;
  if (!SAGEMAKER_NAME_PATTERN.test(name)) {
    throw new CliError(`cannot make a transform job name from "${endpointName}": "${name}" is not a valid SageMaker name`);
  }
  return name;
}

/** What `batch run` asks for, after the offline checks. */
export interface TransformRequest {
  readonly stage: Stage;
  readonly endpoint: StageEndpoint;
  /** s3:// URLs in the stage bucket. */
  readonly input: string;
  readonly output: string;
  readonly instanceType: TransformInstanceType;
  /** 1-100. */
  readonly instanceCount: number;
  /** @default - none sent: the container's default */
  readonly contentType?: string;
  /** @default - none sent: SageMaker's default (None, each object one record) */
  readonly splitType?: SplitType;
  /** @default - none sent: SageMaker's default (6 MiB) */
  readonly maxPayloadMiB?: number;
}

/** Checks the request's values against each other and the stage (no AWS call). */
export function checkTransformRequest(request: TransformRequest): void {
  const input = stageS3Url(request.stage, "input", request.input);
  const output = stageS3Url(request.stage, "output", request.output);
  // S3Prefix input is every object whose key starts with the prefix, "in" matching "in-results/" too.
  if (output.prefix.startsWith(input.prefix)) {
    throw new UsageError(`--output ${request.output} is inside --input ${request.input}: the input is every object whose key starts with `
      + `"${input.prefix}", so a later run would read this run's output as input; choose an output prefix outside it, such as `
      + `s3://${output.bucket}/batch/output/<name>/`);
  }
  if (request.contentType !== undefined && !MIME_TYPE.test(request.contentType)) {
    throw new UsageError(`--content-type must be a MIME type such as text/csv; got "${request.contentType}"`);
  }
}

/** The CreateTransformJob request: the served model, the stage's bucket and key, the stack's tags. */
export function createTransformJobInput(request: TransformRequest, jobName: string, modelName: string): CreateTransformJobCommandInput {
  checkTransformRequest(request);
  const { config, names } = request.stage;
  const tags = { ...config.tags, [STACK_TAG_KEYS.service]: config.project.serviceName, [STACK_TAG_KEYS.stage]: config.stage };
  return {
    TransformJobName: jobName,
    ModelName: modelName,
    ...(request.maxPayloadMiB !== undefined ? { MaxPayloadInMB: request.maxPayloadMiB } : {}),
    TransformInput: {
      DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: request.input } },
      ...(request.contentType !== undefined ? { ContentType: request.contentType } : {}),
      ...(request.splitType !== undefined ? { SplitType: request.splitType } : {}),
    },
    TransformOutput: {
      S3OutputPath: request.output,
      KmsKeyId: names.kmsAlias,
      // Line-split input comes back one output line per input line, in order.
      ...(request.splitType === SplitType.LINE ? { AssembleWith: AssemblyType.LINE } : {}),
    },
    TransformResources: {
      InstanceType: request.instanceType,
      InstanceCount: request.instanceCount,
      // Local NVMe instance storage is encrypted by the instance; SageMaker refuses a volume key for it.
      ...(hasLocalInstanceStorage(request.instanceType) ? {} : { VolumeKmsKeyId: names.kmsAlias }),
    },
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

// ---------------------------------------------------------------------------------------------
// AWS calls.
// ---------------------------------------------------------------------------------------------

/** The model an endpoint serves now, and the endpoint configuration that names it. */
export interface ServedModel {
  readonly endpointName: string;
  readonly endpointConfigName: string;
  readonly variantName: string;
  readonly modelName: string;
}

/**
 * The model `endpointName` serves now: DescribeEndpoint → its EndpointConfigName →
 * DescribeEndpointConfig → the first production variant's model. An endpoint that does not exist
 * or is not InService is refused, saying to deploy (or wait for the deployment) first.
 */
export async function servedModel(
  sagemaker: SageMakerClient, endpoint: { name: string; stage: string }, retry: RetryOptions = {},
): Promise<ServedModel> {
  const described = await describeEndpoint(sagemaker, endpoint, retry);
  const status = described.EndpointStatus;
  if (status !== EndpointStatus.IN_SERVICE) {
    const why = status === EndpointStatus.UPDATING || status === EndpointStatus.SYSTEM_UPDATING
      ? "wait until its deployment has finished and it is InService"
      : `${deployHint(endpoint.stage)}${described.FailureReason ? ` (failure reason: ${described.FailureReason})` : ""}`;
    throw new CliError(`endpoint ${endpoint.name} is ${status ?? "in an unknown state"}, not InService: ${why}`);
  }
  const configName = described.EndpointConfigName;
  if (configName === undefined) throw new CliError(`DescribeEndpoint of ${endpoint.name} returned no endpoint configuration`);
  const config = await retryingClient(sagemaker, retry).send(new DescribeEndpointConfigCommand({ EndpointConfigName: configName }));
  const variant = config.ProductionVariants?.[0];
  if (variant?.ModelName === undefined) {
    throw new CliError(`endpoint configuration ${configName} of ${endpoint.name} has no production variant with a model`);
  }
  return { endpointName: endpoint.name, endpointConfigName: configName, variantName: variant.VariantName ?? "", modelName: variant.ModelName };
}

/**
 * Starts the job; returns its ARN. CreateTransformJob takes no idempotency token, so only a
 * throttled call (refused before the job exists) is retried; after any other failure the job may
 * or may not exist, and the message says how to find out rather than risk a second attempt.
 */
export async function startTransformJob(
  sagemaker: SageMakerClient, input: CreateTransformJobCommandInput, statusCommand: string, retry: RetryOptions = {},
): Promise<string> {
  const out = await withRetries(async () => {
    try {
      return await sagemaker.send(new CreateTransformJobCommand(input));
    } catch (error) {
      if (isRetryable(error) && !isThrottlingError(error)) {
        throw new CliError(`CreateTransformJob of ${input.TransformJobName} failed with ${describeKnownError(error) ?? error.message}; `
          + `the job may or may not have been created: check with "${statusCommand}" before starting another`);
      }
      throw error;
    }
  }, { ...retry, label: "CreateTransformJob" });
  if (out.TransformJobArn === undefined) throw new CliError("CreateTransformJob returned no ARN");
  return out.TransformJobArn;
}

/** The job as SageMaker describes it; a job that does not exist is a CliError. */
export async function describeTransformJob(
  sagemaker: SageMakerClient, jobName: string, retry: RetryOptions = {},
): Promise<DescribeTransformJobCommandOutput> {
  return retryingClient(sagemaker, retry).send(new DescribeTransformJobCommand({ TransformJobName: jobName })).catch((error: unknown) => {
    if (isError(error) && error.name === "ValidationException" && /could not find/i.test(error.message)) {
      throw new CliError(`no transform job ${jobName} in this account and region`);
    }
    throw error;
  });
}

/** Statuses after which a job never changes again. */
export const FINAL_STATUSES: readonly string[] = [TransformJobStatus.COMPLETED, TransformJobStatus.FAILED, TransformJobStatus.STOPPED];

export interface WaitOptions {
  /** Between two DescribeTransformJob calls. */
  readonly pollIntervalMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** Called after every poll with the job's status and the time since waiting began. */
  readonly onPoll: (status: string, elapsedMs: number) => void;
}

/**
 * Polls `describe` until the job is Completed, Failed or Stopped; returns its last description.
 * (The SDK's waitUntilTransformJobCompletedOrStopped reports no progress, hence this loop.)
 */
export async function waitForTransformJob(
  describe: () => Promise<DescribeTransformJobCommandOutput>, options: WaitOptions,
): Promise<DescribeTransformJobCommandOutput> {
  const start = options.now().getTime();
  for (;;) {
    const job = await describe();
    const status = job.TransformJobStatus ?? "Unknown";
    options.onPoll(status, options.now().getTime() - start);
    if (FINAL_STATUSES.includes(status)) return job;
    await options.sleep(options.pollIntervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------

/** What a job cost, estimated from the price table, or why there is no estimate. */
export type CostEstimate =
  | {
    readonly usd: number;
    readonly instanceCount: number;
    readonly hours: number;
    readonly hourlyUsd: number;
    /** Where the price comes from, and what it is. */
    readonly basis: string;
  }
  | { readonly usd: null; readonly reason: string };

/** A transform job as `batch run` and `batch status` report it. */
export interface JobReport {
  readonly job: string;
  readonly arn?: string;
  readonly status: string;
  readonly failureReason?: string;
  readonly model?: string;
  /** The endpoint and configuration the model was taken from (known to `run` only). */
  readonly endpoint?: string;
  readonly endpointConfig?: string;
  readonly instanceType?: string;
  readonly instanceCount?: number;
  readonly input?: string;
  readonly output?: string;
  readonly outputKmsKey?: string;
  readonly createdAt?: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  /** TransformStartTime to TransformEndTime. */
  readonly durationSeconds?: number;
  readonly cost: CostEstimate;
}

const PRICE_BASIS = `${PRICE_TABLE.region} on-demand real-time hosting price from ${PRICE_TABLE.source}, as of ${PRICE_TABLE.date}, `
  + "used as an estimate of the batch transform price (billed per instance-second; other regions' prices differ)";

/** instances × billed hours × hourly price, for a job that has run. */
export function estimateCost(instanceType: string | undefined, instanceCount: number | undefined, durationSeconds: number | undefined): CostEstimate {
  if (durationSeconds === undefined) return { usd: null, reason: "the job has not run to an end, so its duration is not known yet" };
  if (instanceType === undefined || instanceCount === undefined) return { usd: null, reason: "the job's instances are not known" };
  const hourlyUsd = hourlyPrice(instanceType);
  if (hourlyUsd === undefined) {
    return { usd: null, reason: `${instanceType} has no price in the price table (scripts/lib/prices.ts, ${PRICE_TABLE.date})` };
  }
  const hours = durationSeconds / 3600;
  return { usd: Math.round(instanceCount * hours * hourlyUsd * 10_000) / 10_000, instanceCount, hours, hourlyUsd, basis: PRICE_BASIS };
}

/** The report of a described job; `from` adds what only the caller knows (the endpoint and its configuration). */
export function jobReport(job: DescribeTransformJobCommandOutput, from: { endpoint?: string; endpointConfig?: string } = {}): JobReport {
  const start = job.TransformStartTime;
  const end = job.TransformEndTime;
  const durationSeconds = start !== undefined && end !== undefined
    ? Math.max(0, Math.round((end.getTime() - start.getTime()) / 1000)) : undefined;
  const instanceType = job.TransformResources?.InstanceType;
  const instanceCount = job.TransformResources?.InstanceCount;
  const report: JobReport = {
    job: job.TransformJobName ?? "",
    arn: job.TransformJobArn,
    status: job.TransformJobStatus ?? "Unknown",
    failureReason: job.FailureReason,
    model: job.ModelName,
    endpoint: from.endpoint,
    endpointConfig: from.endpointConfig,
    instanceType,
    instanceCount,
    input: job.TransformInput?.DataSource?.S3DataSource?.S3Uri,
    output: job.TransformOutput?.S3OutputPath,
    outputKmsKey: job.TransformOutput?.KmsKeyId,
    createdAt: job.CreationTime?.toISOString(),
    startedAt: start?.toISOString(),
    endedAt: end?.toISOString(),
    durationSeconds,
    cost: estimateCost(instanceType, instanceCount, durationSeconds),
  };
  // Drops what SageMaker did not say, so --json shows no empty keys.
  return dropUndefined(report);
}

/** The report of a job just started (batch run --no-wait), from its request. */
export function startedReport(input: CreateTransformJobCommandInput, arn: string, served: ServedModel): JobReport {
  return {
    job: input.TransformJobName ?? "",
    arn,
    status: TransformJobStatus.IN_PROGRESS,
    model: served.modelName,
    endpoint: served.endpointName,
    endpointConfig: served.endpointConfigName,
    instanceType: input.TransformResources?.InstanceType,
    instanceCount: input.TransformResources?.InstanceCount,
    input: input.TransformInput?.DataSource?.S3DataSource?.S3Uri,
    output: input.TransformOutput?.S3OutputPath,
    outputKmsKey: input.TransformOutput?.KmsKeyId,
    cost: estimateCost(undefined, undefined, undefined),
  };
}

/** The human form of a report: one `key  value` line each. */
export function reportLines(report: JobReport): string[] {
  const cost = report.cost.usd === null
    ? `unknown: ${report.cost.reason}`
    : `about $${report.cost.usd.toFixed(2)} (${report.cost.instanceCount} x ${report.cost.hours.toFixed(3)} h x $${report.cost.hourlyUsd}/h; ${report.cost.basis})`;
  const rows: [string, string | undefined][] = [
    ["job", report.job],
    ["status", report.status],
    ["failure", report.failureReason],
    ["model", report.model],
    ["endpoint", report.endpoint === undefined ? undefined
      : `${report.endpoint}${report.endpointConfig === undefined ? "" : ` (endpoint configuration ${report.endpointConfig})`}`],
    ["instances", report.instanceType === undefined ? undefined : `${report.instanceCount ?? "?"} x ${report.instanceType}`],
    ["input", report.input],
    ["output", report.output === undefined ? undefined
      : `${report.output}${report.outputKmsKey === undefined ? "" : ` (encrypted with ${report.outputKmsKey})`}`],
    ["duration", report.durationSeconds === undefined ? undefined
      : `${formatDuration(report.durationSeconds * 1000)} (${report.startedAt} to ${report.endedAt})`],
    ["cost", cost],
  ];
  const present = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}
