// The exchange's websockets: live prices and headlines for every page, and the signed-in
// account's events.
import { url } from "./root.js";

// A websocket address of this site (under its path prefix).
export function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${url(path)}`;
}

const priceListeners = new Set();
export const latest = new Map(); // asset id -> last price seen on the stream
let priceSocket = null;
let priceSeq = null;

const newsListeners = new Set();

// ``listener(item)`` gets every headline as it is announced: {type: "news", news_id, headline,
// source, action_id, time}. Headlines ride on the price stream.
export function onNews(listener) {
  newsListeners.add(listener);
  if (!priceSocket) connectPrices();
}

// ``listener(frame)`` gets every snapshot and tick: {type, seq, time, prices}.
export function onPrices(listener) {
  priceListeners.add(listener);
  if (!priceSocket) connectPrices();
}

function connectPrices() {
  const since = priceSeq === null ? "" : `?since=${priceSeq}`;
  priceSocket = new WebSocket(socketUrl(`/ws/prices${since}`));
  priceSocket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "news") {
      for (const listener of newsListeners) listener(frame);
      return;
    }
    if (frame.type !== "snapshot" && frame.type !== "tick") return;
    priceSeq = frame.seq;
    for (const [id, value] of Object.entries(frame.prices)) latest.set(id, value);
    for (const listener of priceListeners) listener(frame);
  });
  priceSocket.addEventListener("close", () => setTimeout(connectPrices, 1000));
}

const accountListeners = new Set();
let accountSocket = null;
let accountSeq = null;

// ``listener(event)`` gets each account event: {type: "order"|"balance", ...}.
export function onAccount(listener) {
  accountListeners.add(listener);
  if (!accountSocket && document.body.dataset.user) connectAccount();
}

function connectAccount() {
  const since = accountSeq === null ? "" : `?since=${accountSeq}`;
  // The session cookie authenticates this socket; the server checks our Origin.
  accountSocket = new WebSocket(socketUrl(`/ws/account${since}`));
  accountSocket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") {
      if (accountSeq === null || message.resumed === false) accountSeq = message.seq;
      return;
    }
    if (typeof message.seq === "number") accountSeq = message.seq;
    for (const listener of accountListeners) listener(message);
  });
  accountSocket.addEventListener("close", (event) => {
    accountSocket = null;
    if (event.code === 4001 || event.code === 4003) return; // session over: no retry
    setTimeout(connectAccount, 1000);
  });
}
