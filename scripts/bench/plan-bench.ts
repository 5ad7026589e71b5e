import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { ensureFreshBundle, PLAN_BUNDLE, PLAN_DIR, PLAN_LAUNCHER } from "../plan/bundle";

/**
 * Benchmark of the offline plan, in one run:
 * (a) `plan` of every shipped stack against a baseline that loads @pulumi/pulumi and @pulumi/aws and
 *     registers the same resources (same types and names, no inputs) under Pulumi's mocks. Target:
 *     plan / baseline <= 1.3.
 * (b) `plan` of a generated stack with 10 and with 100 endpoints. Targets: time grows at most 12x,
 *     peak memory (max RSS) at most 600 MB.
 * (c) the documented command, `npx projen plan`, against the same plan run directly (`node <launcher>`)
 *     and against what npx itself costs: `npx esbuild --version`, npx starting a local native binary
 *     that does nothing (npm's start-up, the bin lookup and a shell; no Node program of its own).
 *     Target: `npx projen plan` - plan <= npx + 0.3 s, so projen and its task add at most 0.3 s.
 *
 * Every measurement is a fresh process, timed from spawn to exit (median of --runs, all of them
 * interleaved so machine noise hits each alike). The plan runs as users run it: the esbuild bundle
 * and launcher of the `plan` task (scripts/plan/bundle.ts), current before timing starts. The baseline and the program-alone
 * figure run as JavaScript compiled once, up front, with tsc (emit only). The same comparison under
 * ts-node is printed too, for information.
 *
 * Usage: ts-node --transpile-only scripts/bench/plan-bench.ts [--runs 15] [--json]
 * Internal: --child baseline|list|scale (run by the benchmark itself).
 */

const ROOT = resolve(__dirname, "../..");
const LIMITS = { ratio: 1.3, growth: 12, memoryMB: 600, npxExtraMs: 300 } as const;
/** What npx itself costs: npx starting a local binary that is native code and does next to nothing. */
const NPX_FLOOR = ["esbuild", "--version"] as const;
/** Runs of each measurement: single runs here vary by up to +-20%, so the medians need a good number of them. */
const DEFAULT_RUNS = 15;

interface ChildResult {
  readonly wallMs: number;
  readonly stdout: string;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function run(args: readonly string[], cwd = ROOT): ChildResult {
  return runCommand(process.execPath, args, cwd);
}

function runCommand(command: string, args: readonly string[], cwd = ROOT): ChildResult {
  const start = performance.now();
  const child = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, env: { ...process.env } });
  const wallMs = performance.now() - start;
  if (child.status !== 0 && child.status !== 1) {
    throw new Error(`${command} ${args.join(" ")} exited ${String(child.status)}: ${child.stderr.slice(0, 2000)}`);
  }
  return { wallMs, stdout: child.stdout };
}

/** Makes the plan bundle and its launcher current, as the `plan` task's launcher does; returns their paths. */
function buildPlanBundle(): { launcher: string; bundle: string } {
  const freshness = ensureFreshBundle(join(ROOT, PLAN_DIR));
  if (freshness.state === "failed") throw new Error(`the plan bundle does not build: ${freshness.reason}`);
  return { launcher: join(ROOT, PLAN_LAUNCHER), bundle: join(ROOT, PLAN_BUNDLE) };
}

/** Compiles the plan, the program and this file to JavaScript (emit only, no type check). */
function compile(): string {
  const out = join(ROOT, "node_modules", ".cache", "plan-bench");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [
    tsc, "scripts/plan.ts", "scripts/bench/plan-bench.ts", "--outDir", out, "--rootDir", ".", "--noCheck",
    "--module", "commonjs", "--target", "es2020", "--esModuleInterop", "--resolveJsonModule", "--skipLibCheck",
  ], { cwd: ROOT, encoding: "utf8" });
  if (!existsSync(join(out, "scripts", "plan.js"))) throw new Error(`tsc failed:\n${result.stdout}${result.stderr}`);
  return out;
}

