import type { typescript } from "projen";

/** Where the test task's type check keeps what it knows between runs (tsconfig.dev.json's tsBuildInfoFile). */
export const TSC_BUILD_INFO = "node_modules/.cache/tsc/tsconfig.dev.tsbuildinfo";

/**
 * npm's record of the installed packages, rewritten by every install that changes node_modules: when it
 * is newer than TSC_BUILD_INFO, the packages' type declarations may have changed since the last check.
 */
const INSTALLED = "node_modules/.package-lock.json";

/**
 * Makes the test task's first step an incremental type check of everything tsconfig.dev.json covers.
 *
 * `tsc -b` (build mode) skips the check when no project file changed since the last one (about 1 s
 * here instead of 7 s for `tsc --noEmit -p` with the same build info, which parses every declaration
 * file again). Build mode looks only at the project's own files, so a step before it forgets the last
 * check when packages were installed since. tsconfig.dev.json sets noEmit, incremental and the build
 * info file; without build info (a fresh clone) the check is a full one.
 */
export function addIncrementalTypeCheck(project: typescript.TypeScriptProject): void {
  // Exits 0 when both files exist and the first is newer (a missing build info needs nothing forgotten).
  const newerThanLastCheck = "const [a, b] = process.argv.slice(1).map((f) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs); process.exit(a > b ? 0 : 1)";
  // With noEmit, tsc -b leaves the build info as it was when it finds nothing changed, so a rewritten but
  // equal tsconfig (every `npx projen`) would stay newer and make every later run a full one: mark the check
  // done. (Not with `touch`: in projen's shell it empties the file.)
  const markChecked = "const t = new Date(); fs.utimesSync(process.argv[1], t, t)";
  project.testTask.prependExec(`tsc -b ${project.tsconfigDev.fileName} && node -e "${markChecked}" ${TSC_BUILD_INFO}`, {
    name: "Type-check everything, incrementally",
  });
  project.testTask.prependExec(`rm -f ${TSC_BUILD_INFO}`, {
    name: "Forget the last type check when packages were installed since",
    condition: `node -e "${newerThanLastCheck}" ${INSTALLED} ${TSC_BUILD_INFO}`,
  });
}

/**
 * Makes the test task install Debian's PostgreSQL server when it is missing: the retraining tests
 * start a real one (test/support/postgres.ts). Where it cannot install (no root, no apt-get), the
 * script says what to install and the task fails before any test runs.
 */
export function addPostgresForTests(project: typescript.TypeScriptProject): void {
  project.testTask.prependExec("bash test/support/install-postgres.sh", { name: "PostgreSQL for the retraining tests (installed when missing)" });
}
