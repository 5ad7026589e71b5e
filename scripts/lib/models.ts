import { pipeline, type Readable, Transform } from "node:stream";
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, PutObjectCommand, type PutObjectCommandInput, type S3Client,
} from "@aws-sdk/client-s3";
import { DescribeModelPackageCommand, ModelApprovalStatus, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import {
  type AwsCliValues, awsSettings, clientsForAccount, createAwsClients, type RetryOptions, retryingClient,
  type ToolDeps, withRetries,
} from "./aws";
import { CliError, isError, type OptionSpecs, processIo, table, UsageError } from "./cli";
import { groupOf, type Registry, registryAccount, registryRole } from "./registry";
import { type Stage, type StageEndpoint } from "./stage-access";
import { modelPackageVersionArn, multiModelPrefix, registryNames } from "../../components/names";
import { stackFileName } from "../../stacks/config/load";

/**
 * The models of a multi-model endpoint: its container (mode MultiModel) loads each model from the
 * endpoint's prefix of the stage bucket, `multi-model/<endpoint name>/`, on the first invocation
 * that names it (`TargetModel`: the key relative to that prefix). `add` copies an approved
 * registry version's artifact there under a key of its own per version, written once and never
 * overwritten, so a TargetModel always means the same bytes; `list` shows what the endpoint can
 * load; `remove` deletes one. Each step is a function; the CLI (scripts/models.ts) only parses
 * arguments and builds clients.
 *
 * Two roles: the registry's reader role reads the version and its artifact (registry account);
 * the stage's deployer role (or --role-arn) writes, lists and deletes under the prefix (stage
 * account). Neither may do the other's part, so the artifact streams through this process:
 * GetObject as the reader, PutObject as the stage's role.
 */

// ---------------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------------

/** The TargetModel of a registry version: `<model>-v<version>.tar.gz`, one key per version. */
export function targetModelOf(model: string, version: number): string {
  return `${model}-v${version}.tar.gz`;
}

export const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;

/** Whether an endpoint's config says `multiModel: true` (read by shape: the field is optional). */
export function isMultiModel(config: object): boolean {
  return "multiModel" in config && config.multiModel === true;
}

/**
 * Refuses an endpoint that is not multi-model (bad usage: its container loads no models from the
 * prefix), naming the stage's multi-model endpoints or how to make one.
 */
export function requireMultiModel(stage: Stage, endpoint: StageEndpoint): void {
  if (isMultiModel(endpoint.config)) return;
  const file = stackFileName(stage.config.stage);
  const multi = Object.entries(stage.config.endpoints).filter(([, config]) => isMultiModel(config)).map(([key]) => key);
  const others = multi.length > 0
    ? `the multi-model endpoints of ${file} are ${multi.join(", ")}`
    : `${file} has none: set multiModel: true on an endpoint with an imageTag (or imageDigest) source and deploy it`;
  throw new UsageError(`endpoint "${endpoint.key}" is not a multi-model endpoint (endpoints.${endpoint.key}.multiModel is not true in ${file}): `
    + `it loads no models from s3://${stage.names.bucket}/${multiModelPrefix(endpoint.name)}; ${others}`);
}

/**
 * A TargetModel given on the command line: a name directly under the endpoint's prefix. A `/`
 * (another prefix, a full key or URL) or `..` is bad usage, so nothing outside the prefix is touched.
 */
export function checkTarget(target: string, prefixUrl: string): string {
  // eslint-disable-next-line no-control-regex
  if (target.trim() === "" || target.includes("/") || target.includes("\\") || target.includes("..") || /[\u0000-\u001f\u007f]/.test(target)) {
    throw new UsageError(`--target must be a TargetModel directly under ${prefixUrl}, such as <model>-v<N>.tar.gz (see models list), `
      + `without "/" or ".."; got "${target}"`);
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// Acting in both accounts.
// ---------------------------------------------------------------------------------------------

/** The options of the registry side: the role to read the registry as. */
export const REGISTRY_READER_OPTIONS = { "registry-role-arn": { type: "string" } } as const satisfies OptionSpecs;

/** Help lines of REGISTRY_READER_OPTIONS. */
export const REGISTRY_READER_HELP = [
  "  --registry-role-arn ARN",
  "                      Role in the registry account to read the version and its artifact as, assumed unless the",
  "                      credentials already are it (default: the registry's reader role, <service>-registry-reader)",
];

/** The registry's SageMaker and S3 clients as its reader role (or --registry-role-arn). */
export interface RegistryReader {
  readonly sagemaker: SageMakerClient;
  readonly s3: S3Client;
  readonly retry: RetryOptions;
}

/**
 * Acts as the registry's reader role (registryRole "read"), or --registry-role-arn, assumed unless
 * the credentials already are it, as registryClients does; stderr says which role and why.
 */
export async function registryReader(
  tool: string, registry: Registry, values: AwsCliValues & { readonly "registry-role-arn"?: string }, deps: ToolDeps,
): Promise<RegistryReader> {
  const { aws, retry } = awsSettings(tool, values, registry.region, deps);
  const createClients = deps.createClients ?? createAwsClients;
  const override = values["registry-role-arn"];
  const role = registryRole(registry, "read", override);
  const deniedHint = override === undefined ? role.deniedHint
    : "it was given with --registry-role-arn, instead of the registry's reader role, and its trust policy does not admit them";
  const access = await clientsForAccount(createClients(aws).sts, role, {
    aws, retry, createClients, deniedHint, sessionName: `${tool}-${Date.now()}`,
  });
  const held = access.via === "assumed" ? "" : ", already held by these credentials";
  const why = override !== undefined
    ? `--registry-role-arn${held}, instead of the registry's reader role`
    : `the registry's reader role${held}; --registry-role-arn overrides`;
  (deps.io ?? processIo).err(`${tool}: as ${role.roleArn} (${why})`);
  return { sagemaker: access.sagemaker, s3: access.s3, retry };
}

// ---------------------------------------------------------------------------------------------
// The registry version.
// ---------------------------------------------------------------------------------------------

/** Errors with which SageMaker answers DescribeModelPackage for a version that does not exist. */
const NOT_FOUND = new Set(["ResourceNotFound", "ResourceNotFoundException", "ValidationException"]);
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

/** An approved version's artifact in the registry's artifact bucket. */
export interface ApprovedArtifact {
  readonly model: string;
  readonly version: number;
  readonly arn: string;
  readonly bucket: string;
  readonly key: string;
  readonly url: string;
  /** The image the version was registered with. */
  readonly image?: string;
}

/**
 * DescribeModelPackage of a model's version in the registry: it must exist, be Approved and
 * completely created, and its first container's ModelDataUrl must be a .tar.gz archive in the
 * registry's artifact bucket. Anything else is a CliError saying why; nothing is copied.
 */
export async function approvedArtifact(
  sagemaker: SageMakerClient, registry: Registry, model: string, version: number, retry: RetryOptions = {},
): Promise<ApprovedArtifact> {
  const arn = modelPackageVersionArn(registryAccount(registry), groupOf(registry, model), version);
  const what = `version ${version} of ${model} (${arn})`;
  const out = await retryingClient(sagemaker, retry).send(new DescribeModelPackageCommand({ ModelPackageName: arn })).catch((error: unknown) => {
    if (isError(error) && NOT_FOUND.has(error.name)) {
      throw new CliError(`${what} is not in the registry (${error.name}: ${error.message.split("\n")[0]}); `
        + `see its versions with "registry list --model ${model}"`);
    }
    throw error;
  });
  const status = out.ModelApprovalStatus ?? "Unknown";
  if (status !== ModelApprovalStatus.APPROVED) {
    throw new CliError(`refusing to add ${what}: it is ${status}, not Approved; only approved versions are served `
      + `(approved ones: registry list --model ${model} --status Approved)`);
  }
  if (out.ModelPackageStatus !== "Completed") {
    throw new CliError(`refusing to add ${what}: it is Approved but its creation is ${out.ModelPackageStatus ?? "Unknown"}, not Completed`);
  }
  const container = out.InferenceSpecification?.Containers?.[0];
  const bucket = registryNames(registry.project.serviceName, registryAccount(registry)).artifactBucket;
  const url = container?.ModelDataUrl;
  if (url === undefined) {
    throw new CliError(`refusing to add ${what}: its first container has no ModelDataUrl; a multi-model endpoint loads each model `
      + "from a .tar.gz archive");
  }
  const parsed = S3_URL.exec(url);
  if (parsed === null || parsed[1] !== bucket) {
    throw new CliError(`refusing to add ${what}: its model data ${url} is not in the registry's artifact bucket ${bucket}; `
      + "only artifacts there are the registry's (and readable by its reader role)");
  }
  if (!parsed[2].endsWith(".tar.gz")) {
    throw new CliError(`refusing to add ${what}: its model data ${url} is not a .tar.gz archive, which a multi-model endpoint loads`);
  }
  return { model, version, arn, bucket, key: parsed[2], url, image: container?.Image };
}

// ---------------------------------------------------------------------------------------------
// Copy, list, remove.
// ---------------------------------------------------------------------------------------------

/** PutObject's limit for one request: larger artifacts would need a multipart upload. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
/** Progress on stderr every this many bytes, for artifacts larger than it. */
export const DEFAULT_PROGRESS_STEP_BYTES = 64 * 1024 ** 2;

/** Where a copy goes: the stage bucket, a write-once key, SSE-KMS with the stage's key. */
export interface CopyDestination {
  readonly bucket: string;
  readonly key: string;
  /** The stage key's alias (`alias/<service>-<stage>`). */
  readonly kmsKeyId: string;
  /** User metadata on the object (x-amz-meta-*). */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface CopyOptions {
  readonly retry?: RetryOptions;
  /** @default DEFAULT_PROGRESS_STEP_BYTES */
  readonly progressStepBytes?: number;
  /** Called every progressStepBytes of an artifact larger than that. */
  readonly onProgress?: (copiedBytes: number, totalBytes: number) => void;
}

export interface CopyOutcome {
  readonly bytes: number;
  /** false: the key already held an object of the same size, so nothing was written. */
  readonly copied: boolean;
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
const isNotFound = (error: unknown): error is Error => isError(error) && (statusOf(error) === 404 || error.name === "NotFound" || error.name === "NoSuchKey");

function isReadable(value: unknown): value is Readable {
  return typeof value === "object" && value !== null && typeof (value as Readable).pipe === "function" && typeof (value as Readable).destroy === "function";
}

/** A pass-through stream that reports every `step` bytes (only when `total` is larger than a step). */
function progressCounter(total: number, step: number, onProgress?: (copied: number, total: number) => void): Transform {
  let copied = 0;
  let next = step;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      copied += chunk.length;
      if (onProgress !== undefined && total > step && copied >= next) {
        onProgress(copied, total);
        next = (Math.floor(copied / step) + 1) * step;
      }
      callback(null, chunk);
    },
  });
}

/** The PutObject request of a copy, without its body: write-once (IfNoneMatch "*") and SSE-KMS with the stage's key. */
export function putObjectInput(destination: CopyDestination, bytes: number): Omit<PutObjectCommandInput, "Body"> {
  return {
    Bucket: destination.bucket,
    Key: destination.key,
    ContentLength: bytes,
    IfNoneMatch: "*",
    ServerSideEncryption: "aws:kms",
    SSEKMSKeyId: destination.kmsKeyId,
    BucketKeyEnabled: true,
    Metadata: { ...destination.metadata },
  };
}

/**
 * Streams `source` (GetObject with the reader's client) into `destination` (PutObject with the
 * stage's client) without holding it in memory, writing only if the key does not exist
 * (IfNoneMatch "*"). A key that exists already (412) is accepted only when its object has the
 * source's size (HeadObject): a re-run after a copy that succeeded; any other object there is a
 * refusal, never overwritten. A transient failure retries the whole copy (a PutObject that failed
 * wrote nothing; one that succeeded unseen comes back as 412 of the same size).
 */
export async function copyArtifact(
  reader: S3Client, writer: S3Client, source: { bucket: string; key: string }, destination: CopyDestination, options: CopyOptions = {},
): Promise<CopyOutcome> {
  const from = s3Url(source.bucket, source.key);
  const to = s3Url(destination.bucket, destination.key);
  const step = options.progressStepBytes ?? DEFAULT_PROGRESS_STEP_BYTES;

  const copyOnce = async (): Promise<{ bytes: number; exists: boolean }> => {
    let got;
    try {
      got = await reader.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
    } catch (error) {
      if (isNotFound(error)) throw new CliError(`the artifact ${from} is not in the registry bucket (${error.name}); nothing copied`);
      throw error;
    }
    const body = got.Body;
    if (!isReadable(body)) throw new CliError(`GetObject of ${from} returned no readable body; nothing copied`);
    try {
      const bytes = got.ContentLength;
      if (bytes === undefined) throw new CliError(`GetObject of ${from} returned no ContentLength; nothing copied`);
      if (bytes > MAX_SINGLE_PUT_BYTES) {
        throw new CliError(`the artifact ${from} has ${bytes} bytes, more than the ${MAX_SINGLE_PUT_BYTES} bytes one PutObject takes; nothing copied`);
      }
      const counted = progressCounter(bytes, step, options.onProgress);
      // Errors of either stream reach PutObject through `counted`; the callback has nothing left to do.
      pipeline(body, counted, () => undefined);
      try {
        await writer.send(new PutObjectCommand({ ...putObjectInput(destination, bytes), Body: counted }));
      } catch (error) {
        if (isError(error) && (statusOf(error) === 412 || error.name === "PreconditionFailed")) return { bytes, exists: true };
        if (isError(error) && (statusOf(error) === 409 || error.name === "ConditionalRequestConflict")) {
          throw new CliError(`another write to ${to} was in progress at the same time (${error.name}); run the command again to check what it wrote`);
        }
        throw error;
      }
      return { bytes, exists: false };
    } finally {
      // Frees the connection when PutObject did not read the whole body (412, errors); a no-op once it did.
      body.destroy();
    }
  };

  const { bytes, exists } = await withRetries(copyOnce, { ...options.retry, label: `copy of ${from} to ${to}` });
  if (!exists) return { bytes, copied: true };
  const head = await retryingClient(writer, options.retry).send(new HeadObjectCommand({ Bucket: destination.bucket, Key: destination.key }))
    .catch((error: unknown) => {
      if (isNotFound(error)) throw new CliError(`${to} existed when the copy was written, and is gone now; run the command again`);
      throw error;
    });
  if (head.ContentLength === bytes) return { bytes, copied: false };
  throw new CliError(`refusing to overwrite ${to}: it exists with ${head.ContentLength ?? "an unknown number of"} bytes, but ${from} has ${bytes}; `
    + "a key is never overwritten (a TargetModel always names the same bytes): find out what wrote it; if it is wrong, stop sending requests "
    + "for it, remove it (models remove) and add the version again");
}

/** One object under the prefix: what clients name in TargetModel. */
export interface LoadableModel {
  readonly targetModel: string;
  readonly bytes: number;
  readonly lastModified: string;
}

/** Every object under `prefix` (all pages of ListObjectsV2), as TargetModels relative to it. */
export async function listModels(s3: S3Client, bucket: string, prefix: string, retry: RetryOptions = {}): Promise<LoadableModel[]> {
  const models: LoadableModel[] = [];
  const pages = paginateListObjectsV2({ client: retryingClient(s3, retry), pageSize: 1000 }, { Bucket: bucket, Prefix: prefix });
  for await (const page of pages) {
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined || object.Key === prefix || !object.Key.startsWith(prefix)) continue;
      models.push({ targetModel: object.Key.slice(prefix.length), bytes: object.Size ?? 0, lastModified: object.LastModified?.toISOString() ?? "" });
    }
  }
  return models;
}