/** Generates a project whose non-registry stage has `count` endpoints. */
async function generateProject(count: number): Promise<{ dir: string; stage: string }> {
  const { stringify } = await import("yaml");
  const { readProjectConfig } = await import("../../stacks/config/files");
  const dir = mkdtempSync(join(tmpdir(), `plan-bench-${count}-`));
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const { project } = readProjectConfig(ROOT);
  const { stages, models } = project;
  // A stage (the registry has a stack of its own), so the stack is endpoints and the account only.
  const stage = stages[0];
  const types = ["ml.m5.large", "ml.m5.xlarge", "ml.c5.2xlarge", "ml.g5.xlarge"];
  const endpoints: Record<string, unknown> = {};
  for (let i = 1; i <= count; i++) {
    const model = models[i % models.length];
    endpoints[`ep-${String(i).padStart(3, "0")}`] = {
      model,
      source: { version: i },
      instanceType: types[i % types.length],
      instanceCount: 2,
      deployment: { strategy: "canary", canarySizePercent: 50, waitSeconds: 300, terminationWaitSeconds: 300 },
      alarms: { invocation5xxErrorsPerMinute: 2, modelLatencyP99Milliseconds: 300 },
    };
  }
  writeFileSync(join(dir, `Pulumi.${stage.name}.yaml`), stringify({
    config: { "aws:allowedAccountIds": [stage.accountId], "mlplatform:endpoints": endpoints },
  }));
  return { dir, stage: stage.name };
}

// ---- children ------------------------------------------------------------------------------------

/** Baseline: load @pulumi/pulumi and @pulumi/aws, register the listed resources bare, per stack. */
async function baselineChild(listFile: string): Promise<void> {
  const pulumi = await import("@pulumi/pulumi");
  const aws = (await import("@pulumi/aws")) as unknown as Record<string, Record<string, unknown>>;
  const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as { waitForRPCs(): Promise<void> };
  const list = JSON.parse(readFileSync(listFile, "utf8")) as { project: string; stacks: { stack: string; resources: [string, string][] }[] };
  class BareCustom extends pulumi.CustomResource {}
  class BareComponent extends pulumi.ComponentResource {}
  for (const { stack, resources } of list.stacks) {
    await pulumi.runtime.setMocks({
      newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
      call: () => ({}),
    }, list.project, stack, false);
    for (const [type, name] of resources) {
      const m = /^aws:([^/]+)\/[^:]+:(.+)$/.exec(type);
      if (m) void aws[m[1]][m[2]]; // load the same @pulumi/aws modules the program uses
      if (type === "pulumi:providers:aws") new (aws.Provider as unknown as new (n: string, a: object) => object)(name, {});
      else if (m) new BareCustom(type, name, {});
      else new BareComponent(type, name, {});
    }
    await settings.waitForRPCs();
  }
}

/** The program alone: every shipped stack through runStackOffline (default resolver), stack traces off as in the plan. */
async function programChild(): Promise<void> {
  const { readProjectInfo, withoutRuntimeDebugging } = await import("../plan/engine");
  const { runStackFromFiles } = await import("../../stacks/offline-run");
  const project = readProjectInfo(repoRoot());
  for (const stage of project.stages) await withoutRuntimeDebugging(() => runStackFromFiles(repoRoot(), stage));
}

/** Lists the resources of every shipped stack (types and names) for the baseline. */
async function listChild(out: string): Promise<void> {
  const { planStacks, readProjectInfo } = await import("../plan/engine");
  const project = readProjectInfo(repoRoot());
  const plans = await planStacks(repoRoot(), project.stages);
  writeFileSync(out, JSON.stringify({
    project: project.name,
    stacks: plans.map((p) => ({ stack: p.stack, resources: p.resources.map((r) => [r.type, r.name]) })),
  }));
}

/** One stack of a generated project: plan time (in process), resources and peak memory. */
async function scaleChild(dir: string, stage: string): Promise<void> {
  const { planStack } = await import("../plan/engine");
  const { planJson } = await import("../plan/render");
  const start = performance.now();
  const plan = await planStack(dir, stage);
  const json = JSON.stringify(planJson([plan]));
  const planMs = performance.now() - start;
  process.stdout.write(JSON.stringify({
    planMs,
    resources: plan.resources.length,
    errors: plan.findings.filter((f) => f.severity === "error").length,
    jsonBytes: json.length,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  }));
}

/** The repository root, also when this file runs compiled from node_modules/.cache/plan-bench. */
function repoRoot(): string {
  return process.env.PLAN_BENCH_ROOT ?? ROOT;
}

// ---- the benchmark -------------------------------------------------------------------------------

