import { type AccessRequest, type AnyStatement, type Caller, type ContextValue, canAssume, evaluate, globMatch, isAllowed } from "./iam-eval";
import type { PolicyDocument } from "../../components/policies";

const ACCOUNT = "123456789012";
const OTHER = "210987654321";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/app`;
const PEER = `arn:aws:iam::${ACCOUNT}:role/peer`;
const CONSUMER = `arn:aws:iam::${OTHER}:role/consumer`;
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const OTHER_ROOT = `arn:aws:iam::${OTHER}:root`;
const BUCKET = "arn:aws:s3:::artifacts";
const OBJECT = `${BUCKET}/models/m.tar.gz`;
const KEY = `arn:aws:kms:sa-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const REPO = `arn:aws:ecr:sa-east-1:${ACCOUNT}:repository/images`;
const GITHUB = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;

function doc(...statements: AnyStatement[]): PolicyDocument {
  return { Version: "2012-10-17", Statement: statements };
}

function allow(action: string | string[], resource: string | string[], extra: Partial<AnyStatement> = {}): AnyStatement {
  return { Effect: "Allow", Action: action, Resource: resource, ...extra };
}

function deny(action: string | string[], resource: string | string[], extra: Partial<AnyStatement> = {}): AnyStatement {
  return { Effect: "Deny", Action: action, Resource: resource, ...extra };
}

function role(identity: AnyStatement[], boundary?: AnyStatement[], arn = ROLE, accountId = ACCOUNT): Caller {
  return { arn, accountId, identityPolicies: identity.length ? [doc(...identity)] : [], boundary: boundary && doc(...boundary) };
}

/** Evaluates `action` on `resource` for `caller`; the rest of the request comes from `extra`. */
function decide(caller: Caller, action: string, resource: string, extra: Partial<AccessRequest> = {}): string {
  return evaluate({ caller, action, resource, ...extra }).decision;
}

/** A Deny that applies exactly when the condition holds (an Allow would be masked by other grants). */
function condition(block: NonNullable<AnyStatement["Condition"]>, context: Record<string, ContextValue>): boolean {
  const caller = role([allow("s3:GetObject", OBJECT)]);
  return decide(caller, "s3:GetObject", OBJECT, { resourcePolicy: doc(deny("s3:*", "*", { Principal: "*", Condition: block })), resourceAccountId: ACCOUNT, context })
    === "explicit-deny";
}

describe("action matching", () => {
  const cases: [string | string[], string, string][] = [
    ["s3:GetObject", "s3:GetObject", "allow"],
    ["S3:getobject", "s3:GetObject", "allow"],
    ["s3:GetObject", "S3:GETOBJECT", "allow"],
    ["s3:*", "s3:PutObject", "allow"],
    ["s3:*", "kms:Decrypt", "implicit-deny"],
    ["s3:Get*", "s3:GetObjectTagging", "allow"],
    ["s3:Get*", "s3:PutObject", "implicit-deny"],
    ["s3:GetObjec?", "s3:GetObject", "allow"],
    ["s3:GetObjec?", "s3:GetObjects", "implicit-deny"],
    ["*", "sagemaker:CreateModel", "allow"],
    [["kms:Decrypt", "s3:PutObject"], "s3:PutObject", "allow"],
    ["s3:GetObject", "s3:GetObjectAcl", "implicit-deny"],
  ];
  test.each(cases)("%j against %s → %s", (pattern, action, expected) => {
    expect(decide(role([allow(pattern, "*")]), action, OBJECT)).toBe(expected);
  });

  test("NotAction applies to every action it does not list", () => {
    const caller = role([{ Effect: "Allow", NotAction: "s3:Delete*", Resource: "*" } as AnyStatement]);
    expect(decide(caller, "s3:GetObject", OBJECT)).toBe("allow");
    expect(decide(caller, "kms:Decrypt", KEY)).toBe("allow");
    expect(decide(caller, "s3:DeleteObject", OBJECT)).toBe("implicit-deny");
  });

  test("a malformed request action throws", () => {
    expect(() => decide(role([]), "s3GetObject", OBJECT)).toThrow(/service:Name/);
    expect(() => decide(role([]), "s3:Get*", OBJECT)).toThrow(/service:Name/);
  });
});

