/**
 * A small, pure IAM policy evaluator for the statement shapes this project emits: identity
 * policies, a permissions boundary, one resource policy (bucket, key, repository, model package
 * group) and trust policies. It follows AWS's documented evaluation logic for one account or two,
 * and throws on any element or operator it does not model, so a test fails loudly instead of
 * deciding silently.
 */
import type { PolicyDocument, Statement } from "../../components/policies";

/** A statement as this evaluator reads it: the project's shape plus `NotAction` and `NotResource`. */
export type AnyStatement = Statement & { NotAction?: string | string[]; NotResource?: string | string[] };
export type Decision = "allow" | "explicit-deny" | "implicit-deny";
export type ContextValue = string | string[] | boolean | undefined;

export interface Caller {
  /** ARN of the principal as IAM sees it in aws:PrincipalArn: arn:aws:iam::123456789012:role/name */
  readonly arn: string;
  readonly accountId: string;
  /** Identity policies attached to the role (inline and managed). */
  readonly identityPolicies: readonly PolicyDocument[];
  /** Permissions boundary, when the role has one. */
  readonly boundary?: PolicyDocument;
}

export interface AccessRequest {
  readonly caller: Caller;
  /** The API action, e.g. "s3:PutObject". */
  readonly action: string;
  /** Concrete ARN, or "*" for actions without a resource type. */
  readonly resource: string;
  /** Account that owns the resource; defaults to the ARN's account field, and is required for ARNs without one (S3) when a resource policy is given. */
  readonly resourceAccountId?: string;
  /** The resource's own policy (bucket policy, key policy, repository policy, group policy). */
  readonly resourcePolicy?: PolicyDocument;
  /** KMS: the key policy must allow (directly, or by naming the account root, which then delegates to IAM). Set true for KMS keys. */
  readonly keyPolicyRequired?: boolean;
  /** Request context keys (names are case-insensitive). aws:PrincipalArn and aws:PrincipalAccount are filled in from the caller unless given. */
  readonly context?: Readonly<Record<string, ContextValue>>;
}

export interface Evaluation {
  readonly decision: Decision;
  /** Labels (`source:Sid`, or `source:#index` without a Sid) of the statements that decided, or what was missing. */
  readonly reasons: string[];
}

export interface AssumeRequest {
  /** The role's trust policy. */
  readonly trust: PolicyDocument;
  readonly action: "sts:AssumeRole" | "sts:AssumeRoleWithWebIdentity";
  /** Who asks: an AWS principal ARN (role, or account root), a service principal, or a federated provider ARN. */
  readonly principal: { readonly aws?: string; readonly service?: string; readonly federated?: string };
  readonly context?: Readonly<Record<string, ContextValue>>;
}

type Context = ReadonlyMap<string, ContextValue>;
type Grant = "direct" | "root" | undefined;
interface Hit { readonly label: string; readonly effect: "Allow" | "Deny"; readonly grant: Grant }
interface Target { readonly action: string; readonly resource: string; readonly context: Context }
type Compare = (actual: string, expected: string) => boolean;

const PRINCIPAL_TYPES = ["AWS", "Service", "Federated", "CanonicalUser"];

function fail(message: string): never {
  throw new Error(`iam-eval: ${message}`);
}

function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === "string" ? [value] : value;
}

/** Glob match: `*` is any sequence (including `/` and `:`), `?` one character, all else literal. */
export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const body = [...pattern].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))).join("");
  return new RegExp(`^${body}$`, ignoreCase ? "is" : "s").test(value);
}

function toNumber(text: string): number {
  return text.trim() === "" ? NaN : Number(text);
}

function numeric(test: (a: number, b: number) => boolean): Compare {
  return (actual, expected) => {
    const b = toNumber(expected);
    if (Number.isNaN(b)) fail(`numeric condition value is not a number: ${expected}`);
    return test(toNumber(actual), b);
  };
}

const equals: Compare = (a, e) => a === e;
const equalsIgnoreCase: Compare = (a, e) => a.toLowerCase() === e.toLowerCase();
const like: Compare = (a, e) => globMatch(e, a);

/** Condition operators by lower-case name: the positive comparison, and whether the operator negates it. */
const OPERATORS = new Map<string, readonly [Compare, boolean]>([
  ["stringequals", [equals, false]], ["stringnotequals", [equals, true]],
  ["stringequalsignorecase", [equalsIgnoreCase, false]], ["stringnotequalsignorecase", [equalsIgnoreCase, true]],
  ["stringlike", [like, false]], ["stringnotlike", [like, true]],
  ["arnequals", [like, false]], ["arnlike", [like, false]], ["arnnotequals", [like, true]], ["arnnotlike", [like, true]],
  ["bool", [equalsIgnoreCase, false]],
  ["numericequals", [numeric((a, b) => a === b), false]], ["numericnotequals", [numeric((a, b) => a === b), true]],
  ["numericlessthan", [numeric((a, b) => a < b), false]], ["numericlessthanequals", [numeric((a, b) => a <= b), false]],
  ["numericgreaterthan", [numeric((a, b) => a > b), false]], ["numericgreaterthanequals", [numeric((a, b) => a >= b), false]],
]);

