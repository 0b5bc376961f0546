/**
 * Text of any size in Deno KV, which refuses a value over 64 KiB and an atomic write over
 * 800 KiB. A short text stays inline in the record that owns it; a longer one is written
 * as parts of 60,000 bytes under `["blob", id, n]` before the owning record names it, so a
 * reader that finds the record finds every part. A crash between the parts and the record
 * leaves parts no record names: {@linkcode sweepBlobs} deletes those when the store opens.
 * @module
 */

/** Where a text is: inline, or in parts under a blob id. */
export type TextRef = { text: string } | { blob: string; parts: number };

/** Longest text kept inline: V8 writes at most 2 bytes per UTF-16 unit, well under 64 KiB. */
const INLINE_UNITS = 30_000;
const PART_BYTES = 60_000;
/** Parts per atomic write: 600,000 bytes, under KV's 800 KiB per atomic operation. */
const PARTS_PER_WRITE = 10;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Stores `text`, in parts when it is long; the answer goes into the owning record. */
export async function writeText(kv: Deno.Kv, text: string): Promise<TextRef> {
  if (text.length <= INLINE_UNITS) return { text };
  const bytes = encoder.encode(text);
  const blob = crypto.randomUUID();
  const parts = Math.ceil(bytes.length / PART_BYTES);
  for (let first = 0; first < parts; first += PARTS_PER_WRITE) {
    const write = kv.atomic();
    for (let n = first; n < Math.min(parts, first + PARTS_PER_WRITE); n++) {
      write.set(["blob", blob, n], bytes.subarray(n * PART_BYTES, (n + 1) * PART_BYTES));
    }
    if (!(await write.commit()).ok) throw new Error(`Cannot store a text of ${bytes.length} bytes`);
  }
  return { blob, parts };
}

/** The text a reference names; a record of an older version may hold the text itself. */
export async function readText(kv: Deno.Kv, ref: TextRef | string): Promise<string> {
  if (typeof ref === "string") return ref;
  if ("text" in ref) return ref.text;
  const chunks: Uint8Array[] = [];
  for await (const entry of kv.list<Uint8Array>({ prefix: ["blob", ref.blob] })) {
    chunks.push(entry.value);
  }
  if (chunks.length !== ref.parts) {
    throw new Error(`Blob ${ref.blob}: ${chunks.length} of ${ref.parts} parts found`);
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return decoder.decode(bytes);
}

/** Deletes a blob's parts, once no record names it. */
export async function deleteText(kv: Deno.Kv, ref: TextRef | string): Promise<void> {
  if (typeof ref === "string" || "text" in ref) return;
  for (let first = 0; first < ref.parts; first += PARTS_PER_WRITE) {
    const write = kv.atomic();
    for (let n = first; n < Math.min(ref.parts, first + PARTS_PER_WRITE); n++) {
      write.delete(["blob", ref.blob, n]);
    }
    await write.commit();
  }
}

/** Deletes every blob that none of `referenced` names (parts left by a crash). */
export async function sweepBlobs(kv: Deno.Kv, referenced: ReadonlySet<string>): Promise<number> {
  let swept = 0;
  for await (const entry of kv.list({ prefix: ["blob"] })) {
    if (referenced.has(entry.key[1] as string)) continue;
    await kv.delete(entry.key);
    swept++;
  }
  return swept;
}

/** The blob id a reference names, if any. */
export function blobOf(ref: TextRef | string | undefined): string | null {
  return ref !== undefined && typeof ref !== "string" && "blob" in ref ? ref.blob : null;
}
