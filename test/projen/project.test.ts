import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing } from "projen";
import { parse } from "yaml";
import { MlServiceProject, type MlServiceProjectOptions } from "../../projen";
import { TSC_BUILD_INFO } from "../../projen/test-task";
import { LOCAL_BIN_PATH } from "../../projen/tool-task";

const definition: MlServiceProjectOptions = {
  serviceName: "churn-model",
  region: "us-west-2",
  stages: [
    { name: "dev", accountId: "123456789012" },
    { name: "live", accountId: "210987654321" },
  ],
  registryStage: "dev",
  models: ["churn"],
  ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::999999999999:role/ci" },
  // An IAM-role CI principal names no GitHub repository to default these to.
  publishers: [{ roleArn: "arn:aws:iam::999999999999:role/training-pipeline" }],
  approvers: [{ roleArn: "arn:aws:iam::999999999999:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_*" }],
  stateBackend: { bucket: "churn-model-pulumi-state", accountId: "999999999999", secretsKeyAlias: "alias/pulumi-secrets" },
};

let outdir: string;
beforeEach(() => { outdir = mkdtempSync(join(tmpdir(), "mlplatform-projen-")); });
afterEach(() => rmSync(outdir, { recursive: true, force: true }));

function synth(def: Partial<MlServiceProjectOptions> = {}) {
  return Testing.synth(new MlServiceProject({ ...definition, ...def, outdir }));
}

interface Task { description?: string; steps?: { exec?: string; execArgs?: string[]; spawn?: string; condition?: string }[] }
interface Package { scripts: Record<string, string> }

