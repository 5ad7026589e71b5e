import type { DescribeTransformJobCommandOutput, SplitType } from "@aws-sdk/client-sagemaker";
import type { WaitingToolDeps } from "./lib/aws";
import {
  checkTransformRequest, createTransformJobInput, describeTransformJob, jobReport, MAX_INSTANCE_COUNT, MAX_PAYLOAD_MIB, reportLines,
  servedModel, SPLIT_TYPES, startedReport, startTransformJob, type TransformRequest, transformInstanceType, transformJobName,
  waitForTransformJob,
} from "./lib/batch";
import {
  CliError, COMMON_OPTIONS, describeKnownError, EXIT, integerOption, isError, parseOptions, print, required, UsageError,
} from "./lib/cli";
import {
  type Commands, endpointOf, formatDuration, isExpiredCredentials, processInterrupt, runCommands, STAGE_ACCESS_HELP, STAGE_ACCESS_OPTIONS,
  type StagePurpose, StageToolSession,
} from "./lib/stage-access";
import { hasLocalInstanceStorage } from "../components/instance-types";
import { SAGEMAKER_NAME_PATTERN } from "../components/names";
import { stackFileName } from "../stacks/config/load";

/** Batch transform of a stage's deployed model over an S3 prefix; the steps live in scripts/lib/batch.ts. */

const TOOL = "batch";

/** What main() can be given instead of the real thing: tests pass a clock, a short poll and a fake Ctrl-C. */
export type BatchDeps = WaitingToolDeps;

const DEFAULT_POLL_MS = 30_000;

const ACCESS_OPTIONS = { ...COMMON_OPTIONS, ...STAGE_ACCESS_OPTIONS, stage: { type: "string" } } as const;
const RUN_OPTIONS = {
  ...ACCESS_OPTIONS,
  "endpoint": { type: "string" },
  "input": { type: "string" },
  "output": { type: "string" },
  "instance-type": { type: "string" },
  "instance-count": { type: "string" },
  "content-type": { type: "string" },
  "split-type": { type: "string" },
  "max-payload-mib": { type: "string" },
  "no-wait": { type: "boolean" },
} as const;
const STATUS_OPTIONS = { ...ACCESS_OPTIONS, job: { type: "string" } } as const;

const COMMON_HELP = [
  ...STAGE_ACCESS_HELP,
  "  --json              Print JSON",
  "  -h, --help          Show this help",
];

const stopCommand = (job: string, region: string) => `aws sagemaker stop-transform-job --transform-job-name ${job} --region ${region}`;
const statusCommand = (stage: string, job: string) => `${TOOL} status --stage ${stage} --job ${job}`;