interface Report {
  readonly command: string;
  readonly runs: number;
  readonly shipped: {
    readonly planMs: number;
    readonly baselineMs: number;
    readonly ratio: number;
    /** Plan / baseline of each interleaved pair: how much the machine's noise moves the ratio. */
    readonly pairRatios: { readonly median: number; readonly min: number; readonly max: number };
    readonly resources: number;
    /** The program alone (its modules and its resource graph under mocks), without the plan's naming, checks and output. */
    readonly programMs: number;
    /** The bundle run directly, without the launcher's code cache (a first run). */
    readonly uncachedMs: number;
    readonly tsNode: { readonly planMs: number; readonly baselineMs: number; readonly ratio: number };
  };
  readonly npx: {
    /** `npx projen plan --stack all --json`, the documented command. */
    readonly viaNpxMs: number;
    /** npx's own cost (NPX_FLOOR). */
    readonly floorMs: number;
    /** viaNpx - plan run directly (shipped.planMs). */
    readonly extraMs: number;
    /** Median over the interleaved runs of (viaNpx - plan - floor): what projen and its task add beyond npx. */
    readonly projenMs: number;
  };
  readonly scale: {
    readonly endpoints: number;
    readonly resources: number;
    readonly planMs: number;
    readonly wallMs: number;
    readonly maxRssMB: number;
  }[];
  readonly growth: { readonly plan: number; readonly wall: number };
  readonly pass: { readonly ratio: boolean; readonly npx: boolean; readonly growth: boolean; readonly memory: boolean };
}

