import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { createValidator, violationsToProto } from "@bufbuild/protovalidate";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { Code, hubError } from "./errors.js";
import { flatMapStream } from "./stream-iterators.js";
import { certainlyValid } from "./validation-fast-path.js";

/**
 * Checks every request message against the buf.validate rules written in the proto files, so each
 * handler starts from valid input. A violation is INVALID_ARGUMENT with a message naming each field;
 * the violations also travel as a buf.validate.Violations error detail. The hot messaging requests
 * are first checked by plain code (validation-fast-path.ts), which only ever answers "valid".
 */
export function createValidationInterceptor(): Interceptor {
  return createValidation().interceptor;
}

/** The validation interceptor, and a way to prepare its rules before the first calls. */
export interface Validation {
  interceptor: Interceptor;
  /**
   * Compiles the rules of `schemas` in the background, one per event-loop turn, so no call pays
   * for them: the validator compiles a message type's rules (CEL expressions included) at its
   * first use, about 60 ms for the first SendRequest. `done` resolves with the number prepared
   * when all are, or when `cancel()` stopped it.
   */
  prepare(schemas: Iterable<DescMessage>): { done: Promise<number>; cancel(): void };
}

export function createValidation(): Validation {
  const validator = createValidator();

  function check(schema: DescMessage, message: Message): void {
    // The hot messaging requests are checked by plain code first; it answers only "valid".
    if (certainlyValid(message)) return;
    const result = validator.validate(schema, message);
    if (result.kind === "valid") return;
    if (result.kind === "error") {
      throw hubError(
        Code.Internal,
        `validation of ${schema.typeName} failed: ${result.error.message}`,
        {
          cause: result.error,
        },
      );
    }
    const reasons = result.violations.map((v) => v.toString()).join("; ");
    const [violations, violationsSchema] = violationsToProto(result.violations);
    throw new ConnectError(
      `invalid ${schema.typeName}: ${reasons}`,
      Code.InvalidArgument,
      undefined,
      [{ desc: violationsSchema, value: violations }],
    );
  }

  const interceptor: Interceptor = (next) => async (req) => {
    const schema = req.method.input;
    if (!req.stream) {
      check(schema, req.message as Message);
      return next(req);
    }
    // Checked as the handler reads them, by an iterator without a generator's frame
    // (stream-iterators.ts): an open stream holds its request side for its whole life.
    const source = req.message;
    return next({
      ...req,
      message: flatMapStream(
        () => source,
        (m) => {
          check(schema, m as Message);
          return [m];
        },
        (err) => {
          // Messages of a request stream are parsed as they are read, here: a message that is
          // not valid protobuf is the client's error, not the INTERNAL the protocol library
          // reports for it (single-message bodies are checked in server/node-adapter.ts).
          const e = ConnectError.from(err);
          if (e.code === Code.Internal && e.rawMessage.startsWith("parse binary:")) {
            return new ConnectError(
              `request stream carries an invalid ${schema.typeName}: ${e.rawMessage}`,
              Code.InvalidArgument,
            );
          }
          return err;
        },
      ),
    });
  };

  return {
    interceptor,
    prepare(schemas) {
      const todo = [...new Set(schemas)];
      let cancelled = false;
      let timer: NodeJS.Immediate | undefined;
      let finish!: (n: number) => void;
      const done = new Promise<number>((resolve) => {
        finish = resolve;
      });
      let prepared = 0;
      const step = () => {
        const schema = todo[prepared];
        if (cancelled || schema === undefined) {
          finish(prepared);
          return;
        }
        // The result does not matter (a default message may well be invalid): planning the
        // type's rules is the point.
        validator.validate(schema, create(schema));
        prepared++;
        timer = setImmediate(step);
        timer.unref();
      };
      timer = setImmediate(step);
      timer.unref();
      return {
        done,
        cancel() {
          cancelled = true;
          if (timer) clearImmediate(timer);
          finish(prepared);
        },
      };
    },
  };
}
