import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseDocument } from "yaml";

/**
 * `check:template`: proves the repository is a template, not only its own example. In a temporary
 * copy it defines a service unlike the example in every field of the service definition (name,
 * region, accounts, four stages with other names, the registry in a dedicated account, three
 * models, no ECR repository, another CI repository with its OIDC provider, publishers bound to a
 * branch and workflow, approvers by role ARN and environment, a state backend), removes the example's
 * stack files, and runs what a team would: `npx projen` (which must write a day-zero stack file per
 * stack), the offline plan of the day-zero stacks, the plan again once the first stages have
 * endpoints (guardrails, an A/B test and the canary deployer), the scheduled retraining's workflow,
 * and the test suite, whose tests must hold for any definition. Fails on the first
 * error, naming the step. Run by .ci/run after `npm test`.
 */

const ROOT = resolve(__dirname, "..");

/** The definition a new team might write: every field differs from the example's. */
export const CHECK_DEFINITION = {
  serviceName: "ledger-ranking",
  region: "us-east-2",
  stages: [
    { name: "dev", accountId: "510000000001" },
    { name: "test", accountId: "510000000002" },
    { name: "staging", accountId: "510000000003" },
    { name: "live", accountId: "510000000004" },
  ],
  registryAccountId: "510000000009",
  models: ["ranker", "text-embed", "risk-score"],
  ecrRepository: false,
  ciPrincipal: { type: "github-oidc", repository: "ledger-co/ranking-service", createOidcProvider: true },
  publishers: [{ github: { branch: "main", workflow: "train.yml" } }, { github: { branch: "main", workflow: "retrain.yml" } }],
  approvers: [{ roleArn: "arn:aws:iam::510000000009:role/ml-approvers" }, { github: { environment: "model-review" } }],
  stateBackend: { bucket: "ledger-co-state", accountId: "510000000009" },
  retraining: { cadence: { cron: "30 2 * * 1" }, models: ["ranker", "risk-score"] },
} as const;

const STACKS = ["registry", ...CHECK_DEFINITION.stages.map((s) => s.name)];

/** The .projenrc.ts of the checked service: the shipped one with only the definition replaced. */
export function projenrcFor(shipped: string, definition: object): string {
  const start = shipped.indexOf("new MlServiceProject(");
  const end = shipped.indexOf("});", start);
  if (start < 0 || end < 0) throw new Error(".projenrc.ts: cannot find `new MlServiceProject({ ... });` to replace the definition in");
  return `${shipped.slice(0, start)}new MlServiceProject(${JSON.stringify(definition, null, 2)}${shipped.slice(end + 1)}`;
}

/**
 * Adds one endpoint per model to a day-zero stack file, served from registry version `version`.
 * `kinds` gives some models another form: an A/B test of version + 1 beside it, or the canary
 * deployer's state machine instead of SageMaker's guardrails.
 */
export function withEndpoints(text: string, models: readonly string[], version: number, kinds: Readonly<Record<string, "ab-test" | "canary-deployer">> = {}): string {
  const doc = parseDocument(text);
  doc.setIn(["config", "mlplatform:endpoints"], Object.fromEntries(models.map((model) => [model, {
    model,
    source: { version },
    instanceType: "ml.m5.large",
    instanceCount: 2,
    deployment: kinds[model] === "canary-deployer"
      ? { strategy: "step-functions-canary", bakeSeconds: 900, approval: { timeoutSeconds: 3600 } }
      : { strategy: "canary", canarySizePercent: 50, waitSeconds: 300 },
    ...(kinds[model] === "ab-test" ? { abTest: { weight: 1, variants: [{ name: "next", source: { version: version + 1 }, weight: 1 }] } } : {}),
  }])));
  return doc.toString();
}

/** A retraining.yaml for the checked service's scheduled models: its own table and columns. */
export function retrainingFileFor(models: readonly string[]): string {
  return `database:\n  host: ranking-db.ledger.internal\n  database: ranking\n  user: trainer\nmodels:\n${models.map((model) => [
    `  ${model}:`,
    "    query: SELECT event_id, happened_at, label, f1, f2 FROM training_events WHERE happened_at >= $1 AND happened_at < $2",
    "    dateColumn: happened_at",
    "    window: { start: \"2023-06-01\", pushbackDays: 7 }",
    "    target: label",
    "    features: [f1, f2]",
    "    rowKey: [event_id]",
    "    split: { train: 0.6, validation: 0.2, test: 0.2 }",
    "    tuning:",
    "      objective: reg:squarederror",
    "      evalMetric: rmse",
    "      objectiveMetric: validation:rmse",
    "      ranges:",
    "        eta: { type: continuous, min: 0.05, max: 0.3 }",
    "        max_depth: { type: integer, min: 2, max: 8 }",
    "        num_round: { type: integer, min: 50, max: 500 }",
    "      instanceType: ml.m5.large",
  ].join("\n")).join("\n")}\n`;
}

