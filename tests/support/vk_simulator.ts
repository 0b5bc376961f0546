/**
 * A small VK community in a box: the fake VK server with people, chats and a traffic
 * generator of realistic events (messages, commands, button presses, reactions, edits,
 * joins). The demo runs it; benchmarks and chaos tests can too.
 * @module
 */
import { type FakeVk, startFakeVk } from "./fake_vk.ts";

/** First and last names that agree in gender. */
const PEOPLE: [readonly string[], readonly string[]][] = [
  [["Анна", "Мария", "Елена", "Ольга", "Наталья", "Ксения"], [
    "Иванова",
    "Кузнецова",
    "Васильева",
    "Соколова",
    "Новикова",
    "Петрова",
  ]],
  [["Иван", "Дмитрий", "Алексей", "Сергей", "Павел", "Артём"], [
    "Смирнов",
    "Попов",
    "Петров",
    "Михайлов",
    "Фёдоров",
    "Волков",
  ]],
];
const CHATS = ["Флудилка", "DEV | CHAT", "Книжный клуб", "Поход в горы", "Кофе и код"];
const TEXTS = [
  "Привет всем!",
  "Кто идёт на встречу?",
  "Спасибо 🙏",
  "Посмотрите, что нашёл",
  "Согласен",
  "Отличная идея",
  "Увидимся завтра",
];
const COMMANDS = [
  "/help",
  "/ban [id3|@user3] спам",
  "!weather Москва",
  "/stats",
  "!roll 20",
  "/warn [id5|Мария] «не флуди»",
];

/** A running simulator. */
export interface VkSimulator extends AsyncDisposable {
  vk: FakeVk;
  groupId: number;
  token: string;
  /** Events generated so far. */
  readonly generated: number;
  /** Generates `count` events at once. */
  burst(count: number): void;
  close(): Promise<void>;
}

/** Options for {@linkcode startVkSimulator}. */
export interface VkSimulatorOptions {
  groupId?: number;
  token?: string;
  /** Events per second; 0 generates only on `burst`. @default 5 */
  rate?: number;
  users?: number;
  seed?: number;
}

/** Starts the fake VK with a populated community and, at `rate` events/s, traffic. */
export async function startVkSimulator(options: VkSimulatorOptions = {}): Promise<VkSimulator> {
  const groupId = options.groupId ?? 218730916;
  const token = options.token ?? "demo-token";
  const vk = await startFakeVk({ tokens: { [groupId]: token } });
  let seed = options.seed ?? 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const users = options.users ?? 40;
  for (let id = 1; id <= users; id++) {
    const [first, last] = PEOPLE[id % 2]!;
    vk.users.set(id, { id, first_name: pick(first), last_name: pick(last), domain: `user${id}` });
  }
  CHATS.forEach((title, i) => vk.chats.set(2000000001 + i, title));
  vk.groups.set(groupId, { id: groupId, name: "Тостер", screen_name: "toaster" });
  vk.settings.set(groupId, {
    message_new: 1,
    message_edit: 1,
    message_reply: 1,
    message_event: 1,
    message_reaction_event: 1,
    group_join: 1,
    group_leave: 1,
  });

  let generated = 0;
  let cmid = 1000;
  const next = (): unknown => {
    generated++;
    const user = 1 + Math.floor(random() * users);
    const peer = random() < 0.8 ? 2000000001 + Math.floor(random() * CHATS.length) : user;
    const envelope = (type: string, object: unknown) => ({
      type,
      event_id: crypto.randomUUID().replaceAll("-", ""),
      group_id: groupId,
      v: "5.199",
      object,
    });
    const r = random();
    if (r < 0.6) {
      return envelope("message_new", {
        message: {
          from_id: user,
          peer_id: peer,
          text: pick(TEXTS),
          conversation_message_id: ++cmid,
          date: Math.floor(Date.now() / 1000),
          attachments: random() < 0.1 ? [{ type: "photo" }] : [],
        },
      });
    }
    if (r < 0.75) {
      return envelope("message_new", {
        message: {
          from_id: user,
          peer_id: peer,
          text: pick(COMMANDS),
          conversation_message_id: ++cmid,
          date: Math.floor(Date.now() / 1000),
        },
      });
    }
    if (r < 0.85) {
      return envelope("message_event", {
        user_id: user,
        peer_id: peer,
        event_id: crypto.randomUUID().slice(0, 12),
        payload: { call_action: pick(["like", "vote", "test"]) },
        conversation_message_id: cmid,
      });
    }
    if (r < 0.93) {
      return envelope("message_reaction_event", {
        reacted_id: user,
        peer_id: peer,
        cmid,
        reaction_id: 1 + Math.floor(random() * 16),
      });
    }
    if (r < 0.97) {
      return envelope("message_edit", {
        from_id: user,
        peer_id: peer,
        text: `${pick(TEXTS)} (изм.)`,
        conversation_message_id: cmid,
      });
    }
    return random() < 0.5
      ? envelope("group_join", { user_id: user, join_type: "join" })
      : envelope("group_leave", { user_id: user, self: 1 });
  };
  const burst = (count: number) => vk.push(Array.from({ length: count }, next), groupId);
  const rate = options.rate ?? 5;
  const timer = rate > 0 ? setInterval(() => burst(1), 1000 / rate) : undefined;
  const close = async () => {
    clearInterval(timer);
    await vk.close();
  };
  return {
    vk,
    groupId,
    token,
    get generated() {
      return generated;
    },
    burst,
    close,
    [Symbol.asyncDispose]: close,
  };
}
