import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { TSC_BUILD_INFO } from "../../projen/test-task";
import { shellWord } from "../../projen/tool-task";

/**
 * The generated tasks and npm scripts, run for real in this repository: arguments reach the tools
 * whole, exit statuses come through, and tasks find the project's binaries. A module preloaded into
 * every Node process the command starts records each one's arguments; given STOP_AT, it also ends the
 * tool's process at once with STOP_STATUS (a stand-in for the tool, so the test does not pay for
 * ts-node and the AWS SDK: the tools' own statuses are tested with their main functions).
 */

const REPO_ROOT = resolve(__dirname, "../..");
const LOCAL_BIN = join(REPO_ROOT, "node_modules", ".bin");

const RECORDER = `
const argv = process.argv.slice(1);
require("node:fs").appendFileSync(process.env.ARGV_LOG, JSON.stringify(argv) + "\\n");
if (process.env.STOP_AT && argv.some((a) => a.endsWith(process.env.STOP_AT))) process.exit(Number(process.env.STOP_STATUS));
`;

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "mlplatform-tasks-"));
  writeFileSync(join(work, "record-argv.js"), RECORDER);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

interface RunOptions {
  /** End the tool's process as soon as it starts, with this status, instead of running it. */
  readonly stubStatus?: number;
  readonly path?: string;
  readonly cwd?: string;
  readonly pwd?: string;
}

/** Runs a command in the repository; returns its status, stderr and the arguments the tool `script` was started with. */
function run(command: string, args: readonly string[], script: string, options: RunOptions = {}) {
  const log = join(work, "argv.log");
  const child = spawnSync(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: options.path ?? process.env.PATH,
      PWD: options.pwd ?? process.env.PWD,
      ARGV_LOG: log,
      NODE_OPTIONS: `--require ${join(work, "record-argv.js")}`,
      ...(options.stubStatus === undefined ? {} : { STOP_AT: script, STOP_STATUS: String(options.stubStatus) }),
    },
  });
  const started = readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as string[]);
  const argv = started.find((a) => a.some((arg) => arg.endsWith(script)));
  return { status: child.status, stderr: child.stderr, toolArgs: argv?.slice(argv.findIndex((arg) => arg.endsWith(script)) + 1) };
}

describe("the tools' tasks, run", () => {
  it("GIVEN projen started without npx, in a subdirectory, without node_modules/.bin on PATH WHEN a task gets a quoted argument THEN the tool receives it whole", () => {
    const path = (process.env.PATH ?? "").split(delimiter).filter((p) => resolve(p) !== LOCAL_BIN).join(delimiter);
    const projen = join(REPO_ROOT, "node_modules", "projen", "bin", "projen");
    const description = "MAE 0.031 on the October holdout";
    const args = [projen, "registry", "approve", "--arn", "x", "--description", description];
    // A stale PWD, as a shell that did not cd would leave it: the tasks' PATH must come from the project directory.
    const result = run(process.execPath, args, "scripts/registry.ts", { stubStatus: 2, path, cwd: join(REPO_ROOT, "test"), pwd: tmpdir() });
    // ts-node was found through the tasks' own PATH, and the description is one argument.
    expect(result.toolArgs).toEqual(["approve", "--arn", "x", "--description", description]);
    // projen ends with 1 whenever a step fails, whatever the step's status: why the npm scripts run the tools directly.
    expect(result.status).toBe(1);
  });

  it("GIVEN npm run WHEN a tool gets a quoted argument and ends with its usage status THEN it received the argument whole and npm exits with 2", () => {
    const result = run("npm", ["run", "--silent", "promote", "--", "--reason", "INC-42 hotfix", "--from", "qa"], "scripts/promote.ts", { stubStatus: 2 });
    expect(result.toolArgs).toEqual(["--reason", "INC-42 hotfix", "--from", "qa"]);
    expect(result.status).toBe(2);
  });

  it("GIVEN npm run plan WHEN the plan gets a quoted argument and ends with its usage status THEN its launcher received the argument whole and npm exits with 2", () => {
    const result = run("npm", ["run", "--silent", "plan", "--", "--stack", "no such stage"], "node_modules/.cache/mlplatform/launch.js", { stubStatus: 2 });
    expect(result.toolArgs).toEqual(["--stack", "no such stage"]);
    expect(result.status).toBe(2);
  });
});

