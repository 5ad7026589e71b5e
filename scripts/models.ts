import type { ToolDeps } from "./lib/aws";
import { COMMON_OPTIONS, EXIT, integerOption, parseOptions, print, required } from "./lib/cli";
import {
  type AddReport, addLines, approvedArtifact, checkTarget, copyArtifact, DEFAULT_PROGRESS_STEP_BYTES, type ListReport, listLines,
  listModels, MAX_SINGLE_PUT_BYTES, REGISTRY_READER_HELP, REGISTRY_READER_OPTIONS, registryReader, removeLines, removeModel,
  removeNote, type RemoveReport, requireMultiModel, s3Url, targetModelOf,
} from "./lib/models";
import { groupOf, type Registry } from "./lib/registry";
import {
  type Commands, endpointOf, runCommands, type Stage, STAGE_ACCESS_HELP, STAGE_ACCESS_OPTIONS, type StageAccessValues,
  type StageEndpoint, type StagePurpose, StageToolSession,
} from "./lib/stage-access";
import { multiModelPrefix } from "../components/names";

/**
 * The models of a stage's multi-model endpoint: add an approved registry version's artifact under
 * the endpoint's prefix of the stage bucket, list them, remove one. Steps in scripts/lib/models.ts.
 */

const TOOL = "models";

/** What main() can be given instead of the real thing: tests pass a small progress step. */
export interface ModelsDeps extends ToolDeps {
  /** Bytes between two progress lines of a copy (only artifacts larger than this report progress). @default 64 MiB */
  readonly progressStepBytes?: number;
}

/** The largest model package version SageMaker numbers. */
const MAX_VERSION = 2_147_483_647;

const ACCESS_OPTIONS = { ...COMMON_OPTIONS, ...STAGE_ACCESS_OPTIONS, stage: { type: "string" }, endpoint: { type: "string" } } as const;
const ADD_OPTIONS = { ...ACCESS_OPTIONS, ...REGISTRY_READER_OPTIONS, version: { type: "string" }, model: { type: "string" } } as const;
const REMOVE_OPTIONS = { ...ACCESS_OPTIONS, target: { type: "string" } } as const;

const COMMON_HELP = [
  "  --stage STAGE       One of the stages of Pulumi.yaml",
  "  --endpoint KEY      A multi-model endpoint of the stage's stack file (mlplatform:endpoints.<KEY> with multiModel: true)",
  ...STAGE_ACCESS_HELP,
  "  --json              Print JSON",
  "  -h, --help          Show this help",
];

const PREFIX_HELP = [
  "The endpoint's models are the objects under s3://<stage bucket>/multi-model/<endpoint name>/; clients name one",
  "with TargetModel=<key relative to that prefix>, and SageMaker loads it on the first invocation that names it.",
];

const listCommand = (stage: string, key: string) => `${TOOL} list --stage ${stage} --endpoint ${key}`;

const HELP: Record<string, readonly string[]> = {
  add: [
    `Usage: ${TOOL} add --stage STAGE --endpoint KEY --version N [--model NAME] [options]`,
    "",
    "Copies the artifact of an approved registry version to the endpoint's prefix, under a key of its own,",
    "<model>-v<N>.tar.gz, and prints that TargetModel. The version must be Approved (DescribeModelPackage, as the",
    "registry's reader role) and its model data a .tar.gz archive in the registry's artifact bucket. The copy streams",
    "from the registry bucket (as the reader role) to the stage bucket (as the stage's role), SSE-KMS with the stage's",
    `key, written only if the key does not exist: a key is never overwritten. Progress on stderr every ${DEFAULT_PROGRESS_STEP_BYTES / 1024 ** 2} MiB;`,
    `artifacts up to ${MAX_SINGLE_PUT_BYTES / 1024 ** 3} GiB. Run again, it changes nothing when the key holds an object of the same size,`,
    "and refuses when it holds another.",
    "",
    "  --version N         The model package version to add (1 or more)",
    "  --model NAME        One of the service's models (default: the endpoint's model in the stack file)",
    ...REGISTRY_READER_HELP,
    ...COMMON_HELP,
    "",
    ...PREFIX_HELP,
    "",
    "Exit codes: 0 added (or already there, the same size), 1 the version is not approved, its artifact is not in the",
    "            registry bucket, the key holds another object, or AWS refused, 2 bad usage (also: not a multi-model endpoint).",
  ],
  list: [
    `Usage: ${TOOL} list --stage STAGE --endpoint KEY [options]`,
    "",
    "Lists the objects under the endpoint's prefix (ListObjectsV2, every page): the TargetModel of each, its size",
    "in bytes and when it was written. These are the models the endpoint can load; which ones an instance holds",
    "in memory at the moment, SageMaker does not say.",
    "",
    ...COMMON_HELP,
    "",
    ...PREFIX_HELP,
    "",
    "Exit codes: 0 listed (also none), 1 AWS refused, 2 bad usage (also: not a multi-model endpoint).",
  ],
  remove: [
    `Usage: ${TOOL} remove --stage STAGE --endpoint KEY --target TARGET_MODEL [options]`,
    "",
    "Deletes one model from the endpoint's prefix (HeadObject, then DeleteObject). SageMaker unloads it from the",
    "instances' memory lazily: instances that loaded it may still answer for it until then, and invocations naming",
    "it then fail. Stop sending requests for it first.",
    "",
    "  --target NAME       A TargetModel under the endpoint's prefix, such as <model>-v<N>.tar.gz (see models list);",
    "                      no \"/\" or \"..\"",
    ...COMMON_HELP,
    "",
    "Exit codes: 0 removed, 1 no such model or AWS refused, 2 bad usage (also: not a multi-model endpoint).",
  ],
};

