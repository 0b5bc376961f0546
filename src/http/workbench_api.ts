/**
 * The workbench's HTTP face, mounted under `/api` behind the status token: JSON for API
 * clients; the page's forms post to the same routes (with `Accept: text/html`) and are sent
 * back to the page. `DELETE` has a `POST …/delete` twin because a form cannot send one.
 * @module
 */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Workbench } from "../workbench.ts";
import type { DeadLetter } from "../store/state_store.ts";

const REASONS: readonly DeadLetter["reason"][] = ["rejected", "delivery_failed", "redirect"];
/** Largest page a list answers. */
export const MAX_LIMIT = 500;
/** Most ids one replay request may name. */
export const MAX_IDS = 1000;

/** What a form or a JSON body carries; the form's repeated `ids` become a list. */
async function bodyOf(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (type.includes("application/json")) {
    const json = await c.req.json().catch(() => {
      throw new HTTPException(400, { message: "the body is not JSON" });
    });
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
      throw new HTTPException(400, { message: "the body is not a JSON object" });
    }
    return json as Record<string, unknown>;
  }
  const form = await c.req.parseBody({ all: true }).catch(() => ({}));
  const ids = (form as Record<string, unknown>).ids;
  return {
    ...form,
    ...(ids === undefined ? {} : { ids: Array.isArray(ids) ? ids : [ids] }),
  };
}

/** JSON for API clients; the page's forms go back to where they were. */
function answer(c: Context, body: unknown, anchor: string) {
  if ((c.req.header("accept") ?? "").includes("text/html")) return c.redirect(`/#${anchor}`, 303);
  return c.json(body);
}

function limitOf(c: Context): number {
  const raw = c.req.query("limit");
  if (raw === undefined || raw === "") return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new HTTPException(400, { message: `limit: expected 1..${MAX_LIMIT}` });
  }
  return n;
}

/**
 * The routes, each behind `guard` (the status token); `destinations` are the routes file's
 * names (others answer 404).
 */
export function createWorkbenchApi(
  workbench: Workbench,
  destinations: ReadonlySet<string>,
  guard: MiddlewareHandler,
): Hono {
  const api = new Hono();
  for (const path of ["/dead-letters", "/dead-letters/*", "/parked", "/destinations/*"]) {
    api.use(path, guard);
  }
  const known = (name: string) => {
    if (!destinations.has(name)) {
      throw new HTTPException(404, { message: `no destination named ${JSON.stringify(name)}` });
    }
    return name;
  };

  api.get("/dead-letters", async (c) => {
    const reason = c.req.query("reason") || undefined;
    if (reason !== undefined && !REASONS.includes(reason as DeadLetter["reason"])) {
      throw new HTTPException(400, { message: `reason: expected ${REASONS.join(", ")}` });
    }
    const destination = c.req.query("destination") || undefined;
    return c.json(
      await workbench.deadLetters({
        ...(destination !== undefined ? { destination } : {}),
        ...(reason !== undefined ? { reason: reason as DeadLetter["reason"] } : {}),
        limit: limitOf(c),
        cursor: c.req.query("cursor") || null,
      }),
    );
  });
  api.post("/dead-letters/replay", async (c) => {
    const body = await bodyOf(c);
    const ids = body.ids;
    const destination = body.destination;
    if (Array.isArray(ids) && ids.length > 0 && ids.length <= MAX_IDS) {
      if (!ids.every((id) => typeof id === "string")) {
        throw new HTTPException(400, { message: "ids: expected strings" });
      }
      return answer(c, await workbench.replay({ ids: ids as string[] }), "dead-letters");
    }
    if (typeof destination === "string" && destination !== "") {
      return answer(
        c,
        await workbench.replay({ destination: known(destination) }),
        "dead-letters",
      );
    }
    throw new HTTPException(400, {
      message: `expected { "ids": [1..${MAX_IDS} letter ids] } or { "destination": "name" }`,
    });
  });
  api.get("/dead-letters/:id", async (c) => {
    const letter = await workbench.deadLetter(c.req.param("id"));
    if (!letter) throw new HTTPException(404, { message: "no such dead letter" });
    return c.json(letter);
  });
  const remove = async (c: Context) => {
    const result = await workbench.deleteDeadLetter(c.req.param("id")!);
    if (result.deleted === 0 && !(c.req.header("accept") ?? "").includes("text/html")) {
      return c.json(result, 404);
    }
    return answer(c, result, "dead-letters");
  };
  api.delete("/dead-letters/:id", remove);
  api.post("/dead-letters/:id/delete", remove);
  api.get("/parked", async (c) => {
    const destination = c.req.query("destination") || undefined;
    return c.json(
      await workbench.parked({
        ...(destination !== undefined ? { destination } : {}),
        limit: limitOf(c),
        cursor: c.req.query("cursor") || null,
      }),
    );
  });
  api.post(
    "/destinations/:name/retry-now",
    async (c) => answer(c, await workbench.retryNow(known(c.req.param("name"))), "destinations"),
  );
  api.post(
    "/destinations/:name/pause",
    async (c) => answer(c, await workbench.pause(known(c.req.param("name"))), "destinations"),
  );
  api.post(
    "/destinations/:name/resume",
    async (c) => answer(c, await workbench.resume(known(c.req.param("name"))), "destinations"),
  );
  return api;
}
