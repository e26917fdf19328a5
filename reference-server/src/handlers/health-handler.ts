import {
  type Health,
  HealthCheckResponse_ServingStatus as Status,
} from "@acb/gen/grpc/health/v1/health_pb";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, hubError } from "../errors.js";

/** The standard grpc.health.v1 service: "" and every served service name report the hub's state. */
export function createHealthHandler(
  services: readonly string[],
  isServing: () => boolean,
): ServiceImpl<typeof Health> {
  const statusOf = (service: string) => {
    if (service !== "" && !services.includes(service)) return undefined;
    return isServing() ? Status.SERVING : Status.NOT_SERVING;
  };
  return {
    check(req) {
      const status = statusOf(req.service);
      if (status === undefined) throw hubError(Code.NotFound, `unknown service "${req.service}"`);
      return { status };
    },
    list() {
      return {
        statuses: Object.fromEntries(
          ["", ...services].map((s) => [s, { status: statusOf(s) ?? Status.UNKNOWN }]),
        ),
      };
    },
    async *watch(req, ctx) {
      // Reports the current status, then holds the stream open until the client leaves or the hub drains.
      yield { status: statusOf(req.service) ?? Status.SERVICE_UNKNOWN };
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    },
  };
}
