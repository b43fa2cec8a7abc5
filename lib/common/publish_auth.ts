/**
 * The publish-authorizer interface every ingest path asks before it accepts a publisher:
 * origins implement it (`static`, `api`, `open`), the API implements it in-process for the
 * all-in-one node. The stream key is a secret: implementations compare it in constant time,
 * send it only to the publish hook, and never log it; callers log the resolved public name.
 */

export interface PublishRequest {
  app: string;
  key: string;
  clientIp: string;
  originId: string;
}

export type PublishDecision =
  | { ok: true; name: string }
  | { ok: false; reason: string };

export interface PublishAuthorizer {
  readonly mode: "static" | "api" | "open";
  authorize(req: PublishRequest): Promise<PublishDecision>;
}
