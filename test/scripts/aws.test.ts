import { ListModelPackagesCommand, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import {
  callerIsRole, clientsForAccount, createAwsClients, isRetryable, RetryExhaustedError, retryingClient, withRetries,
} from "../../scripts/lib/aws";
import { CliError } from "../../scripts/lib/cli";

const REGISTRY_ACCOUNT = "404040404041";
const OTHER_ACCOUNT = "404040404042";
const DEPLOYER_ROLE = `arn:aws:iam::${REGISTRY_ACCOUNT}:role/churn-predictor-sandbox-deployer`;

function awsError(name: string, httpStatusCode: number, message = name): SageMakerServiceException {
  return new SageMakerServiceException({ name, message, $fault: httpStatusCode >= 500 ? "server" : "client", $metadata: { httpStatusCode } });
}
const throttled = () => awsError("ThrottlingException", 400, "Rate exceeded");

/** A recorder for withRetries' sleeps: instant, and remembers each delay. */
function fakeSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => { delays.push(ms); } };
}

const savedEnv = { ...process.env };
beforeEach(() => {
  // No machine config may leak in: the tests set exactly the environment they describe.
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  process.env.AWS_CONFIG_FILE = "/nonexistent/aws-config";
  process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/aws-credentials";
});
afterEach(() => {
  process.env = { ...savedEnv };
});

type BuildStep = (next: unknown) => (args: { request: unknown }) => Promise<never>;

