// gRPC server reflection (grpc.reflection.v1 and v1alpha) over the wire, without credentials: what
// grpcurl, `buf curl` and Postman ask, and what they need back (a file with its dependencies).

import * as v1 from "@acb/gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "@acb/gen/grpc/reflection/v1alpha/reflection_pb";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";

let hub: Hub;
let baseUrl: string;

beforeAll(async () => {
  hub = await createHub({ logger: silentLogger });
  baseUrl = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
});

afterAll(async () => {
  await hub?.close();
});

type Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

/** Sends the requests on one stream (no credential) and returns the responses in order. */
async function ask(requests: Request[]): Promise<v1.ServerReflectionResponse[]> {
  const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl }));
  async function* input() {
    for (const r of requests) yield create(v1.ServerReflectionRequestSchema, r);
  }
  const out: v1.ServerReflectionResponse[] = [];
  for await (const res of client.serverReflectionInfo(input())) out.push(res);
  return out;
}

/** The names of the files in a file descriptor response, in order. */
function fileNames(res: v1.ServerReflectionResponse | undefined): string[] {
  if (res?.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${res?.messageResponse.case}`);
  }
  return res.messageResponse.value.fileDescriptorProto.map(
    (b) => fromBinary(FileDescriptorProtoSchema, b).name,
  );
}

function errorOf(res: v1.ServerReflectionResponse | undefined) {
  if (res?.messageResponse.case !== "errorResponse") {
    throw new Error(`expected an error, got ${res?.messageResponse.case}`);
  }
  return res.messageResponse.value;
}

describe("server reflection", () => {
  it("lists the served services", async () => {
    const [res] = await ask([{ messageRequest: { case: "listServices", value: "" } }]);
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const names =
      res?.messageResponse.case === "listServicesResponse"
        ? res.messageResponse.value.service.map((s) => s.name)
        : [];
    expect(names).toEqual(
      expect.arrayContaining([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "acb.v1.MessagingService",
        "acb.v1.RegistryService",
        "acb.v1.AdminService",
      ]),
    );
  });

  it("answers a symbol with its file and every dependency, each file once per stream", async () => {
    const [first, second, third] = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "acb.v1.MessagingService" } },
      { messageRequest: { case: "fileContainingSymbol", value: "acb.v1.SendRequest" } },
      { messageRequest: { case: "fileByFilename", value: "acb/v1/common.proto" } },
    ]);
    const files = fileNames(first);
    expect(files[0]).toBe("acb/v1/messaging.proto");
    expect(files).toEqual(
      expect.arrayContaining([
        "acb/v1/common.proto",
        "buf/validate/validate.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
      ]),
    );
    expect(new Set(files).size).toBe(files.length);
    // Already sent on this stream: only the requested file again.
    expect(fileNames(second)).toEqual(["acb/v1/messaging.proto"]);
    expect(fileNames(third)).toEqual(["acb/v1/common.proto"]);
    expect(second?.originalRequest?.messageRequest).toEqual({
      case: "fileContainingSymbol",
      value: "acb.v1.SendRequest",
    });
  });

  it("finds methods, enum values and the buf.validate extensions", async () => {
    const [method, value, extension, numbers] = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "acb.v1.MessagingService.Ack" } },
      { messageRequest: { case: "fileContainingSymbol", value: "acb.v1.SETTLE_STATUS_STALE" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1159 },
        },
      },
      {
        messageRequest: {
          case: "allExtensionNumbersOfType",
          value: "google.protobuf.FieldOptions",
        },
      },
    ]);
    expect(fileNames(method)[0]).toBe("acb/v1/messaging.proto");
    expect(fileNames(value)[0]).toBe("acb/v1/messaging.proto");
    expect(fileNames(extension)[0]).toBe("buf/validate/validate.proto");
    expect(numbers?.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({
        baseTypeName: "google.protobuf.FieldOptions",
        extensionNumber: expect.arrayContaining([1159]),
      }),
    });
  });

  it("answers unknown names and empty requests with an error response, keeping the stream", async () => {
    const responses = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "acb.v1.Nope" } },
      { messageRequest: { case: "fileByFilename", value: "acb/v1/nope.proto" } },
      {},
      { messageRequest: { case: "listServices", value: "" } },
    ]);
    expect(errorOf(responses[0])).toMatchObject({
      errorCode: Code.NotFound,
      errorMessage: 'symbol "acb.v1.Nope" not found',
    });
    expect(errorOf(responses[1])).toMatchObject({ errorCode: Code.NotFound });
    expect(errorOf(responses[2])).toMatchObject({ errorCode: Code.InvalidArgument });
    expect(responses[3]?.messageResponse.case).toBe("listServicesResponse");
  });

  it("serves the same answers under grpc.reflection.v1alpha", async () => {
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl }));
    async function* input() {
      yield create(v1alpha.ServerReflectionRequestSchema, {
        host: "hub",
        messageRequest: { case: "fileContainingSymbol", value: "acb.v1.ContextService" },
      });
    }
    const out: v1alpha.ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(input())) out.push(res);
    expect(out).toHaveLength(1);
    expect(out[0]?.validHost).toBe("hub");
    const r = out[0]?.messageResponse;
    if (r?.case !== "fileDescriptorResponse") throw new Error(`got ${r?.case}`);
    const first = fromBinary(
      FileDescriptorProtoSchema,
      r.value.fileDescriptorProto[0] ?? new Uint8Array(),
    );
    expect(first.name).toBe("acb/v1/contexts.proto");
    expect(first.service.map((s) => s.name)).toContain("ContextService");
  });
});
