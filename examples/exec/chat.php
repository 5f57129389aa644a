<?php
// A chat for the exec handler, with uids across processes: a client sends
// "login NAME" to be NAME, "to NAME text" to reach NAME in whichever
// process (or host) holds that connection, and "all text" to reach every
// client. With the worker's channel option set, every process's program
// reaches the others' clients through the backend:
//
//   [[worker]]
//   name = "chan"
//   listen = "frame://127.0.0.1:2206"
//   handler = "channel"
//
//   [[worker]]
//   name = "chat"
//   listen = "text://127.0.0.1:8080"
//   count = 4
//   reuse_port = true
//   handler = "exec"
//   [worker.options]
//   command = ["php", "examples/exec/chat.php"]
//   channel = "frame://127.0.0.1:2206"

function command(array $cmd): void
{
    fwrite(STDOUT, json_encode($cmd, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
    fflush(STDOUT);
}

while (($line = fgets(STDIN)) !== false) {
    $e = json_decode($line, true);
    if (!is_array($e)) {
        continue;
    }
    switch ($e['event'] ?? '') {
        case 'connect':
            command(['cmd' => 'send', 'conn' => $e['conn'], 'data' => "hello {$e['conn']}"]);
            break;
        case 'message':
            $parts = explode(' ', $e['data'] ?? '', 3);
            if ($parts[0] === 'login' && isset($parts[1])) {
                command(['cmd' => 'bind_uid', 'conn' => $e['conn'], 'uid' => $parts[1]]);
                command(['cmd' => 'send', 'conn' => $e['conn'], 'data' => "you are {$parts[1]}"]);
            } elseif ($parts[0] === 'to' && isset($parts[2])) {
                command(['cmd' => 'send_to_uid', 'uid' => $parts[1], 'data' => $parts[2]]);
            } elseif ($parts[0] === 'all') {
                command(['cmd' => 'broadcast', 'data' => substr($e['data'], 4)]);
            }
            break;
    }
}