const HELP: Record<string, readonly string[]> = {
  run: [
    `Usage: ${TOOL} run --stage STAGE --endpoint KEY --input s3://... --output s3://... [options]`,
    "",
    "Runs a SageMaker batch transform job with the model the stage's endpoint serves now (DescribeEndpoint,",
    "then its endpoint configuration's first production variant) over every object under an S3 prefix,",
    "waits for it (progress on stderr every 30 s) and reports its status, duration, output and estimated cost.",
    "The job runs as the model's own execution role, which may read and write only the stage's bucket:",
    "input and output must be there. The output, and the instances' storage volume (except on instance types",
    "with local NVMe storage, which the instance encrypts itself), are encrypted with the stage's KMS key.",
    "",
    "  --stage STAGE             One of the stages of Pulumi.yaml",
    "  --endpoint KEY            An endpoint of the stage's stack file (mlplatform:endpoints.<KEY>)",
    "  --input s3://...          Key prefix in the stage bucket (<service>-<stage>-<account>-<region>): every object under it",
    "  --output s3://...         Key prefix in the stage bucket for the results (<input object>.out), outside --input",
    "  --instance-type TYPE      A batch transform instance type (default: the endpoint's instanceType)",
    `  --instance-count N        1-${MAX_INSTANCE_COUNT} (default: 1)`,
    "  --content-type MIME       MIME type of the input, sent to the container (default: none sent)",
    `  --split-type TYPE         ${SPLIT_TYPES.join(" | ")}: how to cut objects into records (default: None, one`,
    "                            record per object); with Line, the output has one line per input line",
    `  --max-payload-mib N       0-${MAX_PAYLOAD_MIB}: largest request sent to the container (default: SageMaker's, 6)`,
    "  --no-wait                 Start the job, print its name and return",
    ...COMMON_HELP,
    "",
    "Ctrl-C stops waiting, not the job: it keeps running (and billing). Stop it with",
    "  aws sagemaker stop-transform-job --transform-job-name <job> --region <region>",
    "",
    "Exit codes: 0 the job completed (or started, with --no-wait), 1 it failed or was stopped, or AWS refused,",
    "            2 bad usage.",
  ],
  status: [
    `Usage: ${TOOL} status --stage STAGE --job NAME [options]`,
    "",
    "Reports a transform job of the stage: status, failure reason, duration, output and estimated cost.",
    "",
    "  --stage STAGE       One of the stages of Pulumi.yaml",
    "  --job NAME          The job's name, as batch run printed it (<service>-<endpoint>-batch-<UTC time>)",
    ...COMMON_HELP,
    "",
    "Exit codes: 0 the job completed or is still running, 1 it failed or was stopped, or AWS refused, 2 bad usage.",
  ],
};

const USAGE = [
  `Usage: ${TOOL} <command> [options]`,
  "",
  "Batch transform with a stage's deployed model, in the stage's account, as the stage's deployer role",
  "by default (see --role-arn). Input and output live in the stage's bucket.",
  "",
  "Commands:",
  "  run       Run a transform job over an S3 prefix, wait for it and report the result and cost",
  "  status    Report a transform job",
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure, refusal, or a job that failed or was stopped, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];


/** For the messages of connectToStage. */
const PURPOSE: StagePurpose = { rights: "that may run transform jobs", uses: "endpoints and bucket" };

class Session extends StageToolSession<BatchDeps> {
  constructor(deps: BatchDeps) {
    super(TOOL, deps, PURPOSE, HELP);
  }
}

/** Exit code of a job's final (or current) status. */
const exitOf = (status: string) => (status === "Failed" || status === "Stopped" ? EXIT.failure : EXIT.ok);

function splitType(value: string | undefined): SplitType | undefined {
  if (value !== undefined && !SPLIT_TYPES.includes(value)) throw new UsageError(`--split-type must be one of ${SPLIT_TYPES.join(", ")}; got "${value}"`);
  return value as SplitType | undefined;
}