describe("MlServiceProject", () => {
  it("GIVEN a service definition WHEN synthesized THEN Pulumi.yaml carries the shared config under the mlplatform namespace", () => {
    const pulumiYaml = parse(synth()["Pulumi.yaml"]) as { name: string; main: string; runtime: { name: string }; config: Record<string, unknown> };
    expect(pulumiYaml.name).toBe("churn-model");
    expect(pulumiYaml.main).toBe("stacks/");
    expect(pulumiYaml.runtime.name).toBe("nodejs");
    expect(pulumiYaml.config["aws:region"]).toBe("us-west-2");
    expect(pulumiYaml.config["mlplatform:serviceName"]).toBe("churn-model");
    expect(pulumiYaml.config["mlplatform:stages"]).toEqual({ value: definition.stages });
    expect(pulumiYaml.config["mlplatform:ciPrincipal"]).toEqual({ value: definition.ciPrincipal });
    expect(pulumiYaml.config["mlplatform:publishers"]).toEqual({ value: definition.publishers });
    expect(pulumiYaml.config["mlplatform:approvers"]).toEqual({ value: definition.approvers });
    expect(pulumiYaml.config["mlplatform:stateBackend"]).toEqual({ value: definition.stateBackend });
    expect(pulumiYaml.config["pulumi:disable-default-providers"]).toEqual({ value: ["aws"] });
  });

  it("GIVEN the stages WHEN synthesized THEN each stage, and the registry, gets described preview and up tasks that pass further arguments on as they are", () => {
    const files = synth();
    const tasks = (files[".projen/tasks.json"] as { tasks: Record<string, Task> }).tasks;
    expect(tasks["preview:dev"].steps).toEqual([{ execArgs: ["pulumi", "preview", "--stack", "dev", "--diff"], receiveArgs: true }]);
    expect(tasks["up:live"].steps).toEqual([{ execArgs: ["pulumi", "up", "--stack", "live"], receiveArgs: true }]);
    expect(tasks["up:live"].description).toContain("210987654321");
    expect(Object.keys(tasks).filter((t) => t.startsWith("up:")).sort()).toEqual(["up:dev", "up:live", "up:registry"]);
    expect(Object.keys(tasks).filter((t) => t.startsWith("preview:")).sort()).toEqual(["preview:dev", "preview:live", "preview:registry"]);
    // The registry deploys into the registry stage's account.
    expect(tasks["up:registry"].steps).toEqual([{ execArgs: ["pulumi", "up", "--stack", "registry"], receiveArgs: true }]);
    expect(tasks["up:registry"].description).toContain("123456789012");
    expect((files["package.json"] as Package).scripts["up:live"]).toBe("pulumi up --stack live");
  });

  it("GIVEN the command-line scripts WHEN synthesized THEN each has a described task, and an npm script, that runs it with the arguments as given", () => {
    const files = synth();
    const tasks = (files[".projen/tasks.json"] as { tasks: Record<string, Task> }).tasks;
    const npmScripts = (files["package.json"] as Package).scripts;
    const scripts = { "registry": "registry", "assert-account": "assert-account", "promote": "promote", "gen:instance-types": "gen-instance-types" };
    for (const [task, file] of Object.entries(scripts)) {
      expect(tasks[task].description).toBeTruthy();
      expect(tasks[task].steps).toEqual([{ execArgs: ["ts-node", "--transpile-only", `scripts/${file}.ts`], receiveArgs: true }]);
      expect(npmScripts[task]).toBe(`ts-node --transpile-only scripts/${file}.ts`);
    }
    expect(npmScripts.test).toBe("projen test");
  });

  it("GIVEN the tasks WHEN synthesized THEN they find the project's binaries through a PATH computed in projen's shell, not by starting npx", () => {
    const env = (synth()[".projen/tasks.json"] as { env: Record<string, string> }).env;
    expect(env.PATH).toBe(LOCAL_BIN_PATH);
    expect(LOCAL_BIN_PATH).toBe("$(echo \"$PWD/node_modules/.bin:$PATH\")");
  });

  it("GIVEN the test task THEN it type-checks incrementally, installs PostgreSQL when missing, runs jest on both cores failing without tests, and lints changed files", () => {
    const files = synth();
    const tasks = (files[".projen/tasks.json"] as { tasks: Record<string, Task> }).tasks;
    const steps = tasks.test.steps ?? [];
    expect(steps.map((s) => s.exec ?? s.execArgs?.[0] ?? s.spawn)).toEqual([
      `rm -f ${TSC_BUILD_INFO}`,
      expect.stringMatching(/^tsc -b tsconfig\.dev\.json && node -e ".*" node_modules\/\.cache\/tsc\/tsconfig\.dev\.tsbuildinfo$/),
      "bash test/support/install-postgres.sh",
      "jest",
      "eslint",
    ]);
    expect(steps[0].condition).toMatch(/^node -e ".*" node_modules\/\.package-lock\.json node_modules\/\.cache\/tsc\/tsconfig\.dev\.tsbuildinfo$/);
    expect(steps[3].execArgs).not.toContain("--passWithNoTests");
    const tsconfigDev = files["tsconfig.dev.json"] as { compilerOptions: Record<string, unknown> };
    expect(tsconfigDev.compilerOptions).toMatchObject({ noEmit: true, incremental: true, tsBuildInfoFile: TSC_BUILD_INFO, isolatedModules: true });
    const jest = (files["package.json"] as { jest: Record<string, unknown> }).jest;
    expect(jest).toMatchObject({ maxWorkers: 2, cacheDirectory: "<rootDir>/node_modules/.cache/jest" });
    expect(tasks.eslint.steps?.[0].execArgs).toEqual(expect.arrayContaining(["--cache", "--cache-location", "node_modules/.cache/eslint/", "--cache-strategy", "content"]));
  });

  it("GIVEN the dependencies THEN the required packages are declared", () => {
    const pkg = synth()["package.json"] as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of ["@pulumi/pulumi", "@pulumi/aws", "@aws-sdk/client-sagemaker", "@aws-sdk/client-sts"]) expect(pkg.dependencies[dep]).toBeDefined();
    for (const dep of ["projen", "jest"]) expect(pkg.devDependencies[dep]).toBeDefined();
    expect(pkg.devDependencies.typescript).toMatch(/^~5\./);
  });

  it("GIVEN two stages in one account without sharing WHEN constructed THEN it refuses, naming .projenrc.ts and the key", () => {
    expect(() => synth({ stages: [{ name: "dev", accountId: "123456789012" }, { name: "live", accountId: "123456789012" }] }))
      .toThrow(".projenrc.ts: stages[1].accountId: 123456789012 is already the account of stage \"dev\"");
  });

  it("GIVEN declared account sharing WHEN constructed THEN it is accepted", () => {
    expect(() => synth({ stages: [{ name: "dev", accountId: "123456789012" }, { name: "live", accountId: "123456789012", shareAccountWith: "dev" }] }))
      .not.toThrow();
  });

  it("GIVEN a bad region and a bad service name WHEN constructed THEN both are reported", () => {
    const construct = () => synth({ region: "europe", serviceName: "Churn_Model" });
    expect(construct).toThrow(/^\.projenrc\.ts: region: must be an AWS region such as [a-z]+-[a-z]+-\d, got "europe"$/m);
    expect(construct).toThrow(/^\.projenrc\.ts: serviceName: must be lowercase/m);
  });

  it("GIVEN a registry stage that is not a stage WHEN constructed THEN it is refused", () => {
    expect(() => synth({ registryStage: "sandbox" })).toThrow("registryStage: must be one of the stages (dev, live), got \"sandbox\"");
  });

  it("GIVEN an IAM-role CI principal without publishers or approvers WHEN constructed THEN it is refused naming both keys", () => {
    const construct = () => synth({ publishers: undefined, approvers: undefined });
    expect(construct).toThrow(/^\.projenrc\.ts: publishers: must be set when ciPrincipal is not github-oidc/m);
    expect(construct).toThrow(/^\.projenrc\.ts: approvers: must be set when ciPrincipal is not github-oidc/m);
  });

  it("GIVEN a GitHub CI principal without publishers or approvers WHEN constructed THEN it is accepted (they default to GitHub environments)", () => {
    expect(() => synth({ ciPrincipal: { type: "github-oidc", repository: "acme/churn-model" }, publishers: undefined, approvers: undefined })).not.toThrow();
  });

  it("GIVEN a GitHub repository that is not owner/repo WHEN constructed THEN it is refused", () => {
    expect(() => synth({ ciPrincipal: { type: "github-oidc", repository: "just-a-name" } })).toThrow("ciPrincipal.repository: must be \"owner/repo\"");
  });
});
