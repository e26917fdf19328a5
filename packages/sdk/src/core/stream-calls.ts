// The two streams a client keeps open, read straight from the transport.
//
// The protocol library's client hands a stream's messages on through an async generator of its
// own (a down-levelled one: a delegation, two promises and a resumption for every message), which
// adds nothing the SDK uses: it reads neither the header nor the trailer callbacks it serves. For
// Receive and SendStream, where messages are small and many, the SDK calls the transport itself;
// the messages, their errors and the call's abort are the transport's, as before.

import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import type { Client, Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";

/** `client`, with Receive and SendStream read straight from `transport` (see above). */
export function withDirectStreams(
  client: Client<typeof MessagingService>,
  transport: Transport,
): Client<typeof MessagingService> {
  const { receive, sendStream } = MessagingService.method;
  return {
    ...client,
    receive: (input, options) =>
      new ResponseStream(
        transport.stream(
          receive,
          options?.signal,
          options?.timeoutMs,
          options?.headers,
          createAsyncIterable([input]),
          options?.contextValues,
        ),
      ),
    sendStream: (requests, options) =>
      new ResponseStream(
        transport.stream(
          sendStream,
          options?.signal,
          options?.timeoutMs,
          options?.headers,
          requests,
          options?.contextValues,
        ),
      ),
  } as Client<typeof MessagingService>;
}

/** The messages of a stream call once it answers (its failure to answer fails the first step). */
class ResponseStream<T> implements AsyncIterableIterator<T> {
  private messages: AsyncIterator<T> | undefined;

  constructor(private readonly response: Promise<{ message: AsyncIterable<unknown> }>) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.messages) return this.messages.next();
    return this.response.then((res) => {
      this.messages ??= (res.message as AsyncIterable<T>)[Symbol.asyncIterator]();
      return this.messages.next();
    });
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    const done = { done: true as const, value: value as T };
    if (this.messages?.return) return this.messages.return(value).then(() => done);
    return Promise.resolve(done);
  }
}
