import { createHash } from "node:crypto";
import { CopyObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { type CreateModelPackageInput, DescribeModelPackageCommand } from "@aws-sdk/client-sagemaker";
import type { ErrorMetrics } from "./evaluation";
import type { RetrainClients } from "./tuning";
import { registryNames } from "../../../components/names";
import { type RetryOptions, retryingClient, withRetries } from "../aws";
import { CliError, isError, UsageError } from "../cli";
import { s3Url } from "../models";
import { createModelPackageInput, type EvaluationReport, groupOf, listVersions, type Registry, registerVersion, registryAccount } from "../registry";

/**
 * Retraining, step 4 (seed 001): the evaluated model becomes a new version of its model package
 * group, PendingManualApproval, through the registry's own request builder (scripts/lib/registry.ts:
 * the same checks as `registry register`).
 *
 * The tuning job's model is training output (`training/`), which stays writable and which no
 * version may point at: it is first copied, server-side, to a write-once key of the run
 * (`models/<model>/<run id>/model.tar.gz`, If-None-Match, SSE-KMS with the registry key, S3
 * computing its SHA-256), pinned to the source object it was described as (CopySourceIfMatch).
 * The evaluation's metrics go beside it as a JSON object (write-once), which the version links as
 * its model quality report with its SHA-256; the version's metadata names the run, the dataset
 * manifest, the tuning job and the best training job, so an approver sees where it came from.
 *
 * A resumed run repeats nothing: the copies are accepted when they are this run's (their
 * metadata), and a version whose metadata names this run is found (ListModelPackages of versions
 * created since the evaluation, DescribeModelPackage) instead of registering a second one.
 */

/** Prefix of the registered models' write-once copies in the artifact bucket. */
export const MODELS_PREFIX = "models/";

/** CopyObject's limit for one request. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;
/** Versions created this long before the evaluation completed are searched too (clock skew). */
const SEARCH_SLACK_MS = 3_600_000;

/** Keys of the customer metadata a retrained version carries besides its `metric:<name>` entries. */
export const RETRAIN_METADATA = {
  runId: "retrain:run-id",
  manifest: "retrain:dataset-manifest",
  tuningJob: "retrain:tuning-job",
  trainingJob: "retrain:training-job",
  objective: "retrain:objective",
  modelSha256: "retrain:model-sha256",
  testing: "retrain:testing",
} as const;

/** `models/<model>/<run id>/model.tar.gz` and `.../evaluation.json`: the run's write-once copies. */
export function registeredKeys(model: string, runId: string): { readonly model: string; readonly metrics: string } {
  const prefix = `${MODELS_PREFIX}${model}/${runId}/`;
  return { model: `${prefix}model.tar.gz`, metrics: `${prefix}evaluation.json` };
}

/** What the register step registers. */
export interface RegisterStepRequest {
  /** The service's registry (project and region). */
  readonly registry: Registry;
  /** One of the service's models. */
  readonly model: string;
  /** The run that trained the version (its keys and metadata name it). */
  readonly runId: string;
  /** The dataset manifest's key. */
  readonly manifestKey: string;
  /** The tuning job of the run. */
  readonly tuningJob: string;
  /** Its best training job, whose model is registered. */
  readonly bestTrainingJob: string;
  /** The tuning objective metric (`validation:rmse`). */
  readonly objectiveMetric: string;
  /** The best training job's value of it. */
  readonly bestObjectiveValue: number;
  /** s3:// URL of the best training job's model.tar.gz (training output). */
  readonly modelArtifact: string;
  /** The built-in XGBoost image that trained it, which also serves it. */
  readonly image: string;
  /** The evaluation's metrics on the test split. */
  readonly metrics: ErrorMetrics;
  /** Testing mode (one training job), said in the version's description and metadata. */
  readonly testing: boolean;
  /** When the evaluation completed: a version of this run can only be newer. */
  readonly evaluatedAt: Date;
}

/** What the register step did. */
export interface RegisterStepResult {
  /** The run's version. */
  readonly modelPackageArn: string;
  /** false: a version of this run existed already (a resumed run). */
  readonly created: boolean;
  /** s3:// URL of the registered model.tar.gz (the write-once copy). */
  readonly modelDataUrl: string;
  /** SHA-256 of the registered model.tar.gz, hex. */
  readonly modelSha256: string;
  /** s3:// URL of the metrics report the version links. */
  readonly metricsUrl: string;
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
const isPreconditionFailed = (error: unknown) => isError(error) && (statusOf(error) === 412 || error.name === "PreconditionFailed");
const isNotFound = (error: unknown) => isError(error) && (statusOf(error) === 404 || error.name === "NotFound" || error.name === "NoSuchKey");
const hex = (base64: string) => Buffer.from(base64, "base64").toString("hex");

/** The metrics report: a flat JSON object of the evaluation's numbers, the same text on every attempt. */
export function metricsReport(metrics: ErrorMetrics): { readonly text: string; readonly report: EvaluationReport } {
  const values = { mae: metrics.mae, rmse: metrics.rmse, errorStd: metrics.errorStd, testRows: metrics.rows };
  const text = `${JSON.stringify(values)}\n`;
  return { text, report: { metrics: values, sha256: createHash("sha256").update(text).digest("hex") } };
}

/** A UUID-shaped idempotency token of the run's registration: every attempt of the run sends the same. */
export function registrationToken(group: string, runId: string): string {
  const h = createHash("sha256").update(`${group}/${runId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Copies the training output to the run's write-once key, server-side; returns the copy's SHA-256.
 * An object already there is accepted only when it is the copy of the same source object.
 */
async function copyModel(
  clients: RetrainClients, request: RegisterStepRequest, bucket: string, kmsKeyId: string, retry: RetryOptions,
): Promise<string> {
  const source = /^s3:\/\/([^/]+)\/(.+)$/.exec(request.modelArtifact);
  if (source === null || source[1] !== bucket) {
    throw new CliError(`the model artifact ${request.modelArtifact} of training job ${request.bestTrainingJob} is not in the registry's artifact bucket ${bucket}`);
  }
  const s3 = retryingClient(clients.s3, retry);
  const key = registeredKeys(request.model, request.runId).model;
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: source[2] })).catch((error: unknown) => {
    if (isNotFound(error)) throw new CliError(`the model artifact ${request.modelArtifact} of training job ${request.bestTrainingJob} does not exist`);
    throw error;
  });
  if ((head.ContentLength ?? 0) > MAX_COPY_BYTES) {
    throw new CliError(`the model artifact ${request.modelArtifact} has ${head.ContentLength} bytes, more than one CopyObject copies (${MAX_COPY_BYTES})`);
  }
  const etag = head.ETag ?? "";
  try {
    const copied = await s3.send(new CopyObjectCommand({
      Bucket: bucket,
      Key: key,
      CopySource: encodeURI(`${bucket}/${source[2]}`),
      CopySourceIfMatch: etag,
      IfNoneMatch: "*",
      MetadataDirective: "REPLACE",
      Metadata: { "source-etag": etag, "run-id": request.runId, "training-job": request.bestTrainingJob },
      ContentType: "application/x-gzip",
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: kmsKeyId,
      BucketKeyEnabled: true,
      ChecksumAlgorithm: "SHA256",
    }));
    const sha = copied.CopyObjectResult?.ChecksumSHA256;
    if (sha === undefined) throw new CliError(`CopyObject to ${s3Url(bucket, key)} returned no SHA-256 checksum`);
    return hex(sha);
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
  }
  // 412: the key exists (an earlier attempt copied it), or the source changed after it was described.
  const existing = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" })).catch((error: unknown) => {
    if (isNotFound(error)) {
      throw new CliError(`the model artifact ${request.modelArtifact} changed while it was being copied: training output is still being written; run the step again`);
    }
    throw error;
  });
  if (existing.Metadata?.["source-etag"] !== etag || existing.ChecksumSHA256 === undefined) {
    throw new CliError(`refusing to register ${s3Url(bucket, key)}: it exists already and is not the copy of ${request.modelArtifact} `
      + `(ETag ${etag}); model copies are write-once: start a new run`);
  }
  return hex(existing.ChecksumSHA256);
}

