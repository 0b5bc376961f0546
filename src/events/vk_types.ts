/**
 * The event types VK's Callback API and Bots Long Poll send (API v5.199). A metric label
 * names one of these or `other`: the type comes from the request, and in insecure
 * callback mode anyone can send any string as one.
 * @module
 */

/** Every event type VK documents. */
export const VK_EVENT_TYPES: ReadonlySet<string> = new Set([
  "confirmation",
  "message_new",
  "message_reply",
  "message_edit",
  "message_allow",
  "message_deny",
  "message_typing_state",
  "message_event",
  "message_reaction_event",
  "message_read",
  "photo_new",
  "photo_comment_new",
  "photo_comment_edit",
  "photo_comment_restore",
  "photo_comment_delete",
  "audio_new",
  "video_new",
  "video_comment_new",
  "video_comment_edit",
  "video_comment_restore",
  "video_comment_delete",
  "wall_post_new",
  "wall_repost",
  "wall_reply_new",
  "wall_reply_edit",
  "wall_reply_restore",
  "wall_reply_delete",
  "wall_schedule_post_new",
  "wall_schedule_post_delete",
  "like_add",
  "like_remove",
  "board_post_new",
  "board_post_edit",
  "board_post_restore",
  "board_post_delete",
  "market_comment_new",
  "market_comment_edit",
  "market_comment_restore",
  "market_comment_delete",
  "market_order_new",
  "market_order_edit",
  "group_leave",
  "group_join",
  "user_block",
  "user_unblock",
  "poll_vote_new",
  "group_officers_edit",
  "group_change_settings",
  "group_change_photo",
  "vkpay_transaction",
  "app_payload",
  "lead_forms_new",
  "donut_subscription_create",
  "donut_subscription_prolonged",
  "donut_subscription_expired",
  "donut_subscription_cancelled",
  "donut_subscription_price_changed",
  "donut_money_withdraw",
  "donut_money_withdraw_error",
]);

/** A raw `type` as a metric label: VK's own types as they are, anything else `other`. */
export function rawTypeLabel(type: string | null): string {
  if (type === null) return "(none)";
  return VK_EVENT_TYPES.has(type) ? type : "other";
}
