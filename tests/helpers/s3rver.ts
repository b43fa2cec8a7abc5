/** s3rver, the S3 stand-in of the archive tests; see `fast_check.ts` for why it is named here. */
export { default } from "npm:s3rver@^3.7.1";
