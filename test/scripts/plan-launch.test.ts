import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { PLAN_BOOTSTRAP } from "../../projen/plan-tasks";
import { BUILD_RECORD, ensureFreshBundle, PLAN_BUNDLE, PLAN_DIR, PLAN_LAUNCHER } from "../../scripts/plan/bundle";
import { cacheFileOf } from "../../scripts/plan/launch";

/**
 * The plan's launcher (scripts/plan/launch.ts): rebuilds the bundle when stale, then runs plan.js beside
 * it with a V8 code cache. The code cache is tested with a small stand-in bundle outside any project;
 * the rebuilds with a small stand-in project built as the plan task builds it.
 */

const REPO_ROOT = resolve(__dirname, "../..");

/** A stand-in for plan.js: reports its arguments, module paths and a sibling require; exits with argv[2]. */
const FAKE_BUNDLE = `
const sibling = require("./sibling.js");
process.stdout.write(JSON.stringify({ args: process.argv.slice(2), dir: __dirname, file: __filename, sibling }) + "\\n");
process.exitCode = Number(process.argv[2] || 0);
`;

/** The launcher, built once as the plan task's first step builds it. */
let launcherJs: string;
let dir: string;

beforeAll(() => {
  launcherJs = join(mkdtempSync(join(tmpdir(), "plan-launcher-")), "launch.js");
  execFileSync(join(REPO_ROOT, "node_modules", ".bin", "esbuild"), [
    "scripts/plan/launch.ts", "--bundle", "--platform=node", "--target=node20", "--log-level=warning", `--outfile=${launcherJs}`,
  ], { cwd: REPO_ROOT, stdio: "pipe" });
});

afterAll(() => rmSync(dirname(launcherJs), { recursive: true, force: true }));

function launch(...args: string[]) {
  const child = spawnSync(process.execPath, [join(dir, "launch.js"), ...args], {
    cwd: tmpdir(), encoding: "utf8", env: { ...process.env, MLPLATFORM_PLAN_CACHE: "report" },
  });
  return { code: child.status, out: child.stdout, cache: /code cache (\w+)/.exec(child.stderr)?.[1], stderr: child.stderr };
}

const caches = () => readdirSync(dir).filter((f) => f.endsWith(".v8cache")).sort();
const leftovers = () => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("the plan launcher", () => {
  // A launcher with a stand-in bundle beside it, outside any project (so no rebuilds).
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "plan-launch-"));
    copyFileSync(launcherJs, join(dir, "launch.js"));
    writeFileSync(join(dir, "plan.js"), FAKE_BUNDLE);
    writeFileSync(join(dir, "sibling.js"), "module.exports = \"from the bundle's directory\";\n");
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN no cache WHEN run twice THEN the first run writes the cache and the second uses it, with the same result", () => {
    const first = launch("0", "--stack", "qa");
    expect(caches()).toEqual([basename(cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE))]);
    const second = launch("0", "--stack", "qa");
    expect([first.code, first.cache, second.code, second.cache]).toEqual([0, "miss", 0, "hit"]);
    expect(second.out).toBe(first.out);
    expect(JSON.parse(first.out)).toEqual({
      args: ["0", "--stack", "qa"], dir, file: join(dir, "plan.js"), sibling: "from the bundle's directory",
    });
  });

  it("GIVEN the bundle sets an exit code WHEN launched THEN the launcher exits with it", () => {
    expect(launch("1").code).toBe(1);
    expect(launch("2").code).toBe(2);
  });

  it("GIVEN a cache file of garbage WHEN run THEN V8 rejects it, the bundle still runs and the cache is rewritten", () => {
    const file = cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE);
    writeFileSync(file, Buffer.from("not a V8 code cache"));
    const run = launch("0");
    expect([run.code, run.cache]).toEqual([0, "rejected"]);
    expect(launch("0").cache).toBe("hit");
  });

  it("GIVEN a rebuilt bundle WHEN run THEN its text gets a new cache and the old bundle's cache is removed", () => {
    launch("0");
    const before = caches();
    const changed = `${FAKE_BUNDLE}// rebuilt\n`;
    writeFileSync(join(dir, "plan.js"), changed);
    expect(launch("0").cache).toBe("miss");
    const after = caches();
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    expect(join(dir, after[0])).toBe(cacheFileOf(join(dir, "plan.js"), changed));
  });

  it("GIVEN the cache cannot be written WHEN run THEN the bundle runs and exits as usual and no temp file is left", () => {
    // A directory where the cache file should be: reading and renaming onto it both fail (also as root).
    const file = cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE);
    mkdirSync(file);
    writeFileSync(join(file, "keep"), "");
    const run = launch("1");
    expect([run.code, run.cache, JSON.parse(run.out).args]).toEqual([1, "miss", ["1"]]);
    expect(run.stderr).not.toMatch(/Error|at /);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN two Node versions WHEN naming the cache THEN the bundle text and the Node version both change the name", () => {
    const name = cacheFileOf("/x/plan.js", "a");
    expect(name).toMatch(/^\/x\/plan-[0-9a-f]{16}\.v8cache$/);
    expect(cacheFileOf("/x/plan.js", "b")).not.toBe(name);
    const version = process.version;
    Object.defineProperty(process, "version", { value: "v0.0.0-test" });
    try {
      expect(cacheFileOf("/x/plan.js", "a")).not.toBe(name);
    } finally {
      Object.defineProperty(process, "version", { value: version });
    }
  });
});

