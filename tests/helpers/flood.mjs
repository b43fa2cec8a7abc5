// Idle-connection flood for the hardening tests, run with Node.js (whose `net.connect` can
// bind a source address, so the flood comes from 127.0.0.2 while legitimate clients use
// 127.0.0.1). Keeps COUNT connections open to HOST:PORT for SECONDS, reopening each one the
// server closes after a short pause, sends nothing, then prints one JSON line of counts.
//
//   node flood.mjs HOST PORT COUNT SECONDS LOCAL_ADDRESS
import net from "node:net";

const [host, portText, countText, secondsText, localAddress] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const until = Date.now() + Number(secondsText) * 1000;
let open = 0;
let maxOpen = 0;
let connects = 0;
let closedByServer = 0;
const sockets = new Set();

function connect() {
  if (Date.now() >= until) return;
  const socket = net.connect({ host, port, localAddress });
  sockets.add(socket);
  let wasOpen = false;
  socket.on("connect", () => {
    wasOpen = true;
    connects++;
    open++;
    maxOpen = Math.max(maxOpen, open);
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    sockets.delete(socket);
    if (wasOpen) {
      open--;
      closedByServer++;
    }
    setTimeout(connect, 50);
  });
}

for (let i = 0; i < count; i++) connect();
setTimeout(() => {
  for (const s of sockets) s.destroy();
  console.log(JSON.stringify({ connects, closedByServer, maxOpen }));
  process.exit(0);
}, until - Date.now());
