<?php
// A chat for the exec handler, with uids and groups across processes. A
// client sends lines (text:// worker) or text messages (websocket://):
//
//   login NAME       be NAME (bind_uid)           → "you are NAME"
//   to NAME text     reach NAME wherever it is    (send_to_uid)
//   join GROUP       enter GROUP (join_group)     → "joined GROUP"
//   say GROUP text   reach everyone in GROUP      (send_to_group)
//   all text         reach every client           (broadcast)
//   info             this program's pid and what the client's upgrade
//                    request said (path, query, headers), as JSON
//   anything else    echoed back (bytes as bytes)
//
// With the worker's channel option, every process's program reaches the
// others' clients through the backend:
//
//   [[worker]]
//   name = "chan"
//   listen = "frame://127.0.0.1:2206"
//   handler = "channel"
//
//   [[worker]]
//   name = "chat"
//   listen = "websocket://127.0.0.1:8080"
//   count = 4
//   reuse_port = true
//   handler = "exec"
//   [worker.options]
//   command = ["php", "examples/exec/chat.php"]
//   channel = "frame://127.0.0.1:2206"
//
// chat.py, chat.js and gochat/main.go are the same program in Python,
// JavaScript and Go.

function command(array $cmd): void
{
    fwrite(STDOUT, json_encode($cmd, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
    fflush(STDOUT);
}

$clients = []; // conn id => its connect event
while (($line = fgets(STDIN)) !== false) {
    $e = json_decode($line, true);
    if (!is_array($e)) {
        continue;
    }
    $conn = $e['conn'] ?? '';
    switch ($e['event'] ?? '') {
        case 'connect':
            $clients[$conn] = $e;
            command(['cmd' => 'send', 'conn' => $conn, 'data' => "hello $conn"]);
            break;
        case 'close':
            unset($clients[$conn]);
            break;
        case 'message':
            if (isset($e['data_b64'])) {
                command(['cmd' => 'send', 'conn' => $conn, 'data_b64' => $e['data_b64']]);
                break;
            }
            $data = $e['data'];
            $parts = explode(' ', $data, 3);
            if ($parts[0] === 'login' && isset($parts[1])) {
                command(['cmd' => 'bind_uid', 'conn' => $conn, 'uid' => $parts[1]]);
                command(['cmd' => 'send', 'conn' => $conn, 'data' => "you are {$parts[1]}"]);
            } elseif ($parts[0] === 'to' && isset($parts[2])) {
                command(['cmd' => 'send_to_uid', 'uid' => $parts[1], 'data' => $parts[2]]);
            } elseif ($parts[0] === 'join' && isset($parts[1])) {
                command(['cmd' => 'join_group', 'conn' => $conn, 'group' => $parts[1]]);
                command(['cmd' => 'send', 'conn' => $conn, 'data' => "joined {$parts[1]}"]);
            } elseif ($parts[0] === 'say' && isset($parts[2])) {
                command(['cmd' => 'send_to_group', 'group' => $parts[1], 'data' => $parts[2]]);
            } elseif ($parts[0] === 'all') {
                command(['cmd' => 'broadcast', 'data' => substr($data, 4)]);
            } elseif ($data === 'info') {
                $c = $clients[$conn] ?? [];
                command(['cmd' => 'send', 'conn' => $conn, 'data' => json_encode([
                    'pid' => getmypid(),
                    'path' => $c['path'] ?? '',
                    'query' => $c['query'] ?? '',
                    'headers' => (object)($c['headers'] ?? []),
                ], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)]);
            } else {
                command(['cmd' => 'send', 'conn' => $conn, 'data' => $data]);
            }
            break;
    }
}