async function benchmark(runs: number): Promise<Report> {
  const js = compile();
  process.env.PLAN_BENCH_ROOT = ROOT;
  const benchJs = join(js, "scripts", "bench", "plan-bench.js");
  // The plan is measured as users run it (`npx projen plan`): the launcher and bundle the task builds.
  const { launcher, bundle } = buildPlanBundle();
  const work = mkdtempSync(join(tmpdir(), "plan-bench-"));
  try {
    const listFile = join(work, "resources.json");
    run([benchJs, "--child", "list", "--out", listFile]);
    const list = JSON.parse(readFileSync(listFile, "utf8")) as { stacks: { resources: unknown[] }[] };
    const resources = list.stacks.reduce((n, s) => n + s.resources.length, 0);

    // (a) interleaved, after one warm-up of each (file-system cache; the first plan run writes the
    // launcher's code cache, as a user's first run does).
    const planArgs = ["--stack", "all", "--json"];
    run([launcher, ...planArgs]);
    run([benchJs, "--child", "baseline", "--list", listFile]);
    const plan: number[] = [];
    const baseline: number[] = [];
    const program: number[] = [];
    const uncached: number[] = [];
    const viaNpx: number[] = [];
    const npxFloor: number[] = [];
    runCommand("npx", ["projen", "plan", ...planArgs]);
    runCommand("npx", NPX_FLOOR);
    for (let i = 0; i < runs; i++) {
      plan.push(run([launcher, ...planArgs]).wallMs);
      baseline.push(run([benchJs, "--child", "baseline", "--list", listFile]).wallMs);
      viaNpx.push(runCommand("npx", ["projen", "plan", ...planArgs]).wallMs);
      npxFloor.push(runCommand("npx", NPX_FLOOR).wallMs);
      program.push(run([benchJs, "--child", "program"]).wallMs);
      uncached.push(run([bundle, ...planArgs]).wallMs);
    }
    const tsNode = join(ROOT, "node_modules", "ts-node", "register", "transpile-only.js");
    const tsPlan: number[] = [];
    const tsBaseline: number[] = [];
    for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) {
      tsPlan.push(run(["-r", tsNode, "scripts/plan.ts", "--stack", "all", "--json"]).wallMs);
      tsBaseline.push(run(["-r", tsNode, "scripts/bench/plan-bench.ts", "--child", "baseline", "--list", listFile]).wallMs);
    }

    // (b) 10 and 100 endpoints.
    const scale: Report["scale"][number][] = [];
    for (const count of [10, 100]) {
      const generated = await generateProject(count);
      try {
        const samples = [];
        for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) {
          const r = run([benchJs, "--child", "scale", "--dir", generated.dir, "--stage", generated.stage]);
          samples.push({ wallMs: r.wallMs, ...(JSON.parse(r.stdout) as { planMs: number; resources: number; maxRssMB: number; errors: number }) });
        }
        if (samples[0].errors > 0) throw new Error(`the generated ${count}-endpoint stack has error findings`);
        scale.push({
          endpoints: count,
          resources: samples[0].resources,
          planMs: round(median(samples.map((s) => s.planMs))),
          wallMs: round(median(samples.map((s) => s.wallMs))),
          maxRssMB: round(Math.max(...samples.map((s) => s.maxRssMB))),
        });
      } finally {
        rmSync(generated.dir, { recursive: true, force: true });
      }
    }

    const planMs = median(plan);
    const baselineMs = median(baseline);
    const growth = { plan: round(scale[1].planMs / scale[0].planMs, 2), wall: round(scale[1].wallMs / scale[0].wallMs, 2) };
    const ratio = round(planMs / baselineMs, 2);
    const pairs = plan.map((p, i) => p / baseline[i]);
    const npx = {
      viaNpxMs: round(median(viaNpx)),
      floorMs: round(median(npxFloor)),
      extraMs: round(median(viaNpx) - planMs),
      projenMs: round(median(viaNpx.map((v, i) => v - plan[i] - npxFloor[i]))),
    };
    return {
      command: "npx ts-node --transpile-only scripts/bench/plan-bench.ts" + (runs === DEFAULT_RUNS ? "" : ` --runs ${runs}`),
      runs,
      shipped: {
        planMs: round(planMs),
        baselineMs: round(baselineMs),
        ratio,
        pairRatios: { median: round(median(pairs), 2), min: round(Math.min(...pairs), 2), max: round(Math.max(...pairs), 2) },
        resources,
        programMs: round(median(program)),
        uncachedMs: round(median(uncached)),
        tsNode: { planMs: round(median(tsPlan)), baselineMs: round(median(tsBaseline)), ratio: round(median(tsPlan) / median(tsBaseline), 2) },
      },
      npx,
      scale,
      growth,
      pass: {
        ratio: ratio <= LIMITS.ratio,
        npx: npx.extraMs <= npx.floorMs + LIMITS.npxExtraMs,
        growth: growth.plan <= LIMITS.growth && growth.wall <= LIMITS.growth,
        memory: scale.every((s) => s.maxRssMB <= LIMITS.memoryMB),
      },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function print(report: Report): string[] {
  const ok = (pass: boolean) => (pass ? "PASS" : "FAIL");
  const s = report.shipped;
  const n = report.npx;
  return [
    `plan benchmark (${report.runs} runs each, medians, fresh processes; ${s.resources} resources in the shipped stacks)`,
    `(a) plan --stack all --json: ${s.planMs} ms; baseline (load @pulumi/pulumi + @pulumi/aws, register ${s.resources} bare resources): `
      + `${s.baselineMs} ms; ratio ${s.ratio} (limit ${LIMITS.ratio}) ${ok(report.pass.ratio)}`,
    `    ratio of each interleaved pair: median ${s.pairRatios.median}, from ${s.pairRatios.min} to ${s.pairRatios.max} (machine noise)`,
    `    the program alone (same stacks through runStackOffline, no naming, checks or output): ${s.programMs} ms = `
      + `${round(s.programMs / s.baselineMs, 2)}x baseline`,
    `    the plan bundle without the launcher's code cache (a first run): ${s.uncachedMs} ms = ${round(s.uncachedMs / s.baselineMs, 2)}x baseline`,
    `    same under ts-node: plan ${s.tsNode.planMs} ms, baseline ${s.tsNode.baselineMs} ms, ratio ${s.tsNode.ratio} (information: includes transpiling the plan's TypeScript)`,
    ...report.scale.map((x) => `(b) ${x.endpoints} endpoints (${x.resources} resources): plan ${x.planMs} ms in process, ${x.wallMs} ms wall, `
      + `peak memory ${x.maxRssMB} MB`),
    `    growth 10 -> 100 endpoints: ${report.growth.plan}x in process, ${report.growth.wall}x wall (limit ${LIMITS.growth}x) ${ok(report.pass.growth)}; `
      + `peak memory limit ${LIMITS.memoryMB} MB ${ok(report.pass.memory)}`,
    `(c) npx projen plan --stack all --json: ${n.viaNpxMs} ms = plan ${s.planMs} ms + ${n.extraMs} ms; npx itself (npx ${NPX_FLOOR.join(" ")}): `
      + `${n.floorMs} ms; limit npx + ${LIMITS.npxExtraMs} = ${n.floorMs + LIMITS.npxExtraMs} ms ${ok(report.pass.npx)}`,
    `    projen and its task beyond npx, median of the interleaved runs: ${n.projenMs} ms`,
  ];
}

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const child = arg("child");
  if (child === "baseline") return baselineChild(String(arg("list"))).then(() => 0);
  if (child === "program") return programChild().then(() => 0);
  if (child === "list") return listChild(String(arg("out"))).then(() => 0);
  if (child === "scale") return scaleChild(String(arg("dir")), String(arg("stage"))).then(() => 0);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("Usage: bench:plan [--runs <n>] [--json]\n"
      + "Measures plan against a Pulumi mock baseline, `npx projen plan` against npx's own cost, and plan at 10 and 100 endpoints.\n");
    return 0;
  }
  const runs = Number(arg("runs") ?? DEFAULT_RUNS);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    process.stderr.write(`bench:plan: --runs must be a whole number from 1 to 50, got "${String(arg("runs"))}"\n`);
    return 2;
  }
  const report = await benchmark(runs);
  process.stdout.write(`${argv.includes("--json") ? JSON.stringify(report, null, 2) : print(report).join("\n")}\n`);
  return Object.values(report.pass).every(Boolean) ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (error: unknown) => {
  process.stderr.write(`bench:plan: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
