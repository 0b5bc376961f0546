/** One commit's round trip: each participant its own results, one request per transport. */
import assert from "node:assert/strict";
import { type Transport, UnitOfWork } from "../src/util/unit_of_work.ts";

/** A transport that records each request and answers each call with its text doubled. */
function recording(): Transport<string, string> & { requests: string[][] } {
  const requests: string[][] = [];
  return {
    requests,
    send: (calls) => {
      requests.push([...calls]);
      return Promise.resolve(calls.map((c) => c + c));
    },
  };
}

Deno.test("a unit sends each transport's calls in one request; each participant gets its own", async () => {
  const [a, b] = [recording(), recording()];
  const unit = new UnitOfWork();
  const first = Promise.all([unit.channel(a).add("x"), unit.channel(a).add("y")]);
  const second = unit.channel(b).add("z");
  const third = unit.channel(a).add("w");
  assert.equal(unit.late, false);
  await unit.send();
  assert.deepEqual(await first, ["xx", "yy"]);
  assert.equal(await second, "zz");
  assert.equal(await third, "ww");
  assert.deepEqual(a.requests, [["x", "y", "w"]]);
  assert.deepEqual(b.requests, [["z"]]);
  await unit.send();
  assert.equal(a.requests.length, 1, "a unit is sent once");
  await assert.rejects(unit.channel(a).add("late"), /already sent/);
});

Deno.test("a late call is built when the unit is sent, after what came before", async () => {
  const transport = recording();
  const unit = new UnitOfWork();
  let counted = 0;
  const report = unit.channel(transport).add(() => `n${counted}`);
  assert.equal(unit.late, true);
  counted = 3; // another participant answered in the meantime
  await unit.send();
  assert.equal(await report, "n3n3");
});

Deno.test("a cancelled unit rejects what it did not send and sends nothing", async () => {
  const transport = recording();
  const unit = new UnitOfWork();
  const call = unit.channel(transport).add("x");
  unit.cancel(new Error("commit failed"));
  await assert.rejects(call, /commit failed/);
  await unit.send();
  assert.deepEqual(transport.requests, []);
  const ignored = new UnitOfWork();
  ignored.channel(transport).add("y"); // nobody awaits: no unhandled rejection either
  ignored.cancel(new Error("gone"));
});
