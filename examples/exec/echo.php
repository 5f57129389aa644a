<?php
// The exec handler's example program: greets each client on connect and
// echoes each of its messages back. Run by workermand, one per child process:
//
//   [[worker]]
//   name = "app"
//   listen = "websocket://0.0.0.0:8080"
//   handler = "exec"
//   [worker.options]
//   command = ["php", "examples/exec/echo.php"]
//
// Events arrive as JSON lines on stdin; commands go out as JSON lines on
// stdout; whatever goes to stderr lands in the daemon's log.

function command(array $cmd): void
{
    fwrite(STDOUT, json_encode($cmd, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
    fflush(STDOUT);
}

fwrite(STDERR, "echo.php started, pid " . getmypid() . "\n");
while (($line = fgets(STDIN)) !== false) {
    $e = json_decode($line, true);
    if (!is_array($e)) {
        fwrite(STDERR, "not JSON: $line");
        continue;
    }
    switch ($e['event'] ?? '') {
        case 'connect':
            command(['cmd' => 'send', 'conn' => $e['conn'], 'data' => "hello {$e['conn']}"]);
            break;
        case 'message':
            if (isset($e['data_b64'])) {
                command(['cmd' => 'send', 'conn' => $e['conn'], 'data_b64' => $e['data_b64']]);
            } else {
                command(['cmd' => 'send', 'conn' => $e['conn'], 'data' => $e['data']]);
            }
            break;
    }
}
