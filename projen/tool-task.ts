import { javascript, type Project } from "projen";

/** A command-line tool the project runs for users: `npx projen <name> ...` and `npm run <name> -- ...`. */
export interface ToolTaskOptions {
  /** What the tool does, for `npx projen --help`. */
  readonly description: string;
  /** The tool's command line (program first); the caller's arguments follow, each passed on as one argument. */
  readonly command: readonly string[];
  /**
   * A shell line run before the tool, written for both projen's shell and npm's `sh` (for example
   * building a missing launcher). The tool only runs when it succeeds.
   * @default - none
   */
  readonly prepare?: string;
}

/**
 * Adds a task that runs a tool with the caller's arguments intact, and makes the npm script of the
 * same name run the tool directly.
 *
 * The task's step is an argument list (`execArgs`), never a shell line, so an argument such as
 * `--reason "INC-42 hotfix"` reaches the tool as one argument (a `receiveArgs` shell line would be
 * split again at its spaces). projen ends with exit status 1 whenever a step fails, whatever the
 * step's own status, so the tools' usage status 2 is lost on `npx projen <task>`; the npm script runs
 * the tool itself, and `npm run <task> -- ...` exits with the tool's own status (0, 1 or 2).
 */
export function addToolTask(project: Project, name: string, options: ToolTaskOptions): void {
  const task = project.addTask(name, { description: options.description });
  if (options.prepare !== undefined) task.exec(options.prepare);
  task.execArgs([...options.command], { receiveArgs: true });
  if (project instanceof javascript.NodeProject) {
    const command = options.command.map(shellWord).join(" ");
    project.package.setScript(name, options.prepare === undefined ? command : `${options.prepare} && ${command}`);
  }
}

/** One word for a POSIX shell: as it is when it has no special characters, otherwise single-quoted. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * The PATH every task runs with: the project's node_modules/.bin, then the caller's PATH, so tasks
 * find jest, tsc, eslint, esbuild and ts-node also when projen is started without npx.
 *
 * projen's NodeProject computes the same with `$(npx -c "node --print process.env.PATH")`, which
 * starts npm and node on every task (about 1.7 s here). projen evaluates a `$(...)` value in its
 * built-in shell, where `echo` runs in process and `$PWD` is the project directory: no process at all.
 * (The `:` separator makes this POSIX-only, as the project's other shell lines are.)
 */
export const LOCAL_BIN_PATH = "$(echo \"$PWD/node_modules/.bin:$PATH\")";

/** Replaces NodeProject's PATH environment of all tasks by LOCAL_BIN_PATH. */
export function useLocalBinPath(project: Project): void {
  project.tasks.addEnvironment("PATH", LOCAL_BIN_PATH);
}
