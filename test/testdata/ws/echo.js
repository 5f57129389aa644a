// echo.js URL: drives a websocket echo server with the Node.js ws package
// (found through NODE_PATH) and prints one JSON object on stdout:
// {ok, errors, echoes, closeCode, protocol}. Exits 1 when anything failed.
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const url = process.argv[2];
const result = { ok: false, errors: [], echoes: [], closeCode: 0, protocol: '' };
let done = false;
function finish() {
  if (done) return;
  done = true;
  result.ok = result.errors.length === 0;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}
setTimeout(() => { result.errors.push('timed out'); finish(); }, 15000).unref();

const large = Buffer.from('0123456789abcdef'.repeat(200 * 1024 / 16)).toString();
const randomBin = crypto.randomBytes(1000);
// Each step sends something and says what must come back.
const steps = [
  { name: 'text', send: (ws) => ws.send('héllo ✓'), want: Buffer.from('héllo ✓'), binary: false },
  { name: 'binary', send: (ws) => ws.send(randomBin), want: randomBin, binary: true },
  { name: 'large', send: (ws) => ws.send(large), want: Buffer.from(large), binary: false },
  {
    name: 'fragmented',
    // ws sends a frame per send call while fin is false.
    send: (ws) => { ws.send('part one, ', { fin: false }); ws.send('part two, ', { fin: false }); ws.send('end', { fin: true }); },
    want: Buffer.from('part one, part two, end'), binary: false,
  },
];

const ws = new WebSocket(url, ['chat.v1', 'chat.v2']);
let step = 0;
ws.on('open', () => {
  result.protocol = ws.protocol;
  steps[0].send(ws);
});
ws.on('message', (data, isBinary) => {
  const s = steps[step];
  if (!s) {
    result.errors.push('unexpected message after the last step');
    return;
  }
  if (isBinary !== s.binary) result.errors.push(`${s.name}: came back ${isBinary ? 'binary' : 'text'}`);
  if (!Buffer.from(data).equals(s.want)) result.errors.push(`${s.name}: got ${data.length} bytes, want ${s.want.length}`);
  result.echoes.push(s.name);
  step++;
  if (step < steps.length) steps[step].send(ws);
  else ws.close(4000, 'bye');
});
ws.on('close', (code) => {
  result.closeCode = code;
  finish();
});
ws.on('error', (err) => {
  result.errors.push('error: ' + err.message);
  finish();
});
