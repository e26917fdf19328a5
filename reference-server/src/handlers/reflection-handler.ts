import * as v1 from "@acb/gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "@acb/gen/grpc/reflection/v1alpha/reflection_pb";
import {
  create,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";

type Request = v1.ServerReflectionRequest;
type Response = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;
type Answer = NonNullable<Response["messageResponse"]>;

/**
 * What reflection can tell: the files that declare the served services and every file they
 * depend on (acb.v1, buf.validate, google.protobuf), indexed by path, by fully-qualified symbol
 * and by extension. Built once from the generated descriptors.
 */
class SchemaIndex {
  readonly serviceNames: string[];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  /** "extendee typeName" → field number → declaring file. */
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly bytes = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    this.serviceNames = services.map((s) => s.typeName);
    for (const s of services) this.addFile(s.file);
  }

  fileNamed(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileDeclaring(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol);
  }

  fileExtending(typeName: string, number: number): DescFile | undefined {
    return this.extensions.get(typeName)?.get(number);
  }

  /** The extension numbers known for a message type; undefined when the type is unknown. */
  extensionNumbers(typeName: string): number[] | undefined {
    if (!this.symbols.has(typeName)) return undefined;
    return [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The file's FileDescriptorProto, serialized once. */
  serialized(file: DescFile): Uint8Array {
    let b = this.bytes.get(file);
    if (!b) {
      b = toBinary(FileDescriptorProtoSchema, file.proto);
      this.bytes.set(file, b);
    }
    return b;
  }

  private addFile(file: DescFile): void {
    // DescFile.name drops the ".proto" suffix; clients ask by the path as declared.
    const path = file.proto.name;
    if (this.files.has(path)) return;
    this.files.set(path, file);
    for (const dep of file.dependencies) this.addFile(dep);
    const pkg = file.proto.package;
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    for (const e of file.enums) this.addEnum(e, pkg, file);
    for (const m of file.messages) this.addMessage(m, file);
    for (const x of file.extensions) this.addExtension(x, file);
  }

  private addMessage(m: DescMessage, file: DescFile): void {
    this.symbols.set(m.typeName, file);
    for (const f of m.fields) this.symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) this.symbols.set(`${m.typeName}.${o.name}`, file);
    for (const e of m.nestedEnums) this.addEnum(e, m.typeName, file);
    for (const n of m.nestedMessages) this.addMessage(n, file);
    for (const x of m.nestedExtensions) this.addExtension(x, file);
  }

  /** Enum values are scoped like the enum itself (siblings of it), as in protobuf. */
  private addEnum(e: DescEnum, scope: string, file: DescFile): void {
    this.symbols.set(e.typeName, file);
    for (const v of e.values) this.symbols.set(scope === "" ? v.name : `${scope}.${v.name}`, file);
  }

  private addExtension(x: DescExtension, file: DescFile): void {
    this.symbols.set(x.typeName, file);
    let byNumber = this.extensions.get(x.extendee.typeName);
    if (!byNumber) {
      byNumber = new Map();
      this.extensions.set(x.extendee.typeName, byNumber);
    }
    byNumber.set(x.number, file);
  }
}

/**
 * One reflection stream: answers each request in order. A file is sent with the files it depends
 * on, except those this stream has sent already (clients keep what they received).
 */
function createResponder(index: SchemaIndex): (req: Request) => Response {
  const sent = new Set<DescFile>();
  const withDependencies = (file: DescFile): Answer => {
    const out: Uint8Array[] = [index.serialized(file)];
    sent.add(file);
    const visit = (f: DescFile) => {
      for (const dep of f.dependencies) {
        if (sent.has(dep)) continue;
        sent.add(dep);
        out.push(index.serialized(dep));
        visit(dep);
      }
    };
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  };
  const error = (code: Code, message: string): Answer => ({
    case: "errorResponse",
    value: { errorCode: code, errorMessage: message },
  });
  const answer = (req: Request): Answer => {
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: index.serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = index.fileNamed(r.value);
        return file ? withDependencies(file) : error(Code.NotFound, `file "${r.value}" not found`);
      }
      case "fileContainingSymbol": {
        const file = index.fileDeclaring(r.value);
        return file
          ? withDependencies(file)
          : error(Code.NotFound, `symbol "${r.value}" not found`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = r.value;
        const file = index.fileExtending(containingType, extensionNumber);
        return file
          ? withDependencies(file)
          : error(Code.NotFound, `no extension ${extensionNumber} of "${containingType}" found`);
      }
      case "allExtensionNumbersOfType": {
        const numbers = index.extensionNumbers(r.value);
        return numbers
          ? {
              case: "allExtensionNumbersResponse",
              value: { baseTypeName: r.value, extensionNumber: numbers },
            }
          : error(Code.NotFound, `type "${r.value}" not found`);
      }
      default:
        return error(
          Code.InvalidArgument,
          "the request sets none of file_by_filename, file_containing_symbol, " +
            "file_containing_extension, all_extension_numbers_of_type, list_services",
        );
    }
  };
  return (req) => ({ validHost: req.host, originalRequest: req, messageResponse: answer(req) });
}

/**
 * The standard gRPC server reflection services (grpc.reflection.v1 and its older name v1alpha,
 * the same messages under another package), describing `services` and their schemas.
 */
export function createReflectionHandlers(services: readonly DescService[]): {
  v1: ServiceImpl<typeof v1.ServerReflection>;
  v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
} {
  const index = new SchemaIndex(services);
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        const respond = createResponder(index);
        for await (const req of requests) yield respond(req);
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        const respond = createResponder(index);
        // v1alpha's messages are v1's field for field: convert through the wire format.
        for await (const req of requests) {
          const asV1 = fromBinary(
            v1.ServerReflectionRequestSchema,
            toBinary(v1alpha.ServerReflectionRequestSchema, req),
          );
          const res = create(v1.ServerReflectionResponseSchema, respond(asV1));
          yield fromBinary(
            v1alpha.ServerReflectionResponseSchema,
            toBinary(v1.ServerReflectionResponseSchema, res),
          );
        }
      },
    },
  };
}
