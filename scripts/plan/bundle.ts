import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";
import type { BuildOptions } from "esbuild";

/**
 * The plan runs as one esbuild bundle (the project's TypeScript, zod and yaml in one file; Pulumi and
 * the AWS SDK stay external) started by a small launcher beside it (launch.ts). Both are built into
 * PLAN_DIR and rebuilt only when stale: each build writes a record of every file esbuild read and
 * every file it wrote (size, times, inode), and the launcher compares that record with the disk before
 * each run, about 200 stat calls. Any difference, a missing file or changed build options means a
 * rebuild (esbuild's JS API, about 0.2 s) before the plan runs, so an edited source never meets an
 * old bundle.
 */
export const PLAN_DIR = "node_modules/.cache/mlplatform";
export const PLAN_BUNDLE = `${PLAN_DIR}/plan.js`;
export const PLAN_LAUNCHER = `${PLAN_DIR}/launch.js`;
/** The build record, beside the bundle. */
export const BUILD_RECORD = "plan.build.json";
/** The repository root seen from the bundle's directory (PLAN_DIR is three levels down). */
const ROOT_FROM_DIR = "../../..";

/** esbuild options of the bundle and its launcher, paths relative to the repository root (outdir aside). */
export const PLAN_BUILD_OPTIONS = {
  entryPoints: ["scripts/plan.ts", "scripts/plan/launch.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  logLevel: "warning",
  external: ["@pulumi/*", "@aws-sdk/*"],
  entryNames: "[name]",
} as const satisfies BuildOptions;

/**
 * A file changed after esbuild started reading (an edit during a build) may be in the bundle in its
 * old form yet stat as new: such files are recorded as unknown, so the next run rebuilds again.
 * "After" allows for file systems whose timestamps trail the clock (Linux: one tick) or keep whole
 * seconds (FAT, HFS+).
 */
const RACE_MARGIN_MS = 50;
const COARSE_RACE_MARGIN_MS = 2000;

interface BuildRecord {
  readonly options: string;
  /** Repository-relative path -> signature; null for a file that changed during the build. */
  readonly files: Record<string, string | null>;
}

/** What ensureFreshBundle found and did. */
export type Freshness =
  | { readonly state: "fresh" }
  /** No sources next to the bundle (a copied bundle): it runs as it is. */
  | { readonly state: "no-sources" }
  | { readonly state: "rebuilt"; readonly reason: string; readonly launcherChanged: boolean }
  | { readonly state: "failed"; readonly reason: string };

/** The repository root of a bundle directory. */
export function rootOf(dir: string): string {
  return resolve(dir, ROOT_FROM_DIR);
}

function signature(stats: Stats): string {
  return `${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${stats.ino}`;
}

const OPTIONS_KEY = JSON.stringify(PLAN_BUILD_OPTIONS);

/** Why the bundle in `dir` is stale, or undefined when every recorded file is as it was built. */
export function staleReason(dir: string): string | undefined {
  let record: BuildRecord;
  try {
    record = JSON.parse(readFileSync(join(dir, BUILD_RECORD), "utf8")) as BuildRecord;
  } catch {
    return "no build record";
  }
  if (record.options !== OPTIONS_KEY) return "the build options changed";
  const root = rootOf(dir);
  for (const [file, recorded] of Object.entries(record.files)) {
    if (recorded === null) return `${file} changed during the last build`;
    const stats = statSync(resolve(root, file), { throwIfNoEntry: false });
    if (stats === undefined) return `${file} is missing`;
    if (signature(stats) !== recorded) return `${file} changed`;
  }
  return undefined;
}

/**
 * Makes the bundle and launcher in `dir` current, rebuilding them when stale. A directory whose
 * repository has no plan sources (a bundle copied elsewhere, the launcher's tests) is left as it is.
 */
export function ensureFreshBundle(dir: string): Freshness {
  const root = rootOf(dir);
  const reason = staleReason(dir);
  if (reason === undefined) return { state: "fresh" };
  if (reason === "no build record" && statSync(join(root, PLAN_BUILD_OPTIONS.entryPoints[0]), { throwIfNoEntry: false }) === undefined) {
    return { state: "no-sources" };
  }
  try {
    return { state: "rebuilt", reason, launcherChanged: build(root, dir) };
  } catch (error) {
    // esbuild prints its errors itself (logLevel warning); a missing esbuild is the other cause.
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { state: "failed", reason: message.startsWith("Build failed") ? "esbuild reported the errors above" : message };
  }
}

/** Builds bundle and launcher into `dir`, each written whole (temp file, rename); true when the launcher changed. */
function build(root: string, dir: string): boolean {
  // Loaded from the project at run time (not bundled), and only when a build is needed.
  const esbuild = createRequire(join(root, "package.json"))("esbuild") as typeof import("esbuild");
  const started = Date.now();
  const result = esbuild.buildSync({
    ...PLAN_BUILD_OPTIONS,
    entryPoints: [...PLAN_BUILD_OPTIONS.entryPoints],
    external: [...PLAN_BUILD_OPTIONS.external],
    absWorkingDir: root,
    outdir: dir,
    metafile: true,
    write: false,
  });
  mkdirSync(dir, { recursive: true });
  const launcher = join(dir, "launch.js");
  let launcherChanged = false;
  for (const output of result.outputFiles) {
    if (output.path === launcher) launcherChanged = !sameBytes(launcher, output.contents);
    writeWhole(output.path, output.contents);
  }
  const files: Record<string, string | null> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const stats = statSync(resolve(root, input));
    const margin = stats.mtimeMs % 1000 === 0 ? COARSE_RACE_MARGIN_MS : RACE_MARGIN_MS;
    files[input] = Math.max(stats.mtimeMs, stats.ctimeMs) > started - margin ? null : signature(stats);
  }
  for (const output of result.outputFiles) files[relative(root, output.path)] = signature(statSync(output.path));
  writeWhole(join(dir, BUILD_RECORD), JSON.stringify({ options: OPTIONS_KEY, files } satisfies BuildRecord));
  return launcherChanged;
}

function sameBytes(file: string, contents: Uint8Array): boolean {
  try {
    return Buffer.from(contents).equals(readFileSync(file));
  } catch {
    return false;
  }
}

function writeWhole(file: string, contents: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, contents);
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}
