/**
 * The public surface: what a consumer of the router as a library, or a test, needs.
 * Everything else is internal.
 * @module
 */
export { type Config, loadConfig } from "./config/config.ts";
export { BUILT_IN_ROUTES, loadRoutesFile, parseRoutes, type Routes } from "./config/routes.ts";
export { ConfigError, VkApiError, VkFatalError, VkHttpError } from "./errors.ts";
export type {
  ButtonEvent,
  ChatActionEvent,
  CustomEvent,
  MemberEvent,
  MessageEvent,
  RawEvent,
  ReactionEvent,
  Rejection,
} from "./events/types.ts";
export { transform, type TransformOptions, type TransformResult } from "./events/transform.ts";
export { createPipeline, type Pipeline } from "./pipeline.ts";
export { buildRouter, type Router, type RouterOptions } from "./router.ts";
export { type Destination, DESTINATION_KINDS } from "./deliver/kinds/registry.ts";
export { defineKind, type DestinationKind } from "./deliver/kinds/kind.ts";
export { type Service, startService } from "./service.ts";
export { createWorker, type Worker } from "./worker/worker.ts";