const USAGE = [
  `Usage: ${TOOL} <command> [options]`,
  "",
  "The models of a stage's multi-model endpoint, in the stage bucket, as the stage's deployer role by default",
  "(see --role-arn); add reads the registry as its reader role (see --registry-role-arn).",
  "",
  "Commands:",
  "  add       Copy an approved version's artifact under the endpoint's prefix (write-once) and print its TargetModel",
  "  list      The models under the endpoint's prefix: TargetModel, size, last modified",
  "  remove    Delete one model from the endpoint's prefix",
  "",
  ...PREFIX_HELP,
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure or refusal, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

/** For the messages of connectToStage. */
const PURPOSE: StagePurpose = { rights: "that may write multi-model artifacts (list, put and delete under multi-model/ of the stage bucket)", uses: "multi-model artifacts" };

/** A multi-model endpoint of the stage and where its models are. */
interface Target {
  readonly stage: Stage;
  readonly endpoint: StageEndpoint;
  readonly bucket: string;
  readonly prefix: string;
}

class Session extends StageToolSession<ModelsDeps> {
  constructor(deps: ModelsDeps) {
    super(TOOL, deps, PURPOSE, HELP);
  }

  /** The stage and multi-model endpoint the command names, from the project's stack files (no AWS call). */
  target(values: { stage?: string; endpoint?: string }): Target {
    const stage = this.stage(values.stage);
    const endpoint = endpointOf(stage, required(values.endpoint, "endpoint"));
    requireMultiModel(stage, endpoint);
    return { stage, endpoint, bucket: stage.names.bucket, prefix: multiModelPrefix(endpoint.name) };
  }

  /** The stage's S3 client as the stage's deployer role (or --role-arn); stderr says which and why. */
  async bucketAccess(stage: Stage, values: StageAccessValues) {
    const { s3, retry } = await this.connect(stage, values);
    return { s3, retry };
  }
}

const COMMANDS: Commands<Session> = {
  add: async (args, session) => {
    const v = parseOptions(args, ADD_OPTIONS);
    if (v.help) return session.help("add");
    const { io } = session;
    const { stage, endpoint, bucket, prefix } = session.target(v);
    // Every offline check before the first AWS call.
    const version = integerOption(required(v.version, "version"), "version", 1, MAX_VERSION) ?? 0;
    const registry: Registry = { project: stage.config.project, region: stage.config.region };
    const model = v.model ?? endpoint.config.model;
    groupOf(registry, model);
    const targetModel = targetModelOf(model, version);
    const destination = s3Url(bucket, prefix + targetModel);

    const stageSide = await session.bucketAccess(stage, v);
    const reader = await registryReader(TOOL, registry, v, session.deps);
    const artifact = await approvedArtifact(reader.sagemaker, registry, model, version, reader.retry);
    const served = endpoint.config.source;
    if ("image" in served && artifact.image !== undefined && artifact.image !== served.image) {
      io.err(`${TOOL}: note: version ${version} of ${model} was registered with image ${artifact.image}, while endpoint ${endpoint.name} `
        + `runs ${served.image}: its container must be able to load this artifact`);
    }
    io.err(`${TOOL}: copying ${artifact.url} (version ${version} of ${model}, Approved) to ${destination}`);
    const outcome = await copyArtifact(reader.s3, stageSide.s3, artifact, {
      bucket,
      key: prefix + targetModel,
      kmsKeyId: stage.names.kmsAlias,
      metadata: { "model-package-arn": artifact.arn },
    }, {
      retry: stageSide.retry,
      progressStepBytes: session.deps.progressStepBytes,
      onProgress: (copied, total) => io.err(`${TOOL}: ${targetModel}: ${copied} of ${total} bytes (${Math.floor((copied / total) * 100)}%)`),
    });
    const report: AddReport = {
      stage: stage.config.stage,
      endpoint: endpoint.name,
      model,
      version,
      modelPackageArn: artifact.arn,
      source: artifact.url,
      destination,
      targetModel,
      bytes: outcome.bytes,
      copied: outcome.copied,
    };
    print(io, v.json, report, addLines);
    return EXIT.ok;
  },

  list: async (args, session) => {
    const v = parseOptions(args, ACCESS_OPTIONS);
    if (v.help) return session.help("list");
    const { stage, endpoint, bucket, prefix } = session.target(v);
    const { s3, retry } = await session.bucketAccess(stage, v);
    const models = await listModels(s3, bucket, prefix, retry);
    const report: ListReport = { stage: stage.config.stage, endpoint: endpoint.name, prefix: s3Url(bucket, prefix), models };
    print(session.io, v.json, report, listLines);
    return EXIT.ok;
  },

  remove: async (args, session) => {
    const v = parseOptions(args, REMOVE_OPTIONS);
    if (v.help) return session.help("remove");
    const { stage, endpoint, bucket, prefix } = session.target(v);
    const targetModel = checkTarget(required(v.target, "target"), s3Url(bucket, prefix));
    const { s3, retry } = await session.bucketAccess(stage, v);
    await removeModel(s3, bucket, prefix + targetModel, listCommand(stage.config.stage, endpoint.key), retry);
    const report: RemoveReport = {
      stage: stage.config.stage,
      endpoint: endpoint.name,
      targetModel,
      removed: s3Url(bucket, prefix + targetModel),
      note: removeNote(targetModel, stage.config.noncurrentVersionExpirationDays),
    };
    print(session.io, v.json, report, removeLines);
    return EXIT.ok;
  },
};

/** `models <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: ModelsDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runCommands(TOOL, session.io, USAGE, COMMANDS, argv, session);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
