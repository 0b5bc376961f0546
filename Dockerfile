# vk-event-router: the long-running service.
FROM denoland/deno:2.9.6

WORKDIR /service
ENV DATA_DIR=/service/data LOG_DIR=/service/logs ROUTES_FILE=/service/routes.json LOG_FORMAT=json

COPY deno.json deno.lock ./
COPY src/ src/
COPY routes.json ./
RUN deno install --frozen && deno cache src/main.ts

RUN mkdir -p /service/data /service/logs && chown -R deno:deno /service/data /service/logs
USER deno

EXPOSE 8080
VOLUME ["/service/data", "/service/logs"]

CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys=hostname,osRelease", "src/main.ts"]
