import {
  context,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";

/** The W3C trace-context header, in HTTP requests and in a message's `headers`. */
export const traceparentHeader = "traceparent";

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Reads a W3C `traceparent` value (version 00); undefined when absent or malformed. */
export function parseTraceparent(value: string | null | undefined): SpanContext | undefined {
  const m = value ? traceparentPattern.exec(value.trim()) : null;
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  const sc: SpanContext = {
    traceId: m[1],
    spanId: m[2],
    traceFlags: Number.parseInt(m[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return trace.isSpanContextValid(sc) ? sc : undefined;
}

/** Writes a span context as a W3C `traceparent` value. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/** Starts a span whose parent is the remote span in `traceparent` (a new trace when none). */
export function startSpanFrom(
  tracer: Tracer,
  name: string,
  traceparent: string | null | undefined,
  kind: SpanKind,
  attributes: Record<string, string | number | boolean> = {},
): Span {
  const parent = parseTraceparent(traceparent);
  const ctx = parent ? trace.setSpanContext(context.active(), parent) : context.active();
  return tracer.startSpan(name, { kind, attributes }, ctx);
}

/**
 * Message-level tracing: a message whose headers carry `traceparent` gets a hub span on accept
 * ("acb.message.send", child of the sender's span) and on each delivery ("acb.message.deliver",
 * child of the send span); the header is rewritten to the hub's span at each hop, as the W3C
 * specification asks of an intermediary, so the receiver's span continues one trace. A message
 * without `traceparent` is left exactly as sent.
 */
export class MessageTracing {
  constructor(private readonly tracer: Tracer) {}

  /**
   * Returns the headers to store (traceparent rewritten to the hub's send span) and ends the span.
   * Headers without `traceparent` (most messages) come back as they are, with nothing built.
   */
  sent(
    headers: Readonly<Record<string, string>>,
    tenantId: string,
    senderId: string,
    messageId: string,
  ): Record<string, string> {
    if (headers[traceparentHeader] === undefined) return headers as Record<string, string>;
    return this.hop("acb.message.send", SpanKind.PRODUCER, headers, {
      "acb.tenant_id": tenantId,
      "acb.sender_id": senderId,
      "acb.message_id": messageId,
    });
  }

  /** Returns the headers to deliver (traceparent rewritten to the hub's deliver span), as sent(). */
  delivered(
    headers: Readonly<Record<string, string>>,
    tenantId: string,
    recipientId: string,
    messageId: string,
    attempt: number,
  ): Record<string, string> {
    if (headers[traceparentHeader] === undefined) return headers as Record<string, string>;
    return this.hop("acb.message.deliver", SpanKind.CONSUMER, headers, {
      "acb.tenant_id": tenantId,
      "acb.recipient_id": recipientId,
      "acb.message_id": messageId,
      "acb.delivery_attempt": String(attempt),
    });
  }

  private hop(
    name: string,
    kind: SpanKind,
    headers: Readonly<Record<string, string>>,
    attributes: Record<string, string>,
  ): Record<string, string> {
    const incoming = headers[traceparentHeader];
    if (parseTraceparent(incoming) === undefined) return headers as Record<string, string>;
    const span = startSpanFrom(this.tracer, name, incoming, kind, attributes);
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
    const sc = span.spanContext();
    // A non-recording tracer (none configured) keeps the sender's header unchanged.
    if (!span.isRecording() && sc.spanId === parseTraceparent(incoming)?.spanId) {
      return headers as Record<string, string>;
    }
    if (!trace.isSpanContextValid(sc)) return headers as Record<string, string>;
    return { ...headers, [traceparentHeader]: formatTraceparent(sc) };
  }
}