interface Operator { readonly name: string; readonly set?: "any" | "all"; readonly ifExists: boolean; readonly base: string }

function parseOperator(name: string): Operator {
  const prefix = /^(ForAnyValue|ForAllValues):/i.exec(name);
  const set = prefix ? (prefix[1].toLowerCase() === "foranyvalue" ? "any" : "all") : undefined;
  const rest = prefix ? name.slice(prefix[0].length) : name;
  const ifExists = /IfExists$/i.test(rest);
  const base = (ifExists ? rest.slice(0, -"IfExists".length) : rest).toLowerCase();
  const known = base === "null" ? set === undefined && !ifExists : OPERATORS.has(base);
  if (!known) fail(`unsupported condition operator: ${name}`);
  return { name, set, ifExists, base };
}

/** One key of one operator block: any expected value may match; missing keys follow AWS's rules. */
function keyHolds(op: Operator, key: string, expected: string[], context: Context): boolean {
  const raw = context.get(key.toLowerCase());
  if (op.base === "null") {
    return expected.some((e) => {
      if (e !== "true" && e !== "false") fail(`Null takes "true" or "false", not ${e}`);
      return (e === "true") === (raw === undefined);
    });
  }
  const [compare, negated] = OPERATORS.get(op.base) ?? fail(`unsupported condition operator: ${op.name}`);
  if (raw === undefined) return op.ifExists || op.set === "all" || (op.set === undefined && negated);
  const actual = (Array.isArray(raw) ? raw : [raw]).map(String);
  const positive = (v: string): boolean => expected.some((e) => compare(v, e));
  if (op.set === "any") return actual.some((v) => positive(v) !== negated);
  if (op.set === "all") return actual.every((v) => positive(v) !== negated);
  return negated ? !actual.some(positive) : actual.some(positive);
}

function conditionsHold(s: AnyStatement, context: Context): boolean {
  const blocks = Object.entries(s.Condition ?? {}).map(([name, block]) => [parseOperator(name), block] as const);
  return blocks.every(([op, block]) => Object.entries(block).every(([key, value]) =>
    keyHolds(op, key, typeof value === "boolean" ? [String(value)] : list(value), context)));
}

/** Throws on what this evaluator does not model; run on every statement before matching any. */
function check(s: AnyStatement, label: string): void {
  const where = `statement ${label}`;
  if ("NotPrincipal" in s) fail(`NotPrincipal is not supported (${where})`);
  if (JSON.stringify(s).includes("${")) fail(`policy variables are not supported (${where})`);
  if ((s.Action === undefined) === (s.NotAction === undefined)) fail(`${where} needs exactly one of Action and NotAction`);
  if (s.Resource !== undefined && s.NotResource !== undefined) fail(`${where} has both Resource and NotResource`);
  if (s.Effect !== "Allow" && s.Effect !== "Deny") fail(`${where} has Effect ${String(s.Effect)}`);
  if (typeof s.Principal === "object") {
    const odd = Object.keys(s.Principal).find((t) => !PRINCIPAL_TYPES.includes(t));
    if (odd) fail(`unsupported principal type ${odd} (${where})`);
  }
  for (const name of Object.keys(s.Condition ?? {})) parseOperator(name);
}

function actionMatches(s: AnyStatement, action: string): boolean {
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => globMatch(p, action, true));
  return list(s.Action).some((p) => globMatch(p, action, true));
}

function resourceMatches(s: AnyStatement, resource: string): boolean {
  if (s.NotResource !== undefined) return !list(s.NotResource).some((p) => globMatch(p, resource));
  return s.Resource === undefined || list(s.Resource).some((p) => globMatch(p, resource));
}

function accountOf(arn: string): string {
  return arn.split(":")[4] ?? "";
}

/** Whether a principal entry names the account of `principalArn` (its root ARN, or the bare account id). */
function namesRoot(entry: string, principalArn: string, accountId: string): boolean {
  const partition = principalArn.split(":")[1] ?? "aws";
  return entry === accountId || entry === `arn:${partition}:iam::${accountId}:root`;
}

/** How a resource policy's Principal covers the caller: naming it (or `*`), naming its account root, or not at all. */
function grantOf(principal: Statement["Principal"], caller: Caller): Grant {
  if (principal === undefined) fail("a resource policy statement needs a Principal");
  if (principal === "*") return "direct";
  let grant: Grant;
  for (const entry of list(principal.AWS)) {
    if (entry === "*" || entry === caller.arn) return "direct";
    if (entry.includes("*")) fail(`wildcards inside a principal ARN are not supported: ${entry}`);
    if (namesRoot(entry, caller.arn, caller.accountId)) grant = "root";
  }
  return grant;
}

