// The exec handler's chat (see chat.php) in JavaScript for Node.js, no npm
// packages:
//
//   [worker.options]
//   command = ["node", "examples/exec/chat.js"]
//
// Events arrive as JSON lines on stdin, commands go out as JSON lines on
// stdout; stderr lands in the daemon's log.
'use strict';
const readline = require('node:readline');

function command(cmd) {
  // stdout is a pipe: Node writes it asynchronously, in order.
  process.stdout.write(JSON.stringify(cmd) + '\n');
}

const clients = new Map(); // conn id -> its connect event
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  let e;
  try {
    e = JSON.parse(line);
  } catch (err) {
    console.error('not JSON:', line);
    return;
  }
  const conn = e.conn || '';
  switch (e.event) {
    case 'connect':
      clients.set(conn, e);
      command({ cmd: 'send', conn, data: `hello ${conn}` });
      break;
    case 'close':
      clients.delete(conn);
      break;
    case 'message': {
      if (e.data_b64 !== undefined) {
        command({ cmd: 'send', conn, data_b64: e.data_b64 });
        break;
      }
      const data = e.data;
      const [word, a] = data.split(' ', 2);
      const rest = data.split(' ').slice(2).join(' ');
      if (word === 'login' && a !== undefined) {
        command({ cmd: 'bind_uid', conn, uid: a });
        command({ cmd: 'send', conn, data: `you are ${a}` });
      } else if (word === 'to' && rest !== '') {
        command({ cmd: 'send_to_uid', uid: a, data: rest });
      } else if (word === 'join' && a !== undefined) {
        command({ cmd: 'join_group', conn, group: a });
        command({ cmd: 'send', conn, data: `joined ${a}` });
      } else if (word === 'say' && rest !== '') {
        command({ cmd: 'send_to_group', group: a, data: rest });
      } else if (word === 'all') {
        command({ cmd: 'broadcast', data: data.slice(4) });
      } else if (data === 'info') {
        const c = clients.get(conn) || {};
        command({ cmd: 'send', conn, data: JSON.stringify({
          pid: process.pid, path: c.path || '', query: c.query || '', headers: c.headers || {},
        }) });
      } else {
        command({ cmd: 'send', conn, data });
      }
      break;
    }
  }
});
// stdin closed: the daemon is stopping this program.
rl.on('close', () => process.exit(0));
