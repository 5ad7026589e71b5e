import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { S3Client } from "@aws-sdk/client-s3";
import { DescribeEndpointCommand, type DescribeEndpointCommandOutput, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import {
  type AccountTarget, AWS_CLI_HELP, AWS_CLI_OPTIONS, awsSettings, clientsForAccount, createAwsClients, type RetryOptions, retryingClient,
  type ToolDeps,
} from "./aws";
import { CliError, EXIT, type Io, isError, type OptionSpecs, type ParsedOptions, processIo, required, runTool, UsageError } from "./cli";
import { type AccountRef, endpointNames, roleArn, stageNames, type StageNames } from "../../components/names";
import { readProjectConfig, readStackConfigFiles } from "../../stacks/config/files";
import { loadStackConfig, stackFileName } from "../../stacks/config/load";
import { accountRef, type EndpointConfig, type StackConfig } from "../../stacks/config/schema";

/**
 * What the tools that work on a deployed stage share (batch, variants): the stage and its
 * endpoints from the project's files, the role they act as in the stage's account and the
 * connection as that role, DescribeEndpoint, and the command dispatch of their main().
 */

// ---------------------------------------------------------------------------------------------
// The stage and its endpoints, from the project's files.
// ---------------------------------------------------------------------------------------------

/** One stage of the project: its validated config, account and derived names. */
export interface Stage {
  readonly config: StackConfig;
  readonly account: AccountRef;
  readonly names: StageNames;
}

/** Reads Pulumi.yaml and Pulumi.<stage>.yaml as `pulumi up` would; an unknown stage is bad usage, listing the stages. */
export function readStage(projectDir: string, stage: string): Stage {
  const { project } = readProjectConfig(projectDir);
  const stages = project.stages.map((s) => s.name);
  if (!stages.includes(stage)) throw new UsageError(`unknown stage "${stage}"; the stages of Pulumi.yaml are ${stages.join(", ")}`);
  const config = loadStackConfig(stage, readStackConfigFiles(projectDir, stage));
  const account = accountRef(config.accountId, config.region);
  return { config, account, names: stageNames(project.serviceName, stage, account) };
}

/** An endpoint of the stage, by its key in the stack file, and its physical name. */
export interface StageEndpoint {
  readonly key: string;
  readonly name: string;
  readonly config: EndpointConfig;
}

/** The endpoint `key` of the stage; an unknown key is bad usage, listing the stage's endpoints. */
export function endpointOf(stage: Stage, key: string): StageEndpoint {
  const endpoints = stage.config.endpoints;
  const keys = Object.keys(endpoints);
  const file = stackFileName(stage.config.stage);
  if (keys.length === 0) {
    throw new UsageError(`the ${stage.config.stage} stage has no endpoints (mlplatform:endpoints of ${file} is empty): define one there and deploy it first`);
  }
  if (!Object.prototype.hasOwnProperty.call(endpoints, key)) {
    throw new UsageError(`unknown endpoint "${key}"; the endpoints of ${file} are ${keys.join(", ")}`);
  }
  return { key, name: endpointNames(stage.config.project.serviceName, key).endpoint, config: endpoints[key] };
}

// ---------------------------------------------------------------------------------------------
// Acting in the stage's account.
// ---------------------------------------------------------------------------------------------

/** The role the CLI acts as in the stage's account: the stage's deployer, unless overridden. */
export interface StageRole extends AccountTarget {
  /** "the sandbox stage's deployer role", or "--role-arn". */
  readonly title: string;
  readonly overridden: boolean;
  /** What to say when AssumeRole is denied. */
  readonly deniedHint: string;
}

/**
 * The stage's deployer role, or `override` (--role-arn). `rights` ends the denied message of the
 * deployer role: which role to pass instead, "that may run transform jobs".
 */
export function stageRole(stage: Stage, rights: string, override?: string): StageRole {
  const { project, stage: name, accountId } = stage.config;
  const deployer = `the ${name} stage's deployer role`;
  if (override !== undefined) {
    return {
      accountId,
      roleArn: override,
      title: "--role-arn",
      overridden: true,
      deniedHint: `it was given with --role-arn, instead of ${deployer}, and its trust policy does not admit them`,
    };
  }
  const ci = project.ciPrincipal;
  const admits = ci.type === "github-oidc"
    ? `GitHub Actions jobs of ${ci.repository} in the environment "${name}"`
    : ci.roleArn;
  return {
    accountId,
    roleArn: roleArn(stage.account, stage.names.deployerRole),
    title: deployer,
    overridden: false,
    deniedHint: `it is ${deployer}, whose trust policy admits only the CI principal (${admits}; ciPrincipal in .projenrc.ts); `
      + `run from there, or pass --role-arn with a role of account ${accountId} ${rights}`,
  };
}

/** The options of acting in the stage's account: AWS_CLI_OPTIONS and --role-arn (each tool adds --stage). */
export const STAGE_ACCESS_OPTIONS = { ...AWS_CLI_OPTIONS, "role-arn": { type: "string" } } as const satisfies OptionSpecs;

/** The values of STAGE_ACCESS_OPTIONS, as parseOptions returns them. */
export type StageAccessValues = ParsedOptions<typeof STAGE_ACCESS_OPTIONS>;

/** Help lines of STAGE_ACCESS_OPTIONS. */
export const STAGE_ACCESS_HELP = [
  "  --role-arn ARN      Role in the stage's account to act as, assumed unless the credentials already are it",
  "                      (default: the stage's deployer role, <service>-<stage>-deployer)",
  ...AWS_CLI_HELP,
];

/** What a tool does in the stage's account, for its messages. */
export interface StagePurpose {
  /** The rights a role passed instead of the deployer role needs: "that may run transform jobs" (see stageRole). */
  readonly rights: string;
  /** What the tool uses of the stage, in the service's region, for the --region message: "endpoints and bucket". */
  readonly uses: string;
}

/** The stage's SageMaker and CloudWatch clients as the role the tool acts as, and a way to renew them when the credentials expire. */
export interface StageConnection {
  /** Replaced by reconnect(). */
  sagemaker: SageMakerClient;
  /** With the same credentials as `sagemaker`; replaced by reconnect(). */
  cloudwatch: CloudWatchClient;
  /** With the same credentials as `sagemaker`; replaced by reconnect(). */
  s3: S3Client;
  readonly retry: RetryOptions;
  /** Acts as the role again (a new AssumeRole where it was assumed), for waits longer than the credentials last. */
  readonly reconnect: () => Promise<void>;
}

/** SIGINT while a tool waits: run the handler (it says what goes on), then exit as a shell does after Ctrl-C. */
export const processInterrupt = (handler: () => void): (() => void) => {
  const onSigint = () => {
    handler();
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  return () => { process.off("SIGINT", onSigint); };
};

/** Errors that mean the (assumed) credentials ran out during a long wait. */
const EXPIRED_CREDENTIALS = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired"]);

/** Whether an AWS error says the credentials ran out (then act as the role again and retry). */
export function isExpiredCredentials(error: Error): boolean {
  return EXPIRED_CREDENTIALS.has(error.name);
}

/**
 * What every stage tool's session does the same way (batch, variants, models, deploy): read a stage
 * from the stack files, tell the time, act as the stage's role, print a command's help.
 */
export class StageToolSession<D extends ToolDeps & { readonly now?: () => Date }> {
  readonly io: Io;

  constructor(
    private readonly tool: string,
    readonly deps: D,
    private readonly purpose: StagePurpose,
    private readonly helpText: Readonly<Record<string, readonly string[]>>,
  ) {
    this.io = deps.io ?? processIo;
  }

  /** The stage --stage names, from the project's stack files (no AWS call). */
  stage(name: string | undefined): Stage {
    return readStage(this.deps.cwd ?? process.cwd(), required(name, "stage"));
  }

  now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** Acts as the stage's deployer role (or --role-arn), assumed unless already held; stderr says which and why. */
  connect(stage: Stage, values: StageAccessValues): Promise<StageConnection> {
    return connectToStage(this.tool, this.deps, stage, values, this.purpose);
  }

  help(command: string): number {
    (this.helpText[command] ?? []).forEach((line) => this.io.out(line));
    return EXIT.ok;
  }
}

/**
 * Acts as the stage's deployer role (or --role-arn), assumed unless the credentials already are it;
 * stderr says which and why. A --region other than the service's is bad usage.
 */
export async function connectToStage(
  tool: string, deps: ToolDeps, stage: Stage, values: StageAccessValues, purpose: StagePurpose,
): Promise<StageConnection> {
  const { region, stage: name } = stage.config;
  if (values.region !== undefined && values.region !== region) {
    throw new UsageError(`--region must be ${region}, the service's region, where the ${name} stage's ${purpose.uses} are; got ${values.region}`);
  }
  const { aws, retry } = awsSettings(tool, values, region, deps);
  const createClients = deps.createClients ?? createAwsClients;
  const role = stageRole(stage, purpose.rights, values["role-arn"]);
  const open = () => clientsForAccount(createClients(aws).sts, role, {
    aws, retry, createClients, deniedHint: role.deniedHint, sessionName: `${tool}-${Date.now()}`,
  });
  const access = await open();
  const held = access.via === "assumed" ? "" : ", already held by these credentials";
  const why = role.overridden
    ? `--role-arn${held}, instead of the ${name} stage's deployer role`
    : `${role.title}${held}; --role-arn overrides`;
  (deps.io ?? processIo).err(`${tool}: as ${role.roleArn} (${why})`);
  const connection: StageConnection = {
    sagemaker: access.sagemaker,
    cloudwatch: access.cloudwatch,
    s3: access.s3,
    retry,
    reconnect: async () => {
      const renewed = await open();
      connection.sagemaker = renewed.sagemaker;
      connection.cloudwatch = renewed.cloudwatch;
      connection.s3 = renewed.s3;
    },
  };
  return connection;
}

// ---------------------------------------------------------------------------------------------
// AWS calls and their errors.
// ---------------------------------------------------------------------------------------------

/** How to deploy the stage, for messages about an endpoint that does not exist (or failed). */
export const deployHint = (stage: string) => `deploy the ${stage} stage first (npx projen up:${stage}, or merge and let the deploy workflow run)`;

/** DescribeEndpoint of the stage's endpoint; an endpoint that does not exist is a CliError saying to deploy the stage first. */
export async function describeEndpoint(
  sagemaker: SageMakerClient, endpoint: { name: string; stage: string }, retry: RetryOptions = {},
): Promise<DescribeEndpointCommandOutput> {
  return retryingClient(sagemaker, retry).send(new DescribeEndpointCommand({ EndpointName: endpoint.name })).catch((error: unknown) => {
    if (isError(error) && error.name === "ValidationException" && /could not find/i.test(error.message)) {
      throw new CliError(`endpoint ${endpoint.name} does not exist: ${deployHint(endpoint.stage)}`);
    }
    throw error;
  });
}

const THROTTLING = new Set([
  "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestThrottled",
  "RequestThrottledException", "RequestLimitExceeded", "SlowDown",
]);

/** A throttled request, which the service refused before doing anything. */
export function isThrottlingError(error: unknown): boolean {
  if (!isError(error)) return false;
  const e = error as { $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  return THROTTLING.has(error.name) || e.$metadata?.httpStatusCode === 429 || e.$retryable?.throttling === true;
}

// ---------------------------------------------------------------------------------------------
// Printing and the command line.
// ---------------------------------------------------------------------------------------------

/** `1h02m03s`, `4m05s`, `12s`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}

/** `value` without its undefined keys, so that --json shows none empty. */
export function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A tool's commands by name: each takes the arguments after its name and returns the exit code. */
export type Commands<S> = Record<string, (args: readonly string[], session: S) => Promise<number>>;

/**
 * `<tool> <command> [options]`, under runTool: --help (-h) prints `usage` on stdout (exit 0), no
 * command prints it on stderr (exit 2), an unknown command is bad usage listing the commands.
 * (Nothing here is about stages: scripts/registry.ts has the same main, and this belongs next to
 * runTool in scripts/lib/cli.ts.)
 */
export async function runCommands<S>(
  tool: string, io: Io, usage: readonly string[], commands: Commands<S>, argv: readonly string[], session: S,
): Promise<number> {
  return runTool(tool, io, async () => {
    const [command, ...rest] = argv;
    if (command === "--help" || command === "-h") {
      usage.forEach((line) => io.out(line));
      return EXIT.ok;
    }
    if (command === undefined) {
      usage.forEach((line) => io.err(line));
      return EXIT.usage;
    }
    const run = Object.prototype.hasOwnProperty.call(commands, command) ? commands[command] : undefined;
    if (run === undefined) throw new UsageError(`unknown command "${command}"; commands are ${Object.keys(commands).join(", ")}`);
    return run(rest, session);
  });
}
