import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { CliError, integerOption, type Io, isError, type OptionSpecs, type ParsedOptions, processIo } from "./cli";

/**
 * The one factory for the scripts' AWS clients, the project's retry policy, and cross-account
 * access to the registry.
 *
 * Retries: the scripts retry with `withRetries` (throttling, 429, 5xx, transient network errors,
 * exponential backoff with full jitter) and build the SDK clients with `maxAttempts: 1`. One retry
 * layer means attempts never multiply (3 SDK attempts inside 5 of ours would be 15 requests against
 * an API that is already throttling us), and the policy that runs is the one the tests exercise:
 * aws-sdk-client-mock replaces `client.send`, so the SDK's own retry middleware never runs in tests.
 */

/** How to build a client. Everything left out comes from the SDK's default chain. */
export interface AwsOptions {
  /**
   * AWS region.
   * @default - the SDK's chain: AWS_REGION, then the profile's `region`
   */
  readonly region?: string;
  /**
   * Named profile of ~/.aws/config and ~/.aws/credentials.
   * @default - AWS_PROFILE, else "default"
   */
  readonly profile?: string;
  /**
   * Fixed credentials, for example from STS AssumeRole.
   * @default - the SDK's default provider chain (environment, SSO, profile, web identity, IMDS)
   */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
    readonly expiration?: Date;
  };
}

/** The clients the scripts use. */
export interface AwsClients {
  readonly sagemaker: SageMakerClient;
  readonly sts: STSClient;
  /** For metrics (scripts/variants.ts). */
  readonly cloudwatch: CloudWatchClient;
  /** For artifacts (scripts/models.ts). */
  readonly s3: S3Client;
}

/**
 * Builds the scripts' clients. Endpoints come from the SDK as well: AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_SAGEMAKER / AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_CLOUDWATCH / AWS_ENDPOINT_URL_S3
 * and `endpoint_url` in the profile are honoured.
 */
export function createAwsClients(options: AwsOptions = {}): AwsClients {
  const config = {
    // `withRetries` is the scripts' single retry layer (see the module comment).
    maxAttempts: 1,
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
    ...(options.credentials !== undefined ? { credentials: { ...options.credentials } } : {}),
  };
  return {
    sagemaker: new SageMakerClient(config), sts: new STSClient(config), cloudwatch: new CloudWatchClient(config), s3: new S3Client(config),
  };
}

/** The project's retry policy. */
export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * @default 5
   */
  readonly maxAttempts?: number;
  /**
   * Upper bound of the first backoff; it doubles per attempt, and each wait is a random
   * fraction of the bound ("full jitter").
   * @default 200
   */
  readonly baseDelayMs?: number;
  /**
   * Largest single wait.
   * @default 10000
   */
  readonly maxDelayMs?: number;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Math.random */
  readonly random?: () => number;
  /** Called before each wait, for progress output. @default - nothing */
  readonly onRetry?: (retry: { label: string; attempt: number; maxAttempts: number; delayMs: number; error: Error }) => void;
  /** What is being called, for messages ("ListModelPackages"). @default "AWS call" */
  readonly label?: string;
}

/** A call that kept failing with retryable errors until the attempts ran out. */
export class RetryExhaustedError extends CliError {
  constructor(public readonly label: string, public readonly attempts: number, public readonly lastError: Error) {
    const throttled = isThrottling(lastError);
    super(`${label} ${throttled ? "was throttled" : "failed with a transient error"} on all ${attempts} attempts `
      + `(last: ${errorName(lastError)}: ${lastError.message.split("\n")[0]}); `
      + (throttled ? "wait a minute and run it again, or allow more attempts with --max-attempts"
        : "check the network, the region and any AWS_ENDPOINT_URL settings, then run it again"));
    this.name = "RetryExhaustedError";
  }
}

/** The AWS error name, or Node's error code for network errors ("ECONNRESET"). */
export function errorName(error: Error): string {
  const code = (error as AwsErrorShape).code;
  return error.name === "Error" && typeof code === "string" ? code : error.name;
}

const THROTTLING_ERRORS = new Set([
  "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestThrottled",
  "RequestThrottledException", "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException",
]);
/** Node's socket errors the SDK itself treats as transient. */
const TRANSIENT_NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"]);

interface AwsErrorShape {
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  $fault?: string;
  code?: string;
}

function isThrottling(error: Error): boolean {
  const e = error as AwsErrorShape;
  return THROTTLING_ERRORS.has(error.name) || e.$metadata?.httpStatusCode === 429 || e.$retryable?.throttling === true;
}

