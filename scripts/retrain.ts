import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AWS_CLI_HELP, type AwsOptions, awsSettings, clientsForAccount, createAwsClients, type ToolDeps } from "./lib/aws";
import { CliError, COMMON_OPTIONS, describeKnownError, EXIT, type Io, parseOptions, print, processIo, required, table, UsageError } from "./lib/cli";
import { groupOf, type Registry, REGISTRY_ACCESS_OPTIONS, type RegistryAccessValues, registryAccount, type RegistryPurpose, registryRole } from "./lib/registry";
import { loadRetrainingConfig, modelRetraining, RETRAINING_FILE } from "./lib/retrain/config";
import { newRunId, RUN_ID } from "./lib/retrain/data";
import { resolveConnection } from "./lib/retrain/database";
import { type RunContext, type RunOutcome, runSteps } from "./lib/retrain/run";
import { listRuns, nextStep, readRunState, RUN_STEPS, type RunStep, type StepRecords } from "./lib/retrain/run-state";
import type { RetrainClients } from "./lib/retrain/tuning";
import { type Commands, runCommands } from "./lib/stage-access";
import { registryNames } from "../components/names";
import { readProjectConfig } from "../stacks/config/files";

/** The retraining loop of a model; the run and its state live in scripts/lib/retrain/run.ts, its steps beside it. */

const TOOL = "retrain";

/** What main() can be given instead of the real thing: tests pass a clock, a short poll, the environment and clients. */
export interface RetrainDeps extends ToolDeps {
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Between two polls of a job. @default - each step's own: tuning 60 s, evaluation 30 s */
  readonly pollIntervalMs?: number;
  /** Where PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD are read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The Secrets Manager client of database.secretArn, with the publisher's credentials. @default - a SecretsManagerClient */
  readonly createSecretsClient?: (options: AwsOptions) => SecretsManagerClient;
  /** Parent of the data step's temporary directory. @default - the system's */
  readonly workDir?: string;
}

const BASE_OPTIONS = { ...COMMON_OPTIONS, ...REGISTRY_ACCESS_OPTIONS, "model": { type: "string" }, "run-id": { type: "string" } } as const;
const START_OPTIONS = { ...BASE_OPTIONS, testing: { type: "boolean" } } as const;

const COMMON_HELP = [
  "  --model NAME        One of the service's models with a section in retraining.yaml",
  "  --role-arn ARN      Role in the registry account to act as, assumed unless the credentials already are it",
  "                      (default: the registry's publisher role; its reader role for status)",
  ...AWS_CLI_HELP,
  "  --json              Print one JSON object at the end",
  "  -h, --help          Show this help",
];
const RESUME_HELP = [
  "",
  "State: one write-once object per completed step, runs/<model>/<run id>/<step>.json in the registry's artifact",
  "bucket. Progress goes to stderr, on every wait. A job keeps running when the command stops: run it again with",
  "the same --run-id to wait for it, or to start a new attempt after a job that failed.",
];
const TESTING_HELP = "  --testing           Testing mode: one training job (recorded by the run: a resumed run keeps its mode)";
const stepHelp = (step: RunStep, what: string): readonly string[] => [
  `Usage: ${TOOL} ${step} --model NAME --run-id ID [options]`,
  "", what, `The run's earlier steps must have completed (${TOOL} status shows them).`, "",
  "  --run-id ID         The run, as retrain run printed it",
  ...COMMON_HELP, ...RESUME_HELP,
];