function step(title: string, run: () => void): void {
  const started = Date.now();
  process.stdout.write(`check:template: ${title} ...\n`);
  try {
    run();
  } catch (error) {
    throw new Error(`check:template: ${title} failed: ${(error as Error).message.split("\n")[0]}`);
  }
  process.stdout.write(`check:template: ${title}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

function copyRepository(to: string): void {
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
    .split("\0").filter((f) => f !== "" && existsSync(join(ROOT, f)));
  for (const file of files) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
  symlinkSync(join(ROOT, "node_modules"), join(to, "node_modules"), "dir");
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-template-check-"));
  const run = (command: string, args: string[], options: ExecFileSyncOptions = {}) =>
    execFileSync(command, args, { cwd: dir, stdio: "inherit", env: { ...process.env, CI: "false" }, ...options });
  try {
    step("copy the repository and define a service unlike the example", () => {
      copyRepository(dir);
      writeFileSync(join(dir, ".projenrc.ts"), projenrcFor(readFileSync(join(ROOT, ".projenrc.ts"), "utf8"), CHECK_DEFINITION));
      for (const stage of ["sandbox", "qa", "prod"]) unlinkSync(join(dir, `Pulumi.${stage}.yaml`));
      writeFileSync(join(dir, "retraining.yaml"), retrainingFileFor(CHECK_DEFINITION.retraining.models));
    });
    step("npx projen writes Pulumi.yaml and a day-zero stack file per stack", () => {
      // --no-post: no `npm install` after synthesis; the copy shares this checkout's node_modules.
      run("npx", ["projen", "--no-post"]);
      for (const stack of STACKS) {
        const text = readFileSync(join(dir, `Pulumi.${stack}.yaml`), "utf8");
        const account = stack === "registry" ? CHECK_DEFINITION.registryAccountId : CHECK_DEFINITION.stages.find((s) => s.name === stack)!.accountId;
        if (!text.includes(`- "${account}"`)) throw new Error(`Pulumi.${stack}.yaml does not lock the stack to account ${account}`);
      }
    });
    step("the offline plan of the day-zero stacks", () => run("npx", ["projen", "plan"]));
    step("the offline plan once dev and test serve every model", () => {
      for (const [stage, version] of [["dev", 2], ["test", 1]] as const) {
        const file = join(dir, `Pulumi.${stage}.yaml`);
        const kinds: Record<string, "ab-test" | "canary-deployer"> = stage === "test" ? { "ranker": "canary-deployer", "text-embed": "ab-test" } : {};
        writeFileSync(file, withEndpoints(readFileSync(file, "utf8"), CHECK_DEFINITION.models, version, kinds));
      }
      const out = execFileSync("npx", ["projen", "plan", "--json"], { cwd: dir, encoding: "utf8", env: { ...process.env, CI: "false" } });
      const arn = `arn:aws:sagemaker:${CHECK_DEFINITION.region}:${CHECK_DEFINITION.registryAccountId}:model-package/ledger-ranking-ranker/2`;
      if (!out.includes(arn)) throw new Error(`the plan of dev does not serve ${arn}`);
    });
    step("the scheduled retraining of the new service", () => {
      const workflow = readFileSync(join(dir, ".github", "workflows", "retrain.yml"), "utf8");
      if (!workflow.includes(CHECK_DEFINITION.retraining.cadence.cron)) throw new Error(`retrain.yml does not run on ${CHECK_DEFINITION.retraining.cadence.cron}`);
      if (!workflow.includes("ledger-ranking-registry-publisher")) throw new Error("retrain.yml does not assume the registry's publisher role");
    });
    step("the test suite, on the new service", () => run("npx", ["jest", "--ci"]));
    process.stdout.write("check:template: the template works for a service unlike the example\n");
  } finally {
    // Unlink the shared node_modules first: a recursive remove must never reach through the link.
    if (existsSync(join(dir, "node_modules"))) unlinkSync(join(dir, "node_modules"));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
