<?php
// A subscriber and queue watcher speaking Workerman's Channel protocol:
// it subscribes to to_php and to the integer event 3 (as
// Channel\Client::on($worker->id, …) does), watches php_jobs reserving
// after each item, prints "ready" once the server has all that, then one
// JSON line per message, and exits after the number given.
//
// php subscriber.php 127.0.0.1:2206 count
require __DIR__ . '/client.php';

$conn = ch_connect($argv[1]);
$want = (int)$argv[2];
ch_write($conn, ch_frame(''));  // the keep-alive
ch_send($conn, ['type' => 'subscribe', 'channels' => ['to_php', 3]]);
ch_send($conn, ['type' => 'watch', 'channels' => ['php_jobs']]);
ch_send($conn, ['type' => 'reserve']);
// Frames are served in order: once our own publish comes back, the
// server has the subscriptions and the watch.
ch_send($conn, ['type' => 'subscribe', 'channels' => ['php_sync']]);
ch_send($conn, ['type' => 'publish', 'channels' => ['php_sync'], 'data' => 'sync']);

$got = 0;
while ($got < $want) {
    $msg = ch_read($conn);
    if (!is_array($msg)) {
        fwrite(STDERR, "not an array\n");
        exit(4);
    }
    if ($msg['type'] === 'event' && $msg['channel'] === 'php_sync') {
        echo "ready\n";
        continue;
    }
    echo json_encode($msg, JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
    $got++;
    if ($msg['type'] === 'queue') {
        ch_send($conn, ['type' => 'reserve']);
    }
}