const COMMANDS: Commands<Session> = {
  run: async (args, session) => {
    const v = parseOptions(args, RUN_OPTIONS);
    if (v.help) return session.help("run");
    const { io } = session;
    const stage = session.stage(v.stage);
    const endpoint = endpointOf(stage, required(v.endpoint, "endpoint"));
    const request: TransformRequest = {
      stage,
      endpoint,
      input: required(v.input, "input"),
      output: required(v.output, "output"),
      instanceType: transformInstanceType(endpoint, stackFileName(stage.config.stage), v["instance-type"]),
      instanceCount: integerOption(v["instance-count"], "instance-count", 1, MAX_INSTANCE_COUNT) ?? 1,
      contentType: v["content-type"],
      splitType: splitType(v["split-type"]),
      maxPayloadMiB: integerOption(v["max-payload-mib"], "max-payload-mib", 0, MAX_PAYLOAD_MIB),
    };
    // Every offline check before the first AWS call.
    checkTransformRequest(request);
    const { region, stage: stageName } = stage.config;

    const connection = await session.connect(stage, v);
    const served = await servedModel(connection.sagemaker, { name: endpoint.name, stage: stageName }, connection.retry);
    const job = transformJobName(endpoint.name, session.now());
    const input = createTransformJobInput(request, job, served.modelName);
    io.err(`${TOOL}: endpoint ${served.endpointName} serves model ${served.modelName} (endpoint configuration ${served.endpointConfigName}, `
      + `variant ${served.variantName}); the job runs it as the model's execution role`);
    const volume = hasLocalInstanceStorage(request.instanceType) ? "local NVMe storage, encrypted by the instance" : `volume encrypted with ${stage.names.kmsAlias}`;
    io.err(`${TOOL}: starting transform job ${job}: ${request.instanceCount} x ${request.instanceType} (${volume}), `
      + `${request.input} -> ${request.output} (encrypted with ${stage.names.kmsAlias})`);
    const arn = await startTransformJob(connection.sagemaker, input, statusCommand(stageName, job), connection.retry);

    if (v["no-wait"]) {
      const report = startedReport(input, arn, served);
      print(io, v.json, report, (r) => [
        `started ${r.job} (${r.arn})`,
        `check it: ${statusCommand(stageName, job)}`,
        `stop it:  ${stopCommand(job, region)}`,
      ]);
      return EXIT.ok;
    }

    const unregister = (session.deps.onInterrupt ?? processInterrupt)(() => {
      io.err(`${TOOL}: interrupted: transform job ${job} keeps running (and billing); check it with "${statusCommand(stageName, job)}"`);
      io.err(`${TOOL}: stop it with: ${stopCommand(job, region)}`);
    });
    let described: DescribeTransformJobCommandOutput;
    try {
      described = await waitForTransformJob(async () => {
        try {
          return await describeTransformJob(connection.sagemaker, job, connection.retry);
        } catch (error) {
          if (!isError(error) || !isExpiredCredentials(error)) throw error;
          io.err(`${TOOL}: the credentials expired while waiting; connecting again`);
          await connection.reconnect();
          return describeTransformJob(connection.sagemaker, job, connection.retry);
        }
      }, {
        pollIntervalMs: session.deps.pollIntervalMs ?? DEFAULT_POLL_MS,
        sleep: session.deps.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
        now: () => session.now(),
        onPoll: (status, elapsedMs) => io.err(`${TOOL}: ${job}: ${status}, ${formatDuration(elapsedMs)} elapsed`),
      });
    } catch (error) {
      const known = describeKnownError(error);
      if (known === undefined) throw error;
      throw new CliError(`stopped waiting for transform job ${job}: ${known}; the job keeps running: check it with "${statusCommand(stageName, job)}", `
        + `stop it with "${stopCommand(job, region)}"`);
    } finally {
      unregister();
    }
    const report = jobReport(described, { endpoint: served.endpointName, endpointConfig: served.endpointConfigName });
    print(io, v.json, report, reportLines);
    if (exitOf(report.status) !== EXIT.ok) io.err(`${TOOL}: transform job ${job} ${report.status}${report.failureReason ? `: ${report.failureReason}` : ""}`);
    return exitOf(report.status);
  },

  status: async (args, session) => {
    const v = parseOptions(args, STATUS_OPTIONS);
    if (v.help) return session.help("status");
    const stage = session.stage(v.stage);
    const job = required(v.job, "job");
    const prefix = `${stage.config.project.serviceName}-`;
    if (!SAGEMAKER_NAME_PATTERN.test(job) || !job.startsWith(prefix)) {
      throw new UsageError(`--job must be the name of one of this service's transform jobs, ${prefix}<endpoint>-batch-<UTC time>; got "${job}"`);
    }
    const connection = await session.connect(stage, v);
    const report = jobReport(await describeTransformJob(connection.sagemaker, job, connection.retry));
    print(session.io, v.json, report, reportLines);
    if (exitOf(report.status) !== EXIT.ok) session.io.err(`${TOOL}: transform job ${job} ${report.status}${report.failureReason ? `: ${report.failureReason}` : ""}`);
    return exitOf(report.status);
  },
};

/** `batch <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: BatchDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runCommands(TOOL, session.io, USAGE, COMMANDS, argv, session);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