const HELP: Record<string, readonly string[]> = {
  run: [
    `Usage: ${TOOL} run --model NAME [--testing] [--run-id ID] [options]`,
    "",
    "Runs the whole retraining loop of a model, in order: data (PostgreSQL to CSV datasets in the registry bucket),",
    "tune (a warm-started hyperparameter tuning job of the built-in XGBoost), evaluate (a batch transform of the test",
    "split: MAE, RMSE, error std) and register (a new version of the model's package group, PendingManualApproval).",
    "Everything runs as the registry's publisher role; the SageMaker jobs run as its training role.",
    "",
    "  --run-id ID         Resume this run after its last completed step (default: a new run, <UTC time>-<random>)",
    TESTING_HELP,
    ...COMMON_HELP, ...RESUME_HELP,
    "",
    "Exit codes: 0 the version is registered, 1 a step failed (resume with --run-id) or AWS refused, 2 bad usage.",
  ],
  data: [
    `Usage: ${TOOL} data --model NAME [--run-id ID] [--testing] [options]`,
    "", `Queries the database of ${RETRAINING_FILE} for the model's window, splits the rows and uploads the dataset and its`,
    "manifest under datasets/<model>/<run id>/. Nothing is uploaded when the database cannot be reached.", "",
    "  --run-id ID         The run (default: a new run)",
    TESTING_HELP,
    ...COMMON_HELP, ...RESUME_HELP,
  ],
  tune: stepHelp("tune", "Tunes the built-in XGBoost on the run's dataset, warm-started from the tuning history, and waits for the job."),
  evaluate: stepHelp("evaluate", "Predicts the run's test split with the best training job's model in a batch transform; MAE, RMSE, error std."),
  register: stepHelp("register", "Copies the best model to a write-once key and registers it, with its metrics, pending manual approval."),
  status: [
    `Usage: ${TOOL} status --model NAME [--run-id ID] [options]`,
    "", "Shows a run's completed steps and their outputs, or, without --run-id, every run of the model, newest first.", "",
    "  --run-id ID         The run",
    ...COMMON_HELP,
  ],
};

