import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MlServiceProject, type MlServiceProjectOptions } from "../../projen";
import { withAccountLock } from "../../projen/stack-files";
import { readStackConfigFiles } from "../../stacks/config/files";
import { loadStackConfig } from "../../stacks/config/load";
import { FIXTURE, FIXTURE_DEFINITION } from "../fixtures/service";

let outdir: string;
beforeEach(() => { outdir = mkdtempSync(join(tmpdir(), "mlplatform-stack-files-")); });
afterEach(() => rmSync(outdir, { recursive: true, force: true }));

/** Synthesizes into outdir and keeps the files (Testing.synth would remove them); no npm install. */
function synth(def: Partial<MlServiceProjectOptions> = {}): void {
  process.env.PROJEN_DISABLE_POST = "true";
  try {
    new MlServiceProject({ ...FIXTURE_DEFINITION, ...def, outdir }).synth();
  } finally {
    delete process.env.PROJEN_DISABLE_POST;
  }
}
const read = (stack: string) => readFileSync(join(outdir, `Pulumi.${stack}.yaml`), "utf8");

describe("stack files written by npx projen", () => {
  test("GIVEN a definition and no stack files WHEN synthesized THEN every stage gets a day-zero stack file locked to its account", () => {
    synth();
    expect(readdirSync(outdir).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f)).sort())
      .toEqual(["registry", ...FIXTURE_DEFINITION.stages.map((s) => s.name)].map((s) => `Pulumi.${s}.yaml`).sort());
    for (const stage of FIXTURE_DEFINITION.stages) {
      const text = read(stage.name);
      expect(text).toContain(`aws:allowedAccountIds:\n    - "${stage.accountId}"`);
      const config = loadStackConfig(stage.name, readStackConfigFiles(outdir, stage.name));
      expect(config.endpoints).toEqual({});
      expect(config.accountId).toBe(stage.accountId);
    }
  });

  test("GIVEN a starter WHEN its example endpoint is uncommented THEN the stack serves the first model from registry version 1", () => {
    synth();
    // Uncomment the example as a person would: the key and its indented lines, not the prose above it.
    const text = read("qa").replace(/^ {2}# (mlplatform:endpoints:| {2}.*)$/gm, "  $1");
    writeFileSync(join(outdir, "Pulumi.qa.yaml"), text);
    const config = loadStackConfig("qa", readStackConfigFiles(outdir, "qa"));
    expect(config.endpoints[FIXTURE.models[0]].source).toEqual({
      modelPackageArn: `arn:aws:sagemaker:${FIXTURE.region}:${FIXTURE.accounts.sandbox}:model-package/${FIXTURE.serviceName}-${FIXTURE.models[0]}/1`,
    });
  });

  test("GIVEN an existing stack file WHEN synthesized THEN it is not overwritten", () => {
    const own = `# ours\nconfig:\n  aws:allowedAccountIds:\n    - "${FIXTURE.accounts.qa}"  # keep\n  mlplatform:tags: { team: a }\n`;
    writeFileSync(join(outdir, "Pulumi.qa.yaml"), own);
    synth();
    expect(read("qa")).toBe(own);
  });

  test("GIVEN a stack file locked to an old account WHEN the definition moves the stage THEN only the account value changes", () => {
    const own = "# ours\r\nconfig:\r\n  aws:allowedAccountIds:\r\n    - '999999999999'   # the stage account\r\n  mlplatform:tags: {team: a}\r\n";
    writeFileSync(join(outdir, "Pulumi.qa.yaml"), own);
    synth();
    expect(read("qa")).toBe(own.replace("'999999999999'", `"${FIXTURE.accounts.qa}"`));
  });

  test.each([
    ["the registry stage's account (registryStage qa)", { registryStage: "qa" }, FIXTURE.accounts.qa],
    ["the first stage's account (no registryStage)", { registryStage: undefined }, FIXTURE.accounts.sandbox],
    ["a dedicated registry account", { registryStage: undefined, registryAccountId: "404040404049" }, "404040404049"],
  ] as [string, Partial<MlServiceProjectOptions>, string][])(
    "GIVEN the registry in %s WHEN synthesized THEN a registry stack file is written, locked to that account, with no endpoint example",
    (_title, def, account) => {
      synth(def);
      const text = read("registry");
      expect(text).toContain(`aws:allowedAccountIds:\n    - "${account}"`);
      expect(text).not.toContain("mlplatform:endpoints");
      const config = loadStackConfig("registry", readStackConfigFiles(outdir, "registry"));
      expect(config.accountId).toBe(account);
      expect(config.endpoints).toEqual({});
    },
  );

  test("GIVEN a registry stack file locked to the old registry stage's account WHEN registryStage moves THEN only the account value changes", () => {
    const own = `# ours\nconfig:\n  aws:allowedAccountIds:\n    - "${FIXTURE.accounts.sandbox}"\n  mlplatform:noncurrentVersionExpirationDays: 365\n`;
    writeFileSync(join(outdir, "Pulumi.registry.yaml"), own);
    synth({ registryStage: "qa" });
    expect(read("registry")).toBe(own.replace(FIXTURE.accounts.sandbox, FIXTURE.accounts.qa));
  });
});

describe("the registry's tasks", () => {
  const upTasks = () => (JSON.parse(readFileSync(join(outdir, ".projen/tasks.json"), "utf8")) as { tasks: Record<string, { steps?: { execArgs?: string[] }[] }> }).tasks;

  test.each([
    ["in a stage's account", {}],
    ["in a dedicated account", { registryStage: undefined, registryAccountId: "404040404049" }],
  ] as [string, Partial<MlServiceProjectOptions>][])("GIVEN the registry %s WHEN synthesized THEN it gets preview and up tasks of its own, besides every stage's", (_title, def) => {
    synth(def);
    const tasks = upTasks();
    expect(Object.keys(tasks).filter((t) => t.startsWith("up:")).sort()).toEqual(["up:prod", "up:qa", "up:registry", "up:sandbox"]);
    expect(tasks["up:registry"].steps?.at(-1)?.execArgs).toEqual(["pulumi", "up", "--stack", "registry"]);
    expect(tasks["preview:registry"].steps?.at(-1)?.execArgs).toEqual(["pulumi", "preview", "--stack", "registry", "--diff"]);
  });
});

describe("withAccountLock", () => {
  test("GIVEN no account lock THEN the text is unchanged and the problem says to set it", () => {
    const text = "config:\n  mlplatform:tags: {}\n";
    expect(withAccountLock(text, "404040404041")).toEqual({
      text, problem: "aws:allowedAccountIds must be a list of the one account 404040404041; set it by hand",
    });
  });

  test("GIVEN a lock of several accounts THEN it is left for a person to fix", () => {
    const text = 'config:\n  aws:allowedAccountIds: ["1", "2"]\n';
    expect(withAccountLock(text, "404040404041").text).toBe(text);
  });

  test("GIVEN the right account THEN nothing changes", () => {
    const text = 'config:\n  aws:allowedAccountIds: ["404040404041"]\n';
    expect(withAccountLock(text, "404040404041")).toEqual({ text });
  });
});