describe("shellWord", () => {
  it("GIVEN plain words THEN they stay as they are, and other words are single-quoted so sh reads them back unchanged", () => {
    const words = ["node_modules/.cache/mlplatform/launch.js", "--stack", "a b", "it's", "$HOME", "*", ""];
    expect(words.map(shellWord).slice(0, 2)).toEqual(["node_modules/.cache/mlplatform/launch.js", "--stack"]);
    const echoed = spawnSync("sh", ["-c", `printf '%s\\n' ${words.map(shellWord).join(" ")}`], { encoding: "utf8" }).stdout;
    expect(echoed).toBe(`${words.join("\n")}\n`);
  });
});

describe("the test task's type check", () => {
  /**
   * The test task's first two steps, copied into a small project of their own and run by projen, so they
   * meet projen's built-in shell as in the repository (its `touch`, for one, empties a file).
   */
  const STEPS = (JSON.parse(readFileSync(join(REPO_ROOT, ".projen", "tasks.json"), "utf8")) as { tasks: { test: { steps: object[] } } }).tasks.test.steps;
  const buildInfo = () => join(work, TSC_BUILD_INFO);
  const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);

  beforeEach(() => {
    mkdirSync(join(work, ".projen"));
    writeFileSync(join(work, ".projen", "tasks.json"), JSON.stringify({
      tasks: { forget: { name: "forget", steps: [STEPS[0]] }, check: { name: "check", steps: [STEPS[0], STEPS[1]] } },
    }));
    writeFileSync(join(work, "tsconfig.dev.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, incremental: true, tsBuildInfoFile: TSC_BUILD_INFO, types: [], lib: ["es2020"], skipLibCheck: true },
      include: ["*.ts"],
    }));
    writeFileSync(join(work, "a.ts"), "export const n: number = 1;\n");
    mkdirSync(join(work, "node_modules"));
    writeFileSync(join(work, "node_modules", ".package-lock.json"), "{}");
  });

  function projen(task: string) {
    return spawnSync(process.execPath, [join(REPO_ROOT, "node_modules", "projen", "bin", "projen"), task], {
      cwd: work, encoding: "utf8", env: { ...process.env, PATH: `${LOCAL_BIN}${delimiter}${process.env.PATH}` },
    });
  }

  const tsc = (...args: string[]) => spawnSync(join(LOCAL_BIN, "tsc"), args, { cwd: work, encoding: "utf8" });

  it("GIVEN a checked project WHEN projen rewrites the tsconfig unchanged THEN the next check is skipped, and WHEN a file gets a type error THEN it is reported", () => {
    expect(projen("check").status).toBe(0);
    // The last check 10 s ago, the tsconfig rewritten since; the check then records itself as current.
    utimesSync(buildInfo(), ago(10), ago(10));
    utimesSync(join(work, "tsconfig.dev.json"), ago(5), ago(5));
    expect(projen("check").status).toBe(0);
    expect(tsc("-b", "tsconfig.dev.json", "--verbose").stdout).toContain("is up to date");
    writeFileSync(join(work, "a.ts"), "export const n: number = \"one\";\n");
    const failed = projen("check");
    expect(failed.status).not.toBe(0);
    expect(failed.stdout).toContain("error TS2322");
  });

  it("GIVEN packages installed after the last check THEN it is forgotten, so tsc -b checks everything again", () => {
    mkdirSync(join(buildInfo(), ".."), { recursive: true });
    writeFileSync(buildInfo(), "{}");
    utimesSync(buildInfo(), ago(60), ago(60));
    expect(projen("forget").status).toBe(0);
    expect(existsSync(buildInfo())).toBe(false);
  });

  it("GIVEN no install since the last check THEN it is kept", () => {
    mkdirSync(join(buildInfo(), ".."), { recursive: true });
    writeFileSync(buildInfo(), "{}");
    utimesSync(join(work, "node_modules", ".package-lock.json"), ago(60), ago(60));
    expect(projen("forget").status).toBe(0);
    expect(existsSync(buildInfo())).toBe(true);
  });

  it("GIVEN no last check (a fresh clone) THEN there is nothing to forget, quietly", () => {
    const forget = projen("forget");
    expect(forget.status).toBe(0);
    expect(forget.stderr).not.toMatch(/Error|at /);
  });
});
