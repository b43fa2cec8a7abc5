/**
 * A throwaway S3-compatible server for tests: npm `s3rver` in this process on a random
 * loopback port, with one bucket and its storage in a temp directory removed on dispose.
 * `client` speaks to it with s3rver's fixed credentials; `objects()` lists what it holds.
 */
import S3rver from "npm:s3rver@^3.7.1";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { createS3Client } from "../../recording/archive.ts";

export const S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface TestS3 extends AsyncDisposable {
  endpoint: string;
  port: number;
  bucket: string;
  client: S3Client;
  /** Environment for a process that archives to this server. */
  env: Record<string, string>;
  objects(): Promise<{ key: string; size: number; etag: string }[]>;
  get(key: string): Promise<Uint8Array>;
}

export async function startS3(bucket = "recordings"): Promise<TestS3> {
  const directory = await Deno.makeTempDir({ prefix: "cascade-s3-" });
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run() as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createS3Client({ region: "us-east-1", endpoint, credentials: S3_CREDENTIALS });
  return {
    endpoint,
    port,
    bucket,
    client,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    },
    async objects() {
      const out: { key: string; size: number; etag: string }[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          out.push({ key: o.Key!, size: o.Size ?? 0, etag: (o.ETag ?? "").replace(/"/g, "") });
        }
        token = page.NextContinuationToken;
      } while (token);
      return out;
    },
    async get(key: string) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await res.Body!.transformToByteArray();
    },
    async [Symbol.asyncDispose]() {
      client.destroy();
      await server.close().catch(() => {});
      await Deno.remove(directory, { recursive: true }).catch(() => {});
    },
  };
}
