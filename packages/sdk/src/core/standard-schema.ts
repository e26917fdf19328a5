import type { DescMessage } from "@bufbuild/protobuf";
import type { MessageHandler, ReceivedMessage } from "./receiver.js";

// The Standard Schema interface (https://standardschema.dev), copied as its authors intend so that
// zod, valibot, arktype and others validate payloads without the SDK depending on any of them.

/** A schema of any library that implements Standard Schema v1 (zod ≥ 3.24, valibot, arktype…). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  /** The properties every Standard Schema carries under `~standard`. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  /** A validation's outcome: the (possibly transformed) value, or issues. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  /** One problem found in the value. */
  export interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  export interface PathSegment {
    readonly key: PropertyKey;
  }
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** The value type a schema produces. */
  export type InferOutput<S extends StandardSchemaV1> = NonNullable<
    S["~standard"]["types"]
  >["output"];
}

/** Tells a Standard Schema from a protobuf message descriptor (both are passed as `schema`). */
export function isStandardSchema(
  schema: StandardSchemaV1 | DescMessage,
): schema is StandardSchemaV1 {
  return typeof schema === "object" && schema !== null && "~standard" in schema;
}

/** "path.to.field: message; …" — one readable line for a dead-letter entry or a log. */
export function describeIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => String(typeof p === "object" ? p.key : p))
        .join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Wraps a handler so it only ever sees valid input: the decoded value is validated first, and a
 * message that fails is nacked straight to the dead-letter queue with the validation error (it
 * could never succeed, so redelivering it would only waste attempts); the handler is not called.
 * The handler receives the schema's output, so transforms and defaults apply.
 */
export function validatingHandler<S extends StandardSchemaV1>(
  schema: S,
  handler: MessageHandler<StandardSchemaV1.InferOutput<S>>,
): MessageHandler<unknown> {
  return async (message: ReceivedMessage<unknown>) => {
    const result = await schema["~standard"].validate(message.value);
    if (result.issues) {
      await message.nack({
        deadLetter: true,
        error: `payload of kind "${message.kind}" failed validation: ${describeIssues(result.issues)}`,
      });
      return undefined;
    }
    return handler({ ...message, value: result.value as StandardSchemaV1.InferOutput<S> });
  };
}
