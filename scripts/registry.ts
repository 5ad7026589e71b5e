import { ModelApprovalStatus } from "@aws-sdk/client-sagemaker";
import type { ToolDeps } from "./lib/aws";
import { CliError, COMMON_OPTIONS, EXIT, type Io, parseOptions, print, processIo, required, runTool, table, UsageError } from "./lib/cli";
import {
  createModelPackageInput, groupOf, latestApproved, listVersions, modelOfVersionArn, readMetricsFile, type Registry,
  registerVersion, REGISTRY_ACCESS_HELP, REGISTRY_ACCESS_OPTIONS, type RegistryAccessValues, registryClients, type RegistryPurpose,
  setApproval,
} from "./lib/registry";
import { TRAINING_OUTPUT_PREFIX } from "../components/names";
import { readProjectConfig } from "../stacks/config/files";

/** The model registry CLI; the operations live in scripts/lib/registry.ts. */

const TOOL = "registry";

const COMMON_HELP = [
  ...REGISTRY_ACCESS_HELP,
  "  --json              Print JSON",
  "  -h, --help          Show this help",
];
const OPTIONS = { ...COMMON_OPTIONS, ...REGISTRY_ACCESS_OPTIONS } as const;

const REGISTER_OPTIONS = {
  ...OPTIONS,
  "model": { type: "string" },
  "image": { type: "string" },
  "model-data-url": { type: "string" },
  "content-type": { type: "string", multiple: true },
  "response-type": { type: "string", multiple: true },
  "instance-type": { type: "string", multiple: true },
  "metrics": { type: "string" },
  "metrics-s3-uri": { type: "string" },
  "description": { type: "string" },
} as const;
const MODEL_OPTIONS = { ...OPTIONS, model: { type: "string" }, status: { type: "string" } } as const;
const APPROVAL_OPTIONS = { ...OPTIONS, arn: { type: "string" }, description: { type: "string" } } as const;

const HELP: Record<string, readonly string[]> = {
  "register": [
    `Usage: ${TOOL} register --model NAME --image URI --model-data-url s3://... [options]`,
    "", "Registers a new version of a model, pending manual approval.", "",
    "  --model NAME            One of the service's models (Pulumi.yaml)",
    "  --image URI             Inference image in the registry's ECR repository, with a tag or @sha256 digest",
    `  --model-data-url URL    s3:// URL of model.tar.gz in the registry artifact bucket, not under ${TRAINING_OUTPUT_PREFIX}`,
    "  --content-type TYPE     Request MIME type the model accepts (repeatable)",
    "  --response-type TYPE    Response MIME type the model returns (repeatable)",
    "  --instance-type TYPE    Supported real-time instance type (repeatable)",
    '  --metrics FILE.json     Evaluation metrics, {"name": number, ...}: recorded as metric:<name> metadata',
    `  --metrics-s3-uri URL    The same file in the registry bucket (not under ${TRAINING_OUTPUT_PREFIX}): linked as the`,
    "                          model quality report, with its sha256",
    "  --description TEXT      What this version is",
    ...COMMON_HELP,
  ],
  "list": [
    `Usage: ${TOOL} list --model NAME [--status Approved|Rejected|PendingManualApproval] [options]`,
    "", "Lists every version of a model, newest first.", "",
    "  --model NAME        One of the service's models (Pulumi.yaml)",
    "  --status STATUS     Only versions with this approval status",
    ...COMMON_HELP,
  ],
  "approve": [
    `Usage: ${TOOL} approve --arn ARN --description TEXT [options]`,
    "", "Approves a version for deployment, recording why.", "",
    "  --arn ARN           The version's model package ARN",
    "  --description TEXT  Why it is approved (evaluation, review ticket)",
    ...COMMON_HELP,
  ],
  "reject": [
    `Usage: ${TOOL} reject --arn ARN --description TEXT [options]`,
    "", "Rejects a version, recording why.", "",
    "  --arn ARN           The version's model package ARN",
    "  --description TEXT  Why it is rejected",
    ...COMMON_HELP,
  ],
  "latest-approved": [
    `Usage: ${TOOL} latest-approved --model NAME [options]`,
    "", "Prints the ARN of the newest approved version; exits 1 when there is none.", "",
    "  --model NAME        One of the service's models (Pulumi.yaml)",
    ...COMMON_HELP,
  ],
};

