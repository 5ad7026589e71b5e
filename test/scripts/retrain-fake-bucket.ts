import {
  GetObjectCommand, type GetObjectCommandOutput, ListObjectsV2Command, PutObjectCommand, type PutObjectCommandInput, S3ServiceException,
} from "@aws-sdk/client-s3";
import type { AwsStub } from "aws-sdk-client-mock";

/**
 * An in-memory S3 bucket behind an aws-sdk-client-mock stub, for the retraining tests: PutObject
 * honours If-None-Match "*" and If-Match (412 PreconditionFailed, as S3 does), stores a whole body
 * at once, GetObject returns a body with transformToString, ListObjectsV2 lists by prefix in key
 * order. `beforePut` runs before a put is decided (to interleave two writers, or fail a request).
 */
export interface FakeBucket {
  readonly objects: Map<string, { body: string; etag: string }>;
  /** Runs before each PutObject is decided; may throw to fail the request. */
  beforePut: (input: PutObjectCommandInput) => Promise<void>;
}

/** An S3 error as the SDK raises it. */
export function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status }, message: name });
}

/** A GetObject body as the SDK gives it (only what the code reads). */
export function textBody(text: string): GetObjectCommandOutput["Body"] {
  return { transformToString: async () => text } as unknown as GetObjectCommandOutput["Body"];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fakeBucket(s3: AwsStub<any, any, any>): FakeBucket {
  let etags = 0;
  const bucket: FakeBucket = { objects: new Map(), beforePut: async () => undefined };
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    await bucket.beforePut(input);
    const key = input.Key ?? "";
    const existing = bucket.objects.get(key);
    if (input.IfNoneMatch === "*" && existing !== undefined) throw s3Error("PreconditionFailed", 412);
    if (input.IfMatch !== undefined && existing?.etag !== input.IfMatch) throw s3Error("PreconditionFailed", 412);
    const etag = `"${++etags}"`;
    bucket.objects.set(key, { body: String(input.Body), etag });
    return { ETag: etag };
  });
  s3.on(GetObjectCommand).callsFake(async (input: { Key?: string }) => {
    const object = bucket.objects.get(input.Key ?? "");
    if (object === undefined) throw s3Error("NoSuchKey", 404);
    return { Body: textBody(object.body), ETag: object.etag };
  });
  s3.on(ListObjectsV2Command).callsFake(async (input: { Prefix?: string }) => ({
    Contents: [...bucket.objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).sort().map((Key) => ({ Key })),
    IsTruncated: false,
  }));
  return bucket;
}