describe("the plan bundle's freshness", () => {
  /**
   * A stand-in project: scripts/plan.ts prints a word from scripts/plan/word.ts; the launcher and its
   * freshness check are the real ones, and node_modules/esbuild is the repository's. One project for
   * all the tests: each starts from a current bundle and puts back what it edits. The check runs in
   * this process where no launcher process is needed to see the behaviour.
   */
  let root: string;
  const planDir = () => join(root, PLAN_DIR);
  const word = () => join(root, "scripts", "plan", "word.ts");
  const launcherTs = () => join(root, "scripts", "plan", "launch.ts");
  const bundleText = () => readFileSync(join(root, PLAN_BUNDLE), "utf8");

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "plan-fresh-"));
    mkdirSync(join(root, "scripts", "plan"), { recursive: true });
    mkdirSync(join(root, "node_modules"));
    symlinkSync(join(REPO_ROOT, "node_modules", "esbuild"), join(root, "node_modules", "esbuild"));
    writeFileSync(join(root, "package.json"), "{}\n");
    for (const file of ["launch.ts", "bundle.ts"]) copyFileSync(join(REPO_ROOT, "scripts", "plan", file), join(root, "scripts", "plan", file));
    writeFileSync(join(root, "scripts", "plan.ts"), "import { WORD } from \"./plan/word\";\nprocess.stdout.write(`${WORD}\\n`);\n");
    edit(word(), "export const WORD = \"one\";\n");
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const original = new Map<string, string>();
  beforeEach(() => {
    for (const file of [word(), launcherTs()]) original.set(file, readFileSync(file, "utf8"));
    expect(ensureFreshBundle(planDir()).state).not.toBe("failed");
  });

  afterEach(() => {
    for (const [file, text] of original) edit(file, text);
    original.clear();
  });

  /** The plan as users start it: node on the launcher. */
  function plan() {
    const child = spawnSync(process.execPath, [join(root, PLAN_LAUNCHER)], {
      cwd: root, encoding: "utf8", env: { ...process.env, MLPLATFORM_PLAN_CACHE: "report" },
    });
    return { code: child.status, out: child.stdout, bundle: /^plan: bundle.*$/m.exec(child.stderr)?.[0], stderr: child.stderr };
  }

  /**
   * Writes a file the way an editor does, then lets the clock move past the freshness check's race
   * margin (a file written just before a build counts as possibly changed during it).
   */
  function edit(file: string, text: string) {
    writeFileSync(file, text);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }

  it("GIVEN a fresh checkout WHEN the task's first step and then the plan run twice THEN the step builds only the launcher, the first run the bundle, the second nothing", () => {
    rmSync(planDir(), { recursive: true });
    // The step as the npm script runs it (sh); projen runs the same line in its own shell.
    execFileSync("sh", ["-c", PLAN_BOOTSTRAP], { cwd: root, env: { ...process.env, PATH: `${join(REPO_ROOT, "node_modules", ".bin")}:${process.env.PATH}` } });
    expect(readdirSync(planDir())).toEqual(["launch.js"]);
    expect(plan()).toMatchObject({ code: 0, out: "one\n", bundle: "plan: bundle rebuilt (no build record)" });
    expect(readdirSync(planDir())).toEqual(expect.arrayContaining([BUILD_RECORD, "launch.js", "plan.js"]));
    expect(plan()).toMatchObject({ code: 0, out: "one\n", bundle: "plan: bundle fresh" });
  });

  it("GIVEN a current bundle WHEN an imported source is edited, even to the same size THEN the check rebuilds the bundle with the new code", () => {
    edit(word(), "export const WORD = \"two\";\n");
    expect(ensureFreshBundle(planDir())).toEqual({ state: "rebuilt", reason: "scripts/plan/word.ts changed", launcherChanged: false });
    expect(bundleText()).toContain("\"two\"");
    expect(ensureFreshBundle(planDir())).toEqual({ state: "fresh" });
  });

  it("GIVEN a current bundle WHEN a source is only touched THEN the check rebuilds", () => {
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(word(), past, past);
    expect(ensureFreshBundle(planDir())).toMatchObject({ state: "rebuilt", reason: "scripts/plan/word.ts changed" });
  });

  it("GIVEN a current bundle WHEN the bundle file is deleted THEN the check builds it again", () => {
    rmSync(join(root, PLAN_BUNDLE));
    expect(ensureFreshBundle(planDir())).toMatchObject({ state: "rebuilt", reason: `${PLAN_BUNDLE} is missing` });
    expect(bundleText()).toContain("\"one\"");
  });

  it("GIVEN a current bundle WHEN the launcher's own source changes THEN the new launcher is built and is what runs the plan", () => {
    edit(launcherTs(), readFileSync(launcherTs(), "utf8").replace("report(`plan: bundle ${", "report(`plan: new launcher, bundle ${"));
    const run = plan();
    expect([run.code, run.out]).toEqual([0, "one\n"]);
    expect(run.stderr).toContain("plan: bundle rebuilt (scripts/plan/launch.ts changed)\nplan: new launcher, bundle fresh\n");
  });

  it("GIVEN a source edited into an error WHEN the plan runs THEN it exits 1 with esbuild's error and never runs the old bundle", () => {
    edit(word(), "export const WORD = ;\n");
    const run = plan();
    expect([run.code, run.out]).toEqual([1, ""]);
    expect(run.stderr).toMatch(/\[ERROR\][\s\S]*scripts\/plan\/word\.ts:1:/);
    expect(run.stderr).toContain("plan: the plan bundle does not build: esbuild reported the errors above");
  });

  it("GIVEN a source whose time is after the build began WHEN built THEN it is recorded as unknown and the next check rebuilds again", () => {
    const future = new Date(Date.now() + 60_000);
    appendFileSync(word(), "// edited while esbuild was reading\n");
    utimesSync(word(), future, future);
    expect(ensureFreshBundle(planDir())).toMatchObject({ state: "rebuilt", reason: "scripts/plan/word.ts changed" });
    expect(ensureFreshBundle(planDir())).toMatchObject({ state: "rebuilt", reason: "scripts/plan/word.ts changed during the last build" });
  });

  it("GIVEN no build record and no plan sources above the bundle WHEN checked THEN the bundle is left to run as it is", () => {
    expect(ensureFreshBundle(join(tmpdir(), "no-project", "a", "b"))).toEqual({ state: "no-sources" });
  });
});