const USAGE = [
  `Usage: ${TOOL} <command> [options]`,
  "",
  "The model registry of this service (model package groups in the account of the registry stack).",
  "Each command acts as the registry role of its purpose: register as the publisher, approve and",
  "reject as the approver, list and latest-approved as the reader (see --role-arn).",
  "",
  "Commands:",
  "  register          Register a new model version, pending manual approval",
  "  list              List a model's versions, newest first",
  "  approve           Approve a version for deployment",
  "  reject            Reject a version",
  "  latest-approved   Print the newest approved version's ARN",
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure or refusal, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

/** What every command needs: output, the project's registry and a way to reach it. */
class Session {
  readonly io: Io;
  constructor(private readonly deps: ToolDeps) {
    this.io = deps.io ?? processIo;
  }

  registry(): Registry {
    return readProjectConfig(this.deps.cwd ?? process.cwd());
  }

  /** A SageMaker client acting as the registry role of `purpose` (assumed unless already held) and the retry policy. */
  connect(registry: Registry, purpose: RegistryPurpose, values: RegistryAccessValues) {
    return registryClients(TOOL, registry, purpose, values, this.deps);
  }

  help(command: string): number {
    HELP[command].forEach((line) => this.io.out(line));
    return EXIT.ok;
  }
}

function approvalStatus(value: string | undefined): ModelApprovalStatus | undefined {
  const statuses: readonly string[] = Object.values(ModelApprovalStatus);
  if (value !== undefined && !statuses.includes(value)) throw new UsageError(`--status must be one of ${statuses.join(", ")}; got "${value}"`);
  return value as ModelApprovalStatus | undefined;
}

const splitList = (values: readonly string[] | undefined) => values?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");

const COMMANDS: Record<string, (args: readonly string[], session: Session) => Promise<number>> = {
  "register": async (args, session) => {
    const v = parseOptions(args, REGISTER_OPTIONS);
    if (v.help) return session.help("register");
    const registry = session.registry();
    const input = createModelPackageInput(registry, {
      model: required(v.model, "model"),
      image: required(v.image, "image"),
      modelDataUrl: required(v["model-data-url"], "model-data-url"),
      contentTypes: splitList(v["content-type"]),
      responseTypes: splitList(v["response-type"]),
      instanceTypes: splitList(v["instance-type"]),
      description: v.description,
      report: v.metrics === undefined ? undefined : readMetricsFile(v.metrics),
      reportS3Uri: v["metrics-s3-uri"],
    });
    const { sagemaker, retry } = await session.connect(registry, "publish", v);
    const arn = await registerVersion(sagemaker, input, retry);
    print(session.io, v.json, { arn, model: v.model, group: input.ModelPackageGroupName, approvalStatus: input.ModelApprovalStatus }, (r) => [
      `registered ${r.model}: ${r.arn} (${r.approvalStatus})`,
      `next: ${TOOL} approve --arn ${r.arn} --description "<why>"`,
    ]);
    return EXIT.ok;
  },

  "list": async (args, session) => {
    const v = parseOptions(args, MODEL_OPTIONS);
    if (v.help) return session.help("list");
    const registry = session.registry();
    const group = groupOf(registry, required(v.model, "model"));
    const status = approvalStatus(v.status);
    const { sagemaker, retry } = await session.connect(registry, "read", v);
    const versions = await listVersions(sagemaker, group, { status }, retry);
    print(session.io, v.json, versions, (list) => (list.length === 0
      ? [`no${status ? ` ${status}` : ""} versions in ${group}`]
      : table([["VERSION", "STATUS", "CREATED", "ARN"], ...list.map((x) => [String(x.version ?? "?"), x.approvalStatus, x.createdAt, x.arn])])));
    return EXIT.ok;
  },

  "approve": (args, session) => approval("approve", ModelApprovalStatus.APPROVED, args, session),
  "reject": (args, session) => approval("reject", ModelApprovalStatus.REJECTED, args, session),

  "latest-approved": async (args, session) => {
    const v = parseOptions(args, MODEL_OPTIONS);
    if (v.help) return session.help("latest-approved");
    const registry = session.registry();
    const model = required(v.model, "model");
    const group = groupOf(registry, model);
    const { sagemaker, retry } = await session.connect(registry, "read", v);
    const latest = await latestApproved(sagemaker, group, retry);
    if (latest === undefined) throw new CliError(`${model} has no approved version in ${group}; approve one with "${TOOL} approve --arn ARN --description TEXT"`);
    print(session.io, v.json, latest, (x) => [x.arn]);
    return EXIT.ok;
  },
};

async function approval(command: string, status: "Approved" | "Rejected", args: readonly string[], session: Session): Promise<number> {
  const v = parseOptions(args, APPROVAL_OPTIONS);
  if (v.help) return session.help(command);
  const registry = session.registry();
  const arn = required(v.arn, "arn");
  const model = modelOfVersionArn(registry, arn);
  const description = required(v.description?.trim(), "description");
  if (description.length > 1024) throw new UsageError("--description must be at most 1024 characters");
  const { sagemaker, retry } = await session.connect(registry, "approve", v);
  await setApproval(sagemaker, { arn, status, description }, retry);
  print(session.io, v.json, { arn, model, approvalStatus: status, description }, (r) => [`${r.approvalStatus.toLowerCase()} ${r.model}: ${r.arn}`]);
  return EXIT.ok;
}

/** `registry <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: ToolDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runTool(TOOL, session.io, async () => {
    const [command, ...rest] = argv;
    if (command === "--help" || command === "-h") {
      USAGE.forEach((line) => session.io.out(line));
      return EXIT.ok;
    }
    if (command === undefined) {
      USAGE.forEach((line) => session.io.err(line));
      return EXIT.usage;
    }
    const run = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (run === undefined) throw new UsageError(`unknown command "${command}"; commands are ${Object.keys(COMMANDS).join(", ")}`);
    return run(rest, session);
  });
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