const USAGE = [
  `Usage: ${TOOL} <command> [options]`,
  "",
  `The retraining loop of a model (${RETRAINING_FILE}), resumable: each completed step is recorded in the registry's`,
  "artifact bucket, and a run given again with --run-id continues after its last completed step.",
  "",
  "Commands:",
  "  run        All steps in order: data, tune, evaluate, register",
  "  data       Query the database and upload the run's dataset",
  "  tune       Warm-started hyperparameter tuning of the built-in XGBoost",
  "  evaluate   Batch transform of the test split, and its metrics",
  "  register   Register the best model, pending manual approval",
  "  status     A run's steps, or a model's runs",
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure or refusal, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

/** What every command needs: output, the project's registry, and a way to reach it. */
class Session {
  readonly io: Io;
  readonly cwd: string;
  constructor(readonly deps: RetrainDeps) {
    this.io = deps.io ?? processIo;
    this.cwd = deps.cwd ?? process.cwd();
  }

  now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  help(command: string): number {
    HELP[command].forEach((line) => this.io.out(line));
    return EXIT.ok;
  }

  /** The project's registry and the model, checked against the service's models. */
  target(model: string | undefined): { registry: Registry; model: string } {
    const registry: Registry = readProjectConfig(this.cwd);
    const name = required(model, "model");
    groupOf(registry, name);
    return { registry, model: name };
  }

  /**
   * S3 and SageMaker clients of the registry role of `purpose` (assumed unless the credentials
   * already are it), and a Secrets Manager client with the same credentials; stderr says which role.
   */
  async connect(registry: Registry, purpose: RegistryPurpose, values: RegistryAccessValues) {
    const { aws, retry } = awsSettings(TOOL, values, registry.region, this.deps);
    const create = this.deps.createClients ?? createAwsClients;
    const role = registryRole(registry, purpose, values["role-arn"]);
    let used: AwsOptions = aws;
    const access = await clientsForAccount(create(aws).sts, role, {
      aws, retry, deniedHint: role.deniedHint, sessionName: `${TOOL}-${Date.now()}`, createClients: (options) => { used = options; return create(options); },
    });
    const held = access.via === "assumed" ? "" : ", already held by these credentials";
    const why = role.label === "--role-arn" ? `--role-arn${held}, instead of ${role.defaultTitle}` : `${role.title}${held}; --role-arn overrides`;
    this.io.err(`${TOOL}: as ${role.roleArn} (${why})`);
    const secrets = () => (this.deps.createSecretsClient ?? ((o: AwsOptions) => new SecretsManagerClient({ maxAttempts: 1, ...o })))(used);
    const clients: RetrainClients = { sagemaker: access.sagemaker, s3: access.s3 };
    return { clients, retry, secrets };
  }
}

/** The run id of the command line, or a new one; a malformed id is bad usage. */
function runIdOf(session: Session, value: string | undefined, needed: boolean): { runId: string; given: boolean } {
  if (value === undefined) {
    if (needed) throw new UsageError("--run-id is required: the run whose step this is (retrain status --model NAME lists them)");
    return { runId: newRunId(session.now()), given: false };
  }
  if (!RUN_ID.test(value)) throw new UsageError(`--run-id must be lowercase letters, digits and inner hyphens, at most 40 characters, as retrain run printed it; got "${value}"`);
  return { runId: value, given: true };
}

/** The lines of a run's completed steps. */
function stepLines(steps: Partial<StepRecords>): string[] {
  const { data, tune, evaluate, register } = steps;
  const cells: [RunStep, string | undefined][] = [
    ["data", data && `${data.rows.total} rows (train ${data.rows.train}, validation ${data.rows.validation}, test ${data.rows.test}), `
      + `window ${data.window.start} to ${data.window.end} (excluded)${data.testing ? ", testing mode" : ""}: ${data.manifestUrl}`],
    ["tune", tune && `${tune.tuningJob}: best ${tune.bestTrainingJob}, ${tune.objectiveMetric} ${tune.bestObjectiveValue} `
      + `(${tune.trainingJobCount} training jobs${tune.warmStart ? `, warm start ${tune.warmStart.type} from ${tune.warmStart.parents.join(", ")}` : ""})`],
    ["evaluate", evaluate && `MAE ${evaluate.metrics.mae}, RMSE ${evaluate.metrics.rmse}, error std ${evaluate.metrics.errorStd} `
      + `over ${evaluate.metrics.rows} test rows (${evaluate.transformJob})`],
    ["register", register && `${register.modelPackageArn} (registered pending manual approval), model ${register.modelDataUrl}`],
  ];
  return table(cells.map(([step, text]) => [step, text ?? "not completed"]));
}

/** The report of a run: its outputs, and what to do next. */
function outcomeLines(outcome: RunOutcome): string[] {
  const skipped = outcome.skipped.length > 0 ? ` (completed earlier: ${outcome.skipped.join(", ")})` : "";
  const next = nextStep(outcome);
  const arn = outcome.steps.register?.modelPackageArn;
  return [
    `run ${outcome.runId} of ${outcome.model}${outcome.testing ? " (testing mode)" : ""}: ran ${outcome.ran.join(", ") || "nothing"}${skipped}`,
    ...stepLines(outcome.steps).map((line) => `  ${line}`),
    arn !== undefined ? `next: review the version and approve or reject it: npx projen registry approve --arn ${arn} --description "<why>"`
      : `next: npx projen ${TOOL} ${next ?? "run"} --model ${outcome.model} --run-id ${outcome.runId}`,
  ];
}

/** Runs `steps` of a run as the publisher; a failure says how to resume. */
async function runCommand(command: "run" | RunStep, args: readonly string[], session: Session): Promise<number> {
  const v = parseOptions(args, START_OPTIONS);
  if (v.help) return session.help(command);
  if (v.testing && command !== "run" && command !== "data") throw new UsageError(`--testing is chosen when a run starts (retrain run or retrain data), not by ${command}`);
  const { registry, model } = session.target(v.model);
  const config = loadRetrainingConfig(session.cwd, registry.project.models);
  const spec = modelRetraining(config, model);
  // The publisher may read one secret: the one the service definition names (its policy and boundary grant it).
  const granted = registry.project.retrainingDatabaseSecretArn;
  if (config.database.secretArn !== undefined && config.database.secretArn !== granted) {
    throw new CliError(`${RETRAINING_FILE}: database.secretArn ${config.database.secretArn} is not the secret the publisher may read `
      + `(${granted === undefined ? "the service definition names none" : `the service definition's retrainingDatabaseSecretArn is ${granted}`}): `
      + "set retrainingDatabaseSecretArn in .projenrc.ts to it, run npx projen, and have an administrator deploy the registry stack");
  }
  const { runId, given } = runIdOf(session, v["run-id"], command !== "run" && command !== "data");
  const { clients, retry, secrets } = await session.connect(registry, "publish", v);
  session.io.err(`${TOOL}: ${given ? "continuing" : "starting"} run ${runId} of ${model}`);
  const ctx: RunContext = {
    registry,
    model,
    runId,
    spec,
    clients,
    connection: () => resolveConnection(config.database, {
      dir: session.cwd, env: session.deps.env ?? process.env, retry, ...config.database.secretArn === undefined ? {} : { secrets: secrets() },
    }),
    testing: v.testing,
    now: () => session.now(),
    sleep: session.deps.sleep,
    pollIntervalMs: session.deps.pollIntervalMs,
    retry,
    progress: (line) => session.io.err(`${TOOL}: ${line}`),
    workDir: session.deps.workDir,
  };
  let outcome: RunOutcome;
  try {
    outcome = await runSteps(ctx, command === "run" ? RUN_STEPS : [command]);
  } catch (error) {
    const known = describeKnownError(error);
    if (known === undefined) throw error;
    throw new CliError(`${known} (run ${runId} of ${model}: once that is fixed, resume it with "npx projen ${TOOL} run --model ${model} --run-id ${runId}")`);
  }
  print(session.io, v.json, outcome, outcomeLines);
  return EXIT.ok;
}

const COMMANDS: Commands<Session> = {
  run: (args, session) => runCommand("run", args, session),
  data: (args, session) => runCommand("data", args, session),
  tune: (args, session) => runCommand("tune", args, session),
  evaluate: (args, session) => runCommand("evaluate", args, session),
  register: (args, session) => runCommand("register", args, session),

  status: async (args, session) => {
    const v = parseOptions(args, BASE_OPTIONS);
    if (v.help) return session.help("status");
    const { registry, model } = session.target(v.model);
    const runId = v["run-id"] === undefined ? undefined : runIdOf(session, v["run-id"], true).runId;
    const bucket = registryNames(registry.project.serviceName, registryAccount(registry)).artifactBucket;
    const { clients, retry } = await session.connect(registry, "read", v);
    if (runId === undefined) {
      const runs = await listRuns(clients.s3, bucket, model, retry);
      print(session.io, v.json, { model, runs }, (r) => (r.runs.length === 0 ? [`no retraining runs of ${model} yet`]
        : table([["RUN", "COMPLETED", "NEXT"], ...r.runs.map((x) => [x.runId, x.completed.join(", ") || "-", x.next ?? "done"])])));
      return EXIT.ok;
    }
    const state = await readRunState(clients.s3, bucket, model, runId, retry);
    const completed = RUN_STEPS.filter((s) => state.steps[s] !== undefined);
    const report = { model, runId, completed, next: nextStep(state), steps: state.steps, attempts: state.attempts };
    print(session.io, v.json, report, (r) => [
      `run ${r.runId} of ${r.model}: ${r.completed.length === 0 ? "no step completed" : `completed ${r.completed.join(", ")}`}`,
      ...stepLines(r.steps).map((line) => `  ${line}`),
      ...[...r.attempts.tune, ...r.attempts.evaluate].map((a) => `  attempt ${a.number} of ${a.step}: ${a.job} (started ${a.startedAt})`),
      r.next === undefined ? "done" : `next: npx projen ${TOOL} run --model ${r.model} --run-id ${r.runId}`,
    ]);
    return EXIT.ok;
  },
};

/** `retrain <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: RetrainDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runCommands(TOOL, session.io, USAGE, COMMANDS, argv, session);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
