// Wharf helpers for JavaScript services built with componentize-js.
//
// `wharf build` puts this file beside your app as `wharf.js` (import it as
// "./wharf.js"). It wraps the interfaces componentize-js generates from
// Wharf's WIT, which you can also import directly:
//
//   import { publish } from "wasmcloud:messaging/consumer@0.2.0";
//   import { open } from "wasi:keyvalue/store@0.2.0-draft";
//   import { get } from "wasi:config/store@0.2.0-draft";
//
// HTTP stays standard: handle the `fetch` event
// (`addEventListener("fetch", event => event.respondWith(...))`).
//
// Every function throws a `WharfError` with the host's message when the host
// says no (a topic the manifest does not grant, an unknown store, ...).

import * as consumer from "wasmcloud:messaging/consumer@0.2.0";
import { metadata as messageMetadata } from "wharf:platform/message-context@0.1.0";
import * as keyvalue from "wasi:keyvalue/store@0.2.0-draft";
import * as configStore from "wasi:config/store@0.2.0-draft";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The host refused a call; `message` says why. */
export class WharfError extends Error {}

function bytes(body) {
  if (body instanceof Uint8Array) return body;
  if (typeof body === "string") return encoder.encode(body);
  return encoder.encode(JSON.stringify(body));
}

function hostCall(call) {
  try {
    return call();
  } catch (error) {
    const payload = error && error.payload !== undefined ? error.payload : error;
    const text =
      typeof payload === "string"
        ? payload
        : payload && typeof payload.val === "string"
          ? payload.val
          : payload && payload.tag
            ? payload.tag
            : String(payload);
    throw new WharfError(text);
  }
}

/** A message delivered to a handler, or a request's reply. */
export class Message {
  constructor(subject, body, replyTo) {
    this.subject = subject;
    this.body = body;
    this.replyTo = replyTo;
  }
  text() {
    return decoder.decode(this.body);
  }
  json() {
    return JSON.parse(this.text());
  }
  /** The headers of the message being handled (trace context, ...). */
  metadata() {
    return messageMetadata();
  }
}

/**
 * Publishes a message (a string, bytes, or a value sent as JSON); the
 * manifest's `publish` must cover `subject`.
 */
export function publish(subject, body, replyTo) {
  hostCall(() => consumer.publish({ subject, body: bytes(body), replyTo }));
}

/** Sends a request and waits for its reply (a `Message`). */
export function request(subject, body, timeoutMs = 5000) {
  const reply = hostCall(() => consumer.request(subject, bytes(body), timeoutMs));
  return new Message(reply.subject, reply.body, reply.replyTo);
}

/**
 * The `wasmcloud:messaging/handler` export of a service with
 * subscriptions: `export const handler = messageHandler(msg => { ... })`.
 * A thrown error is a failed delivery, which the host retries and then
 * sends to the dead-letter topic.
 */
export function messageHandler(onMessage) {
  return {
    handleMessage(msg) {
      try {
        onMessage(new Message(msg.subject, msg.body, msg.replyTo));
      } catch (error) {
        throw `${error && error.name ? error.name : "Error"}: ${error && error.message ? error.message : error}`;
      }
    },
  };
}

/** A key-value store the manifest grants (`key_value_stores`). */
export class Store {
  constructor(name = "default") {
    this.bucket = hostCall(() => keyvalue.open(name));
  }
  /** The value as bytes, or undefined. */
  getBytes(key) {
    const value = hostCall(() => this.bucket.get(key));
    return value === undefined || value === null ? undefined : value;
  }
  /** The value as text, or undefined. */
  get(key) {
    const value = this.getBytes(key);
    return value === undefined ? undefined : decoder.decode(value);
  }
  /** The value parsed as JSON, or undefined. */
  getJson(key) {
    const value = this.get(key);
    return value === undefined ? undefined : JSON.parse(value);
  }
  /** Stores a string, bytes, or a value as JSON. */
  set(key, value) {
    hostCall(() => this.bucket.set(key, bytes(value)));
  }
  delete(key) {
    hostCall(() => this.bucket.delete(key));
  }
  keys() {
    const keys = [];
    let cursor;
    do {
      const page = hostCall(() => this.bucket.listKeys(cursor));
      keys.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined && cursor !== null);
    return keys;
  }
}

/** A manifest variable (`[service.x.variables]`), or undefined. */
export function config(key) {
  const value = hostCall(() => configStore.get(key));
  return value === null ? undefined : value;
}
