import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { main } from "../../scripts/assert-account";
import { AccountMismatchError, assertAccount } from "../../scripts/lib/account-guard";
import { readProjectConfig } from "../../stacks/config/files";
import type { ProjectConfig } from "../../stacks/config/schema";
import { FIXTURE_ROOT } from "../fixtures/project";

const stsMock = mockClient(STSClient);
beforeEach(() => stsMock.reset());

const callerIn = (accountId: string) => ({ Account: accountId, Arn: `arn:aws:sts::${accountId}:assumed-role/deployer/ci` });

describe("assertAccount", () => {
  const sts = new STSClient({ region: "ap-southeast-4" });

  test("credentials of another account are refused, naming the stage and both account ids", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn("404040404041"));
    // WHEN
    const outcome = assertAccount(sts, { stage: "prod", expectedAccountId: "404040404043" });
    // THEN
    await expect(outcome).rejects.toThrow(AccountMismatchError);
    await expect(outcome).rejects.toThrow(
      "refusing to act for stage prod: credentials are for account 404040404041, the stage's account is 404040404043");
  });

  test("credentials of the stage's account pass and return the caller", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn("404040404043"));
    // WHEN
    const caller = await assertAccount(sts, { stage: "prod", expectedAccountId: "404040404043" });
    // THEN
    expect(caller).toEqual({ accountId: "404040404043", arn: "arn:aws:sts::404040404043:assumed-role/deployer/ci" });
  });

  test("an identity without an account id is an error, not a pass", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves({});
    // WHEN / THEN
    await expect(assertAccount(sts, { stage: "prod", expectedAccountId: "404040404043" })).rejects.toThrow("GetCallerIdentity returned no account id");
  });
});

describe("assert-account CLI", () => {
  let dir: string;
  let project: ProjectConfig;
  let stages: { name: string; accountId: string }[];
  let region: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "assert-account-"));
    copyFileSync(join(FIXTURE_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    ({ project, region } = readProjectConfig(dir));
    ({ stages } = project);
  });
  /** The registry stack's account as the definition documents it: registryAccountId, else registryStage's, else the first stage's. */
  const registryAccount = () => project.registryAccountId ?? stages.find((s) => s.name === (project.registryStage ?? stages[0].name))!.accountId;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function run(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { cwd: dir, io: { out: (l) => out.push(l), err: (l) => err.push(l) }, sleep: async () => {} });
    return { code, out, err };
  }
  const last = () => stages[stages.length - 1];

  test("exits 0 with a confirmation when the credentials are the stage's account", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn(last().accountId));
    // WHEN
    const { code, out, err } = await run("--stack", last().name);
    // THEN
    expect(code).toBe(0);
    expect(out).toEqual([`ok: credentials are for account ${last().accountId}, the account of stack ${last().name} `
      + `(arn:aws:sts::${last().accountId}:assumed-role/deployer/ci)`]);
    expect(err).toEqual([]);
  });

  test("exits 1 with one line naming both accounts when the credentials are another stage's", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn(stages[0].accountId));
    // WHEN
    const { code, out, err } = await run("--stack", last().name);
    // THEN
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^assert-account: refusing to act for stage ${last().name}: `
      + `credentials are for account ${stages[0].accountId}, the stage's account is ${last().accountId}`));
    expect(err[0]).not.toMatch(/\n\s+at /);
  });

  test("asks STS in the project's region", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn(last().accountId));
    // WHEN
    await run("--stack", last().name);
    // THEN
    const client = stsMock.send.getCall(0).thisValue as STSClient;
    expect(await client.config.region()).toBe(region);
  });

  test("--json prints the stage, the account and the caller", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).resolves(callerIn(last().accountId));
    // WHEN
    const { code, out } = await run("--stack", last().name, "--json");
    // THEN
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: last().name, accountId: last().accountId, callerArn: `arn:aws:sts::${last().accountId}:assumed-role/deployer/ci`,
    });
  });

  test("an unknown stack is bad usage (exit 2) and lists the stacks, without calling AWS", async () => {
    // WHEN
    const { code, err } = await run("--stack", "staging");
    // THEN
    expect(code).toBe(2);
    expect(err).toEqual([`assert-account: unknown stack "staging"; the stacks of Pulumi.yaml are registry, ${stages.map((s) => s.name).join(", ")} `
      + "(see assert-account --help)"]);
    expect(stsMock.calls()).toHaveLength(0);
  });

  test("the registry stack is checked against the registry's account (the registry stage's), and refuses another stage's", async () => {
    // GIVEN
    const other = stages.find((s) => s.accountId !== registryAccount())!;
    stsMock.on(GetCallerIdentityCommand).resolvesOnce(callerIn(registryAccount())).resolvesOnce(callerIn(other.accountId));
    // WHEN
    const ok = await run("--stack", "registry", "--json");
    const refused = await run("--stack", "registry");
    // THEN
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out.join("\n"))).toMatchObject({ stage: "registry", accountId: registryAccount() });
    expect(refused.code).toBe(1);
    expect(refused.err[0]).toMatch(new RegExp("^assert-account: refusing to act for stage registry: "
      + `credentials are for account ${other.accountId}, the stage's account is ${registryAccount()}`));
  });

  test("a missing --stack is bad usage", async () => {
    const { code, err } = await run();
    expect(code).toBe(2);
    expect(err).toEqual(["assert-account: --stack is required (see assert-account --help)"]);
  });

  test("--help prints the usage and exits 0", async () => {
    const { code, out } = await run("--help");
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: assert-account --stack <stage> [options]");
  });

  test("a broken Pulumi.yaml exits 1 naming the file and key", async () => {
    // GIVEN
    writeFileSync(join(dir, "Pulumi.yaml"), "name: x\nconfig:\n  aws:region: ap-southeast-4\n  mlplatform:serviceName: Bad_Name\n");
    // WHEN
    const { code, err } = await run("--stack", "prod");
    // THEN
    expect(code).toBe(1);
    expect(err).toContainEqual(expect.stringMatching(/^assert-account: Pulumi\.yaml: mlplatform:serviceName: /));
  });

  test("missing credentials exit 1 with one line that says how to provide them", async () => {
    // GIVEN
    stsMock.on(GetCallerIdentityCommand).rejects(Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }));
    // WHEN
    const { code, err } = await run("--stack", last().name);
    // THEN
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^assert-account: no usable AWS credentials \(Could not load credentials from any providers\); set AWS_PROFILE/);
  });
});
