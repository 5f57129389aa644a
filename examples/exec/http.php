<?php
// A tiny JSON API behind the exec handler on an http:// worker: each
// request arrives as a "request" event, and the program answers it with a
// "response" command. One program per child process, so each process holds
// its own list (use a database, or count = 1, to share it):
//
//   [[worker]]
//   name = "api"
//   listen = "http://127.0.0.1:8080"
//   handler = "exec"
//   [worker.options]
//   command = ["php", "examples/exec/http.php"]
//   request_timeout = "5s"       # unanswered past it: 504
//
//   GET  /items          → 200 [{"id":1,"name":"…"},…]
//   POST /items          {"name":"…"} → 201 {"id":…,"name":"…"}; 400 if malformed
//   GET  /items/ID       → 200 the item, 404 if there is none
//   GET  /pid            → 200 {"pid":…}, this program's
//   GET  /sleep?s=N      → 200 after N seconds: this program answers one
//                          request at a time, so the others wait too; past
//                          request_timeout the daemon answers 504 instead
//
// curl -s localhost:8080/items -d '{"name":"tea"}'; curl -s localhost:8080/items

function command(array $cmd): void
{
    fwrite(STDOUT, json_encode($cmd, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
    fflush(STDOUT);
}

function respond(array $e, int $status, $body): void
{
    command([
        'cmd' => 'response',
        'conn' => $e['conn'],
        'req' => $e['req'],
        'status' => $status,
        'headers' => ['Content-Type' => 'application/json'],
        'body' => json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE),
    ]);
}

$items = [];
$next = 1;
while (($line = fgets(STDIN)) !== false) {
    $e = json_decode($line, true);
    if (!is_array($e) || ($e['event'] ?? '') !== 'request') {
        continue;
    }
    $method = $e['method'];
    $path = $e['path'];
    parse_str($e['query'], $query);
    if ($path === '/items' && $method === 'GET') {
        respond($e, 200, array_values($items));
    } elseif ($path === '/items' && $method === 'POST') {
        $in = json_decode($e['body'] ?? '', true);
        if (!is_array($in) || !is_string($in['name'] ?? null)) {
            respond($e, 400, ['error' => 'want {"name": "…"}']);
            continue;
        }
        $items[$next] = ['id' => $next, 'name' => $in['name']];
        respond($e, 201, $items[$next]);
        $next++;
    } elseif (preg_match('#^/items/(\d+)$#', $path, $m) && $method === 'GET') {
        if (isset($items[(int)$m[1]])) {
            respond($e, 200, $items[(int)$m[1]]);
        } else {
            respond($e, 404, ['error' => 'no such item']);
        }
    } elseif ($path === '/pid') {
        respond($e, 200, ['pid' => getmypid()]);
    } elseif ($path === '/sleep') {
        sleep((int)($query['s'] ?? 1));
        respond($e, 200, ['slept' => (int)($query['s'] ?? 1)]);
    } else {
        respond($e, 404, ['error' => 'not found']);
    }
}