/** The URL a real request of this client goes to: resolved by the SDK, captured before anything is sent. */
async function requestUrl(client: SageMakerClient | STSClient): Promise<string> {
  let url = "";
  const capture: BuildStep = () => async (args) => {
    const request = args.request as { protocol: string; hostname: string; port?: number };
    url = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}`;
    throw new Error("request captured");
  };
  (client.middlewareStack as { add(step: BuildStep, options: { step: "build"; name: string }): void })
    .add(capture, { step: "build", name: "captureRequestUrl" });
  const sent = client instanceof SageMakerClient
    ? client.send(new ListModelPackagesCommand({}))
    : client.send(new GetCallerIdentityCommand({}));
  await expect(sent).rejects.toThrow("request captured");
  return url;
}

describe("createAwsClients", () => {
  beforeEach(() => {
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "secret";
  });

  test("a region given is the clients' region, over AWS_REGION", async () => {
    // GIVEN
    process.env.AWS_REGION = "us-east-2";
    // WHEN
    const { sagemaker, sts } = createAwsClients({ region: "ap-southeast-4" });
    // THEN
    expect(await sagemaker.config.region()).toBe("ap-southeast-4");
    expect(await sts.config.region()).toBe("ap-southeast-4");
  });

  test("without a region the clients take AWS_REGION from the environment", async () => {
    // GIVEN
    process.env.AWS_REGION = "ap-southeast-2";
    // WHEN
    const { sagemaker } = createAwsClients();
    // THEN
    expect(await sagemaker.config.region()).toBe("ap-southeast-2");
  });

  test("AWS_ENDPOINT_URL_SAGEMAKER sends SageMaker requests there, and only SageMaker requests", async () => {
    // GIVEN
    process.env.AWS_ENDPOINT_URL_SAGEMAKER = "http://localhost:4566";
    // WHEN
    const { sagemaker, sts } = createAwsClients({ region: "ap-southeast-4" });
    // THEN
    expect(await requestUrl(sagemaker)).toBe("http://localhost:4566");
    expect(await requestUrl(sts)).toBe("https://sts.ap-southeast-4.amazonaws.com");
  });

  test("AWS_ENDPOINT_URL sends every client's requests there", async () => {
    // GIVEN
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:4000";
    // WHEN
    const { sagemaker, sts } = createAwsClients({ region: "ap-southeast-4" });
    // THEN
    expect(await requestUrl(sagemaker)).toBe("http://127.0.0.1:4000");
    expect(await requestUrl(sts)).toBe("http://127.0.0.1:4000");
  });

  test("without endpoint settings requests go to the regional AWS endpoint", async () => {
    // WHEN
    const { sagemaker } = createAwsClients({ region: "ap-southeast-4" });
    // THEN
    expect(await requestUrl(sagemaker)).toBe("https://api.sagemaker.ap-southeast-4.amazonaws.com");
  });

  test("the SDK makes one attempt per request, so it never multiplies withRetries' attempts", async () => {
    // WHEN
    const { sagemaker, sts } = createAwsClients({ region: "ap-southeast-4" });
    // THEN
    expect(await sagemaker.config.maxAttempts()).toBe(1);
    expect(await sts.config.maxAttempts()).toBe(1);
  });

  test("a profile given is passed to the SDK, which reads region and credentials from it", () => {
    // WHEN
    const { sagemaker } = createAwsClients({ profile: "ml-registry" });
    // THEN
    expect((sagemaker.config as { profile?: string }).profile).toBe("ml-registry");
  });
});

describe("withRetries", () => {
  test("throttling then success returns the result after backing off exponentially", async () => {
    // GIVEN
    const { delays, sleep } = fakeSleep();
    const fn = jest.fn<Promise<string>, []>()
      .mockRejectedValueOnce(throttled())
      .mockRejectedValueOnce(throttled())
      .mockResolvedValueOnce("done");
    // WHEN
    const result = await withRetries(fn, { sleep, random: () => 1, baseDelayMs: 200 });
    // THEN
    expect(result).toBe("done");
    expect(fn).toHaveBeenCalledTimes(3);
    expect(delays).toEqual([200, 400]);
  });

  test("each wait is a random fraction of the exponential bound (jitter), capped at maxDelayMs", async () => {
    // GIVEN
    const { delays, sleep } = fakeSleep();
    const fn = jest.fn<Promise<string>, []>().mockRejectedValue(throttled());
    // WHEN
    await expect(withRetries(fn, { sleep, random: () => 0.5, baseDelayMs: 100, maxDelayMs: 300, maxAttempts: 5 })).rejects.toThrow();
    // THEN
    expect(delays).toEqual([50, 100, 150, 150]);
  });

  test("throttling beyond the attempts fails with a clear message naming the call and the count", async () => {
    // GIVEN
    const { delays, sleep } = fakeSleep();
    const fn = jest.fn<Promise<string>, []>().mockRejectedValue(throttled());
    // WHEN
    const outcome = withRetries(fn, { sleep, maxAttempts: 3, label: "ListModelPackages" });
    // THEN
    await expect(outcome).rejects.toThrow(RetryExhaustedError);
    await expect(outcome).rejects.toThrow(
      "ListModelPackages was throttled on all 3 attempts (last: ThrottlingException: Rate exceeded); wait a minute and run it again, or allow more attempts with --max-attempts");
    expect(fn).toHaveBeenCalledTimes(3);
    expect(delays).toHaveLength(2);
  });

  test("transient errors beyond the attempts point at the network, not at throttling", async () => {
    // GIVEN
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    // WHEN
    const outcome = withRetries(() => Promise.reject(reset), { sleep: fakeSleep().sleep, maxAttempts: 2, label: "GetCallerIdentity" });
    // THEN
    await expect(outcome).rejects.toThrow("GetCallerIdentity failed with a transient error on all 2 attempts (last: ECONNRESET: socket hang up); check the network");
  });

  test("a non-retryable error is thrown at once, unchanged", async () => {
    // GIVEN
    const { delays, sleep } = fakeSleep();
    const denied = awsError("ValidationException", 400, "bad input");
    const fn = jest.fn<Promise<string>, []>().mockRejectedValue(denied);
    // WHEN
    const outcome = withRetries(fn, { sleep });
    // THEN
    await expect(outcome).rejects.toBe(denied);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(delays).toEqual([]);
  });

  test.each([
    ["ThrottlingException (400)", throttled()],
    ["TooManyRequestsException", awsError("TooManyRequestsException", 400)],
    ["any 429", awsError("SomethingElse", 429)],
    ["InternalFailure (500)", awsError("InternalFailure", 500)],
    ["ServiceUnavailable (503)", awsError("ServiceUnavailable", 503)],
    ["a reset socket", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
  ])("%s is retried", (_name, error) => {
    expect(isRetryable(error)).toBe(true);
  });

  test.each([
    ["ResourceLimitExceeded (a quota, not a throttle)", awsError("ResourceLimitExceeded", 400)],
    ["AccessDeniedException", awsError("AccessDeniedException", 403)],
    ["ValidationException", awsError("ValidationException", 400)],
    ["a bug", new TypeError("x is undefined")],
  ])("%s is not retried", (_name, error) => {
    expect(isRetryable(error)).toBe(false);
  });
});

describe("retryingClient", () => {
  test("retries a throttled send and labels its errors with the command name", async () => {
    // GIVEN
    const client = new SageMakerClient({ region: "ap-southeast-4" });
    const mock = mockClient(client);
    mock.on(ListModelPackagesCommand).rejects(throttled());
    const { delays, sleep } = fakeSleep();
    // WHEN
    const outcome = retryingClient(client, { sleep, maxAttempts: 2 }).send(new ListModelPackagesCommand({}));
    // THEN
    await expect(outcome).rejects.toThrow("ListModelPackages was throttled on all 2 attempts");
    expect(mock.commandCalls(ListModelPackagesCommand)).toHaveLength(2);
    expect(delays).toHaveLength(1);
  });

  test("is still an instance of the client class, as SDK paginators require", () => {
    const client = new SageMakerClient({ region: "ap-southeast-4" });
    expect(retryingClient(client)).toBeInstanceOf(SageMakerClient);
  });
});

const mockSts = (client: STSClient) => mockClient(client);

describe("clientsForAccount", () => {
  const target = { accountId: REGISTRY_ACCOUNT, roleArn: DEPLOYER_ROLE };
  let sts: STSClient;
  let stsMock: ReturnType<typeof mockSts>;
  beforeEach(() => {
    sts = new STSClient({ region: "ap-southeast-4" });
    stsMock = mockSts(sts);
  });

  test("a caller in another account assumes the role and gets a SageMaker client with its temporary credentials", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: OTHER_ACCOUNT, Arn: `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/ci/run-1` });
    const expiration = new Date("2030-01-01T00:00:00Z");
    stsMock.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: "ASIATEMP", SecretAccessKey: "temp-secret", SessionToken: "temp-token", Expiration: expiration },
    });
    // WHEN
    const access = await clientsForAccount(sts, target, { aws: { region: "ap-southeast-4" }, sessionName: "registry-test" });
    // THEN
    expect(stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input)).toEqual([{ RoleArn: DEPLOYER_ROLE, RoleSessionName: "registry-test" }]);
    expect(access.assumedRoleArn).toBe(DEPLOYER_ROLE);
    const credentials = await access.sagemaker.config.credentials();
    expect(credentials).toMatchObject({ accessKeyId: "ASIATEMP", secretAccessKey: "temp-secret", sessionToken: "temp-token", expiration });
    expect(await access.sagemaker.config.region()).toBe("ap-southeast-4");
  });

  test("a refused AssumeRole says which account may not assume which role", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: OTHER_ACCOUNT, Arn: `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/dev/bob` });
    stsMock.on(AssumeRoleCommand).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    // WHEN
    const outcome = clientsForAccount(sts, target);
    // THEN
    await expect(outcome).rejects.toThrow(CliError);
    await expect(outcome).rejects.toThrow(new CliError(
      `credentials of account ${OTHER_ACCOUNT} (arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/dev/bob) may not assume ${DEPLOYER_ROLE}: its trust policy does not admit them`));
  });

  test("a caller in the target account that is not the role still assumes it: the account alone grants no rights", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: REGISTRY_ACCOUNT, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT}:assumed-role/dev/alice` });
    stsMock.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAROLE", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
    // WHEN
    const access = await clientsForAccount(sts, target, { aws: { region: "ap-southeast-4" } });
    // THEN
    expect(stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn)).toEqual([DEPLOYER_ROLE]);
    expect(access.via).toBe("assumed");
    expect(await access.sagemaker.config.credentials()).toMatchObject({ accessKeyId: "ASIAROLE" });
  });

  test("a caller that already is the role keeps its own credentials", async () => {
    // GIVEN the caller is a session of the target role
    stsMock.on(GetCallerIdentityCommand).resolves({
      Account: REGISTRY_ACCOUNT, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT}:assumed-role/churn-predictor-sandbox-deployer/GitHubActions`,
    });
    const createClients = jest.fn(createAwsClients);
    // WHEN
    const access = await clientsForAccount(sts, target, { aws: { region: "ap-southeast-4" }, createClients });
    // THEN
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(access.via).toBe("caller-role");
    expect(access.assumedRoleArn).toBeUndefined();
    expect(createClients).toHaveBeenCalledWith({ region: "ap-southeast-4" });
  });

  test("a refused AssumeRole carries the caller's hint of who may assume the role", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: REGISTRY_ACCOUNT, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT}:assumed-role/dev/bob` });
    stsMock.on(AssumeRoleCommand).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    // WHEN
    const outcome = clientsForAccount(sts, target, { deniedHint: "it is the X role; its trust policy admits Y" });
    // THEN
    await expect(outcome).rejects.toThrow(new CliError(
      `credentials of account ${REGISTRY_ACCOUNT} (arn:aws:sts::${REGISTRY_ACCOUNT}:assumed-role/dev/bob) may not assume ${DEPLOYER_ROLE}: `
      + "it is the X role; its trust policy admits Y"));
  });

  test("a role outside the target account is refused before any call", async () => {
    // WHEN
    const outcome = clientsForAccount(sts, { accountId: REGISTRY_ACCOUNT, roleArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/x` });
    // THEN
    await expect(outcome).rejects.toThrow(`role arn:aws:iam::${OTHER_ACCOUNT}:role/x is not a role in account ${REGISTRY_ACCOUNT}`);
    expect(stsMock.calls()).toHaveLength(0);
  });

  test("a throttled GetCallerIdentity is retried", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand)
      .rejectsOnce(new STSServiceException({ name: "Throttling", message: "Rate exceeded", $fault: "client", $metadata: { httpStatusCode: 400 } }))
      .resolves({ Account: REGISTRY_ACCOUNT, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT}:assumed-role/churn-predictor-sandbox-deployer/run` });
    // WHEN (the caller already is the role: no AssumeRole)
    const access = await clientsForAccount(sts, target, { retry: { sleep: fakeSleep().sleep } });
    // THEN
    expect(access.caller.accountId).toBe(REGISTRY_ACCOUNT);
    expect(stsMock.commandCalls(GetCallerIdentityCommand)).toHaveLength(2);
  });
});

