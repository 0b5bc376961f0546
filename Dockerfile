# vk-event-router: the long-running service.
# Build: docker build -t vk-event-router .
# Run:   docker run -e VK_TOKEN=... -e VK_GROUP_ID=... -e REDIS_URL=redis://redis:6379 \
#          -p 8080:8080 -v vk-router-data:/service/data -v vk-router-logs:/service/logs vk-event-router
# Secrets come from the runtime environment only: never as build arguments.

# The same Deno version as CI (.ci/run) and the tests.
FROM denoland/deno:2.9.6

WORKDIR /service
RUN chown deno:deno /service
USER deno

# Dependencies first, so they are cached in a layer of their own and the container
# starts without reaching any registry.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno install --frozen
COPY --chown=deno:deno src/ src/
COPY --chown=deno:deno routes.json ./
RUN deno cache --frozen src/main.ts && mkdir -p data logs

# Paths relative to /service, so the narrow permission flags below cover them.
# HOST=0.0.0.0: the container is reached through its published port (the default,
# 127.0.0.1, is for a process on the host itself).
ENV ROUTES_FILE=routes.json DATA_DIR=./data LOG_DIR=./logs LOG_FORMAT=json HOST=0.0.0.0 PORT=8080

EXPOSE 8080
VOLUME ["/service/data", "/service/logs"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') ?? '8080'}/healthz`); Deno.exit(r.ok ? 0 : 1)"]

# Exec form and `deno run` itself (not `deno task start`): the signal reaches the service,
# which stops gracefully. The flags are exactly those of the `start` task (the semi-space
# cap keeps RSS down under bursts at no cost in throughput: bench/README.md).
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-read=.", "--allow-write=./data,./logs", "--v8-flags=--max-semi-space-size=8", "src/main.ts"]