/** The statements of one policy that apply to the request; `caller` is given for resource policies. */
function applicable(doc: PolicyDocument, source: string, target: Target, caller?: Caller): Hit[] {
  const statements = doc.Statement.map((s, i) => ({ s: s as AnyStatement, label: `${source}:${s.Sid ?? `#${i}`}` }));
  statements.forEach(({ s, label }) => check(s, label));
  const hits: Hit[] = [];
  for (const { s, label } of statements) {
    if (!caller && s.Principal !== undefined) fail(`statement ${label}: identity policies take no Principal`);
    if (!caller && s.Resource === undefined && s.NotResource === undefined) fail(`statement ${label}: identity policies need a Resource`);
    const grant = caller ? grantOf(s.Principal, caller) : "direct";
    if (grant && actionMatches(s, target.action) && resourceMatches(s, target.resource) && conditionsHold(s, target.context)) {
      hits.push({ label, effect: s.Effect, grant });
    }
  }
  return hits;
}

function contextOf(given: Readonly<Record<string, ContextValue>> | undefined, defaults: Record<string, string>): Context {
  const map = new Map<string, ContextValue>(Object.entries(defaults).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [k, v] of Object.entries(given ?? {})) map.set(k.toLowerCase(), v);
  return map;
}

function resourceAccount(request: AccessRequest): string {
  const account = request.resourceAccountId ?? accountOf(request.resource);
  if (account) return account;
  if (request.resourcePolicy) fail(`resourceAccountId is required for ${request.resource}: its ARN names no account`);
  return request.caller.accountId;
}

/**
 * Evaluates one request of a role against its identity policies, boundary and the resource's policy.
 * Explicit deny anywhere wins. In the caller's own account a resource policy that names the role
 * (or `*`) grants by itself; one that names the account root only delegates to IAM. Across
 * accounts, and always for KMS keys, both the identity side and the resource policy must allow.
 * A boundary limits identity grants and, as for a role ARN in AWS, resource-policy grants too.
 */
export function evaluate(request: AccessRequest): Evaluation {
  const { caller, action, resource } = request;
  if (!/^[A-Za-z0-9-]+:[A-Za-z0-9]+$/.test(action)) fail(`the request action must be service:Name, not ${action}`);
  const context = contextOf(request.context, { "aws:PrincipalArn": caller.arn, "aws:PrincipalAccount": caller.accountId });
  const target: Target = { action, resource, context };
  const identity = caller.identityPolicies.flatMap((doc, i) => applicable(doc, `identity[${i}]`, target));
  const boundary = caller.boundary ? applicable(caller.boundary, "boundary", target) : undefined;
  const granted = request.resourcePolicy ? applicable(request.resourcePolicy, "resource", target, caller) : [];
  const denies = [...identity, ...(boundary ?? []), ...granted].filter((h) => h.effect === "Deny");
  if (denies.length > 0) return { decision: "explicit-deny", reasons: denies.map((h) => h.label) };

  const sameAccount = resourceAccount(request) === caller.accountId;
  const needsResource = !sameAccount || request.keyPolicyRequired === true;
  const boundaryAllows = boundary === undefined || boundary.length > 0;
  const direct = granted.filter((h) => h.grant === "direct");
  if (sameAccount && direct.length > 0 && boundaryAllows) return { decision: "allow", reasons: direct.map((h) => h.label) };
  if (identity.length > 0 && boundaryAllows && (!needsResource || granted.length > 0)) {
    return { decision: "allow", reasons: [...identity, ...(needsResource ? granted : [])].map((h) => h.label) };
  }
  const missing: string[] = [];
  if (identity.length === 0) missing.push("no identity-based allow");
  if (!boundaryAllows) missing.push("boundary does not allow");
  if (needsResource && granted.length === 0) missing.push(request.keyPolicyRequired ? "key policy does not allow" : "no resource-based allow across accounts");
  return { decision: "implicit-deny", reasons: missing };
}

/** Convenience: `evaluate(request).decision === "allow"`. */
export function isAllowed(request: AccessRequest): boolean {
  return evaluate(request).decision === "allow";
}

function trustPrincipalMatches(principal: Statement["Principal"], who: AssumeRequest["principal"]): boolean {
  if (principal === undefined) fail("a trust policy statement needs a Principal");
  if (principal === "*") return true;
  const aws = list(principal.AWS).some((e) => who.aws !== undefined && (e === "*" || e === who.aws || namesRoot(e, who.aws, accountOf(who.aws))));
  return aws || list(principal.Service).includes(who.service ?? "") || list(principal.Federated).includes(who.federated ?? "");
}

/**
 * Whether a role's trust policy lets this principal assume the role (the caller's own identity
 * policies are out of scope). A trusted account root matches any principal of that account.
 */
export function canAssume(request: AssumeRequest): boolean {
  const { aws } = request.principal;
  const context = contextOf(request.context, aws ? { "aws:PrincipalArn": aws, "aws:PrincipalAccount": accountOf(aws) } : {});
  const statements = request.trust.Statement.map((s) => s as AnyStatement);
  statements.forEach((s, i) => check(s, `trust:${s.Sid ?? `#${i}`}`));
  const hits = statements.filter((s) =>
    trustPrincipalMatches(s.Principal, request.principal) && actionMatches(s, request.action) && conditionsHold(s, context));
  return !hits.some((s) => s.Effect === "Deny") && hits.some((s) => s.Effect === "Allow");
}