/** Throttling, 429, any 5xx or server fault, or a transient network error. Quotas (ResourceLimitExceeded) are not. */
export function isRetryable(error: unknown): error is Error {
  if (!isError(error)) return false;
  const e = error as AwsErrorShape;
  const status = e.$metadata?.httpStatusCode;
  return isThrottling(error)
    || (status !== undefined && status >= 500)
    || e.$fault === "server"
    || error.name === "TimeoutError"
    || (e.code !== undefined && TRANSIENT_NETWORK_CODES.has(e.code));
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn`, retrying retryable errors with exponential backoff and jitter; other errors pass through at once. */
export async function withRetries<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  const base = options.baseDelayMs ?? 200;
  const maxDelay = options.maxDelayMs ?? 10_000;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const label = options.label ?? "AWS call";
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (attempt >= maxAttempts) throw new RetryExhaustedError(label, attempt, error);
      const delayMs = Math.round(random() * Math.min(maxDelay, base * 2 ** (attempt - 1)));
      options.onRetry?.({ label, attempt, maxAttempts, delayMs, error });
      await sleep(delayMs);
    }
  }
}

interface Sender {
  send(command: object, ...rest: unknown[]): Promise<unknown>;
}

/**
 * The same client with every `send` run through `withRetries`, labelled with the command's name.
 * It inherits from the client, so SDK paginators (which check `instanceof`) accept it: a throttled
 * page is retried on its own instead of restarting the listing.
 */
export function retryingClient<C extends object>(client: C, options: RetryOptions = {}): C {
  const inner = client as unknown as Sender;
  const send = (command: object, ...rest: unknown[]) => withRetries(() => inner.send(command, ...rest), {
    ...options,
    label: options.label ?? command.constructor.name.replace(/Command$/, ""),
  });
  return Object.create(client, { send: { value: send } }) as C;
}

/** Who the credentials belong to. */
export interface CallerIdentity {
  readonly accountId: string;
  readonly arn: string;
}

export async function callerIdentity(sts: STSClient, retry: RetryOptions = {}): Promise<CallerIdentity> {
  const out = await retryingClient(sts, retry).send(new GetCallerIdentityCommand({}));
  if (out.Account === undefined) throw new CliError("STS GetCallerIdentity returned no account id");
  return { accountId: out.Account, arn: out.Arn ?? "(unknown)" };
}

/** The account to act in and the role to assume there. */
export interface AccountTarget {
  readonly accountId: string;
  readonly roleArn: string;
}

/** How the client's credentials were obtained. */
export type AccessVia =
  /** The caller's own credentials: the caller already is `target.roleArn`. */
  | "caller-role"
  /** Temporary credentials from STS AssumeRole of `target.roleArn`. */
  | "assumed";

/** A SageMaker client (and CloudWatch and S3 clients) for the target account, and how they were obtained. */
export interface AccountAccess {
  readonly sagemaker: SageMakerClient;
  /** With the same credentials as `sagemaker`. */
  readonly cloudwatch: CloudWatchClient;
  /** With the same credentials as `sagemaker`. */
  readonly s3: S3Client;
  readonly caller: CallerIdentity;
  readonly via: AccessVia;
  /** Set when `target.roleArn` was assumed (via "assumed"). */
  readonly assumedRoleArn?: string;
}

export interface AccountAccessOptions {
  /** How to build clients (region, profile). @default - the SDK's chain */
  readonly aws?: AwsOptions;
  readonly retry?: RetryOptions;
  /** @default "mlplatform-<epoch ms>" */
  readonly sessionName?: string;
  /** @default createAwsClients */
  readonly createClients?: (options: AwsOptions) => AwsClients;
  /**
   * Why an AccessDenied of AssumeRole happened and what to do, for its message: the role's purpose
   * and who its trust policy admits ("the publisher role, which registers versions: its trust policy admits ...").
   * @default "its trust policy does not admit them"
   */
  readonly deniedHint?: string;
}

/** `arn:<partition>:iam::<account>:role/<path/><name>`: the partition, account and role name (the path dropped). */
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/;
/** `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`: what GetCallerIdentity says of a role's session. */
const ASSUMED_ROLE_ARN = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[^/]+$/;

/** Whether the caller's credentials are a session of the role `roleArn` (same partition, account and role name). */
export function callerIsRole(caller: CallerIdentity, roleArn: string): boolean {
  const role = ROLE_ARN.exec(roleArn);
  const session = ASSUMED_ROLE_ARN.exec(caller.arn);
  return role !== null && session !== null && session[1] === role[1] && session[2] === role[2] && session[3] === role[3];
}

/**
 * A SageMaker client acting as `target.roleArn` in `target.accountId`: the caller's own credentials
 * when they already are that role, else temporary credentials from STS AssumeRole of it (also from
 * the target account itself: the work needs the role's rights, not just the account).
 */
export async function clientsForAccount(sts: STSClient, target: AccountTarget, options: AccountAccessOptions = {}): Promise<AccountAccess> {
  const create = options.createClients ?? createAwsClients;
  const aws = options.aws ?? {};
  const roleAccount = /^arn:aws[a-z-]*:iam::(\d{12}):role\/.+$/.exec(target.roleArn)?.[1];
  if (roleAccount !== target.accountId) {
    throw new CliError(`role ${target.roleArn} is not a role in account ${target.accountId}, where the work has to happen`);
  }
  const caller = await callerIdentity(sts, options.retry);
  if (callerIsRole(caller, target.roleArn)) {
    const own = create(aws);
    return { sagemaker: own.sagemaker, cloudwatch: own.cloudwatch, s3: own.s3, caller, via: "caller-role" };
  }

  const out = await retryingClient(sts, options.retry).send(new AssumeRoleCommand({
    RoleArn: target.roleArn,
    RoleSessionName: options.sessionName ?? `mlplatform-${Date.now()}`,
  })).catch((error: unknown) => {
    if (isError(error) && error.name === "AccessDenied") {
      throw new CliError(`credentials of account ${caller.accountId} (${caller.arn}) may not assume ${target.roleArn}: `
        + (options.deniedHint ?? "its trust policy does not admit them"));
    }
    throw error;
  });
  const c = out.Credentials;
  if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined) {
    throw new CliError(`STS AssumeRole of ${target.roleArn} returned no credentials`);
  }
  const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  const assumed = create({ ...aws, credentials });
  return { sagemaker: assumed.sagemaker, cloudwatch: assumed.cloudwatch, s3: assumed.s3, caller, via: "assumed", assumedRoleArn: target.roleArn };
}

/** The AWS options every tool takes. */
export const AWS_CLI_OPTIONS = {
  "region": { type: "string" },
  "profile": { type: "string" },
  "max-attempts": { type: "string" },
} as const satisfies OptionSpecs;

/** The values of AWS_CLI_OPTIONS, as parseOptions returns them. */
export type AwsCliValues = ParsedOptions<typeof AWS_CLI_OPTIONS>;

/** Help lines of AWS_CLI_OPTIONS. */
export const AWS_CLI_HELP = [
  "  --region REGION     AWS region (default: aws:region of Pulumi.yaml)",
  "  --profile NAME      AWS profile (default: AWS_PROFILE, else the SDK's default chain)",
  "  --max-attempts N    Attempts per AWS call when throttled or on 5xx errors, 1-20 (default: 5)",
];

/** What a tool's main() can be given instead of the real thing (tests pass mocks and a fast sleep). */
export interface ToolDeps {
  /** Directory holding Pulumi.yaml. @default - process.cwd() */
  readonly cwd?: string;
  /** @default - stdout and stderr */
  readonly io?: Io;
  /** @default createAwsClients */
  readonly createClients?: (options: AwsOptions) => AwsClients;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What a tool that waits can be given instead of the real thing (tests pass a clock, a short poll and a fake Ctrl-C). */
export interface WaitingToolDeps extends ToolDeps {
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Between two looks at what the tool waits for. @default - the tool's own interval */
  readonly pollIntervalMs?: number;
  /**
   * Registers what to do on Ctrl-C while waiting; returns how to unregister it.
   * @default - SIGINT: runs the handler, then exits with 130
   */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

/** Client options and retry policy from a tool's parsed AWS options; retries report progress on stderr. */
export function awsSettings(
  tool: string,
  values: AwsCliValues,
  defaultRegion: string,
  deps: ToolDeps,
): { aws: AwsOptions; retry: RetryOptions } {
  const io = deps.io ?? processIo;
  return {
    aws: { region: values.region ?? defaultRegion, profile: values.profile },
    retry: {
      maxAttempts: integerOption(values["max-attempts"], "max-attempts", 1, 20),
      sleep: deps.sleep,
      onRetry: ({ label, attempt, maxAttempts, delayMs, error }) => io.err(
        `${tool}: ${label}: ${errorName(error)}, retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${maxAttempts})`),
    },
  };
}