/**
 * Deletes one model's object (DeleteObject) after checking that it exists (HeadObject): a typo
 * would otherwise succeed silently and leave a delete marker in the versioned bucket.
 */
export async function removeModel(s3: S3Client, bucket: string, key: string, listCommand: string, retry: RetryOptions = {}): Promise<void> {
  const client = retryingClient(s3, retry);
  await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((error: unknown) => {
    if (isNotFound(error)) throw new CliError(`${s3Url(bucket, key)} does not exist; nothing removed (see "${listCommand}")`);
    throw error;
  });
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

// ---------------------------------------------------------------------------------------------
// Reports.
// ---------------------------------------------------------------------------------------------

/** `models add`. */
export interface AddReport {
  readonly stage: string;
  readonly endpoint: string;
  readonly model: string;
  readonly version: number;
  readonly modelPackageArn: string;
  readonly source: string;
  readonly destination: string;
  /** What clients pass as TargetModel. */
  readonly targetModel: string;
  readonly bytes: number;
  /** false: the key already held this version (same size); nothing was written. */
  readonly copied: boolean;
}

export function addLines(r: AddReport): string[] {
  const done = r.copied
    ? `copied version ${r.version} of ${r.model} (${r.bytes} bytes) from ${r.source} to ${r.destination}`
    : `${r.destination} already holds version ${r.version} of ${r.model} (${r.bytes} bytes, the size of ${r.source}): nothing copied`;
  return [
    done,
    `TargetModel: ${r.targetModel}`,
    `clients invoke it on endpoint ${r.endpoint} with TargetModel=${r.targetModel}; SageMaker loads it on the first such call`,
  ];
}

/** `models list`. */
export interface ListReport {
  readonly stage: string;
  readonly endpoint: string;
  readonly prefix: string;
  readonly models: readonly LoadableModel[];
}

export function listLines(r: ListReport): string[] {
  if (r.models.length === 0) return [`endpoint ${r.endpoint} has no models under ${r.prefix}: add one with models add`];
  return [
    `endpoint ${r.endpoint} can load ${r.models.length} model${r.models.length === 1 ? "" : "s"} from ${r.prefix} (each on its first invocation):`,
    ...table([["TARGET MODEL", "BYTES", "LAST MODIFIED"], ...r.models.map((m) => [m.targetModel, String(m.bytes), m.lastModified])]),
  ];
}

/** `models remove`. */
export interface RemoveReport {
  readonly stage: string;
  readonly endpoint: string;
  readonly targetModel: string;
  readonly removed: string;
  readonly note: string;
}

/** What removing a model means for the endpoint and the bucket. */
export function removeNote(targetModel: string, noncurrentDays: number): string {
  return `SageMaker unloads ${targetModel} from the instances' memory lazily: instances that loaded it may still answer for it `
    + `until then; invocations naming it (TargetModel=${targetModel}) then fail. The stage bucket is versioned: the removed object `
    + `stays as a noncurrent version for ${noncurrentDays} days (noncurrentVersionExpirationDays).`;
}

export function removeLines(r: RemoveReport): string[] {
  return [`removed ${r.removed} from endpoint ${r.endpoint}`, r.note];
}
