# Cascade's Deno services in one image; the command names the role's main.ts, which runs the
# role from the bundle `deno task build` made at image build (lib/common/launch.ts):
#   docker run cascade api/main.ts | origin/main.ts | edge/main.ts | discovery/main.ts |
#     transcoder/main.ts (renditions need an ffmpeg with libx264 in the image: TRANSCODE_FFMPEG)
# Every role is configured by the environment variables of docs/architecture.md.
FROM denoland/deno:debian-2.9.6

WORKDIR /app
COPY --chown=deno:deno . .
# Origins write HLS here; a named volume mounted on it starts out owned by `deno`.
RUN mkdir -p /media && chown deno:deno /media

USER deno
# Everything is downloaded at build time, exactly as locked: the container needs no registry.
RUN deno cache --frozen api/main.ts origin/main.ts edge/main.ts discovery/main.ts \
    transcoder/main.ts tools/healthcheck.ts && deno task build

ENV LOG_FORMAT=json \
    MEDIA_ROOT=/media
EXPOSE 1935 8000 8080 8081
# The V8 flag is the one `deno task` passes (docs/architecture.md, "Runtime flags").
ENTRYPOINT ["deno", "run", "-A", "--cached-only", "--frozen", "--v8-flags=--max-semi-space-size=2"]
CMD ["api/main.ts"]
