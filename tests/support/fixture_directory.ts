/**
 * A fixed {@linkcode Directory} for golden tests: the people and chats of the fixtures,
 * with call counts.
 * @module
 */
import type { Directory, Profile } from "../../src/enrich/directory.ts";

const USERS: Record<number, Profile> = {
  206295116: { name: "Руслан Башинский", nick: "oidaho" },
  100: { name: "Пётр Сидоров", nick: "petya" },
  300: { name: "Иван Петров", nick: null },
};
const COMMUNITIES: Record<number, Profile> = { 218730916: { name: "Toaster", nick: "toaster" } };
const CHATS: Record<number, string> = { 2000000002: "FUNCKA | DEV | CHAT" };

/** The fixtures' directory; ids it does not know answer null (as "no access"). */
export function fixtureDirectory(): Directory & { calls: number } {
  const answer = <T>(table: Record<number, T>, ids: readonly number[]) =>
    Promise.resolve(new Map(ids.map((id) => [id, table[id] ?? null])));
  const directory = {
    calls: 0,
    users(ids: readonly number[]) {
      directory.calls++;
      return answer(USERS, ids);
    },
    communities(ids: readonly number[]) {
      directory.calls++;
      return answer(COMMUNITIES, ids);
    },
    chatTitles(ids: readonly number[]) {
      directory.calls++;
      return answer(CHATS, ids);
    },
  };
  return directory;
}
