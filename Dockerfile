# vk-event-router: the long-running service.
# Build: docker build -t vk-event-router .
# Run:   docker run -e VK_TOKEN=... -e VK_GROUP_ID=... -e REDIS_URL=redis://redis:6379 \
#          -p 8080:8080 -v vk-router-data:/service/data vk-event-router
# Secrets come from the runtime environment only: never as build arguments.

# The same Deno version as CI (.ci/run) and the tests.
FROM denoland/deno:2.9.6

WORKDIR /service
RUN chown deno:deno /service
USER deno

# The dependencies of what runs, and nothing else, so the container starts without
# reaching any registry and without the packages of tests and tools (playwright-core,
# fast-check, @valibot/to-json-schema).
# Deno caches every package that the import map and lock file name, whatever the entry
# point, so the image's copies first drop the imports that src/ never uses; the frozen
# install then checks the rest against the lock file. The sources come first for that,
# so a source change downloads the few production packages again.
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno scripts/production_deps.ts scripts/
COPY --chown=deno:deno src/ src/
RUN deno run --no-config --allow-read=. --allow-write=deno.json,deno.lock scripts/production_deps.ts \
  && deno install --frozen --entrypoint src/main.ts src/start_permissions.ts \
  && mkdir -p data logs
COPY --chown=deno:deno routes.json ./

# Defaults under /service. Logs go to stdout once, as JSON lines, for the container
# runtime to collect; LOG_DIR (e.g. -e LOG_DIR=./logs -v vk-router-logs:/service/logs)
# adds rotating files. ROUTES_FILE, DATA_DIR and LOG_DIR may name any path: the start
# command grants access to exactly those. HOST=0.0.0.0: the container is reached through its
# published port (the default, 127.0.0.1, is for a process on the host itself).
ENV ROUTES_FILE=routes.json DATA_DIR=./data LOG_FORMAT=json HOST=0.0.0.0 PORT=8080

EXPOSE 8080
VOLUME ["/service/data"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') ?? '8080'}/healthz`); Deno.exit(r.ok ? 0 : 1)"]

# Exactly the `start` task's command line: `exec` makes `deno run` itself the process that
# tini signals, so the service stops gracefully; the shell runs the `$(…)` that grants
# access to the configured paths (an absolute ROUTES_FILE mounted from the host, say), and
# nothing else outside /service. The semi-space cap keeps RSS down under bursts at no cost
# in throughput (bench/README.md).
CMD exec deno run --allow-net --allow-env --allow-read=. --allow-write=./data,./logs $(deno run --allow-env=ROUTES_FILE,DATA_DIR,LOG_DIR --allow-read=.env src/start_permissions.ts) --v8-flags=--max-semi-space-size=8 src/main.ts
