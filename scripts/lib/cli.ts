import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError } from "../../stacks/config/load";

/**
 * Plumbing shared by the command-line tools: option parsing, exit codes, error reporting and
 * printing. A tool's `main(argv, deps)` returns its exit code, so tests run it in-process.
 */

/** Exit codes of every tool. */
export const EXIT = {
  ok: 0,
  /** The tool ran and failed, or refused (AWS said no, no such version, wrong account). */
  failure: 1,
  /** The command line itself is wrong: unknown option, missing value, value out of range. */
  usage: 2,
} as const;

/** Where a tool writes, one line at a time; tests pass a recorder. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => { process.stdout.write(`${line}\n`); },
  err: (line) => { process.stderr.write(`${line}\n`); },
};

/** A mistake in how the tool was called (exit 2). The message says what is wrong. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure or refusal the user can act on (exit 1): printed as one line, never a stack trace. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** Options as node:util parseArgs takes them. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** The values parseOptions returns for `O`: strings, booleans or arrays of them, by each option's type. */
export type ParsedOptions<O extends OptionSpecs> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>["values"];

/** Options every tool takes. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
} as const satisfies OptionSpecs;

/**
 * Parses `--name value` options strictly (no positionals). Node's parse errors become UsageErrors
 * with the first sentence of Node's message ("Unknown option '--modle'").
 */
export function parseOptions<const O extends OptionSpecs>(args: readonly string[], options: O): ParsedOptions<O> {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Checked by code, not `instanceof TypeError`: Node's errors can come from another realm (jest's vm).
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS") && typeof message === "string") {
      throw new UsageError(message.split(/\.\s/)[0].replace(/\.$/, ""));
    }
    throw error;
  }
}

/** The value of a required option, or a UsageError naming it. */
export function required<T>(value: T | undefined, option: string): T {
  if (value === undefined || value === "") throw new UsageError(`--${option} is required`);
  return value;
}

/** A whole number option within bounds (`--max-attempts 5`). */
export function integerOption(value: string | undefined, option: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${option} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/**
 * Runs a tool's body and turns every outcome into an exit code. User mistakes and AWS refusals
 * print one line `<tool>: <message>` on stderr; only a bug (an error no tool threw on purpose)
 * also prints its stack, because then the stack is what a maintainer needs.
 */
export async function runTool(tool: string, io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${tool}: ${error.message} (see ${tool} --help)`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      for (const p of error.problems) io.err(`${tool}: ${p.file}: ${p.path}: ${p.message}`);
      return EXIT.failure;
    }
    const known = describeKnownError(error);
    if (known !== undefined) {
      io.err(`${tool}: ${known}`);
      return EXIT.failure;
    }
    io.err(`${tool}: unexpected error (a bug; please report it): ${isError(error) ? error.stack ?? error.message : String(error)}`);
    return EXIT.failure;
  }
}

/** One line for the errors a user can act on: our own refusals, AWS errors, credential and network problems. */
export function describeKnownError(error: unknown): string | undefined {
  if (error instanceof CliError) return error.message;
  if (!isError(error)) return undefined;
  const firstLine = error.message.split("\n")[0];
  if (error.name === "CredentialsProviderError" || error.name === "ProviderError") {
    return `no usable AWS credentials (${firstLine}); set AWS_PROFILE, run "aws sso login", or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`;
  }
  if ("$metadata" in error || "$fault" in error) {
    return `AWS ${error.name}: ${firstLine}`;
  }
  if ("code" in error && typeof error.code === "string" && /^E[A-Z]+$/.test(error.code)) {
    return `network error ${error.code}: ${firstLine} (check the region and any AWS_ENDPOINT_URL settings)`;
  }
  return undefined;
}

/**
 * An Error by shape rather than `instanceof`: errors made by Node's internals or in another realm
 * (jest runs tests in a vm context) fail `instanceof Error` but are errors all the same.
 */
export function isError(value: unknown): value is Error {
  return typeof value === "object" && value !== null
    && typeof (value as Error).name === "string" && typeof (value as Error).message === "string";
}

/** Prints `data` as JSON (`--json`) or as the human lines of `human`. */
export function print<T>(io: Io, json: boolean | undefined, data: T, human: (data: T) => readonly string[]): void {
  if (json) {
    io.out(JSON.stringify(data, null, 2));
  } else {
    for (const line of human(data)) io.out(line);
  }
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
}
