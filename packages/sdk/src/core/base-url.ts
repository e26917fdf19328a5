import { Code } from "@connectrpc/connect";
import { acbError } from "./acb-error.js";

/**
 * Checks a hub base URL before any call is made: an absolute http: or https: URL without query or
 * fragment. Fails with an AcbError (Code.InvalidArgument) saying what is wrong.
 */
export function checkBaseUrl(baseUrl: unknown): string {
  if (typeof baseUrl !== "string" || baseUrl === "") {
    throw acbError(
      Code.InvalidArgument,
      'createClient: baseUrl is required, e.g. "http://127.0.0.1:7443"',
    );
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (err) {
    throw acbError(
      Code.InvalidArgument,
      `createClient: baseUrl "${baseUrl}" is not an absolute URL, e.g. "http://127.0.0.1:7443"`,
      err,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw acbError(
      Code.InvalidArgument,
      `createClient: baseUrl "${baseUrl}" must be http: or https:, not ${url.protocol}`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw acbError(
      Code.InvalidArgument,
      `createClient: baseUrl "${baseUrl}" must not carry a query or fragment`,
    );
  }
  return baseUrl;
}

/**
 * Checks one base URL or a list of them (the nodes of one hub): a non-empty list of distinct
 * URLs, each as {@link checkBaseUrl} wants. Returns the list.
 */
export function checkBaseUrls(baseUrl: unknown): string[] {
  if (!Array.isArray(baseUrl)) return [checkBaseUrl(baseUrl)];
  if (baseUrl.length === 0) {
    throw acbError(
      Code.InvalidArgument,
      'createClient: baseUrl is an empty list; give one URL or several, e.g. ["http://a:7443", "http://b:7443"]',
    );
  }
  const urls = baseUrl.map(checkBaseUrl);
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  if (twice !== undefined) {
    throw acbError(Code.InvalidArgument, `createClient: baseUrl lists "${twice}" twice`);
  }
  return urls;
}