describe("resource matching", () => {
  test("* spans / and :; ? is one character; matching is case-sensitive", () => {
    expect(globMatch("arn:aws:s3:::artifacts/*", OBJECT)).toBe(true);
    expect(globMatch("arn:aws:*:key/*", KEY)).toBe(true);
    expect(globMatch("arn:aws:s3:::artifact?/*", OBJECT)).toBe(true);
    expect(globMatch("arn:aws:s3:::artifact?/*", "arn:aws:s3:::artifactss/x")).toBe(false);
    expect(globMatch("arn:aws:s3:::Artifacts/*", OBJECT)).toBe(false);
    expect(globMatch("arn:aws:s3:::artifacts", OBJECT)).toBe(false);
    expect(globMatch("a.b(c)+[d]", "a.b(c)+[d]")).toBe(true);
    expect(globMatch("a.b", "axb")).toBe(false);
  });

  test("object and bucket ARNs are distinct resources", () => {
    const caller = role([allow("s3:*", `${BUCKET}/*`)]);
    expect(decide(caller, "s3:GetObject", OBJECT)).toBe("allow");
    expect(decide(caller, "s3:ListBucket", BUCKET)).toBe("implicit-deny");
    expect(decide(caller, "s3:GetObject", "arn:aws:s3:::artifacts-other/x")).toBe("implicit-deny");
  });

  test("an action without a resource type (resource *) is granted only by Resource *", () => {
    expect(decide(role([allow("ecr:GetAuthorizationToken", REPO)]), "ecr:GetAuthorizationToken", "*")).toBe("implicit-deny");
    expect(decide(role([allow("ecr:GetAuthorizationToken", "*")]), "ecr:GetAuthorizationToken", "*")).toBe("allow");
  });

  test("a NotResource Deny denies everything outside the listed resources", () => {
    const caller = role([
      allow("s3:PutObject", "*"),
      { Sid: "OnlyOwnBucket", Effect: "Deny", Action: "s3:PutObject", NotResource: [`${BUCKET}/*`] } as AnyStatement,
    ]);
    expect(evaluate({ caller, action: "s3:PutObject", resource: "arn:aws:s3:::elsewhere/x" })).toEqual({ decision: "explicit-deny", reasons: ["identity[0]:OnlyOwnBucket"] });
    expect(decide(caller, "s3:PutObject", OBJECT)).toBe("allow");
  });

  test("a NotResource Allow grants everything outside the listed resources", () => {
    const caller = role([{ Effect: "Allow", Action: "s3:GetObject", NotResource: `${BUCKET}/*` } as AnyStatement]);
    expect(decide(caller, "s3:GetObject", OBJECT)).toBe("implicit-deny");
    expect(decide(caller, "s3:GetObject", "arn:aws:s3:::elsewhere/x")).toBe("allow");
  });

  test("an identity statement without Resource throws (AWS rejects it)", () => {
    expect(() => decide(role([{ Effect: "Allow", Action: "s3:GetObject" }]), "s3:GetObject", OBJECT)).toThrow(/need a Resource/);
  });
});

describe("identity policies and the permissions boundary", () => {
  test("no policy at all is an implicit deny", () => {
    expect(evaluate({ caller: role([]), action: "s3:GetObject", resource: OBJECT })).toEqual({ decision: "implicit-deny", reasons: ["no identity-based allow"] });
  });

  test("any of several identity policies may allow; reasons name the Sid or #index", () => {
    const caller: Caller = { arn: ROLE, accountId: ACCOUNT, identityPolicies: [doc(allow("kms:Decrypt", KEY)), doc(allow("s3:GetObject", OBJECT))] };
    expect(evaluate({ caller, action: "s3:GetObject", resource: OBJECT })).toEqual({ decision: "allow", reasons: ["identity[1]:#0"] });
  });

  test("identity allow with a boundary that lacks the action → implicit-deny", () => {
    const caller = role([allow("s3:PutObject", OBJECT)], [allow("s3:GetObject", "*")]);
    expect(evaluate({ caller, action: "s3:PutObject", resource: OBJECT })).toEqual({ decision: "implicit-deny", reasons: ["boundary does not allow"] });
    expect(decide(caller, "s3:GetObject", OBJECT)).toBe("implicit-deny");
  });

  test("identity allow within the boundary → allow", () => {
    expect(decide(role([allow("s3:PutObject", OBJECT)], [allow("s3:*", "*")]), "s3:PutObject", OBJECT)).toBe("allow");
  });

  test("a boundary grants nothing by itself", () => {
    expect(decide(role([], [allow("*", "*")]), "s3:PutObject", OBJECT)).toBe("implicit-deny");
  });

  test("an explicit deny in identity or boundary beats any allow", () => {
    expect(decide(role([allow("s3:*", "*"), deny("s3:PutObject", OBJECT)]), "s3:PutObject", OBJECT)).toBe("explicit-deny");
    expect(decide(role([allow("s3:*", "*")], [allow("*", "*"), deny("s3:Put*", "*")]), "s3:PutObject", OBJECT)).toBe("explicit-deny");
  });

  test("identity policies take no Principal", () => {
    expect(() => decide(role([allow("s3:*", "*", { Principal: "*" })]), "s3:GetObject", OBJECT)).toThrow(/take no Principal/);
  });
});