describe("callerIsRole", () => {
  const role = `arn:aws:iam::${REGISTRY_ACCOUNT}:role/churn-predictor-registry-publisher`;
  const session = (account: string, name: string, partition = "aws") => ({ accountId: account, arn: `arn:${partition}:sts::${account}:assumed-role/${name}/run-1` });

  test("a session of the role is the role", () => {
    expect(callerIsRole(session(REGISTRY_ACCOUNT, "churn-predictor-registry-publisher"), role)).toBe(true);
  });

  test("a session of a role with a path is matched by the role's name (assumed-role ARNs have no path)", () => {
    expect(callerIsRole(session(REGISTRY_ACCOUNT, "churn-predictor-registry-publisher"),
      `arn:aws:iam::${REGISTRY_ACCOUNT}:role/ml/churn-predictor-registry-publisher`)).toBe(true);
  });

  test.each([
    ["the same name in another account", session(OTHER_ACCOUNT, "churn-predictor-registry-publisher")],
    ["another role of the account", session(REGISTRY_ACCOUNT, "churn-predictor-registry-approver")],
    ["a role whose name starts with the role's", session(REGISTRY_ACCOUNT, "churn-predictor-registry-publisher-old")],
    ["another partition", session(REGISTRY_ACCOUNT, "churn-predictor-registry-publisher", "aws-cn")],
    ["an IAM user", { accountId: REGISTRY_ACCOUNT, arn: `arn:aws:iam::${REGISTRY_ACCOUNT}:user/churn-predictor-registry-publisher` }],
  ])("%s is not the role", (_name, caller) => {
    expect(callerIsRole(caller, role)).toBe(false);
  });
});
