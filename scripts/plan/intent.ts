import type { Operation } from "./types";

/**
 * How a change says that it means to delete or replace an Endpoint, a bucket or a KMS key.
 *
 * `plan diff --against <rev>` reports such a deletion or replacement as an error (check
 * `replacement`): clients lose the endpoint, the data goes with the bucket, and whatever the key
 * encrypted becomes unreadable. A service rename once deleted every one of them in prod with only
 * warnings. When the change is intended, it says so, and the finding becomes a warning
 * (`replacement-hazard`) that still shows in the output:
 *
 * - `--allow-delete <logical-name-or-urn>` (repeatable): that resource. A logical name
 *   (`fraud-detection-fraud-scorer-endpoint`, the NAME column of `plan diff`) matches it in every
 *   stack diffed; a URN matches it in its own stack only.
 * - `--allow-deletions`: every one of them in the stacks diffed.
 * - On a pull request, the label INTENT_LABEL: the pull-request workflow passes `--allow-deletions`
 *   when the pull request carries it (and runs again when it is added or removed).
 */

/** The pull-request label that confirms a pull request's deletions and replacements. */
export const INTENT_LABEL = "allow-destructive-changes";

/** Types whose deletion or replacement loses traffic or data. */
export const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  "aws:sagemaker/endpoint:Endpoint",
  "aws:s3/bucket:Bucket",
  "aws:kms/key:Key",
]);

/** What the command line says is intended. */
export interface DeletionIntent {
  /** Every deletion and replacement is intended (`--allow-deletions`). */
  readonly all: boolean;
  /** Logical names or URNs whose deletion or replacement is intended (`--allow-delete`). */
  readonly resources: readonly string[];
}

export const NO_INTENT: DeletionIntent = { all: false, resources: [] };

/** A change as the intent sees it. */
interface Change {
  readonly op: Operation;
  readonly type: string;
  readonly urn: string;
  readonly name: string;
}

/** Whether a change deletes (or replaces) a resource whose loss needs the change's say-so. */
export function isDestructive(change: Change): boolean {
  return (change.op === "delete" || change.op === "replace") && STATEFUL_TYPES.has(change.type);
}

/** The option that makes a destructive change intended (`--allow-delete <name>`), or undefined. */
export function intendedBy(intent: DeletionIntent, change: Change): string | undefined {
  if (intent.all) return "--allow-deletions";
  const match = intent.resources.find((r) => r === change.urn || r === change.name);
  return match === undefined ? undefined : `--allow-delete ${match}`;
}

/** What to do to confirm a destructive change: for the message of its error. */
export function howToConfirm(change: Change): string {
  return `If that is intended, confirm it with --allow-delete ${change.name} (or --allow-deletions), `
    + `or on a pull request with the label "${INTENT_LABEL}"`;
}

/** The `--allow-delete` values that match no destructive change: mistyped, or the change is gone. */
export function unmatched(intent: DeletionIntent, changes: readonly Change[]): string[] {
  const destructive = changes.filter(isDestructive);
  return intent.resources.filter((r) => !destructive.some((c) => c.urn === r || c.name === r));
}