/** Writes the metrics report write-once; an existing object is accepted when it holds the same bytes. */
async function putMetrics(
  clients: RetrainClients, request: RegisterStepRequest, bucket: string, kmsKeyId: string, text: string, sha256: string, retry: RetryOptions,
): Promise<void> {
  const key = registeredKeys(request.model, request.runId).metrics;
  const written = await withRetries(() => clients.s3.send(new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: text,
    ContentType: "application/json",
    IfNoneMatch: "*",
    ServerSideEncryption: "aws:kms",
    SSEKMSKeyId: kmsKeyId,
    BucketKeyEnabled: true,
    ChecksumSHA256: Buffer.from(sha256, "hex").toString("base64"),
    Metadata: { "sha256": sha256, "run-id": request.runId },
  })).then(() => true, (error: unknown) => {
    if (isPreconditionFailed(error)) return false;
    throw error;
  }), { ...retry, label: `PutObject of ${s3Url(bucket, key)}` });
  if (written) return;
  const head = await retryingClient(clients.s3, retry).send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (head.Metadata?.sha256 !== sha256) {
    throw new CliError(`refusing to register with ${s3Url(bucket, key)}: it exists already with other metrics (sha256 ${head.Metadata?.sha256 ?? "unknown"}); start a new run`);
  }
}

