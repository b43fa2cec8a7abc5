/**
 * The thumbnails service's public face: `Thumbnails` (what a composition root plugs into an
 * origin's hub and its `/live/{name}/thumb.jpg` route) and its configuration.
 */
export { THUMBNAIL_FILE, type ThumbnailDeps, Thumbnails } from "./thumbnails.ts";
export { type ThumbnailConfig, thumbnailConfigSchema } from "./config.ts";