describe("resource policies in the caller's account", () => {
  const tls = deny("s3:*", [BUCKET, `${BUCKET}/*`], { Sid: "DenyInsecureTransport", Principal: "*", Condition: { Bool: { "aws:SecureTransport": false } } });
  const request = (caller: Caller, resourcePolicy: PolicyDocument, context: Record<string, ContextValue> = {}): AccessRequest =>
    ({ caller, action: "s3:GetObject", resource: OBJECT, resourceAccountId: ACCOUNT, resourcePolicy, context });

  test("an explicit deny in a bucket policy beats identity allow", () => {
    const caller = role([allow("s3:GetObject", OBJECT)]);
    expect(evaluate(request(caller, doc(tls), { "aws:SecureTransport": false }))).toEqual({ decision: "explicit-deny", reasons: ["resource:DenyInsecureTransport"] });
    expect(evaluate(request(caller, doc(tls), { "aws:SecureTransport": true }))).toEqual({ decision: "allow", reasons: ["identity[0]:#0"] });
  });

  test("a bucket policy naming the role ARN grants without identity policy", () => {
    const grant = allow("s3:GetObject", `${BUCKET}/*`, { Sid: "App", Principal: { AWS: ROLE } });
    expect(evaluate(request(role([]), doc(grant)))).toEqual({ decision: "allow", reasons: ["resource:App"] });
    expect(decide(role([], undefined, PEER), "s3:GetObject", OBJECT, { resourcePolicy: doc(grant), resourceAccountId: ACCOUNT })).toBe("implicit-deny");
  });

  test("a role ARN in a list of principals matches", () => {
    expect(decide(role([]), "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(allow("s3:GetObject", "*", { Principal: { AWS: [PEER, ROLE] } })) }))
      .toBe("allow");
  });

  test("a bucket policy naming the account root alone does not grant; it delegates to identity", () => {
    for (const principal of [ROOT, ACCOUNT]) {
      const policy = doc(allow("s3:GetObject", `${BUCKET}/*`, { Principal: { AWS: principal } }));
      expect(decide(role([]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("implicit-deny");
      expect(decide(role([allow("s3:GetObject", OBJECT)]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("allow");
    }
  });

  test("Principal * (or AWS *) grants like naming the role", () => {
    expect(decide(role([]), "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(allow("s3:GetObject", "*", { Principal: "*" })) })).toBe("allow");
    expect(decide(role([]), "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(allow("s3:GetObject", "*", { Principal: { AWS: "*" } })) })).toBe("allow");
  });

  test("service and federated principals never match a role", () => {
    const policy = doc(
      deny("s3:*", "*", { Principal: { Service: "sagemaker.amazonaws.com" } }),
      allow("s3:GetObject", "*", { Principal: { Federated: GITHUB } }),
    );
    expect(decide(role([]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("implicit-deny");
    expect(decide(role([allow("s3:GetObject", "*")]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("allow");
  });

  test("a direct grant is still limited by the role's boundary (AWS: grants to a role ARN are)", () => {
    const policy = doc(allow("s3:GetObject", "*", { Principal: { AWS: ROLE } }));
    expect(decide(role([], [allow("kms:*", "*")]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("implicit-deny");
    expect(decide(role([], [allow("s3:*", "*")]), "s3:GetObject", OBJECT, { resourcePolicy: policy, resourceAccountId: ACCOUNT })).toBe("allow");
  });

  test("a resource policy statement without Resource applies to the resource (ECR)", () => {
    const policy = doc({ Sid: "Pull", Effect: "Allow", Principal: { AWS: ROLE }, Action: ["ecr:BatchGetImage"] });
    expect(decide(role([]), "ecr:BatchGetImage", REPO, { resourcePolicy: policy })).toBe("allow");
    expect(decide(role([]), "ecr:PutImage", REPO, { resourcePolicy: policy })).toBe("implicit-deny");
  });

  test("a resource policy statement needs a Principal", () => {
    expect(() => decide(role([]), "ecr:BatchGetImage", REPO, { resourcePolicy: doc(allow("ecr:*", "*")) })).toThrow(/needs a Principal/);
  });

  test("an S3 ARN with a resource policy needs resourceAccountId", () => {
    expect(() => decide(role([]), "s3:GetObject", OBJECT, { resourcePolicy: doc(tls) })).toThrow(/resourceAccountId is required/);
  });
});

describe("cross-account access", () => {
  const consumer = (statements: AnyStatement[], boundary?: AnyStatement[]): Caller => role(statements, boundary, CONSUMER, OTHER);
  const grant = allow("s3:GetObject", `${BUCKET}/*`, {
    Sid: "ConsumersReadArtifacts",
    Principal: { AWS: [OTHER_ROOT] },
    Condition: { ArnEquals: { "aws:PrincipalArn": [CONSUMER] } },
  });
  const read = (caller: Caller, resourcePolicy?: PolicyDocument): AccessRequest =>
    ({ caller, action: "s3:GetObject", resource: OBJECT, resourceAccountId: ACCOUNT, resourcePolicy });

  test("needs identity allow and a resource policy allow", () => {
    const identity = [allow("s3:GetObject", `${BUCKET}/*`, { Sid: "RegistryArtifacts" })];
    expect(evaluate(read(consumer(identity), doc(grant)))).toEqual({ decision: "allow", reasons: ["identity[0]:RegistryArtifacts", "resource:ConsumersReadArtifacts"] });
    expect(evaluate(read(consumer([]), doc(grant)))).toEqual({ decision: "implicit-deny", reasons: ["no identity-based allow"] });
    expect(evaluate(read(consumer(identity), doc(allow("s3:GetObject", "*", { Principal: { AWS: ROOT } }))))).toEqual({
      decision: "implicit-deny", reasons: ["no resource-based allow across accounts"],
    });
    expect(decide(consumer(identity), "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT })).toBe("implicit-deny");
  });

  test("the caller's account may be named by root ARN or bare account id", () => {
    for (const principal of [OTHER_ROOT, OTHER, [ROOT, OTHER]]) {
      const policy = doc(allow("s3:GetObject", "*", { Principal: { AWS: principal } }));
      expect(evaluate(read(consumer([allow("s3:GetObject", "*")]), policy)).decision).toBe("allow");
    }
  });

  test("naming the caller's role ARN directly still needs identity allow", () => {
    const policy = doc(allow("s3:GetObject", "*", { Principal: { AWS: CONSUMER } }));
    expect(evaluate(read(consumer([]), policy)).decision).toBe("implicit-deny");
    expect(evaluate(read(consumer([allow("s3:GetObject", "*")]), policy)).decision).toBe("allow");
  });

  test("the aws:PrincipalArn condition narrows a root grant to the named role", () => {
    const other = role([allow("s3:GetObject", "*")], undefined, `arn:aws:iam::${OTHER}:role/intruder`, OTHER);
    expect(evaluate(read(other, doc(grant))).decision).toBe("implicit-deny");
  });

  test("the boundary applies to the identity side", () => {
    expect(evaluate(read(consumer([allow("s3:GetObject", "*")], [allow("kms:*", "*")]), doc(grant))).decision).toBe("implicit-deny");
  });

  test("the resource account comes from the ARN unless given", () => {
    const caller = consumer([allow("sagemaker:DescribeModelPackageGroup", "*")]);
    const group = `arn:aws:sagemaker:sa-east-1:${ACCOUNT}:model-package-group/svc-model`;
    expect(decide(caller, "sagemaker:DescribeModelPackageGroup", group)).toBe("implicit-deny");
    const policy = doc(allow("sagemaker:DescribeModelPackageGroup", group, { Principal: { AWS: OTHER_ROOT } }));
    expect(decide(caller, "sagemaker:DescribeModelPackageGroup", group, { resourcePolicy: policy })).toBe("allow");
    expect(decide(caller, "sagemaker:DescribeModelPackageGroup", group, { resourceAccountId: OTHER })).toBe("allow");
  });
});

describe("KMS key policies", () => {
  const owner = allow(["kms:Decrypt", "kms:DescribeKey"], "*", { Sid: "KeyOwnerAccount", Principal: { AWS: ROOT } });
  const kms = (caller: Caller, keyPolicy?: PolicyDocument): string =>
    decide(caller, "kms:Decrypt", KEY, { resourcePolicy: keyPolicy, keyPolicyRequired: true });

  test("without a key policy allow, identity allow is not enough", () => {
    const caller = role([allow("kms:Decrypt", KEY)]);
    expect(evaluate({ caller, action: "kms:Decrypt", resource: KEY, keyPolicyRequired: true, resourcePolicy: doc(allow("kms:Encrypt", "*", { Principal: { AWS: ROOT } })) }))
      .toEqual({ decision: "implicit-deny", reasons: ["key policy does not allow"] });
    expect(kms(caller)).toBe("implicit-deny");
    expect(kms(caller, doc(allow("kms:Decrypt", "*", { Principal: { AWS: OTHER_ROOT } })))).toBe("implicit-deny");
  });

  test("a key policy naming the account root delegates: identity must allow too", () => {
    expect(kms(role([allow("kms:Decrypt", KEY)]), doc(owner))).toBe("allow");
    expect(kms(role([]), doc(owner))).toBe("implicit-deny");
    expect(kms(role([allow("kms:Decrypt", KEY)], [allow("s3:*", "*")]), doc(owner))).toBe("implicit-deny");
  });

  test("a key policy naming the role grants without identity policy", () => {
    expect(kms(role([]), doc(allow("kms:Decrypt", "*", { Principal: { AWS: ROLE } })))).toBe("allow");
  });

  test("a deny in the key policy wins", () => {
    expect(kms(role([allow("kms:*", "*")]), doc(owner, deny("kms:Decrypt", "*", { Principal: "*" })))).toBe("explicit-deny");
  });

  test("cross-account use through the fixed alias (ForAnyValue:StringEquals on kms:ResourceAliases)", () => {
    const caller = role([allow(["kms:Decrypt", "kms:DescribeKey"], `arn:aws:kms:sa-east-1:${ACCOUNT}:key/*`, {
      Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/registry" } },
    })], undefined, CONSUMER, OTHER);
    const keyPolicy = doc(owner, allow(["kms:Decrypt"], "*", { Principal: { AWS: [OTHER_ROOT] }, Condition: { ArnEquals: { "aws:PrincipalArn": CONSUMER } } }));
    const use = (context: Record<string, ContextValue>): string =>
      decide(caller, "kms:Decrypt", KEY, { resourcePolicy: keyPolicy, keyPolicyRequired: true, context });
    expect(use({ "kms:ResourceAliases": ["alias/other", "alias/registry"] })).toBe("allow");
    expect(use({ "kms:ResourceAliases": ["alias/other"] })).toBe("implicit-deny");
    expect(use({})).toBe("implicit-deny");
  });
});

describe("condition operators", () => {
  test("Null and Bool with s3:if-none-match and s3:ObjectCreationOperation (conditional writes)", () => {
    const block = { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": "true" } };
    expect(condition(block, { "s3:ObjectCreationOperation": true })).toBe(true);
    expect(condition(block, { "s3:ObjectCreationOperation": "true" })).toBe(true);
    expect(condition(block, { "s3:ObjectCreationOperation": true, "s3:if-none-match": "*" })).toBe(false);
    expect(condition(block, { "s3:ObjectCreationOperation": false })).toBe(false);
    expect(condition(block, {})).toBe(false);
    expect(condition({ Null: { "s3:if-none-match": "false" } }, { "s3:if-none-match": "*" })).toBe(true);
    expect(condition({ Null: { "s3:if-none-match": "false" } }, {})).toBe(false);
  });

  test("Bool compares booleans and strings alike; a missing key is false", () => {
    expect(condition({ Bool: { "aws:SecureTransport": false } }, { "aws:SecureTransport": "false" })).toBe(true);
    expect(condition({ Bool: { "aws:SecureTransport": "false" } }, { "aws:SecureTransport": false })).toBe(true);
    expect(condition({ Bool: { "aws:SecureTransport": false } }, { "aws:SecureTransport": true })).toBe(false);
    expect(condition({ Bool: { "aws:SecureTransport": false } }, {})).toBe(false);
  });

  test("ForAnyValue:StringEquals: missing key false, any listed element true", () => {
    const block = { "ForAnyValue:StringEquals": { "kms:ResourceAliases": ["alias/a", "alias/b"] } };
    expect(condition(block, {})).toBe(false);
    expect(condition(block, { "kms:ResourceAliases": ["alias/x", "alias/b"] })).toBe(true);
    expect(condition(block, { "kms:ResourceAliases": ["alias/x", "alias/y"] })).toBe(false);
    expect(condition(block, { "kms:ResourceAliases": "alias/a" })).toBe(true);
    expect(condition(block, { "kms:ResourceAliases": [] })).toBe(false);
  });

  test("ForAllValues:StringEquals: missing key true, every element must be listed", () => {
    const block = { "ForAllValues:StringEquals": { "aws:TagKeys": ["stage", "owner"] } };
    expect(condition(block, {})).toBe(true);
    expect(condition(block, { "aws:TagKeys": ["stage"] })).toBe(true);
    expect(condition(block, { "aws:TagKeys": ["stage", "cost"] })).toBe(false);
  });

  test("ForAnyValue and ForAllValues with a negated operator apply it per element", () => {
    expect(condition({ "ForAnyValue:StringNotEquals": { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["stage", "cost"] })).toBe(true);
    expect(condition({ "ForAnyValue:StringNotEquals": { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["stage"] })).toBe(false);
    expect(condition({ "ForAllValues:StringNotLike": { "aws:TagKeys": "aws:*" } }, { "aws:TagKeys": ["stage", "cost"] })).toBe(true);
    expect(condition({ "ForAllValues:StringNotLike": { "aws:TagKeys": "aws:*" } }, { "aws:TagKeys": ["stage", "aws:x"] })).toBe(false);
  });

  test("ArnNotEquals: missing key true; the caller's ARN defaults aws:PrincipalArn", () => {
    expect(condition({ ArnNotEquals: { "aws:SourceArn": ROLE } }, {})).toBe(true);
    expect(condition({ ArnNotEquals: { "aws:PrincipalArn": ROLE } }, {})).toBe(false);
    expect(condition({ ArnNotEquals: { "aws:PrincipalArn": ROLE } }, { "aws:PrincipalArn": PEER })).toBe(true);
    expect(condition({ ArnNotEquals: { "aws:PrincipalArn": [PEER, ROLE] } }, {})).toBe(false);
    expect(condition({ ArnNotLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/*` } }, {})).toBe(false);
    expect(condition({ StringEquals: { "aws:PrincipalAccount": ACCOUNT } }, {})).toBe(true);
  });

  test("ArnEquals and ArnLike match the whole ARN with the glob", () => {
    expect(condition({ ArnEquals: { "aws:PrincipalArn": ROLE } }, {})).toBe(true);
    expect(condition({ ArnLike: { "aws:PrincipalArn": "arn:aws:iam::*:role/a*" } }, {})).toBe(true);
    expect(condition({ ArnEquals: { "aws:PrincipalArn": "arn:aws:iam::*:role/ap?" } }, {})).toBe(true);
    expect(condition({ ArnLike: { "aws:PrincipalArn": "arn:aws:iam::*:role/b*" } }, {})).toBe(false);
    expect(condition({ ArnLike: { "aws:PrincipalArn": "role/app" } }, {})).toBe(false);
    expect(condition({ ArnEquals: { "aws:SourceArn": ROLE } }, {})).toBe(false);
  });

  test("String operators: exact, ignore-case, like, and their negations", () => {
    const ns = { "cloudwatch:namespace": "/aws/sagemaker/Endpoints" };
    expect(condition({ StringEquals: { "cloudwatch:namespace": "/aws/sagemaker/Endpoints" } }, ns)).toBe(true);
    expect(condition({ StringEquals: { "cloudwatch:namespace": "/aws/sagemaker/endpoints" } }, ns)).toBe(false);
    expect(condition({ StringEqualsIgnoreCase: { "cloudwatch:namespace": "/AWS/SageMaker/endpoints" } }, ns)).toBe(true);
    expect(condition({ StringLike: { "cloudwatch:namespace": "/aws/sagemaker/Endpoints*" } }, ns)).toBe(true);
    expect(condition({ StringLike: { "cloudwatch:namespace": "/aws/sagemaker/Training*" } }, ns)).toBe(false);
    expect(condition({ StringNotLike: { "cloudwatch:namespace": "/aws/sagemaker/Training*" } }, ns)).toBe(true);
    expect(condition({ StringNotEquals: { "cloudwatch:namespace": ["a", "/aws/sagemaker/Endpoints"] } }, ns)).toBe(false);
    expect(condition({ StringNotEquals: { "cloudwatch:namespace": "a" } }, {})).toBe(true);
    expect(condition({ StringEquals: { "cloudwatch:namespace": "a" } }, {})).toBe(false);
    expect(condition({ StringLike: { "cloudwatch:namespace": "*" } }, {})).toBe(false);
  });

  test("a list context value with a single-valued operator: any element for positive, none for negated", () => {
    expect(condition({ StringEquals: { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["cost", "stage"] })).toBe(true);
    expect(condition({ StringEquals: { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["cost"] })).toBe(false);
    expect(condition({ StringNotEquals: { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["cost", "stage"] })).toBe(false);
    expect(condition({ StringNotEquals: { "aws:TagKeys": "stage" } }, { "aws:TagKeys": ["cost"] })).toBe(true);
  });

  test("values of one key are ORed; keys and operator blocks are ANDed", () => {
    const block = { StringEquals: { "aws:ResourceTag/stage": ["qa", "prod"], "aws:ResourceTag/team": "ml" }, Bool: { "aws:SecureTransport": true } };
    const ok = { "aws:ResourceTag/stage": "prod", "aws:ResourceTag/team": "ml", "aws:SecureTransport": true };
    expect(condition(block, ok)).toBe(true);
    expect(condition(block, { ...ok, "aws:ResourceTag/stage": "dev" })).toBe(false);
    expect(condition(block, { ...ok, "aws:ResourceTag/team": "web" })).toBe(false);
    expect(condition(block, { ...ok, "aws:SecureTransport": false })).toBe(false);
  });

  test("condition keys are case-insensitive on both sides", () => {
    expect(condition({ StringEquals: { "AWS:ResourceTag/mlplatform:stage": "qa" } }, { "aws:resourcetag/MLPLATFORM:STAGE": "qa" })).toBe(true);
    expect(condition({ StringEquals: { "aws:ResourceTag/mlplatform:stage": "qa" } }, { "aws:ResourceTag/mlplatform:stage": "QA" })).toBe(false);
  });

  test("IfExists: a missing key holds, a present one is compared", () => {
    expect(condition({ StringEqualsIfExists: { "aws:ResourceTag/stage": "qa" } }, {})).toBe(true);
    expect(condition({ StringEqualsIfExists: { "aws:ResourceTag/stage": "qa" } }, { "aws:ResourceTag/stage": "qa" })).toBe(true);
    expect(condition({ StringEqualsIfExists: { "aws:ResourceTag/stage": "qa" } }, { "aws:ResourceTag/stage": "prod" })).toBe(false);
    expect(condition({ "ForAnyValue:StringEqualsIfExists": { "aws:TagKeys": "x" } }, {})).toBe(true);
    expect(condition({ NumericLessThanIfExists: { "s3:max-keys": "10" } }, {})).toBe(true);
  });

  test("numeric operators compare numbers given as strings", () => {
    const keys = (n: string): Record<string, ContextValue> => ({ "s3:max-keys": n });
    expect(condition({ NumericEquals: { "s3:max-keys": "10" } }, keys("10.0"))).toBe(true);
    expect(condition({ NumericEquals: { "s3:max-keys": "10" } }, keys("11"))).toBe(false);
    expect(condition({ NumericEquals: { "s3:max-keys": "10" } }, keys("9"))).toBe(false);
    expect(condition({ NumericLessThan: { "s3:max-keys": "10" } }, keys("9"))).toBe(true);
    expect(condition({ NumericLessThan: { "s3:max-keys": "10" } }, keys("10"))).toBe(false);
    expect(condition({ NumericLessThanEquals: { "s3:max-keys": "10" } }, keys("10"))).toBe(true);
    expect(condition({ NumericGreaterThan: { "s3:max-keys": "10" } }, keys("10"))).toBe(false);
    expect(condition({ NumericGreaterThan: { "s3:max-keys": "10" } }, keys("11"))).toBe(true);
    expect(condition({ NumericGreaterThanEquals: { "s3:max-keys": "10" } }, keys("10"))).toBe(true);
    expect(condition({ NumericGreaterThan: { "s3:max-keys": "10" } }, keys("many"))).toBe(false);
    expect(condition({ NumericEquals: { "s3:max-keys": "10" } }, {})).toBe(false);
    expect(() => condition({ NumericEquals: { "s3:max-keys": "ten" } }, keys("10"))).toThrow(/not a number/);
  });

  test("a context value given as undefined removes a default key", () => {
    expect(condition({ Null: { "aws:PrincipalArn": "true" } }, { "aws:PrincipalArn": undefined })).toBe(true);
    expect(condition({ Null: { "aws:PrincipalArn": "true" } }, {})).toBe(false);
  });
});

describe("unsupported elements throw", () => {
  const caller = role([allow("s3:GetObject", "*")]);
  const withCondition = (block: Record<string, Record<string, string>>) => () =>
    decide(caller, "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(deny("s3:*", "*", { Principal: "*", Condition: block })) });

  test("an unknown operator throws, even beside a block that is false", () => {
    expect(withCondition({ StringEqualz: { "aws:PrincipalArn": ROLE } })).toThrow(/unsupported condition operator: StringEqualz/);
    expect(withCondition({ StringEquals: { "aws:PrincipalArn": "nobody" }, DateGreaterThan: { "aws:CurrentTime": "2020" } })).toThrow(/DateGreaterThan/);
    expect(withCondition({ "ForAnyValue:Null": { "aws:TagKeys": "true" } })).toThrow(/ForAnyValue:Null/);
    expect(withCondition({ NullIfExists: { "aws:TagKeys": "true" } })).toThrow(/NullIfExists/);
    expect(withCondition({ "ForSomeValues:StringEquals": { "aws:TagKeys": "x" } })).toThrow(/ForSomeValues/);
  });

  test("an unknown operator in a statement that does not apply still throws", () => {
    const identity = role([allow("s3:GetObject", "*"), allow("kms:Decrypt", KEY, { Condition: { Wibble: { "aws:x": "y" } } })]);
    expect(() => decide(identity, "s3:GetObject", OBJECT)).toThrow(/Wibble/);
  });

  test("Null takes only true or false", () => {
    expect(withCondition({ Null: { "aws:TagKeys": "yes" } })).toThrow(/Null takes/);
  });

  test("NotPrincipal, policy variables and odd principal types throw", () => {
    const notPrincipal = { Effect: "Deny", NotPrincipal: { AWS: ROLE }, Action: "s3:*", Resource: "*" } as AnyStatement;
    expect(() => decide(caller, "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(notPrincipal) })).toThrow(/NotPrincipal/);
    expect(() => decide(role([allow("s3:GetObject", `${BUCKET}/\${aws:username}/*`)]), "s3:GetObject", OBJECT)).toThrow(/policy variables/);
    expect(() => decide(caller, "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(allow("s3:*", "*", { Principal: { Aws: ROLE } })) }))
      .toThrow(/principal type Aws/);
    expect(() => decide(caller, "s3:GetObject", OBJECT, { resourceAccountId: ACCOUNT, resourcePolicy: doc(allow("s3:*", "*", { Principal: { AWS: "arn:aws:iam::*:root" } })) }))
      .toThrow(/wildcards inside a principal/);
  });

  test("Action with NotAction, or Resource with NotResource, throws", () => {
    expect(() => decide(role([{ ...allow("s3:*", "*"), NotAction: "s3:Delete*" }]), "s3:GetObject", OBJECT)).toThrow(/exactly one of Action and NotAction/);
    expect(() => decide(role([{ ...allow("s3:*", "*"), NotResource: BUCKET }]), "s3:GetObject", OBJECT)).toThrow(/both Resource and NotResource/);
  });
});

describe("isAllowed", () => {
  test("is true only for allow", () => {
    expect(isAllowed({ caller: role([allow("s3:GetObject", "*")]), action: "s3:GetObject", resource: OBJECT })).toBe(true);
    expect(isAllowed({ caller: role([]), action: "s3:GetObject", resource: OBJECT })).toBe(false);
    expect(isAllowed({ caller: role([allow("s3:*", "*"), deny("s3:*", "*")]), action: "s3:GetObject", resource: OBJECT })).toBe(false);
  });
});

describe("canAssume", () => {
  const sub = "token.actions.githubusercontent.com:sub";
  const aud = "token.actions.githubusercontent.com:aud";
  const github = doc({
    Effect: "Allow",
    Principal: { Federated: GITHUB },
    Action: "sts:AssumeRoleWithWebIdentity",
    Condition: { StringEquals: { [aud]: "sts.amazonaws.com" }, StringLike: { [sub]: "repo:o/r:environment:*" } },
  });
  const web = (context: Record<string, ContextValue>, federated = GITHUB): boolean =>
    canAssume({ trust: github, action: "sts:AssumeRoleWithWebIdentity", principal: { federated }, context });

  test("GitHub OIDC: StringLike on the sub claim, StringEquals on the audience", () => {
    expect(web({ [sub]: "repo:o/r:environment:qa", [aud]: "sts.amazonaws.com" })).toBe(true);
    expect(web({ [sub]: "repo:o/r:pull_request", [aud]: "sts.amazonaws.com" })).toBe(false);
    expect(web({ [sub]: "repo:o/other:environment:qa", [aud]: "sts.amazonaws.com" })).toBe(false);
    expect(web({ [sub]: "repo:o/r:environment:qa" })).toBe(false);
    expect(web({ [sub]: "repo:o/r:environment:qa", [aud]: "sts.amazonaws.com" }, `arn:aws:iam::${OTHER}:oidc-provider/token.actions.githubusercontent.com`)).toBe(false);
    expect(canAssume({ trust: github, action: "sts:AssumeRole", principal: { federated: GITHUB }, context: { [sub]: "repo:o/r:environment:qa", [aud]: "sts.amazonaws.com" } }))
      .toBe(false);
  });

  test("a service principal with the confused-deputy guard", () => {
    const trust = doc({ Effect: "Allow", Principal: { Service: "sagemaker.amazonaws.com" }, Action: "sts:AssumeRole", Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } } });
    const service = (name: string, context: Record<string, ContextValue>): boolean => canAssume({ trust, action: "sts:AssumeRole", principal: { service: name }, context });
    expect(service("sagemaker.amazonaws.com", { "aws:SourceAccount": ACCOUNT })).toBe(true);
    expect(service("sagemaker.amazonaws.com", { "aws:SourceAccount": OTHER })).toBe(false);
    expect(service("sagemaker.amazonaws.com", {})).toBe(false);
    expect(service("lambda.amazonaws.com", { "aws:SourceAccount": ACCOUNT })).toBe(false);
    expect(canAssume({ trust, action: "sts:AssumeRole", principal: { aws: ROLE }, context: { "aws:SourceAccount": ACCOUNT } })).toBe(false);
  });

  test("AWS principals: an exact ARN, or the account root for any role of that account", () => {
    const byArn = doc({ Effect: "Allow", Principal: { AWS: ROLE }, Action: ["sts:AssumeRole", "sts:TagSession"] });
    expect(canAssume({ trust: byArn, action: "sts:AssumeRole", principal: { aws: ROLE } })).toBe(true);
    expect(canAssume({ trust: byArn, action: "sts:AssumeRole", principal: { aws: PEER } })).toBe(false);
    const byRoot = doc({ Effect: "Allow", Principal: { AWS: [OTHER_ROOT] }, Action: "sts:AssumeRole" });
    expect(canAssume({ trust: byRoot, action: "sts:AssumeRole", principal: { aws: CONSUMER } })).toBe(true);
    expect(canAssume({ trust: byRoot, action: "sts:AssumeRole", principal: { aws: OTHER_ROOT } })).toBe(true);
    expect(canAssume({ trust: byRoot, action: "sts:AssumeRole", principal: { aws: ROLE } })).toBe(false);
    expect(canAssume({ trust: doc({ Effect: "Allow", Principal: { AWS: OTHER }, Action: "sts:AssumeRole" }), action: "sts:AssumeRole", principal: { aws: CONSUMER } }))
      .toBe(true);
    expect(canAssume({ trust: byRoot, action: "sts:AssumeRole", principal: { service: "sagemaker.amazonaws.com" } })).toBe(false);
  });

  test("aws:PrincipalArn is filled in from the AWS principal", () => {
    const trust = doc({ Effect: "Allow", Principal: { AWS: OTHER_ROOT }, Action: "sts:AssumeRole", Condition: { ArnLike: { "aws:PrincipalArn": `arn:aws:iam::${OTHER}:role/cons*` } } });
    expect(canAssume({ trust, action: "sts:AssumeRole", principal: { aws: CONSUMER } })).toBe(true);
    expect(canAssume({ trust, action: "sts:AssumeRole", principal: { aws: `arn:aws:iam::${OTHER}:role/other` } })).toBe(false);
  });

  test("an explicit Deny wins and at least one Allow is needed", () => {
    const allowAll = { Effect: "Allow" as const, Principal: { AWS: ROOT }, Action: "sts:AssumeRole" };
    const denyPeer = { Effect: "Deny" as const, Principal: "*" as const, Action: "sts:*", Condition: { ArnEquals: { "aws:PrincipalArn": PEER } } };
    expect(canAssume({ trust: doc(allowAll, denyPeer), action: "sts:AssumeRole", principal: { aws: ROLE } })).toBe(true);
    expect(canAssume({ trust: doc(allowAll, denyPeer), action: "sts:AssumeRole", principal: { aws: PEER } })).toBe(false);
    expect(canAssume({ trust: doc(denyPeer), action: "sts:AssumeRole", principal: { aws: ROLE } })).toBe(false);
    expect(canAssume({ trust: doc(), action: "sts:AssumeRole", principal: { aws: ROLE } })).toBe(false);
  });

  test("an unsupported element in a trust policy throws", () => {
    const trust = doc({ Effect: "Allow", Principal: { Federated: GITHUB }, Action: "sts:AssumeRoleWithWebIdentity", Condition: { StringMatches: { [sub]: "x" } } });
    expect(() => canAssume({ trust, action: "sts:AssumeRoleWithWebIdentity", principal: { service: "x" } })).toThrow(/StringMatches/);
    const missing = doc({ Effect: "Allow", Action: "sts:AssumeRole" });
    expect(() => canAssume({ trust: missing, action: "sts:AssumeRole", principal: { aws: ROLE } })).toThrow(/needs a Principal/);
  });
});