/** The version of this run registered by an earlier attempt, if any. */
async function findRegistered(
  clients: RetrainClients, group: string, request: RegisterStepRequest, retry: RetryOptions,
): Promise<string | undefined> {
  const since = request.evaluatedAt.getTime() - SEARCH_SLACK_MS;
  const candidates = (await listVersions(clients.sagemaker, group, {}, retry)).filter((v) => Date.parse(v.createdAt) >= since);
  const sm = retryingClient(clients.sagemaker, retry);
  for (const version of candidates) {
    const described = await sm.send(new DescribeModelPackageCommand({ ModelPackageName: version.arn }));
    if (described.CustomerMetadataProperties?.[RETRAIN_METADATA.runId] === request.runId) return version.arn;
  }
  return undefined;
}

/** The CreateModelPackage request: the registry's own checks and request, with the run's metadata. */
export function registrationInput(request: RegisterStepRequest, modelSha256: string): CreateModelPackageInput {
  const { registry, model, runId, metrics } = request;
  const bucket = registryNames(registry.project.serviceName, registryAccount(registry)).artifactBucket;
  const keys = registeredKeys(model, runId);
  const { report } = metricsReport(metrics);
  let input: CreateModelPackageInput;
  try {
    input = createModelPackageInput(registry, {
      model,
      image: request.image,
      modelDataUrl: s3Url(bucket, keys.model),
      contentTypes: ["text/csv"],
      responseTypes: ["text/csv"],
      description: `Retrained by run ${runId}${request.testing ? " in testing mode (one training job)" : ""}: tuning job ${request.tuningJob}, `
        + `best training job ${request.bestTrainingJob} (${request.objectiveMetric} ${request.bestObjectiveValue}); test MAE ${metrics.mae}, `
        + `RMSE ${metrics.rmse}, error std ${metrics.errorStd} over ${metrics.rows} rows`,
      report,
      reportS3Uri: s3Url(bucket, keys.metrics),
      clientToken: registrationToken(groupOf(registry, model), runId),
    });
  } catch (error) {
    // The registry's refusals speak of the registry CLI's options; here they are the run's values.
    if (error instanceof UsageError) throw new CliError(`the registry refuses run ${runId}'s version of ${model}: ${error.message}`);
    throw error;
  }
  return {
    ...input,
    CustomerMetadataProperties: {
      ...input.CustomerMetadataProperties,
      [RETRAIN_METADATA.runId]: runId,
      [RETRAIN_METADATA.manifest]: s3Url(bucket, request.manifestKey),
      [RETRAIN_METADATA.tuningJob]: request.tuningJob,
      [RETRAIN_METADATA.trainingJob]: request.bestTrainingJob,
      [RETRAIN_METADATA.objective]: `${request.objectiveMetric}=${request.bestObjectiveValue}`,
      [RETRAIN_METADATA.modelSha256]: modelSha256,
      [RETRAIN_METADATA.testing]: String(request.testing),
    },
  };
}

/** The whole step (see the module comment). */
export async function runRegisterStep(
  clients: RetrainClients,
  request: RegisterStepRequest,
  options: { readonly retry?: RetryOptions; readonly onProgress?: (line: string) => void } = {},
): Promise<RegisterStepResult> {
  const report = options.onProgress ?? (() => undefined);
  const retry = options.retry ?? {};
  const { registry, model, runId } = request;
  const names = registryNames(registry.project.serviceName, registryAccount(registry));
  const bucket = names.artifactBucket;
  const keys = registeredKeys(model, runId);
  const group = groupOf(registry, model);

  report(`register: copying ${request.modelArtifact} to ${s3Url(bucket, keys.model)} (write-once)`);
  const modelSha256 = await copyModel(clients, request, bucket, names.kmsAlias, retry);
  const { text, report: metrics } = metricsReport(request.metrics);
  await putMetrics(clients, request, bucket, names.kmsAlias, text, metrics.sha256, retry);
  const input = registrationInput(request, modelSha256);
  const result = { modelDataUrl: s3Url(bucket, keys.model), modelSha256, metricsUrl: s3Url(bucket, keys.metrics) };

  const existing = await findRegistered(clients, group, request, retry);
  if (existing !== undefined) {
    report(`register: ${existing} is this run's version already (an earlier attempt registered it)`);
    return { modelPackageArn: existing, created: false, ...result };
  }
  const modelPackageArn = await registerVersion(clients.sagemaker, input, retry);
  report(`register: registered ${modelPackageArn} in ${group}, pending manual approval`);
  return { modelPackageArn, created: true, ...result };
}
